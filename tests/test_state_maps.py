"""Optimizer state kept the network's own way: on another scale (a book's momentum ``v = mu*v - lr*g``, which is
``-lr`` times torch's buffer), not at all (an Adam that keeps ``beta**t`` rather than a step count), and options
read from several attributes (``betas`` from ``beta_1``, ``beta_2``) or given as the value the network was built
with; and what is refused, word for word."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Absent, Case, Data, Link, Scaled, Scratch, Twin
from crosscheck.case import vary
from crosscheck.checks import run_check
from crosscheck.state_paths import not_compared
from crosscheck.validate import validation_problem

X = np.linspace(-1.0, 1.0, 24).reshape(12, 2)
Y = np.sin(3 * X[:, :1]) * X[:, 1:]
NAMES = ("W1", "b1", "W2", "b2")
TWIN = {"W1": Link("hidden.weight", transpose=True), "b1": Link("hidden.bias")}
TWIN |= {"W2": Link("out.weight", transpose=True), "b2": Link("out.bias")}


def mse(out, y):
    return np.mean((out - y) ** 2)


class Net:
    """2-4-1 tanh network; ``train_step`` computes the gradients and hands them to ``apply``."""

    def __init__(self, rng):
        self.W1, self.b1 = rng.normal(0, 0.7, (2, 4)), np.zeros(4)
        self.W2, self.b2 = rng.normal(0, 0.7, (4, 1)), np.zeros(1)

    def forward(self, x):
        self.h = np.tanh(x @ self.W1 + self.b1)
        return self.h @ self.W2 + self.b2

    def train_step(self, x, y, lr):
        out = self.forward(x)
        d2 = 2 * (out - y) / y.size
        d1 = d2 @ self.W2.T * (1 - self.h**2)
        grads = {"W1": x.T @ d1, "b1": d1.sum(0), "W2": self.h.T @ d2, "b2": d2.sum(0)}
        self.apply(grads, lr)
        return mse(out, y)


class BookMomentum(Net):
    """The book's momentum: the velocity holds the step itself, ``v = mu*v - lr*g; w += v``."""

    def __init__(self, rng):
        super().__init__(rng)
        self.mu = 0.9
        self.v = {name: np.zeros_like(getattr(self, name)) for name in NAMES}

    def apply(self, grads, lr):
        for name, g in grads.items():
            self.v[name] = self.mu * self.v[name] - lr * g
            setattr(self, name, getattr(self, name) + self.v[name])


class StepsWithTheOldVelocity(BookMomentum):
    """The classic slip: the weights move by the velocity of the step before, then the velocity is updated."""

    def apply(self, grads, lr):
        for name, g in grads.items():
            setattr(self, name, getattr(self, name) + self.v[name])
            self.v[name] = self.mu * self.v[name] - lr * g


class ProductAdam(Net):
    """Adam that keeps the running products ``beta_1**t`` and ``beta_2**t`` instead of a step count (as some
    from-scratch libraries do): torch's ``step`` has nothing to be compared with."""

    def __init__(self, rng, eps=1e-8):
        super().__init__(rng)
        self.beta_1, self.beta_2, self.eps = 0.9, 0.99, eps
        self.b1t = self.b2t = 1.0
        self.m = {name: np.zeros_like(getattr(self, name)) for name in NAMES}
        self.s = {name: np.zeros_like(getattr(self, name)) for name in NAMES}

    def apply(self, grads, lr):
        self.b1t, self.b2t = self.b1t * self.beta_1, self.b2t * self.beta_2
        for name, g in grads.items():
            self.m[name] = self.beta_1 * self.m[name] + (1 - self.beta_1) * g
            self.s[name] = self.beta_2 * self.s[name] + (1 - self.beta_2) * g * g
            m_hat, s_hat = self.m[name] / (1 - self.b1t), self.s[name] / (1 - self.b2t)
            setattr(self, name, getattr(self, name) - lr * m_hat / (np.sqrt(s_hat) + self.eps))


class NoBiasCorrection(ProductAdam):
    def apply(self, grads, lr):
        for name, g in grads.items():
            self.m[name] = self.beta_1 * self.m[name] + (1 - self.beta_1) * g
            self.s[name] = self.beta_2 * self.s[name] + (1 - self.beta_2) * g * g
            setattr(self, name, getattr(self, name) - lr * self.m[name] / (np.sqrt(self.s[name]) + self.eps))


class TwinNet(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.hidden, self.out = nn.Linear(2, 4, dtype=dtype), nn.Linear(4, 1, dtype=dtype)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


LR = 0.05
DATA = Data(X, Y, batches=lambda rng: [slice(0, 6), slice(6, 12)] * 10, learning_rate=LR)
MOMENTUM = Case(
    name="book_momentum",
    scratch=Scratch(
        TWIN,
        mse,
        network=BookMomentum,
        step="train_step",
        state={"momentum_buffer": {name: Scaled(f"v[{name!r}]", by=lambda lr: -1 / lr) for name in NAMES}},
        options={"momentum": "mu"},
    ),
    twin=Twin(TwinNet, F.mse_loss, optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)),
    data=DATA,
)
ADAM = Case(
    name="product_adam",
    scratch=Scratch(
        TWIN,
        mse,
        network=ProductAdam,
        step="train_step",
        state={
            "exp_avg": {name: f"m[{name!r}]" for name in NAMES},
            "exp_avg_sq": {name: f"s[{name!r}]" for name in NAMES},
            "step": Absent("it keeps beta_1**t and beta_2**t"),
        },
        options={"betas": ("beta_1", "beta_2"), "eps": 1e-8},
    ),
    twin=Twin(TwinNet, F.mse_loss, optimizer=lambda params, lr: torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))),
    data=DATA,
)
CHECKS = ("one_step", "training_run", "anchored_steps")


