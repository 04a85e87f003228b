"""Worked example: a small from-scratch deep-learning library, used as its README shows: a ``NeuralNetwork`` that
layers are ``add``-ed to, each ``Dense`` layer holding its own copy of the optimizer (an ``Adam`` object
copied per weight), and ``train_on_batch(X, y)`` returning ``(loss, accuracy)``; cross-checked against
``nn.Linear`` layers trained by ``torch.optim.Adam``.

The library draws its initial weights from the global ``np.random``, as such libraries do, and the
learning rate lives in the optimizer object, not in the training call.  Each layer keeps the gradients it
hands its optimizer (``grads["W"]``), and each optimizer copy its own moments and step count.
``DiagonalSoftmax`` is the softmax layer whose backward keeps only the diagonal of its Jacobian.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from crosscheck import Case, Data, Link, Scratch, Step, Twin, register, shuffled_batches
from crosscheck.case import vary

N_IN, HIDDEN, N_CLASSES = 2, 12, 3
DESCRIPTION = "2-12-3 softmax classifier from a from-scratch library: add(layer), an Adam copy per weight"
BATCH_SIZE, EPOCHS, LEARNING_RATE = 16, 6, 0.01

# Three overlapping blobs in the plane from a fixed stream; one-hot targets.
_rng = np.random.RandomState(11)
X = np.concatenate([c + 0.7 * _rng.normal(size=(32, N_IN)) for c in ([-1.0, 0.0], [1.0, 0.5], [0.0, -1.0])])
Y = np.eye(N_CLASSES)[np.repeat(np.arange(N_CLASSES), 32)]


class Adam:
    def __init__(self, learning_rate: float = 0.001, b1: float = 0.9, b2: float = 0.999) -> None:
        self.learning_rate, self.b1, self.b2, self.eps = learning_rate, b1, b2, 1e-8
        self.m: Any = None  # made at the first update, in the weight's shape
        self.v: Any = None
        self.t = 0

    def update(self, w: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.m is None:
            self.m, self.v = np.zeros_like(grad), np.zeros_like(grad)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad**2
        m_hat = self.m / (1 - self.b1**self.t)  # the moments start at zero: undo that bias
        v_hat = self.v / (1 - self.b2**self.t)
        return w - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)


class Layer:
    input_shape: tuple[int, ...]

    def set_input_shape(self, shape: tuple[int, ...]) -> None:
        self.input_shape = shape

    def initialize(self, optimizer: Adam) -> None:
        pass  # nothing to train

    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape

    def forward_pass(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward_pass(self, accum_grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Dense(Layer):
    def __init__(self, n_units: int, input_shape: tuple[int, ...] | None = None) -> None:
        self.n_units = n_units
        if input_shape is not None:
            self.input_shape = input_shape

    def initialize(self, optimizer: Adam) -> None:
        limit = 1 / np.sqrt(self.input_shape[0])
        self.W = np.random.uniform(-limit, limit, (self.input_shape[0], self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)  # one optimizer state per weight

    def output_shape(self) -> tuple[int, ...]:
        return (self.n_units,)

    def forward_pass(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        self.layer_input = X
        return X @ self.W + self.w0

    def backward_pass(self, accum_grad: np.ndarray) -> np.ndarray:
        W = self.W  # the input gradient needs the weights of the forward pass
        self.grads = {"W": self.layer_input.T @ accum_grad, "w0": accum_grad.sum(axis=0, keepdims=True)}
        self.W = self.W_opt.update(self.W, self.grads["W"])
        self.w0 = self.w0_opt.update(self.w0, self.grads["w0"])
        return accum_grad @ W.T


class Activation(Layer):
    def __init__(self, name: str) -> None:
        self.name = name

    def forward_pass(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        if self.name == "tanh":
            self.out = np.tanh(X)
        else:  # softmax over each row
            e = np.exp(X - X.max(axis=1, keepdims=True))
            self.out = e / e.sum(axis=1, keepdims=True)
        return self.out

    def backward_pass(self, accum_grad: np.ndarray) -> np.ndarray:
        if self.name == "tanh":
            return accum_grad * (1 - self.out**2)
        # the softmax Jacobian, diag(p) - p p^T, applied to each row's gradient
        return self.out * (accum_grad - (accum_grad * self.out).sum(axis=1, keepdims=True))


class CrossEntropy:
    def loss(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.mean(-np.sum(y * np.log(p), axis=1))

    def gradient(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        return -y / p / len(y)

    def acc(self, y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(y.argmax(axis=1) == p.argmax(axis=1)))


class NeuralNetwork:
    def __init__(self, optimizer: Adam, loss: type[CrossEntropy]) -> None:
        self.optimizer, self.loss_function = optimizer, loss()
        self.layers: list[Layer] = []

    def add(self, layer: Layer) -> None:
        if self.layers:  # the first layer is told its input shape; the others take the previous output's
            layer.set_input_shape(self.layers[-1].output_shape())
        layer.initialize(self.optimizer)
        self.layers.append(layer)

    def _forward_pass(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward_pass(X, training)
        return X

    def _backward_pass(self, loss_grad: np.ndarray) -> None:
        for layer in reversed(self.layers):
            loss_grad = layer.backward_pass(loss_grad)

    def train_on_batch(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        y_pred = self._forward_pass(X)
        loss = self.loss_function.loss(y, y_pred)
        self._backward_pass(self.loss_function.gradient(y, y_pred))
        return loss, self.loss_function.acc(y, y_pred)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._forward_pass(X, training=False)


class DiagonalSoftmax(Activation):
    """Bug: the softmax backward keeps only the Jacobian's diagonal, p * (1 - p) * grad, and drops the
    cross terms -p_i p_j.  The gradients of every weight differ from step 0."""

    def backward_pass(self, accum_grad: np.ndarray) -> np.ndarray:
        if self.name == "tanh":
            return super().backward_pass(accum_grad)
        return accum_grad * self.out * (1 - self.out)


def classifier(softmax: type[Activation] = Activation) -> NeuralNetwork:
    """2-12-3 tanh classifier with a softmax output, Adam at LEARNING_RATE, as the library's README builds one."""
    net = NeuralNetwork(optimizer=Adam(learning_rate=LEARNING_RATE), loss=CrossEntropy)
    net.add(Dense(HIDDEN, input_shape=(N_IN,)))
    net.add(Activation("tanh"))
    net.add(Dense(N_CLASSES))
    net.add(softmax("softmax"))
    return net


