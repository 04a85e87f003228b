"""Worked example: a softmax classifier trained on integer class labels, with cross-entropy by hand,
cross-checked against ``F.cross_entropy`` and plain ``torch.optim.SGD``.

The targets are class indices (an int64 array of shape (n,)), not one-hot rows: the loss picks each
row's log-probability at its label, and the twin receives the labels as torch.int64, as
``F.cross_entropy`` expects.  ``SummedGradientBug`` forgets that the loss is a mean over the batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, register, shuffled_batches
from crosscheck.case import vary

Rng = np.random.RandomState | np.random.Generator  # the stream network(rng) and batches(rng) draw from

N_IN, HIDDEN, N_CLASSES = 2, 16, 3
BATCH_SIZE, EPOCHS, LEARNING_RATE = 15, 20, 0.2


def blobs(per_class: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian blobs in the plane from a fixed stream: X (90, 2), labels (90,) int64."""
    rng = np.random.RandomState(7)
    centres = np.array([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.0]])
    X = np.concatenate([c + 0.6 * rng.normal(size=(per_class, N_IN)) for c in centres])
    return X, np.repeat(np.arange(N_CLASSES, dtype=np.int64), per_class)


X, LABELS = blobs()


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of -log softmax(logits)[label] over the rows."""
    z = logits - logits.max(axis=1, keepdims=True)  # exp of a shifted logit cannot overflow
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


class SoftmaxClassifier:
    """W1 (2, 16), b1 (16,), tanh, W2 (16, 3), b2 (3,) -> logits; softmax cross-entropy; SGD."""

    def __init__(self, rng: Rng) -> None:
        self.W1, self.b1 = rng.normal(0.0, 1.0 / np.sqrt(N_IN), size=(N_IN, HIDDEN)), np.zeros(HIDDEN)
        self.W2, self.b2 = rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), size=(HIDDEN, N_CLASSES)), np.zeros(N_CLASSES)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.h = x, np.tanh(x @ self.W1 + self.b1)
        return self.h @ self.W2 + self.b2  # logits; softmax belongs to the loss

    def logits_gradient(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """d(mean cross-entropy)/d(logits) = (softmax - one_hot) / n."""
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        probs[np.arange(len(labels)), labels] -= 1.0  # minus the one-hot row, without building it
        return probs / len(labels)

    def backward(self, d_logits: np.ndarray) -> None:
        self.dW2, self.db2 = self.h.T @ d_logits, d_logits.sum(0)
        d_pre = d_logits @ self.W2.T * (1 - self.h**2)  # back through the tanh
        self.dW1, self.db1 = self.x.T @ d_pre, d_pre.sum(0)

    def train_step(self, x: np.ndarray, labels: np.ndarray, lr: float) -> np.ndarray:
        logits = self.forward(x)
        self.backward(self.logits_gradient(logits, labels))
        for name in ("W1", "b1", "W2", "b2"):
            setattr(self, name, getattr(self, name) - lr * getattr(self, "d" + name))
        return cross_entropy(logits, labels)


class SummedGradientBug(SoftmaxClassifier):
    """Bug: the gradient of the SUMMED loss (softmax - one_hot, not divided by the batch size) used with
    a learning rate meant for the mean loss, so every step is BATCH_SIZE times too large.  The
    gradients differ from torch's at step 0, before any parameter has moved."""

    def logits_gradient(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        probs[np.arange(len(labels)), labels] -= 1.0
        return probs


class ClassifierTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_IN, HIDDEN, dtype=dtype)
        self.out = nn.Linear(HIDDEN, N_CLASSES, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


NET = register(
    Case(
        name="label_classifier",
        description="2-16-3 tanh softmax classifier on integer labels of three blobs, hand-written cross-entropy, SGD",
        scratch=Scratch(
            network=SoftmaxClassifier,  # SoftmaxClassifier(rng) draws its own initial weights
            # nn.Linear stores W as (out, in), the network as (in, out)
            params={
                "W1": Link("hidden.weight", transpose=True),
                "b1": Link("hidden.bias"),
                "W2": Link("out.weight", transpose=True),
                "b2": Link("out.bias"),
            },
            loss=cross_entropy,
            step="train_step",
            grads={"W1": "dW1", "b1": "db1", "W2": "dW2", "b2": "db2"},
        ),
        twin=Twin(ClassifierTwin, loss=F.cross_entropy),  # the labels reach it as torch.int64
        data=Data(
            X,
            LABELS,
            batches=shuffled_batches(len(X), BATCH_SIZE, EPOCHS),
            learning_rate=LEARNING_RATE,
            curve_steps=range(0, EPOCHS * 6, 10),
        ),
    )
)


def bugged_case() -> Case:
    """The case with ``SummedGradientBug``: the gate must fail at step 0, on the gradients."""
    return vary(NET, network=SummedGradientBug, name=NET.name + "_bug")
