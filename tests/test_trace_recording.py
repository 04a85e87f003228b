"""The twin's recording keeps the tensors a step makes and copies only what the optimizer updates in place:
what it records must be what a plain loop sees, even where an optimizer writes into the gradients."""

import pytest
import torch

from crosscheck import trace
from crosscheck.case import load_into_twin, twin_data
from crosscheck.checks import run_check
from crosscheck.compare import STEPPED
from crosscheck.errors import StepError
from crosscheck.trace import first_step_traces, start, traces, twin_trace
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


def full_run_computed(case):
    entry = trace._CACHE.get((case.name, case.seed, "float64"))
    return entry is not None and entry[0] is case


def test_the_first_step_checks_read_the_full_runs_first_step(monkeypatch):
    case = make_case(name="first_step", steps=6)
    first = first_step_traces(case)
    assert not full_run_computed(case) and len(first[0]["loss"]) == 1  # one step, not the run
    full = traces(case)
    for side, one, whole in zip(("scratch", "twin"), first, full, strict=True):
        assert one.keys() == whole.keys(), side
        for key, value in one.items():
            expected = whole[key][:1] if key.split(".")[0] in STEPPED else whole[key]
            if key == "curve":
                expected = whole[key][: len(value)]
            assert value.dtype == expected.dtype and value.tobytes() == expected.tobytes(), (side, key)
    assert all(a is b for a, b in zip(first_step_traces(case), full, strict=True))  # the run, once it is computed


def test_a_network_broken_at_step_0_fails_without_its_full_run(monkeypatch):
    case = make_case(name="broken", gradients=lambda net, x, y: {k: 2 * g for k, g in net.gradients(x, y).items()})
    result = run_check(case, "gradients")
    assert not result.passed and result.first_divergence.step == 0
    assert not full_run_computed(case)