def twin_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * torch.log(p)).sum(dim=1).mean()


class LibraryTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_IN, HIDDEN, dtype=dtype)
        self.out = nn.Linear(HIDDEN, N_CLASSES, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.out(torch.tanh(self.hidden(x))), dim=1)


def bugged_case() -> Case:
    """The case with ``DiagonalSoftmax``: the gate must fail at step 0, on the gradients."""
    return vary(NET, network=lambda rng: classifier(DiagonalSoftmax), name=NET.name + "_bug")


# --- the registration: everything below is what a user writes --------------------------------
# nn.Linear stores W as (out, in), the library as (in, out); its biases w0 are (1, out) rows.
PARAMS = {f"layers[{i}].W": Link(f"{t}.weight", transpose=True) for i, t in [(0, "hidden"), (2, "out")]}
PARAMS |= {f"layers[{i}].w0": Link(f"{t}.bias", (None, slice(None))) for i, t in [(0, "hidden"), (2, "out")]}  # type: ignore[arg-type]
SCRATCH = Scratch(
    PARAMS,
    # adapter, no feature for it: the library's loss takes (y, p); Scratch(loss=...) is called (output, y)
    lambda p, y: CrossEntropy().loss(y, p),
    network=lambda rng: classifier(),  # weights from np.random, which the harness seeds from rng
    forward="predict",
    step=Step("train_on_batch", takes=("x", "y"), loss=0),  # it returns (loss, accuracy)
    grads={p: p.replace(".", '.grads["') + '"]' for p in PARAMS},  # layers[0].grads["W"]: what each layer applied
    state={k: {p: f"{p}_opt.{a}" for p in PARAMS} for k, a in [("exp_avg", "m"), ("exp_avg_sq", "v"), ("step", "t")]},
    options={"lr": "layers[0].W_opt.learning_rate", "eps": "layers[0].W_opt.eps"},  # the Adam copies' own
)
TWIN = Twin(LibraryTwin, twin_loss, torch.optim.Adam)  # called as Adam(params, lr)
DATA = Data(X, Y, shuffled_batches(len(X), BATCH_SIZE, EPOCHS), LEARNING_RATE, range(0, EPOCHS * 6, 6))
NET = register(Case(name="library_net", scratch=SCRATCH, twin=TWIN, data=DATA, description=DESCRIPTION))
