"""Worked example, "Bring your own network": a 2-3-1 network learning XOR, and its registration.

The network (tanh hidden layer, sigmoid output, mean squared error, full-batch gradient descent)
and its PyTorch twin are what a user already has; the ``register(Case(...))`` call at the bottom is
all they add to get the whole battery (see README, "Bring your own network"): the network's own
methods by name, its parameters by path, the twin's loss; the twin trains with plain SGD, the default.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Layer, Link, Scratch, Twin, register

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


class XorNet:
    """From scratch in NumPy: W1 (2, 3), b1 (3,), W2 (3, 1), b2 (1,); gradients by hand."""

    def __init__(self, rng: np.random.RandomState) -> None:
        self.W1, self.b1 = rng.normal(size=(2, 3)), np.zeros(3)
        self.W2, self.b2 = rng.normal(size=(3, 1)), np.zeros(1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.h = np.tanh(x @ self.W1 + self.b1)
        return 1 / (1 + np.exp(-(self.h @ self.W2 + self.b2)))

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        out = self.forward(x)
        d_z2 = 2 * (out - y) / y.size * out * (1 - out)  # mean squared error, then the sigmoid
        d_z1 = d_z2 @ self.W2.T * (1 - self.h**2)  # then the tanh
        return {"W1": x.T @ d_z1, "b1": d_z1.sum(0), "W2": self.h.T @ d_z2, "b2": d_z2.sum(0)}

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, grad in grads.items():
            setattr(self, name, getattr(self, name) - lr * grad)


class XorTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden, self.out = nn.Linear(2, 3, dtype=dtype), nn.Linear(3, 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.tanh(self.hidden(x))))


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean((out - y) ** 2)


# --- the registration: everything below is what a user writes --------------------------------
# nn.Linear stores its weight as (out, in), XorNet as (in, out): those Links transpose.
TWIN = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "out.weight", "b2": "out.bias"}
PARAMS = {name: Link(tensor, transpose=name.startswith("W")) for name, tensor in TWIN.items()}  # path -> tensor

XOR_NET = register(
    Case(
        name="xor_2_3_1",
        scratch=Scratch(PARAMS, mse, network=XorNet, gradients="gradients", update="step"),  # methods by name
        twin=Twin(XorTwin, F.mse_loss),  # it trains with torch.optim.SGD(lr), the default
        data=Data(X, Y, batches=lambda rng: [slice(None)] * 300, learning_rate=2.0, curve_steps=range(0, 300, 30)),
        # Optional: where a divergence starts, layer by layer (the twin applies tanh as a function, so
        # the hidden activation is the input of its output layer).
        layers=[Layer("hidden", scratch="h", twin="out", twin_io="input")],
    )
)
