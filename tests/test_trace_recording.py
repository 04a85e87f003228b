"""The twin's recording keeps the tensors a step makes and copies only what the optimizer updates in place:
what it records must be what a plain loop sees, even where an optimizer writes into the gradients."""

import gc

import pytest
import torch

from crosscheck.checks import run_check
from crosscheck.errors import StepError
from crosscheck.keys import STEPPED
from crosscheck.layout import load_into_twin, twin_data
from crosscheck.run.memo import RUNS, first_step_traces, traces
from crosscheck.run.start import start
from crosscheck.run.twin import _set_mode, twin_trace
from tests.fixture_net import TwinNet, make_case


class HalvingSGD(torch.optim.SGD):
    """Plain SGD that halves the gradients in place before stepping, from step ``from_step`` on, through the
    tensor or through ``.data`` (which leaves the version counter alone)."""

    def __init__(self, params, lr, from_step=0, through_data=False):
        super().__init__(params, lr=lr)
        self.steps, self.from_step, self.through_data = 0, from_step, through_data

    @torch.no_grad()
    def step(self, closure=None):
        if self.steps >= self.from_step:
            for group in self.param_groups:
                for p in group["params"]:
                    (p.grad.data if self.through_data else p.grad).mul_(0.5)
        self.steps += 1
        return super().step(closure)


class InPlaceZeroSGD(torch.optim.SGD):
    """zero_grad(set_to_none=False): backward writes every step's gradient into the same tensor."""

    def zero_grad(self, set_to_none=False):
        super().zero_grad(set_to_none=False)


class DataSGD(torch.optim.Optimizer):
    """A hand-written SGD that moves each parameter to new memory (p.data = p.data - lr * grad)."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.data = p.data - group["lr"] * p.grad


class DataMomentum(torch.optim.Optimizer):
    """Hand-written momentum whose buffer, one tensor object in the optimizer's state, moves to new memory at
    every step (buf.data = 0.9 * buf + grad)."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.clone()
                else:
                    buf = state["momentum_buffer"]
                    buf.data = 0.9 * buf + p.grad
                p.sub_(group["lr"] * state["momentum_buffer"])


def plain_run(case, params, batches):
    """Each step's gradients as backward leaves them (copied before the optimizer runs) and parameters after
    the step (copied)."""
    module = case.twin.module(case.torch_dtype)
    load_into_twin(module, case, params)
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    X, y = twin_data(case)
    rows = []
    for b in batches:
        optimizer.zero_grad()
        case.twin.loss(module(X[b]), y[b]).backward()
        grads = {n: p.grad.clone() for n, p in module.named_parameters()}
        optimizer.step()
        rows.append((grads, {n: p.detach().clone() for n, p in module.named_parameters()}))
    return rows


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda params, lr: HalvingSGD(params, lr),
        lambda params, lr: HalvingSGD(params, lr, through_data=True),
        InPlaceZeroSGD,
        DataSGD,
    ],
    ids=["writes-into-gradients", "writes-through-data", "zeroes-in-place", "new-parameter-memory"],
)
def test_the_recording_is_what_a_plain_loop_sees(optimizer):
    case = make_case(optimizer=lambda params, lr: optimizer(params, lr=lr))
    params, batches = start(case)
    trace = twin_trace(case, params, batches)
    plain = plain_run(case, params, batches)
    assert len(plain) == len(batches) > 1
    for name, link in case.scratch.params.items():
        for step, (grads, values) in enumerate(plain):
            for kind, tensors in (("grad", grads), ("param", values)):
                expected = tensors[link.tensor].T if link.transpose else tensors[link.tensor]
                got = torch.as_tensor(trace[f"{kind}.{name}"][step])
                assert torch.equal(got, expected[link.index]), (kind, name, step)


def test_an_optimizer_state_tensor_that_moves_to_new_memory_is_recorded_at_each_step():
    case = make_case(optimizer=DataMomentum)
    params, batches = start(case)
    trace = twin_trace(case, params, batches)
    module = case.twin.module(case.torch_dtype)
    load_into_twin(module, case, params)
    optimizer = DataMomentum(module.parameters(), case.data.learning_rate)
    X, y = twin_data(case)
    weight = module.hidden.weight
    for step, b in enumerate(batches):
        optimizer.zero_grad()
        case.twin.loss(module(X[b]), y[b]).backward()
        optimizer.step()
        expected = optimizer.state[weight]["momentum_buffer"].T
        assert torch.equal(torch.as_tensor(trace["state.momentum_buffer.W1"][step]), expected), step


