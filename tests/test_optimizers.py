"""Any torch.optim optimizer on the twin, its state mapped and compared every step: SGD with momentum, dampening,
Nesterov and weight decay, Adam, AdamW, RMSprop (the scheduler: examples/adam_schedule.py).  The scratch side is a line fitted with an
optimizer written in NumPy from torch's documented update rules (torch.optim's docs, the algorithm boxes)."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin
from crosscheck.checks import run_check
from crosscheck.run.memo import traces
from crosscheck.validate import validation_problem

X = np.linspace(-1.0, 1.0, 24).reshape(12, 2)
Y = X @ np.array([[0.7], [-1.3]]) + 0.4


class Line:
    def __init__(self, rng, rule, **options):
        self.p = {"w": rng.normal(size=(2, 1)), "b": np.zeros(1)}
        self.rule, self.options, self.t = rule, options, 0
        self.state = {name: {} for name in self.p}

    def forward(self, x):
        return x @ self.p["w"] + self.p["b"]

    def train_step(self, x, y, lr):
        out = self.forward(x)
        d = 2 * (out - y) / y.size
        self.g = {"w": x.T @ d, "b": d.sum(0)}
        self.t += 1
        for name, grad in self.g.items():
            self.p[name] = self.rule(self.p[name], grad, self.state[name], lr, self.t, **self.options)
        return np.mean((out - y) ** 2)


def sgd(p, g, state, lr, t, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum:
        # The first step's buffer is the gradient itself, without dampening.
        buf = g.copy() if t == 1 else momentum * state["momentum_buffer"] + (1 - dampening) * g
        state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return p - lr * g


def adam(p, g, state, lr, t, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    if decoupled:  # AdamW: the decay scales the parameter, apart from the gradient
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m, v = state.get("exp_avg", np.zeros_like(p)), state.get("exp_avg_sq", np.zeros_like(p))
    m = m + (1 - betas[0]) * (g - m)  # torch's lerp
    v = betas[1] * v + (1 - betas[1]) * g * g
    state.update(exp_avg=m, exp_avg_sq=v)
    denom = np.sqrt(v) / (1 - betas[1] ** t) ** 0.5 + eps
    return p - lr / (1 - betas[0] ** t) * m / denom


def rmsprop(p, g, state, lr, t, alpha=0.99, eps=1e-8):
    square_avg = alpha * state.get("square_avg", np.zeros_like(p)) + (1 - alpha) * g * g
    state["square_avg"] = square_avg
    return p - lr * g / (np.sqrt(square_avg) + eps)


def line_case(name, rule, optimizer, kinds, **options):
    params = {f'p["{k}"]': Link("weight" if k == "w" else "bias", transpose=k == "w") for k in ("w", "b")}
    # Line keeps each parameter's state in state["w"]["exp_avg"], ...; one step count t for all.
    state = {
        kind: "t" if kind == "step" else {f'p["{k}"]': f'state["{k}"]["{kind}"]' for k in ("w", "b")} for kind in kinds
    }
    return Case(
        name=name,
        scratch=Scratch(
            params,
            lambda out, y: np.mean((out - y) ** 2),
            network=lambda rng: Line(rng, rule, **options),
            step="train_step",
            grads={p: p.replace("p[", "g[") for p in params},
            state=state,
        ),
        twin=Twin(lambda dtype: torch.nn.Linear(2, 1, dtype=dtype), F.mse_loss, optimizer),
        data=Data(X, Y, batches=lambda rng: [rng.permutation(12)[:6] for _ in range(40)], learning_rate=0.05),
    )


OPTIMIZERS = {
    "sgd_momentum_dampening": (
        sgd,
        lambda ps, lr: torch.optim.SGD(ps, lr, momentum=0.9, dampening=0.3),
        ["momentum_buffer"],
        {"momentum": 0.9, "dampening": 0.3},
    ),
    "sgd_nesterov_weight_decay": (
        sgd,
        lambda ps, lr: torch.optim.SGD(ps, lr, momentum=0.8, nesterov=True, weight_decay=0.01),
        ["momentum_buffer"],
        {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
    ),
    "adam_weight_decay": (
        adam,
        lambda ps, lr: torch.optim.Adam(ps, lr, weight_decay=0.01),
        ["exp_avg", "exp_avg_sq", "step"],
        {"weight_decay": 0.01},
    ),
    "adamw": (
        adam,
        lambda ps, lr: torch.optim.AdamW(ps, lr, weight_decay=0.05),
        ["exp_avg", "exp_avg_sq", "step"],
        {"weight_decay": 0.05, "decoupled": True},
    ),
    "rmsprop": (rmsprop, lambda ps, lr: torch.optim.RMSprop(ps, lr), ["square_avg", "step"], {}),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_twins_optimizer_and_its_state_match_a_numpy_optimizer_step_by_step(name):
    rule, optimizer, kinds, options = OPTIMIZERS[name]
    case = line_case(name, rule, optimizer, kinds, **options)
    assert validation_problem(case) is None
    scratch, _ = traces(case)
    assert {k.split(".")[1] for k in scratch if k.startswith("state.")} == set(kinds)
    for check in ("gradients", "one_step", "training_run", "finite_differences"):
        result = run_check(case, check)
        assert result.passed, result.message()


def test_a_wrong_option_fails_at_the_state_it_changes_first():
    rule, optimizer, kinds, options = OPTIMIZERS["sgd_momentum_dampening"]
    case = line_case("wrong_dampening", rule, optimizer, kinds, **{**options, "dampening": 0.0})
    # Dampening does not touch the first step's buffer (torch starts it at the gradient): step 1 is the first.
    assert (
        run_check(case, "training_run")
        .message()
        .startswith('wrong_dampening / training_run: scratch and twin part at step 1, momentum buffer of p["w"][')
    )
