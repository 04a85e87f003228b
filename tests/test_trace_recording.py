"""The twin's recording keeps the tensors a step makes and copies only what the optimizer updates in place:
what it records must be what a plain loop sees, even where an optimizer writes into the gradients."""

import pytest
import torch

from crosscheck.case import load_into_twin, twin_data
from crosscheck.errors import StepError
from crosscheck.trace import start, twin_trace
from tests.fixture_net import make_case


class HalvingSGD(torch.optim.SGD):
    """Plain SGD that halves the gradients in place before stepping, from step ``from_step`` on."""

    def __init__(self, params, lr, from_step=0):
        super().__init__(params, lr=lr)
        self.steps, self.from_step = 0, from_step

    @torch.no_grad()
    def step(self, closure=None):
        if self.steps >= self.from_step:
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad.mul_(0.5)
        self.steps += 1
        return super().step(closure)


def plain_gradients(case, params, batches):
    """Each step's gradients as backward leaves them, copied before the optimizer runs."""
    module = case.twin.module(case.torch_dtype)
    load_into_twin(module, case, params)
    optimizer = case.twin.optimizer(module.parameters(), case.learning_rate)
    X, y = twin_data(case)
    rows = []
    for b in batches:
        optimizer.zero_grad()
        case.twin_loss(module(X[b]), y[b]).backward()
        rows.append({n: p.grad.clone() for n, p in module.named_parameters()})
        optimizer.step()
    return rows


def test_gradients_an_optimizer_writes_into_are_recorded_as_backward_made_them():
    case = make_case(optimizer=lambda params, lr: HalvingSGD(params, lr))
    params, batches = start(case)
    trace = twin_trace(case, params, batches)
    plain = plain_gradients(case, params, batches)
    assert len(plain) == len(batches) > 1
    for name, link in case.param_map.items():
        for step, grads in enumerate(plain):
            expected = grads[link.tensor].T if link.transpose else grads[link.tensor]
            assert torch.equal(torch.as_tensor(trace[f"grad.{name}"][step]), expected[link.index]), (name, step)


def test_an_optimizer_that_starts_writing_into_the_gradients_later_is_an_error():
    case = make_case(optimizer=lambda params, lr: HalvingSGD(params, lr, from_step=2))
    params, batches = start(case)
    with pytest.raises(StepError) as caught:
        twin_trace(case, params, batches)
    assert str(caught.value) == (
        "fixture_2_3_1: at step 2 the twin's optimizer wrote into the gradients, which it left as they were at "
        "step 0; the gradients backward computed are lost for that step"
    )