def test_an_optimizer_that_starts_writing_into_the_gradients_later_is_an_error():
    case = make_case(optimizer=lambda params, lr: HalvingSGD(params, lr, from_step=2))
    params, batches = start(case)
    with pytest.raises(StepError) as caught:
        twin_trace(case, params, batches)
    assert str(caught.value) == (
        "fixture_2_3_1: at step 2 the twin's optimizer wrote into the gradients, which it left as they were at "
        "step 0; the gradients backward computed are lost for that step"
    )


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
def test_the_recording_leaves_garbage_collection_as_it_found_it(enabled):
    # The twin's loop holds automatic collection off (its kept tensors would set off full collections of
    # the whole process), and puts it back as it was, also when a step fails.
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        case = make_case()
        params, batches = start(case)
        twin_trace(case, params, batches[:3])
        assert gc.isenabled() is enabled
        failing = make_case(optimizer=lambda params, lr: HalvingSGD(params, lr, from_step=2))
        with pytest.raises(StepError):
            twin_trace(failing, params, batches)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


class ModeTwin(TwinNet):
    """Notes the mode of itself and of a layer at each forward."""

    seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        ModeTwin.seen.append((self.training, self.act.training))
        return super().forward(x)


class OwnTrainTwin(ModeTwin):
    """A module with a train() of its own (as one that keeps a layer frozen has)."""

    calls: list[bool] = []

    def train(self, mode=True):
        OwnTrainTwin.calls.append(mode)
        return super().train(mode)


class PropertyModeTwin(ModeTwin):
    """A module whose ``training`` is a property of its class, which a flag in the instance would not reach."""

    @property
    def training(self):
        return self.__dict__.get("mode", True)

    @training.setter
    def training(self, mode):
        self.__dict__["mode"] = mode


class OwnEvalTwin(ModeTwin):
    """A module with an eval() of its own, and nn.Module's train()."""

    calls: list[str] = []

    def eval(self):
        OwnEvalTwin.calls.append("eval")
        return super().eval()


@pytest.mark.parametrize("module", [ModeTwin, OwnTrainTwin, PropertyModeTwin, OwnEvalTwin])
def test_the_twin_steps_in_train_mode_and_evaluates_the_curve_in_eval_mode(module, monkeypatch):
    monkeypatch.setattr(ModeTwin, "seen", [])
    monkeypatch.setattr(OwnTrainTwin, "calls", [])
    monkeypatch.setattr(OwnEvalTwin, "calls", [])
    case = make_case(module=module)
    params, batches = start(case)
    assert list(case.data.curve_steps) == [0, 3, 5] and len(batches) == 6
    twin_trace(case, params, batches)
    step, curve = (True, True), (False, False)
    # The first forward is the whole-dataset check's, on a module of its own (made in train mode).
    assert ModeTwin.seen[1:] == [step, curve, step, step, step, curve, step, step, curve]
    if module is OwnTrainTwin:  # its own train() is called, every time the mode changes
        assert OwnTrainTwin.calls == [True, False, True, False, True, False, True]
    if module is OwnEvalTwin:  # its own eval() is called at each curve point
        assert OwnEvalTwin.calls == ["eval"] * 3


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_scripted_twin_is_switched_through_its_own_train():
    # A TorchScript module keeps its training flag in the compiled module, out of reach of its __dict__ (where
    # reading .training back from Python would still find it): what tells is how BatchNorm normalises.
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.BatchNorm1d(2, dtype=torch.float64)))
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)
    _set_mode(scripted, False)  # the running statistics: mean 0, variance 1
    torch.testing.assert_close(scripted(x), x / (1 + 1e-5) ** 0.5, rtol=0, atol=1e-15)
    _set_mode(scripted, True)  # the batch's
    mean, var = x.mean(0), x.var(0, unbiased=False)
    torch.testing.assert_close(scripted(x), (x - mean) / (var + 1e-5) ** 0.5, rtol=0, atol=1e-15)


def full_run_computed(case):
    return RUNS.has_full(case)


def test_the_first_step_checks_read_the_full_runs_first_step(monkeypatch):
    case = make_case(name="first_step", steps=6)
    first = first_step_traces(case)
    assert not full_run_computed(case) and len(first[0]["loss"]) == 1  # one step, not the run
    full = traces(case)  # every step, recorded anew
    for side, one, whole in zip(("scratch", "twin"), first, full, strict=True):
        assert one.keys() == whole.keys(), side
        for key, value in one.items():
            expected = whole[key][:1] if key.split(".")[0] in STEPPED else whole[key]
            if key == "curve":
                expected = whole[key][: len(value)]
            assert value.dtype == expected.dtype and value.tobytes() == expected.tobytes(), (side, key)
    run = RUNS.full(case)
    assert first_step_traces(case) is run.first  # the run's first chunk, once it is computed


def test_a_network_broken_at_step_0_fails_without_its_full_run(monkeypatch):
    case = make_case(name="broken", gradients=lambda net, x, y: {k: 2 * g for k, g in net.gradients(x, y).items()})
    result = run_check(case, "gradients")
    assert not result.passed and result.first_divergence.step == 0
    assert not full_run_computed(case)