@pytest.mark.parametrize("case", [MOMENTUM, ADAM], ids=lambda case: case.name)
@pytest.mark.parametrize("check", CHECKS)
def test_state_on_another_scale_or_not_kept_is_compared_as_declared(case, check):
    result = run_check(case, check)
    assert result.passed, result.message()


def test_the_scaled_buffer_is_torchs_buffer_at_every_step():
    """The compared rows are torch's: -v / lr, not the network's own v."""
    from crosscheck.run.memo import traces

    scratch, twin = traces(MOMENTUM)
    assert "state.momentum_buffer.W1" in scratch
    np.testing.assert_allclose(scratch["state.momentum_buffer.W1"], twin["state.momentum_buffer.W1"], rtol=1e-10)
    assert not np.allclose(twin["state.momentum_buffer.W1"][0], 0)


@pytest.mark.parametrize(
    "case, network, first",
    [(MOMENTUM, StepsWithTheOldVelocity, "parameter after update of W1"), (ADAM, NoBiasCorrection, "W1")],
    ids=["old-velocity", "no-bias-correction"],
)
def test_a_bug_in_the_update_fails_at_step_0_where_it_acts(case, network, first):
    result = run_check(vary(case, name=f"{case.name}_bug", network=network), "anchored_steps")
    assert not result.passed and result.first_divergence is not None, result.message()
    assert result.first_divergence.step == 0 and first in result.first_divergence.where(), result.message()


def test_an_absent_kind_is_left_out_and_said():
    from crosscheck.run.memo import traces

    scratch, twin = traces(ADAM)
    assert "state.step.W1" in twin and "state.step.W1" not in scratch
    assert not_compared(ADAM) == [
        "the twin optimizer's step is not compared: the network keeps none (it keeps beta_1**t and beta_2**t); "
        "the parameters after each update carry the check"
    ]
    assert not_compared(MOMENTUM) == []


ADAM_TEXT = "torch.optim.Adam(lr=0.05, betas=(0.9, 0.99), eps=1e-08, weight_decay=0)"
COPY = "(the twin is the reference: a copy of the network's own rule there would hide a bug in it)"


@pytest.mark.parametrize(
    "case, changes, message",
    [
        (
            ADAM,
            {"state": {k: v for k, v in ADAM.scratch.state.items() if k != "step"}},
            f"the twin runs {ADAM_TEXT}, which keeps ['step'] for every parameter; map the network's own with "
            "Scratch(state={kind: {param path: state path}}) so they are compared at every step (Scaled(path, by=...) "
            "where it keeps them on another scale, such as v = mu*v - lr*g), or declare Scratch(state={'step': "
            "Absent('why')}) where it keeps none (the parameters then carry the check); change the twin's optimizer "
            f"only to the one the network is meant to implement {COPY}",
        ),
        (
            MOMENTUM,
            {"state": {**MOMENTUM.scratch.state, "step": Absent()}},
            "Scratch(state=...) maps ['step'], but the twin runs torch.optim.SGD(lr=0.05, momentum=0.9, dampening=0, "
            "weight_decay=0, nesterov=False), which keeps ['momentum_buffer']: give the twin the optimizer the network "
            "is meant to implement",
        ),
        (
            ADAM,
            {"network": lambda rng: ProductAdam(rng, eps=1e-7), "options": {"eps": 1e-7}},
            f"the network's eps is 1e-07 (as given) but the twin runs {ADAM_TEXT}",
        ),
        (
            ADAM,
            {"optimizer": lambda params, lr: torch.optim.Adam(params, lr=lr)},
            "the network's betas is (0.9, 0.99) ((beta_1, beta_2)) but the twin runs torch.optim.Adam(lr=0.05, "
            f"betas=(0.9, 0.999), eps=1e-08, weight_decay=0): give the twin the options the network is meant to have, "
            f"or fix the network's {COPY}",
        ),
        (
            ADAM,
            {"options": {"betas": ("beta_1", [0.99])}},
            "Scratch(options={'betas': ...}) takes a path, a tuple of paths, a Scaled path or the value the network "
            "was given (a number), got [0.99]",
        ),
        (
            MOMENTUM,
            {"state": {"momentum_buffer": {name: Scaled(f"v[{name!r}]", by="-1/lr") for name in NAMES}}},
            "Scratch(state={'momentum_buffer': ...}): Scaled(\"v['W1']\", by=...) takes a number or a function of "
            "the learning rate, got '-1/lr'",
        ),
        (
            MOMENTUM,
            {"state": {"momentum_buffer": {"W1": "v['W1']"}}},
            "state['momentum_buffer'] must map every parameter ['W1', 'W2', 'b1', 'b2'] to the path of its "
            "momentum_buffer, or be one path for a value all parameters share, or Absent(why) where the network "
            "keeps none; got ['W1']",
        ),
    ],
    ids=["unmapped", "absent-not-kept", "constant-option", "tuple-option", "bad-option", "bad-scale", "partial"],
)
def test_a_state_or_option_map_that_does_not_fit_is_refused(case, changes, message):
    problem = validation_problem(vary(case, name="refused", **changes))
    assert problem is not None and problem.startswith("case 'refused': ") and message in problem, problem


def test_the_unscaled_buffer_is_refused_at_its_first_step():
    """Without ``Scaled`` the book's velocity is compared as if it were torch's buffer, and parts at once."""
    plain = {"momentum_buffer": {name: f"v[{name!r}]" for name in NAMES}}
    result = run_check(vary(MOMENTUM, name="unscaled", state=plain), "one_step")
    assert not result.passed and result.first_divergence is not None
    assert result.first_divergence.where().startswith("momentum buffer of W1"), result.message()
