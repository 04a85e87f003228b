"""Worked example: an MLP built from a list of layer objects, trained with its own SGD with momentum
and weight decay, cross-checked against ``torch.optim.SGD(momentum=0.9, weight_decay=1e-3)``.

Each ``Dense`` layer keeps its parameters, their gradients and their momentum buffers, as a course's
from-scratch code does; the network's ``train_step`` runs forward, backward and the update.  The
registration maps every buffer to torch's ``momentum_buffer`` so the optimizer itself is compared at
every step, not just its effect on the weights.  ``MomentumOrderBug`` is the classic slip of stepping
with the velocity before this step's gradient is folded into it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, register, shuffled_batches
from crosscheck.case import vary

Rng = np.random.RandomState | np.random.Generator  # the stream network(rng) and batches(rng) draw from

SIZES = [2, 8, 1]
BATCH_SIZE, EPOCHS, LEARNING_RATE = 16, 25, 0.05

# An 8x8 grid on [-1, 1]^2 and a smooth target that needs the hidden layer: 64 rows, no randomness.
_GRID = np.linspace(-1.0, 1.0, 8)
X = np.array([[a, b] for a in _GRID for b in _GRID])
Y = (np.sin(np.pi * X[:, 0]) * X[:, 1])[:, None]


class Dense:
    """A fully connected layer: W (in, out), b (out,), with its gradients and momentum buffers."""

    def __init__(self, n_in: int, n_out: int, rng: Rng) -> None:
        self.W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_out))  # keeps tanh out of saturation
        self.b = np.zeros(n_out)
        self.vW, self.vb = np.zeros_like(self.W), np.zeros_like(self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x  # the backward pass needs the input
        return x @ self.W + self.b

    def backward(self, d_out: np.ndarray) -> np.ndarray:
        self.dW, self.db = self.x.T @ d_out, d_out.sum(axis=0)
        return d_out @ self.W.T


class MomentumMLP:
    """Dense layers with tanh between them and a linear output, mean squared error, SGD with momentum."""

    def __init__(self, sizes: list[int], rng: Rng) -> None:
        self.layers = [Dense(n_in, n_out, rng) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        self.momentum, self.weight_decay = 0.9, 1e-3

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.hidden = []  # tanh outputs, kept for their derivative 1 - h**2
        for layer in self.layers[:-1]:
            x = np.tanh(layer.forward(x))
            self.hidden.append(x)
        return self.layers[-1].forward(x)

    def backward(self, out: np.ndarray, y: np.ndarray) -> None:
        d = 2 * (out - y) / y.size  # derivative of the mean squared error
        d = self.layers[-1].backward(d)
        for layer, h in zip(reversed(self.layers[:-1]), reversed(self.hidden), strict=True):
            d = layer.backward(d * (1 - h**2))

    def update(self, lr: float) -> None:
        """v = momentum * v + (grad + weight_decay * p); p -= lr * v (torch.optim.SGD's order)."""
        for layer in self.layers:
            for name in ("W", "b"):
                p, v = getattr(layer, name), getattr(layer, "v" + name)
                # L2 regularisation enters through the gradient, biases included, as SGD(weight_decay=...) does.
                g = getattr(layer, "d" + name) + self.weight_decay * p
                v *= self.momentum
                v += g  # the buffer starts at zero, so the first step moves by lr * g
                p -= lr * v

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
        out = self.forward(x)
        self.backward(out, y)
        self.update(lr)
        return mse(out, y)


class MomentumOrderBug(MomentumMLP):
    """Bug: the parameter steps with the OLD velocity, then the gradient is folded in (p -= lr * v;
    v = momentum * v + g).  Every update lags one gradient behind, and the first step does not move
    the weights at all: the parameters differ from torch's from step 0, the buffers from step 1."""

    def update(self, lr: float) -> None:
        for layer in self.layers:
            for name in ("W", "b"):
                p, v = getattr(layer, name), getattr(layer, "v" + name)
                g = getattr(layer, "d" + name) + self.weight_decay * p
                p -= lr * v
                v *= self.momentum
                v += g


class MomentumTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(SIZES[0], SIZES[1], dtype=dtype)
        self.out = nn.Linear(SIZES[1], SIZES[2], dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean((out - y) ** 2)


# Paths into the network: nn.Linear stores W as (out, in), the Dense layers as (in, out).
_PARAMS = {
    "layers[0].W": Link("hidden.weight", transpose=True),
    "layers[0].b": Link("hidden.bias"),
    "layers[1].W": Link("out.weight", transpose=True),
    "layers[1].b": Link("out.bias"),
}
NET = register(
    Case(
        name="momentum_mlp",
        description="2-8-1 tanh MLP from a list of layers, its own SGD with momentum 0.9 and weight decay 1e-3",
        scratch=Scratch(
            network=lambda rng: MomentumMLP(SIZES, rng),
            params=_PARAMS,
            loss=mse,
            step="train_step",
            grads={path: path.replace(".", ".d") for path in _PARAMS},  # layers[0].W -> layers[0].dW
            state={"momentum_buffer": {path: path.replace(".", ".v") for path in _PARAMS}},
            options={"momentum": "momentum", "weight_decay": "weight_decay"},
        ),
        twin=Twin(
            MomentumTwin,
            loss=F.mse_loss,
            optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-3),
        ),
        data=Data(
            X,
            Y,
            batches=shuffled_batches(len(X), BATCH_SIZE, EPOCHS),
            learning_rate=LEARNING_RATE,
            curve_steps=range(0, EPOCHS * 4, 10),
        ),
    )
)


def bugged_case() -> Case:
    """The case with ``MomentumOrderBug``: the gate must fail at step 0, on the parameters."""
    return vary(NET, network=lambda rng: MomentumOrderBug(SIZES, rng), name=NET.name + "_bug")
