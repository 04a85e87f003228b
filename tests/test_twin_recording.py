"""What the twin's recorder reads at every step is what the module holds then: an output that is a view of a
parameter, and a buffer the module replaces by assignment (issues 23 and 24)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin
from crosscheck.checks import battery, run_check

X = np.linspace(-1.0, 1.0, 12).reshape(6, 2)
Y = np.array([[0.5], [0.1], [-0.3], [0.8], [0.2], [0.0]])


class MeanNet:
    """Predicts one number for every row, and counts the steps it has taken in a float buffer."""

    def __init__(self, rng):
        self.b = rng.normal(size=1)
        self.count = np.zeros(1)

    def forward(self, x):
        self.count = self.count + 1  # a new array each step, as the twin's new tensor
        return np.repeat(self.b[None, :], len(x), axis=0)

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.count = self.count - 1  # this forward is not a step
        return {"b": d_out.sum(0)}

    def update(self, grads, lr):
        self.b = self.b - lr * grads["b"]


class MeanTwin(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(1, dtype=dtype))
        self.register_buffer("count", torch.zeros(1, dtype=dtype))

    def forward(self, x):
        if self.training:
            self.count = self.count + 1  # replaced by assignment, not updated in place
        return self.b.expand(x.shape[0], 1)  # a view of the parameter


CASE = Case(
    name="mean_view_twin",
    scratch=Scratch(
        {"b": Link("b")}, lambda out, y: np.mean((out - y) ** 2), network=MeanNet,
        gradients="gradients", update="update", buffers={"count": Link("count")},
    ),
    twin=Twin(MeanTwin, F.mse_loss),
    data=Data(X, Y, batches=lambda rng: [slice(None)] * 8, learning_rate=0.2),
)  # fmt: skip


def test_an_output_that_is_a_view_of_a_parameter_and_a_reassigned_buffer_are_recorded_as_they_were():
    # Before: the output kept as a view showed the parameter after the update, and the buffer list read once
    # kept the first tensor's zeros: "forward output" and "buffer" failures on a correct network.
    assert [check for check in battery(CASE) if not run_check(CASE, check).passed] == []
    from crosscheck.run.memo import traces

    scratch, twin = traces(CASE)
    assert np.array_equal(twin["buffer.count"][:, 0], np.arange(1.0, 9.0))
    assert np.array_equal(twin["output"][:, 0, 0], np.concatenate([twin["init.b"], twin["param.b"][:-1, 0]]))
