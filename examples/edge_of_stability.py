"""A chaotic run: a tanh MLP trained long by full-batch gradient descent at the edge of its stable learning rate.

4-32-32-1, no biases, mean squared error, SGD at learning rate 0.12 for 1,500 steps. The weights stay bounded
(the largest about 1.9), but the training amplifies rounding: measured with NumPy alone, moving every initial
weight by one ulp changes the first layer by 1e-12 at step 233 and by 8e-4 at step 1,499. NumPy and torch round
their matrix products differently, so the two sides of a correct network part beyond the fixed float64 bound
long before the end. ``Planted`` adds an error of 1e-9 to every step's update: a bug far below what the free
run can see once it has amplified the rounding, and which the anchored steps see at step 0.

Not registered: ``tests/test_chaotic.py`` checks it, its golden included (where the sides part, a golden holds
them within the run's own |scratch - twin|, the rounding its training amplifies).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin

SIZES = (4, 32, 32, 1)
SCALES = (0.8, 0.3, 0.3)  # the initial weights' spread per layer
LEARNING_RATE, STEPS = 0.12, 1500

_data = np.random.RandomState(0)
X = _data.normal(size=(32, 4))
Y = np.sin(3 * X[:, :1]) * np.cos(2 * X[:, 1:2])


class EdgeNet:
    """Weights W0 (4, 32), W1 (32, 32), W2 (32, 1); tanh between them; gradients by hand."""

    W0: np.ndarray
    W1: np.ndarray
    W2: np.ndarray

    def __init__(self, rng: np.random.RandomState) -> None:
        for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            setattr(self, f"W{i}", rng.normal(size=(n_in, n_out)) * SCALES[i])

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.inputs = [x]
        for i in range(len(SIZES) - 2):
            x = np.tanh(x @ getattr(self, f"W{i}"))
            self.inputs.append(x)
        return x @ self.W2

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        d = 2 * (self.forward(x) - y) / y.size
        grads = {}
        for i in reversed(range(len(SIZES) - 1)):
            grads[f"W{i}"] = self.inputs[i].T @ d
            if i:
                d = d @ getattr(self, f"W{i}").T * (1 - self.inputs[i] ** 2)
        return grads

    def update(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, g in grads.items():
            setattr(self, name, getattr(self, name) - lr * g)


class Planted(EdgeNet):
    """The same network with an error of 1e-9 added to every weight at every update from step ``FROM`` on."""

    FROM = 0

    def __init__(self, rng: np.random.RandomState) -> None:
        super().__init__(rng)
        self.updates = 0

    def update(self, grads: dict[str, np.ndarray], lr: float) -> None:
        error = 1e-9 / lr if self.updates >= self.FROM else 0.0
        self.updates += 1
        super().update({name: g + error for name, g in grads.items()}, lr)


class PlantedLate(Planted):
    """The error planted from step 700 on, where the free run has amplified rounding to about 1e-7."""

    FROM = 700


class EdgeTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
            layers += [nn.Linear(n_in, n_out, bias=False, dtype=dtype), nn.Tanh()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean((out - y) ** 2)


def case(network: type[EdgeNet] = EdgeNet, name: str = "edge_of_stability") -> Case:
    # nn.Linear keeps (out, in): W0 is net.0.weight transposed, W1 net.2.weight, W2 net.4.weight.
    params = {f"W{i}": Link(f"net.{2 * i}.weight", transpose=True) for i in range(len(SIZES) - 1)}
    return Case(
        name=name,
        description="tanh MLP at the edge of stability: training amplifies rounding",
        scratch=Scratch(params, mse, network=network, gradients="gradients", update="update"),
        twin=Twin(EdgeTwin, F.mse_loss),
        data=Data(X, Y, batches=lambda rng: [slice(None)] * STEPS, learning_rate=LEARNING_RATE),
    )


EDGE = case()
PLANTED = case(Planted, "edge_of_stability_planted")
PLANTED_LATE = case(PlantedLate, "edge_of_stability_planted_late")
