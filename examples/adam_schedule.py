"""Worked example: an MLP whose parameters live in a dict, trained with its own Adam and a step
learning-rate schedule, cross-checked against ``torch.optim.Adam`` with ``StepLR``.

The network keeps Adam's moment estimates in dicts keyed like its parameters and one step count ``t``;
the registration maps them to torch's ``exp_avg``, ``exp_avg_sq`` and ``step``, and ``lr`` to the rate
each step used, so the schedule is compared as well as the update.  The update follows torch's
arithmetic (``torch/optim/adam.py``, ``_single_tensor_adam``) operation by operation, which keeps the
two sides within a few units in the last place.  ``NoBiasCorrection`` is Adam as often first written,
without the bias correction of the moments.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, register, shuffled_batches
from crosscheck.case import vary

Rng = np.random.RandomState | np.random.Generator  # the stream network(rng) and batches(rng) draw from

SIZES = (3, 10, 1)
BATCH_SIZE, EPOCHS, LEARNING_RATE = 16, 20, 0.01
STEP_SIZE, GAMMA = 40, 0.5  # the rate halves every 40 steps

# 96 points in [-1, 1]^3 from a fixed stream, and a smooth target with an interaction term.
X = np.random.RandomState(1).uniform(-1.0, 1.0, size=(96, 3))
Y = np.tanh(X[:, :1] + X[:, 1:2] * X[:, 2:3]) - 0.5 * X[:, 2:3]


class AdamMLP:
    """tanh hidden layer, linear output, mean squared error; Adam with a StepLR-style schedule."""

    def __init__(self, sizes: tuple[int, int, int], rng: Rng) -> None:
        n_in, n_hidden, n_out = sizes
        self.p = {
            "W1": rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_hidden)),
            "b1": np.zeros(n_hidden),
            "W2": rng.normal(0.0, 1.0 / np.sqrt(n_hidden), size=(n_hidden, n_out)),
            "b2": np.zeros(n_out),
        }
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}  # first moment (mean of gradients)
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}  # second moment (mean of squares)
        self.t = 0
        self.betas, self.eps = (0.9, 0.999), 1e-8
        self.step_size, self.gamma = STEP_SIZE, GAMMA
        self.lr = 0.0  # the rate the last step used; set by train_step

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.h = x, np.tanh(x @ self.p["W1"] + self.p["b1"])
        return self.h @ self.p["W2"] + self.p["b2"]

    def backward(self, out: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        d_out = 2 * (out - y) / y.size  # mean squared error
        d_h = d_out @ self.p["W2"].T * (1 - self.h**2)  # back through the tanh
        return {"W1": self.x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}

    def scheduled_lr(self, base_lr: float) -> float:
        """StepLR: the base rate times gamma for every step_size steps already taken."""
        return base_lr * self.gamma ** (self.t // self.step_size)

    def adam(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        # Early on m and v are biased towards their zero start; dividing by 1 - beta**t undoes that.
        step = self.lr / (1 - beta1**self.t)
        root_correction2 = (1 - beta2**self.t) ** 0.5
        for k, g in grads.items():
            self.m[k] += (1 - beta1) * (g - self.m[k])  # = beta1*m + (1-beta1)*g, written as torch's lerp
            self.v[k] = beta2 * self.v[k] + (1 - beta2) * g * g
            denom = np.sqrt(self.v[k]) / root_correction2 + self.eps  # eps keeps a zero gradient finite
            self.p[k] -= step * self.m[k] / denom

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
        self.lr = self.scheduled_lr(lr)
        out = self.forward(x)
        self.grads = self.backward(out, y)  # kept so that they can be inspected after the step
        self.adam(self.grads)
        return mse(out, y)


class NoBiasCorrection(AdamMLP):
    """Bug: Adam without the bias correction: m and v are used as they are, zero start and all.  The
    update is off by (1 - beta1**t) / sqrt(1 - beta2**t), 3.2 at t=1 and still above 3 at t=100, so the
    early steps are several times too large.  The parameters differ from torch's from step 0; the
    moments agree at step 0 and drift after it, as the parameters they are computed from do."""

    def adam(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        for k, g in grads.items():
            self.m[k] += (1 - beta1) * (g - self.m[k])
            self.v[k] = beta2 * self.v[k] + (1 - beta2) * g * g
            self.p[k] -= self.lr * self.m[k] / (np.sqrt(self.v[k]) + self.eps)


class AdamTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(SIZES[0], SIZES[1], dtype=dtype)
        self.out = nn.Linear(SIZES[1], SIZES[2], dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean((out - y) ** 2)


_NAMES = ("W1", "b1", "W2", "b2")
_TWIN = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "out.weight", "b2": "out.bias"}
NET = register(
    Case(
        name="adam_schedule",
        description=f"3-10-1 tanh MLP with parameters in a dict, its own Adam, lr halved every {STEP_SIZE} steps",
        scratch=Scratch(
            network=lambda rng: AdamMLP(SIZES, rng),
            # nn.Linear stores W as (out, in), the network as (in, out)
            params={f'p["{k}"]': Link(_TWIN[k], transpose=k.startswith("W")) for k in _NAMES},
            loss=mse,
            step="train_step",
            grads={f'p["{k}"]': f'grads["{k}"]' for k in _NAMES},
            state={
                "exp_avg": {f'p["{k}"]': f'm["{k}"]' for k in _NAMES},
                "exp_avg_sq": {f'p["{k}"]': f'v["{k}"]' for k in _NAMES},
                "step": "t",  # one count for all parameters; torch keeps one per parameter
            },
            lr="lr",
            options={"betas": "betas", "eps": "eps"},
        ),
        twin=Twin(
            AdamTwin,
            loss=F.mse_loss,
            optimizer=lambda params, lr: torch.optim.Adam(params, lr=lr),
            scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=STEP_SIZE, gamma=GAMMA),
        ),
        data=Data(
            X,
            Y,
            batches=shuffled_batches(len(X), BATCH_SIZE, EPOCHS),
            learning_rate=LEARNING_RATE,
            curve_steps=range(0, EPOCHS * 6, 10),
        ),
    )
)


def bugged_case() -> Case:
    """The case with ``NoBiasCorrection``: the gate must fail at step 0, on the parameters."""
    return vary(NET, network=lambda rng: NoBiasCorrection(SIZES, rng), name=NET.name + "_bug")
