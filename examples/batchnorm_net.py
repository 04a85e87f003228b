"""Worked example: Linear -> BatchNorm -> tanh -> Linear from scratch, with batch statistics in training,
running statistics for evaluation, and the backward pass through batch normalisation by hand;
cross-checked against ``nn.BatchNorm1d`` and plain ``torch.optim.SGD``.

The running mean and variance are buffers, not parameters: no gradient reaches them, so only a
comparison of the buffers themselves (``Scratch(buffers=...)``) and the eval-mode curve can catch a
mistake in them.  ``SwappedMomentumBatchNorm`` shows one: training agrees with torch to the last bit
while the running statistics, and so every evaluation, are wrong.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, register, shuffled_batches
from crosscheck.case import vary

Rng = np.random.RandomState | np.random.Generator  # the stream network(rng) and batches(rng) draw from

N_IN, HIDDEN = 3, 8
BATCH_SIZE, EPOCHS, LEARNING_RATE = 16, 20, 0.1

# 96 rows whose features have different offsets and scales (what batch normalisation evens out),
# and a target that is smooth in the standardised features.
_Z = np.random.RandomState(3).normal(size=(96, N_IN))
X = _Z * np.array([1.0, 3.0, 0.5]) + np.array([1.0, -2.0, 0.0])
Y = (np.sin(_Z[:, 0]) + 0.5 * _Z[:, 1] * _Z[:, 2])[:, None]


class Linear:
    """x @ W (+ b), W (in, out); keeps its input for the backward pass."""

    def __init__(self, n_in: int, n_out: int, rng: Rng, bias: bool = True) -> None:
        self.W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_out))
        self.b = np.zeros(n_out) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W if self.b is None else x @ self.W + self.b

    def backward(self, d_out: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ d_out
        if self.b is not None:
            self.db = d_out.sum(0)
        return d_out @ self.W.T


class BatchNorm:
    """Batch normalisation over the batch axis: gamma * (x - mean) / sqrt(var + eps) + beta."""

    def __init__(self, n: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        self.gamma, self.beta = np.ones(n), np.zeros(n)
        self.running_mean, self.running_var = np.zeros(n), np.ones(n)
        self.momentum, self.eps = momentum, eps

    def update_running_stats(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        # The running variance estimates the population's, so it takes the unbiased batch variance.
        unbiased = var * n / (n - 1)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if training:
            mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance: the batch's own spread
            self.update_running_stats(mean, var, len(x))
        else:
            mean, var = self.running_mean, self.running_var
        self.std = np.sqrt(var + self.eps)
        self.x_hat = (x - mean) / self.std
        return self.gamma * self.x_hat + self.beta

    def backward(self, d_out: np.ndarray) -> np.ndarray:
        n = len(d_out)
        self.dgamma, self.dbeta = (d_out * self.x_hat).sum(0), d_out.sum(0)
        d_xhat = d_out * self.gamma
        # Every row moves the batch mean and variance too: the two extra terms are those paths.
        return (n * d_xhat - d_xhat.sum(0) - self.x_hat * (d_xhat * self.x_hat).sum(0)) / (n * self.std)


class BatchNormNet:
    """Linear(3, 8, no bias) -> BatchNorm(8) -> tanh -> Linear(8, 1); mean squared error; plain SGD."""

    def __init__(self, rng: Rng, norm: type[BatchNorm] = BatchNorm) -> None:
        self.fc1 = Linear(N_IN, HIDDEN, rng, bias=False)  # batch norm's beta makes a bias here redundant
        self.bn = norm(HIDDEN)
        self.fc2 = Linear(HIDDEN, 1, rng)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.h = np.tanh(self.bn.forward(self.fc1.forward(x), training))
        return self.fc2.forward(self.h)

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
        out = self.forward(x)  # once per step: each training forward moves the running statistics
        d = self.fc2.backward(2 * (out - y) / y.size)
        self.fc1.backward(self.bn.backward(d * (1 - self.h**2)))
        for layer, name in [(self.fc1, "W"), (self.bn, "gamma"), (self.bn, "beta"), (self.fc2, "W"), (self.fc2, "b")]:
            setattr(layer, name, getattr(layer, name) - lr * getattr(layer, "d" + name))
        return mse(out, y)


class SwappedMomentumBatchNorm(BatchNorm):
    """Bug: the momentum on the wrong side (running = momentum * running + (1 - momentum) * batch, the
    convention of frameworks whose momentum means "how much to keep", with torch's 0.1).  Training
    uses batch statistics, so losses, gradients and parameters still agree with torch; the running
    buffers differ from step 0, and the eval-mode curve with them."""

    def update_running_stats(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        unbiased = var * n / (n - 1)
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * unbiased


class BatchNormTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_IN, HIDDEN, bias=False, dtype=dtype)
        self.bn = nn.BatchNorm1d(HIDDEN, dtype=dtype)  # momentum 0.1, eps 1e-5
        self.fc2 = nn.Linear(HIDDEN, 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.bn(self.fc1(x))))


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean((out - y) ** 2)


NET = register(
    Case(
        name="batchnorm_net",
        description="3-8-1 net with BatchNorm before the tanh: batch statistics in training, running ones in eval",
        scratch=Scratch(
            network=BatchNormNet,  # BatchNormNet(rng) draws its own initial weights
            # nn.Linear stores W as (out, in), the network as (in, out)
            params={
                "fc1.W": Link("fc1.weight", transpose=True),
                "bn.gamma": Link("bn.weight"),
                "bn.beta": Link("bn.bias"),
                "fc2.W": Link("fc2.weight", transpose=True),
                "fc2.b": Link("fc2.bias"),
            },
            loss=mse,
            step="train_step",  # the default forward, forward(x), is the training-mode one, as the twin's
            grads={
                "fc1.W": "fc1.dW",
                "bn.gamma": "bn.dgamma",
                "bn.beta": "bn.dbeta",
                "fc2.W": "fc2.dW",
                "fc2.b": "fc2.db",
            },
            buffers={"bn.running_mean": Link("bn.running_mean"), "bn.running_var": Link("bn.running_var")},
            evaluate=lambda net, X, y: mse(net.forward(X, training=False), y),  # on the running statistics
        ),
        twin=Twin(BatchNormTwin, loss=F.mse_loss),  # evaluated in eval mode by the harness
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
    """The case with ``SwappedMomentumBatchNorm``: the gate must fail at step 0, on the running buffers."""
    return vary(NET, network=lambda rng: BatchNormNet(rng, norm=SwappedMomentumBatchNorm), name=NET.name + "_bug")
