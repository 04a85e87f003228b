"""Links and layers beyond transpose and index: a scratch bias that is the sum of two twin tensors (nn.RNN's
bias_ih + bias_hh), a parameter reshaped (a (2, 3) scale against a (6,) tensor) or with its axes permuted (a
kernel kept (h, w, out) against the twin's (out, h, w)), a layer value in another layout; written into the twin
exactly, compared at every step, and refused word for word where the map does not fit or could be read two
ways."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Layer, Link, Scratch, Twin
from crosscheck.case import vary
from crosscheck.checks import run_check
from crosscheck.layer_values import scratch_layer_values, twin_layer_values
from crosscheck.layout import load_into_twin, twin_to_scratch
from crosscheck.run.start import start
from crosscheck.validate import validation_problem


def mse(out, y):
    return np.mean((out - y) ** 2)


class Rnn:
    """A tanh RNN over a short sequence, as the classic scripts write it: one hidden bias ``bh`` kept as an
    (H, 1) column, gradients through time by hand."""

    def __init__(self, rng):
        self.Wx, self.Wh = rng.normal(0, 0.5, (2, 3)), rng.normal(0, 0.5, (3, 3))
        self.bh, self.Wy, self.by = rng.normal(0, 0.1, (3, 1)), rng.normal(0, 0.5, (3, 1)), np.zeros(1)

    def forward(self, x):
        self.hs = [np.zeros((len(x), 3))]
        for t in range(x.shape[1]):
            self.hs.append(np.tanh(x[:, t] @ self.Wx + self.hs[-1] @ self.Wh + self.bh[:, 0]))
        return self.hs[-1] @ self.Wy + self.by

    def gradients(self, x, y):
        out = self.forward(x)
        d_out = 2 * (out - y) / y.size
        grads = {"Wy": self.hs[-1].T @ d_out, "by": d_out.sum(0)}
        dWx, dWh, dbh = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.bh)
        dh = d_out @ self.Wy.T
        for t in reversed(range(x.shape[1])):
            da = dh * (1 - self.hs[t + 1] ** 2)
            dWx, dWh, dbh = dWx + x[:, t].T @ da, dWh + self.hs[t].T @ da, dbh + da.sum(0)[:, None]
            dh = da @ self.Wh.T
        return grads | {"Wx": dWx, "Wh": dWh, "bh": dbh}

    def update(self, grads, lr):
        for name, g in grads.items():
            setattr(self, name, getattr(self, name) - lr * g)


class RnnTwin(nn.Module):
    def __init__(self, dtype, freeze=True):
        super().__init__()
        self.rnn, self.out = nn.RNN(2, 3, batch_first=True, dtype=dtype), nn.Linear(3, 1, dtype=dtype)
        if freeze:  # the scratch side has one bias: bias_hh holds zeros, bias_ih the whole of bh
            self.rnn.bias_hh_l0.requires_grad_(False)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


SEQ = np.sin(np.arange(8 * 4 * 2).reshape(8, 4, 2) * 0.7)
RNN = Case(
    name="rnn_summed_bias",
    scratch=Scratch(
        {
            "Wx": Link("rnn.weight_ih_l0", transpose=True),
            "Wh": Link("rnn.weight_hh_l0", transpose=True),
            "bh": Link("rnn.bias_ih_l0", (slice(None), None), plus=("rnn.bias_hh_l0",)),
            "Wy": Link("out.weight", transpose=True),
            "by": Link("out.bias"),
        },
        mse,
        network=Rnn,
        gradients="gradients",
        update="update",
    ),
    twin=Twin(RnnTwin, F.mse_loss),
    data=Data(
        SEQ, SEQ[:, -1, :1] * SEQ[:, 0, 1:], batches=lambda rng: [slice(0, 4), slice(4, 8)] * 6, learning_rate=0.3
    ),
)


class Grid:
    """A per-element scale ``gamma`` (2, 3) and a kernel ``K`` kept (2, 3, out); the scaled input kept transposed,
    (n, 3, 2); SGD with momentum, its buffers in the scratch layout."""

    def __init__(self, rng):
        self.gamma, self.K, self.b = 1 + rng.normal(0, 0.1, (2, 3)), rng.normal(0, 0.5, (2, 3, 1)), np.zeros(1)
        self.v = {name: np.zeros_like(getattr(self, name)) for name in ("gamma", "K", "b")}

    def forward(self, x):
        xs = x * self.gamma
        self.xs_T = xs.transpose(0, 2, 1)
        return np.einsum("nab,abo->no", xs, self.K) + self.b

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        return {
            "gamma": np.einsum("nab,abo,no->ab", x, self.K, d_out),
            "K": np.einsum("nab,no->abo", x * self.gamma, d_out),
            "b": d_out.sum(0),
        }

    def update(self, grads, lr):
        for name, g in grads.items():
            self.v[name] = 0.9 * self.v[name] + g
            setattr(self, name, getattr(self, name) - lr * self.v[name])


class Scale(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(6, dtype=dtype))

    def forward(self, x):
        return x * self.weight.reshape(2, 3)


class GridTwin(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.scaled = Scale(dtype)
        self.kernel, self.bias = (
            nn.Parameter(torch.zeros(1, 2, 3, dtype=dtype)),
            nn.Parameter(torch.zeros(1, dtype=dtype)),
        )

    def forward(self, x):
        return torch.einsum("nab,oab->no", self.scaled(x), self.kernel) + self.bias


GRID_X = np.cos(np.arange(8 * 6).reshape(8, 2, 3) * 0.9)
GRID_PARAMS = {"gamma": Link("scaled.weight", shape=(2, 3)), "K": Link("kernel", permute=(1, 2, 0)), "b": Link("bias")}
GRID = Case(
    name="grid_layouts",
    scratch=Scratch(
        GRID_PARAMS,
        mse,
        network=Grid,
        gradients="gradients",
        update="update",
        state={"momentum_buffer": {name: f"v[{name!r}]" for name in GRID_PARAMS}},
    ),
    twin=Twin(GridTwin, F.mse_loss, optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)),
    data=Data(
        GRID_X,
        GRID_X.sum((1, 2))[:, None] ** 2 / 4,
        batches=lambda rng: [slice(0, 4), slice(4, 8)] * 6,
        learning_rate=0.05,
    ),
    layers=[Layer("scaled", scratch="xs_T", twin="scaled", permute=(0, 2, 1))],
)
CHECKS = ("initial_parameters", "forward", "gradients", "training_run", "anchored_steps", "finite_differences")


@pytest.mark.parametrize("case", [RNN, GRID], ids=lambda case: case.name)
@pytest.mark.parametrize("check", CHECKS)
def test_a_summed_permuted_or_reshaped_parameter_is_compared_at_every_step(case, check):
    assert validation_problem(case) is None
    result = run_check(case, check)
    assert result.passed, result.message()


@pytest.mark.parametrize("case", [RNN, GRID], ids=lambda case: case.name)
def test_the_twin_is_written_exactly_and_read_back_in_the_scratch_layout(case):
    params, _ = start(case)
    twin = case.twin.module(torch.float64)
    load_into_twin(twin, case, params)
    back = twin_to_scratch(twin, case)
    for name, value in params.items():
        assert back[name].shape == value.shape and np.array_equal(back[name], value), name


def test_a_sum_is_written_whole_into_its_first_tensor_and_zeros_into_the_others():
    params, _ = start(RNN)
    twin = RNN.twin.module(torch.float64)
    load_into_twin(twin, RNN, params)
    assert torch.equal(twin.rnn.bias_ih_l0, torch.tensor(params["bh"][:, 0]))
    assert torch.equal(twin.rnn.bias_hh_l0, torch.zeros(3, dtype=torch.float64))


def test_a_layer_value_is_compared_in_the_layout_it_declares():
    params, batches = start(GRID)
    (s_value,), _ = scratch_layer_values(GRID, params, batches[0])
    (t_value,), _ = twin_layer_values(GRID, params, batches[0])
    assert s_value.shape == t_value.shape == (4, 3, 2)
    np.testing.assert_allclose(s_value, t_value, rtol=0, atol=1e-15)


def _params(**links):
    return {**GRID_PARAMS, **links}


@pytest.mark.parametrize(
    "case, changes, message",
    [
        (
            GRID,
            {"buffers": {"b": Link("bias", plus=("kernel",))}},
            "buffers['b'] is a sum of twin buffers ['bias', 'kernel']; a buffer maps to one twin buffer (a sum is "
            "for parameters)",
        ),
        (
            RNN,
            {"module": lambda dtype: RnnTwin(dtype, freeze=False)},
            "params['bh'] is the sum of twin tensors ['rnn.bias_ih_l0', 'rnn.bias_hh_l0'], and ['rnn.bias_hh_l0'] "
            "trains too: each step would move the sum by the updates of every tensor, farther than the network's one "
            "parameter; freeze the others in the twin (its rnn.bias_hh_l0.requires_grad_(False)): they hold zeros, "
            "'rnn.bias_ih_l0' the whole value",
        ),
        (
            RNN,
            {"params": {**RNN.scratch.params, "bh": Link("rnn.bias_ih_l0", (slice(None), None))}},
            "every element of twin tensor 'rnn.bias_hh_l0' must be mapped exactly once; counts are [0, 0, 0]",
        ),
        (
            RNN,
            {"params": {**RNN.scratch.params, "bh": Link("rnn.bias_ih_l0", (slice(None), None), plus=("out.bias",))}},
            "params['bh'] is a sum of twin tensors 'rnn.bias_ih_l0' (3,), 'out.bias' (1,): a sum adds distinct "
            "tensors of one shape",
        ),
        (
            GRID,
            {"params": _params(K=Link("kernel", transpose=True, permute=(1, 2, 0)))},
            "params['K'] gives both transpose=True and permute=(1, 2, 0); give one (transpose=True is permute=(1, 0))",
        ),
        (
            GRID,
            {"params": _params(K=Link("kernel", permute=(1, 2)))},
            "params['K'] permute=(1, 2) is not an order of the 3 axes of twin tensor 'kernel' (1, 2, 3): give each "
            "of (0, 1, 2) once",
        ),
        (
            GRID,
            {"params": _params(K=Link("kernel", permute=(2, 1, 0)))},
            "scratch parameter 'K' has shape (2, 3, 1) but twin tensor 'kernel'.permute(2, 1, 0) has shape (3, 2, 1)",
        ),
        (
            GRID,
            {"params": _params(gamma=Link("scaled.weight", shape=(4, 2)))},
            "params['gamma'] shape=(4, 2) cannot hold the 6 elements of twin tensor 'scaled.weight' (6,)",
        ),
        (
            GRID,
            {"params": _params(gamma=Link("scaled.weight"))},
            "scratch parameter 'gamma' has shape (2, 3) but twin tensor 'scaled.weight' has shape (6,)",
        ),
        (
            GRID,
            {"layers": [Layer("scaled", scratch="xs_T", twin="scaled")]},
            "layer 'scaled' is (4, 3, 2) on the scratch side but the twin's scaled output is (4, 2, 3): the same 24 "
            "values in another layout; give Layer(..., permute=(0, 2, 1)) if the scratch side keeps the twin's axes "
            "in that order, or shape=... for a reshape",
        ),
        (
            GRID,
            {"layers": [Layer("scaled", scratch="xs_T", twin="scaled", shape=(4, 6))]},
            "layer 'scaled' is (4, 3, 2) on the scratch side but the twin's scaled output is (4, 6) in the declared "
            "layout",
        ),
        (
            GRID,
            {"layers": [Layer("scaled", scratch="xs_T", twin="scaled", shape=(5, 6))]},
            "layer 'scaled': shape=(5, 6) cannot hold the 24 elements of the twin's scaled output (4, 2, 3)",
        ),
    ],
    ids=[
        "buffer-sum",
        "sum-trains-twice",
        "sum-not-declared",
        "sum-of-shapes",
        "transpose-and-permute",
        "not-a-permutation",
        "wrong-permutation",
        "reshape-too-small",
        "size-alone",
        "layer-layout",
        "layer-shape",
        "layer-reshape",
    ],
)
def test_a_layout_that_does_not_fit_or_reads_two_ways_is_refused(case, changes, message):
    problem = validation_problem(vary(case, name="refused", **changes))
    assert problem is not None and problem.startswith("case 'refused': ") and message in problem, problem
