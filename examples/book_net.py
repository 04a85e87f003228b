"""Worked example: a network as a textbook builds it, layer classes with ``forward``/``backward`` whose weights
come from the global ``np.random``, and the book's momentum optimizer, ``v = momentum * v - lr * grad;
param += v``, with the learning rate decayed as ``lr / (1 + decay * iterations)``; cross-checked against
``nn.Linear`` layers, a torch optimizer of the same rule and torch's ``LambdaLR`` for the decay.

torch's ``SGD(momentum=...)`` keeps ``buf = momentum * buf + grad`` and steps ``p -= lr * buf``: the same
run as the book's while the rate is constant (``v = -lr * buf``), another once it decays (the book's
velocity keeps the earlier, larger rates), so the twin's optimizer is ``BookMomentum`` below while the
decay is torch's own scheduler.  ``DecayFirst`` increments the iteration count before it decays the rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Step, Twin, register, shuffled_batches
from crosscheck.case import vary

N_IN, HIDDEN, N_CLASSES = 2, 10, 3
BATCH_SIZE, EPOCHS, LEARNING_RATE, MOMENTUM, DECAY = 16, 6, 0.1, 0.9, 0.05
DESCRIPTION = f"2-{HIDDEN}-3 sigmoid softmax net, the book's momentum v = mu*v - lr*g, lr / (1 + {DECAY}*t)"

# Three overlapping blobs in the plane from a fixed stream; one-hot targets, as the book's loaders give.
_rng = np.random.RandomState(5)
X = np.concatenate([c + 0.6 * _rng.normal(size=(32, N_IN)) for c in ([-1.0, 0.0], [1.0, 0.5], [0.0, -1.0])])
T = np.eye(N_CLASSES)[np.repeat(np.arange(N_CLASSES), 32)]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy_error(scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mean cross-entropy of softmax(scores) against one-hot rows ``t``."""
    return -np.sum(t * np.log(softmax(scores))) / len(t)


class Affine:
    def __init__(self, input_size: int, output_size: int, weight_init_std: float = 0.5) -> None:
        self.W = weight_init_std * np.random.randn(input_size, output_size)
        self.b = np.zeros(output_size)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T


class Sigmoid:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1.0 - self.out)


class SoftmaxWithLoss:
    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        self.y, self.t = softmax(x), t
        return -np.sum(t * np.log(self.y)) / len(t)

    def backward(self, dout: float = 1) -> np.ndarray:
        return dout * (self.y - self.t) / len(self.t)


class Momentum:
    """v = momentum * v - lr * grad; param += v; lr decays as lr / (1 + decay * iterations)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, decay: float = 0.0) -> None:
        self.lr, self.momentum, self.decay = lr, momentum, decay
        self.iterations = 0
        self.v: dict[str, np.ndarray] | None = None

    def decayed_lr(self) -> float:
        return self.lr / (1 + self.decay * self.iterations)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        lr = self.decayed_lr()  # the first update at the full rate
        for key in params:
            self.v[key] = self.momentum * self.v[key] - lr * grads[key]
            params[key] += self.v[key]
        self.iterations += 1


class DecayFirst(Momentum):
    """Bug: the iteration count advances before the rate is decayed, so even the first update runs at
    lr / (1 + decay) and every later one a step further down the schedule.  The parameters differ from step 0."""

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iterations += 1
        lr = self.decayed_lr()
        for key in params:
            self.v[key] = self.momentum * self.v[key] - lr * grads[key]
            params[key] += self.v[key]


class TwoLayerNet:
    def __init__(self, input_size: int, hidden_size: int, output_size: int, optimizer: Momentum) -> None:
        self.layers: list[Any] = [Affine(input_size, hidden_size), Sigmoid(), Affine(hidden_size, output_size)]
        self.last_layer = SoftmaxWithLoss()
        self.optimizer = optimizer
        self.params = {"W1": self.layers[0].W, "b1": self.layers[0].b, "W2": self.layers[2].W, "b2": self.layers[2].b}

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.last_layer.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return {"W1": self.layers[0].dW, "b1": self.layers[0].db, "W2": self.layers[2].dW, "b2": self.layers[2].db}

    def train_step(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        loss = self.loss(x, t)
        self.optimizer.update(self.params, self.gradient(x, t))
        return loss


class BookMomentum(torch.optim.Optimizer):
    """The book's rule in torch: v = momentum * v - lr * grad; p += v (the decay is the scheduler's)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]  # no closure: one loss a step
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                v = state["velocity"]
                v.copy_(group["momentum"] * v - group["lr"] * p.grad)
                p.add_(v)


def decayed(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """The book's decay as a torch scheduler: the rate of step t is lr / (1 + decay * t)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1 / (1 + DECAY * t))


class BookTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_IN, HIDDEN, dtype=dtype)
        self.out = nn.Linear(HIDDEN, N_CLASSES, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.sigmoid(self.hidden(x)))


def book_network(optimizer: type[Momentum] = Momentum) -> TwoLayerNet:
    """The book's net with its optimizer; the layers draw their weights from ``np.random``."""
    return TwoLayerNet(N_IN, HIDDEN, N_CLASSES, optimizer(LEARNING_RATE, MOMENTUM, DECAY))


def bugged_case() -> Case:
    """The case with ``DecayFirst``: the gate must fail at step 0, on the parameters."""
    return vary(NET, network=lambda rng: book_network(DecayFirst), name=NET.name + "_bug")


# --- the registration: everything below is what a user writes --------------------------------
# nn.Linear stores W as (out, in), the book's Affine as (in, out)
TWIN_NAMES = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "out.weight", "b2": "out.bias"}
PARAMS = {f'params["{k}"]': Link(t, transpose=k[0] == "W") for k, t in TWIN_NAMES.items()}
SCRATCH = Scratch(
    PARAMS,
    cross_entropy_error,
    network=lambda rng: book_network(),  # weights from np.random, which the harness seeds from rng
    forward="predict",
    step=Step("train_step", takes=("x", "y")),  # the rate is the optimizer's own
    grads={f'params["{k}"]': f"layers[{2 * (k[1] == '2')}].d{k[0]}" for k in TWIN_NAMES},  # layers[0].dW, ...
    state={"velocity": {f'params["{k}"]': f'optimizer.v["{k}"]' for k in TWIN_NAMES}},
    options={"lr": "optimizer.lr", "momentum": "optimizer.momentum"},
)
TWIN = Twin(BookTwin, F.cross_entropy, lambda params, lr: BookMomentum(params, lr, MOMENTUM), decayed)
DATA = Data(X, T, shuffled_batches(len(X), BATCH_SIZE, EPOCHS), LEARNING_RATE, range(0, EPOCHS * 6, 6))
NET = register(Case(name="book_net", scratch=SCRATCH, twin=TWIN, data=DATA, description=DESCRIPTION))
