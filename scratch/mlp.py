"""A 64-128-10 multilayer perceptron from scratch: ReLU hidden layer, softmax cross-entropy, SGD.

Weights are stored (in, out), so a layer is ``x @ W + b``; every gradient is derived by hand.
The loss is the cross-entropy averaged over the batch, so a step's size does not depend on how
many samples the (possibly short, last) batch holds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scratch import _checks

Array = NDArray[np.floating]

N_IN, HIDDEN, N_OUT = 64, 128, 10


def relu(z: Array) -> Array:
    return np.maximum(z, 0)


def log_softmax(logits: Array) -> Array:
    # Shift by the row maximum so exp never overflows; the shift cancels in the difference.
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits: Array, targets: Array) -> Array:
    """Mean over the batch of -sum(target * log softmax(logits)); ``targets`` are one-hot rows."""
    return -np.mean(np.sum(targets * log_softmax(logits), axis=-1))


def cross_entropy_gradient(logits: Array, targets: Array) -> Array:
    """dL/dlogits of ``cross_entropy``: (softmax - target) / batch size."""
    return (np.exp(log_softmax(logits)) - targets) / len(logits)


class MLP:
    """``W1`` (64, 128), ``b1`` (128,), ``W2`` (128, 10), ``b2`` (10,), all of one float dtype."""

    def __init__(self, W1: ArrayLike, b1: ArrayLike, W2: ArrayLike, b2: ArrayLike, learning_rate: float) -> None:
        self.W1 = _checks.float_param("W1", W1, (N_IN, HIDDEN))
        self.b1 = _checks.float_param("b1", b1, (HIDDEN,))
        self.W2 = _checks.float_param("W2", W2, (HIDDEN, N_OUT))
        self.b2 = _checks.float_param("b2", b2, (N_OUT,))
        dtypes = {p.dtype for p in (self.W1, self.b1, self.W2, self.b2)}
        if len(dtypes) != 1:
            raise TypeError(f"W1, b1, W2, b2 must share one dtype, got {sorted(map(str, dtypes))}")
        self.learning_rate = _checks.positive("learning_rate", learning_rate)

    def forward(self, x: Array) -> Array:
        """Logits (n, 10) of a batch x (n, 64); keeps the activations ``gradients`` needs."""
        if x.ndim != 2 or x.shape[1] != N_IN:
            raise ValueError(f"x must have shape (n, {N_IN}), got {x.shape}")
        self.x = x
        self.z1 = x @ self.W1 + self.b1
        self.h = relu(self.z1)
        return self.h @ self.W2 + self.b2

    def gradients(self, x: Array, targets: Array) -> dict[str, Array]:
        """dL/dW1, dL/db1, dL/dW2, dL/db2 of the batch-mean cross-entropy, by backpropagation."""
        logits = self.forward(x)
        if targets.shape != logits.shape:
            raise ValueError(f"targets must be one-hot with shape {logits.shape}, got {targets.shape}")
        d_logits = cross_entropy_gradient(logits, targets)
        d_h = d_logits @ self.W2.T
        d_z1 = d_h * (self.z1 > 0)  # ReLU passes the gradient where its input was positive
        return {
            "W1": x.T @ d_z1,
            "b1": d_z1.sum(axis=0),
            "W2": self.h.T @ d_logits,
            "b2": d_logits.sum(axis=0),
        }

    def step(self, grads: dict[str, Array]) -> None:
        """One SGD step: every parameter moves against its gradient by ``learning_rate``."""
        self.W1 = self.W1 - self.learning_rate * grads["W1"]
        self.b1 = self.b1 - self.learning_rate * grads["b1"]
        self.W2 = self.W2 - self.learning_rate * grads["W2"]
        self.b2 = self.b2 - self.learning_rate * grads["b2"]

    def predict(self, x: Array) -> NDArray[np.intp]:
        """The most likely class of each row."""
        return np.argmax(self.forward(x), axis=-1)
