"""A small fixture network of the harness's own tests: 2-3-1, tanh hidden layer, linear output, mean
squared error, six points, a few full-batch steps.  The twin applies tanh as a module, so that its
layers can be recorded with hooks; the scratch network keeps its hidden activation and its backward
signal, so that a divergence can be placed at a layer.
"""

import numpy as np
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Layer, Link, Scratch, Twin, vary

X = np.array([[0.0, 1.0], [1.0, 0.5], [-1.0, 0.25], [0.5, -0.5], [2.0, 0.0], [-0.5, -1.0]])
Y = np.tanh(X @ np.array([[0.8], [-0.6]]))


class Net:
    """2-3-1: tanh hidden layer, linear output, mean squared error."""

    def __init__(self, W1, b1, W2, b2):
        self.W1, self.b1, self.W2, self.b2 = W1, b1, W2, b2

    def forward(self, x):
        self.h = np.tanh(x @ self.W1 + self.b1)
        self.output = self.h @ self.W2 + self.b2
        return self.output

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.d_h = d_out @ self.W2.T  # dL/dh, the hidden activation's backward signal
        d_h = self.d_h * (1 - self.h**2)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}

    def update(self, grads, lr):
        for name, grad in grads.items():
            setattr(self, name, getattr(self, name) - lr * grad)


class TwinNet(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.hidden, self.act, self.out = nn.Linear(2, 3, dtype=dtype), nn.Tanh(), nn.Linear(3, 1, dtype=dtype)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def mse(out, y):
    return np.mean((out - y) ** 2)


LAYERS = [Layer("hidden", scratch="h", twin="act", grad="d_h"), Layer("output", scratch="output", twin="out")]


def make_case(name="fixture_2_3_1", steps=6, **changes):
    """The fixture's case; ``changes`` replace fields (``layers=LAYERS`` names its layers)."""
    case = Case(
        name=name,
        scratch=Scratch(
            params={
                "W1": Link("hidden.weight", transpose=True),
                "b1": Link("hidden.bias"),
                "W2": Link("out.weight", transpose=True),
                "b2": Link("out.bias"),
            },
            init=lambda rng: {
                "W1": rng.normal(size=(2, 3)),
                "b1": np.zeros(3),
                "W2": rng.normal(size=(3, 1)),
                "b2": np.zeros(1),
            },
            build=lambda params, lr: Net(**params),
            forward=Net.forward,
            loss=mse,
            loss_gradient=lambda out, y: 2 * (out - y) / y.size,
            gradients=Net.gradients,
            update=Net.update,
            evaluate=lambda net, X, y: mse(net.forward(X), y),
        ),
        twin=Twin(
            module=TwinNet,
            loss=F.mse_loss,
            evaluate=lambda twin, X, y: F.mse_loss(twin(X), y),
        ),
        data=Data(
            X=X,
            y=Y,
            batches=lambda rng: [slice(None)] * steps,
            learning_rate=0.1,
            curve_steps=[0, 3, 5],
        ),
    )
    return vary(case, **changes) if changes else case
