"""Bad input gets a clear error, never a silent wrong answer: each case tried, each message asserted.

Three places take input: the scratch networks, the PyTorch twins, and the harness's public API
(``register``/``validate`` of a ``Case``).  Each row below is one bad input and the exact error it gets.

The dtype rule: the scratch networks accept integer *data* (the tutorials' datasets are integer
arrays) and convert it to the parameters' float dtype, but reject integer *parameters*; a ``Case``
must hold its X and y in the case's dtype already, because the harness hands them to both sides.
"""

import sys

import numpy as np
import pytest
import torch

from crosscheck import RegistrationError, register, registry
from crosscheck.case import Link, vary
from crosscheck.checks import run_check
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from crosscheck.validate import validate
from reference import network_2_2_1 as r221
from reference import network_3_4_1 as r341
from reference import sigmoid_neuron as r_neuron
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON

F64 = torch.float64
NAN, INF = float("nan"), float("inf")


def assert_raises(call, error, message):
    with pytest.raises(error) as excinfo:
        call()
    assert str(excinfo.value) == message


def neuron(**kw):
    return s_neuron.NeuralNetwork(kw.pop("learning_rate", 0.1), **kw)


def train_neuron(x=s_neuron.INPUT_VECTORS, y=s_neuron.TARGETS, iterations=10):
    return neuron().train(x, y, iterations)


def net221(**changes):
    params = {name: np.array(0.5) for name in s221.PARAM_NAMES} | changes
    return s221.TrainableNeuralNetwork({k: v for k, v in params.items() if v is not None})


def train221(data=s221.DATA, y=s221.ALL_Y_TRUES, **kw):
    return net221().train(data, y, **kw)


def net341(x=s341.X, y=s341.Y, **kw):
    return s341.NeuralNetwork(x, y, **kw)


W1, W2 = np.full((3, 4), 0.5), np.full((4, 1), 0.5)

# --- the scratch networks -----------------------------------------------------------------------

SCRATCH = [
    # sigmoid neuron: parameters
    (
        "neuron-integer-weights",
        lambda: neuron(weights=np.array([1, 2]), bias=0.0),
        TypeError,
        "weights must be a float array, got dtype int64; an integer parameter cannot take a gradient step "
        "(use .astype(np.float64))",
    ),
    (
        "neuron-integer-bias",
        lambda: neuron(weights=np.array([1.0, 2.0]), bias=0),
        TypeError,
        "bias must be a float array, got dtype int64; an integer parameter cannot take a gradient step "
        "(use .astype(np.float64))",
    ),
    (
        "neuron-weights-shape",
        lambda: neuron(weights=np.array([1.0, 2.0, 3.0])),
        ValueError,
        "weights must have shape (2,), got (3,)",
    ),
    (
        "neuron-weights-nan",
        lambda: neuron(weights=np.array([1.0, NAN])),
        ValueError,
        "weights contains nan at index (1,); parameters must be finite (one NaN or Inf spoils every step after it)",
    ),
    (
        "neuron-bias-inf",
        lambda: neuron(bias=np.array(INF)),
        ValueError,
        "bias contains inf; parameters must be finite (one NaN or Inf spoils every step after it)",
    ),
    (
        "neuron-mixed-dtypes",
        lambda: neuron(weights=np.array([1.0, 2.0]), bias=np.float32(0.0)),
        TypeError,
        "bias is float32 but weights are float64; give both the same float dtype",
    ),
    (
        "neuron-learning-rate-zero",
        lambda: neuron(learning_rate=0),
        ValueError,
        "learning_rate must be positive and finite, got 0; gradient descent needs a step > 0",
    ),
    (
        "neuron-learning-rate-negative",
        lambda: neuron(learning_rate=-0.1),
        ValueError,
        "learning_rate must be positive and finite, got -0.1; gradient descent needs a step > 0",
    ),
    (
        "neuron-learning-rate-nan",
        lambda: neuron(learning_rate=NAN),
        ValueError,
        "learning_rate must be positive and finite, got nan; gradient descent needs a step > 0",
    ),
    (
        "neuron-learning-rate-text",
        lambda: neuron(learning_rate="0.1"),
        TypeError,
        "learning_rate must be a real number, got '0.1'",
    ),
    # sigmoid neuron: data and iterations
    (
        "neuron-three-features",
        lambda: train_neuron(x=np.ones((8, 3))),
        ValueError,
        "input_vectors must have shape (n, 2), got (8, 3)",
    ),
    (
        "neuron-column-targets",
        lambda: train_neuron(y=s_neuron.TARGETS.reshape(-1, 1)),
        ValueError,
        "targets must have shape (n,), got (8, 1); pass targets.ravel() "
        "(an (n, 1) column against (n,) predictions broadcasts to (n, n))",
    ),
    (
        "neuron-row-count",
        lambda: train_neuron(y=s_neuron.TARGETS[:7]),
        ValueError,
        "targets has 7 rows but input_vectors has 8; give one target per input vector",
    ),
    (
        "neuron-empty-data",
        lambda: train_neuron(x=np.zeros((0, 2)), y=np.zeros(0)),
        ValueError,
        "input_vectors is empty (shape (0, 2)); training needs at least one sample",
    ),
    (
        "neuron-nan-input",
        lambda: train_neuron(x=np.where(np.arange(16).reshape(8, 2) == 7, NAN, s_neuron.INPUT_VECTORS)),
        ValueError,
        "input_vectors contains nan at index (3, 1); drop or fill that sample before training",
    ),
    (
        "neuron-inf-target",
        lambda: train_neuron(y=np.where(np.arange(8) == 5, INF, s_neuron.TARGETS)),
        ValueError,
        "targets contains inf at index (5,); drop or fill that sample before training",
    ),
    (
        "neuron-boolean-targets",
        lambda: train_neuron(y=s_neuron.TARGETS.astype(bool)),
        TypeError,
        "targets must be numeric, got dtype bool; pass a float or integer array",
    ),
    (
        "neuron-zero-iterations",
        lambda: train_neuron(iterations=0),
        ValueError,
        "iterations must be at least 1, got 0",
    ),
    (
        "neuron-fractional-iterations",
        lambda: train_neuron(iterations=2.5),
        TypeError,
        "iterations must be an integer, got 2.5",
    ),
    (
        "neuron-predict-three-features",
        lambda: neuron().predict(np.ones(3)),
        ValueError,
        "input_vector must have shape (2,) or (n, 2), got (3,); each sample has 2 features",
    ),
    (
        "neuron-predict-nan",
        lambda: neuron().predict(np.array([NAN, 1.0])),
        ValueError,
        "input_vector contains NaN or Inf: [nan  1.]",
    ),
    # 2-2-1: parameters
    (
        "221-missing-and-unknown-parameter",
        lambda: net221(w6=None, w7=np.array(0.5)),
        ValueError,
        "params must have exactly the keys ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'b1', 'b2', 'b3']; "
        "missing ['w6'], unexpected ['w7']",
    ),
    (
        "221-integer-parameter",
        lambda: net221(w3=1),
        TypeError,
        "w3 must be a float array, got dtype int64; an integer parameter cannot take a gradient step "
        "(use .astype(np.float64))",
    ),
    (
        "221-parameter-shape",
        lambda: net221(b2=np.array([0.5])),
        ValueError,
        "b2 must have shape (), got (1,)",
    ),
    (
        "221-parameter-nan",
        lambda: net221(w5=np.array(NAN)),
        ValueError,
        "w5 contains nan; parameters must be finite (one NaN or Inf spoils every step after it)",
    ),
    (
        "221-mixed-dtypes",
        lambda: net221(b3=np.float32(0.5)),
        TypeError,
        "all nine parameters must share one float dtype, got ['float32', 'float64']; "
        "convert them all with .astype(np.float64)",
    ),
    # 2-2-1: data, rate, epochs
    (
        "221-three-features",
        lambda: train221(data=np.ones((4, 3))),
        ValueError,
        "data must have shape (n, 2), got (4, 3)",
    ),
    (
        "221-column-targets",
        lambda: train221(y=s221.ALL_Y_TRUES.reshape(-1, 1)),
        ValueError,
        "all_y_trues must have shape (n,), got (4, 1); pass all_y_trues.ravel() "
        "(an (n, 1) column against (n,) predictions broadcasts to (n, n))",
    ),
    (
        "221-row-count",
        lambda: train221(y=s221.ALL_Y_TRUES[:3]),
        ValueError,
        "all_y_trues has 3 rows but data has 4; give one target per sample",
    ),
    (
        "221-empty-data",
        lambda: train221(data=np.zeros((0, 2)), y=np.zeros(0)),
        ValueError,
        "data is empty (shape (0, 2)); training needs at least one sample",
    ),
    (
        "221-nan-target",
        lambda: train221(y=np.array([1.0, NAN, 0.0, 1.0])),
        ValueError,
        "all_y_trues contains nan at index (1,); drop or fill that sample before training",
    ),
    (
        "221-negative-learn-rate",
        lambda: train221(learn_rate=-0.5),
        ValueError,
        "learn_rate must be positive and finite, got -0.5; gradient descent needs a step > 0",
    ),
    (
        "221-zero-epochs",
        lambda: train221(epochs=0),
        ValueError,
        "epochs must be at least 1, got 0",
    ),
    (
        "221-boolean-epochs",
        lambda: train221(epochs=True),
        TypeError,
        "epochs must be an integer, got True",
    ),
    (
        "221-feedforward-three-features",
        lambda: net221().feedforward(np.array([1.0, 2.0, 3.0])),
        ValueError,
        "x must have shape (2,), got (3,); each sample has 2 features",
    ),
    (
        "221-feedforward-inf",
        lambda: net221().feedforward(np.array([INF, 2.0])),
        ValueError,
        "x contains NaN or Inf: [inf  2.]",
    ),
    (
        "221-mse-loss-broadcast",
        lambda: s221.mse_loss(np.zeros(4), np.zeros((4, 1))),
        ValueError,
        "y_true has shape (4,) but y_pred has shape (4, 1); they would broadcast instead of pairing up: "
        "give both the same shape",
    ),
    (
        "221-loss-column-targets",
        lambda: net221().loss(s221.DATA, s221.ALL_Y_TRUES.reshape(-1, 1)),
        ValueError,
        "y_true has shape (4, 1) but y_pred has shape (4,); they would broadcast instead of pairing up: "
        "give both the same shape",
    ),
    # 3-4-1
    (
        "341-flat-targets",
        lambda: net341(y=s341.Y.ravel()),
        ValueError,
        "y must have shape (4, 1), got (4,); pass y.reshape(-1, 1) ((n,) targets against (n, 1) outputs "
        "broadcast to (n, n))",
    ),
    (
        "341-target-rows",
        lambda: net341(y=s341.Y[:3]),
        ValueError,
        "y must have shape (4, 1), got (3, 1)",
    ),
    (
        "341-one-dimensional-x",
        lambda: net341(x=s341.X[0]),
        ValueError,
        "x must be a 2-D array (samples, features), got shape (3,); one sample is x.reshape(1, -1), "
        "one feature is x.reshape(-1, 1)",
    ),
    (
        "341-empty-x",
        lambda: net341(x=np.zeros((0, 3)), y=np.zeros((0, 1))),
        ValueError,
        "x is empty (shape (0, 3)); training needs at least one sample",
    ),
    (
        "341-nan-x",
        lambda: net341(x=np.where(s341.X == 1, NAN, 0.0)),
        ValueError,
        "x contains nan at index (0, 2); drop or fill that sample before training",
    ),
    (
        "341-inf-y",
        lambda: net341(y=np.array([[0.0], [1.0], [INF], [0.0]])),
        ValueError,
        "y contains inf at index (2, 0); drop or fill that sample before training",
    ),
    (
        "341-integer-weights",
        lambda: net341(weights1=np.ones((3, 4), dtype=int), weights2=W2),
        TypeError,
        "weights1 must be a float array, got dtype int64; an integer parameter cannot take a gradient step "
        "(use .astype(np.float64))",
    ),
    (
        "341-weights-shape",
        lambda: net341(weights1=np.full((4, 3), 0.5), weights2=W2),
        ValueError,
        "weights1 must have shape (3, 4), got (4, 3)",
    ),
    (
        "341-weights-nan",
        lambda: net341(weights1=W1, weights2=np.array([[0.5], [0.5], [0.5], [NAN]])),
        ValueError,
        "weights2 contains nan at index (3, 0); parameters must be finite (one NaN or Inf spoils every step after it)",
    ),
    (
        "341-mixed-dtypes",
        lambda: net341(weights1=W1, weights2=W2.astype(np.float32)),
        TypeError,
        "weights1 is float64 but weights2 is float32; give both the same float dtype",
    ),
    (
        "341-zero-learning-rate",
        lambda: net341(learning_rate=0.0),
        ValueError,
        "learning_rate must be positive and finite, got 0.0; gradient descent needs a step > 0",
    ),
    (
        "341-negative-iterations",
        lambda: net341().train(-3),
        ValueError,
        "iterations must be at least 1, got -3",
    ),
]


@pytest.mark.parametrize("call, error, message", [pytest.param(*row[1:], id=row[0]) for row in SCRATCH])
def test_scratch_network_rejects(call, error, message):
    assert_raises(call, error, message)


def test_integer_data_is_converted_not_rejected():
    """The tutorials' integer datasets train exactly as their float copies do."""
    as_int = neuron()
    errors_int = as_int.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, 200)  # TARGETS is an int array
    as_float = neuron()
    errors_float = as_float.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS.astype(float), 200)
    assert s_neuron.TARGETS.dtype.kind == "i"
    assert errors_int == errors_float
    np.testing.assert_array_equal(as_int.weights, as_float.weights)

    assert s221.DATA.dtype.kind == "i" and s221.ALL_Y_TRUES.dtype.kind == "i"
    a, b = net221(), net221()
    assert a.train(s221.DATA, s221.ALL_Y_TRUES, epochs=20) == b.train(
        s221.DATA.astype(float), s221.ALL_Y_TRUES.astype(float), epochs=20
    )

    assert s341.X.dtype.kind == "i" and s341.Y.dtype.kind == "i"
    c, d = (
        net341(weights1=W1, weights2=W2),
        net341(s341.X.astype(float), s341.Y.astype(float), weights1=W1, weights2=W2),
    )
    assert c.train(50) == d.train(50)
    np.testing.assert_array_equal(c.weights1, d.weights1)


# --- the twins ------------------------------------------------------------------------------------


def t(*values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


LOSSES = [
    ("neuron-squared_error", r_neuron.squared_error),
    ("neuron-cumulative_error", r_neuron.cumulative_error),
    ("221-squared_error", r221.squared_error),
    ("221-mse_loss", r221.mse_loss),
    ("341-sum_of_squares", r341.sum_of_squares),
]

TWINS = [
    (
        "integer-dtype",
        lambda: r_neuron.SigmoidNeuron(torch.int64),
        TypeError,
        "dtype must be a floating-point torch dtype such as torch.float64, got torch.int64",
    ),
    (
        "221-integer-dtype",
        lambda: r221.Network221(torch.int32),
        TypeError,
        "dtype must be a floating-point torch dtype such as torch.float64, got torch.int32",
    ),
    (
        "341-no-hidden-units",
        lambda: r341.Network341(hidden=0),
        ValueError,
        "hidden must be a positive int, got 0",
    ),
    (
        "numpy-input",
        lambda: r_neuron.SigmoidNeuron()(np.ones(2)),
        TypeError,
        "x must be a torch.Tensor, got ndarray; use torch.as_tensor(x)",
    ),
    (
        "float32-input",
        lambda: r221.Network221()(t(1.0, 2.0, dtype=torch.float32)),
        TypeError,
        "x is torch.float32 but the network is torch.float64; convert it with x.to(torch.float64)",
    ),
    (
        "integer-input",
        lambda: r341.Network341()(torch.ones(4, 3, dtype=torch.int64)),
        TypeError,
        "x is torch.int64 but the network is torch.float64; convert it with x.to(torch.float64)",
    ),
    (
        "three-features",
        lambda: r221.Network221()(torch.ones(4, 3, dtype=F64)),
        ValueError,
        "x must have shape (2,) or (n, 2), got (4, 3)",
    ),
    (
        "empty-input",
        lambda: r341.Network341()(torch.ones(0, 3, dtype=F64)),
        ValueError,
        "x is empty (shape (0, 3))",
    ),
]


@pytest.mark.parametrize("call, error, message", [pytest.param(*row[1:], id=row[0]) for row in TWINS])
def test_twin_rejects(call, error, message):
    assert_raises(call, error, message)


@pytest.mark.parametrize("loss", [pytest.param(f, id=i) for i, f in LOSSES])
def test_twin_loss_refuses_the_broadcast_that_mse_loss_only_warns_about(loss):
    prediction, target = torch.zeros(4, 1, dtype=F64), torch.zeros(4, dtype=F64)
    with pytest.warns(UserWarning, match="different to the input size"):  # what F.mse_loss alone does
        assert torch.nn.functional.mse_loss(prediction, target).shape == ()
    assert_raises(
        lambda: loss(prediction, target),
        ValueError,
        "prediction has shape (4, 1) but target has shape (4,); F.mse_loss would broadcast them to (4, 4), "
        "pairing every prediction with every target: give the target the prediction's shape (target.reshape(4, 1))",
    )


@pytest.mark.parametrize("loss", [pytest.param(f, id=i) for i, f in LOSSES])
def test_twin_loss_rejects(loss):
    assert_raises(
        lambda: loss(torch.zeros(4, dtype=F64), torch.zeros(3, dtype=F64)),
        ValueError,
        "prediction has shape (4,) but target has shape (3,); they do not pair up element by element: "
        "give the target the prediction's shape (target.reshape(4))",
    )
    assert_raises(
        lambda: loss(torch.zeros(4, dtype=F64), torch.zeros(4, dtype=torch.float32)),
        TypeError,
        "prediction is torch.float64 but target is torch.float32; convert with target.to(torch.float64)",
    )
    assert_raises(
        lambda: loss(torch.zeros(0, dtype=F64), torch.zeros(0, dtype=F64)),
        ValueError,
        "target is empty (shape (0,))",
    )
    assert_raises(
        lambda: loss(torch.zeros(2, dtype=F64), [0.0, 1.0]),
        TypeError,
        "target must be a torch.Tensor, got list; use torch.as_tensor(target)",
    )


# --- the harness's public API: register / validate a Case -------------------------------------------


def bad(case=NETWORK_3_4_1, **changes):
    """A copy of a tutorial case with some fields changed, under a name no test registers."""
    return vary(case, **({"name": "bad"} | changes))


def transposed_map():
    return {"weights1": Link("layer1.weight"), "weights2": Link("layer2.weight", transpose=True)}


def map_221(**changes):
    return dict(NETWORK_2_2_1.scratch.params) | changes


HARNESS = [
    ("not-a-case", lambda: register({"name": "x"}), "register() takes a crosscheck.Case, got dict"),
    ("empty-name", lambda: register(bad(name="")), "case '': name must be non-empty letters, digits, '_', '-' or '.'"),
    (
        "name-with-space",
        lambda: register(bad(name="my net")),
        "case 'my net': name must be non-empty letters, digits, '_', '-' or '.'",
    ),
    (
        "integer-dtype",
        lambda: register(bad(dtype=np.dtype(np.int64))),
        "case 'bad': dtype must be float32 or float64, got int64",
    ),
    # data
    (
        "integer-X",  # the tutorial's own integer array, not converted
        lambda: register(bad(X=s341.X)),
        "case 'bad': twin(X[batch 0]) raised TypeError: x is torch.int64 but the network is torch.float64; convert "
        "it with x.to(torch.float64); X is int64, and integer data reaches both sides as it is (token ids, class "
        "labels): if the network takes floating-point inputs, convert it with .astype(np.float64)",
    ),
    (
        "list-y",
        lambda: register(bad(y=[[0.0], [1.0], [1.0], [0.0]])),
        "case 'bad': y must be a NumPy array, got list; use np.asarray(y, dtype=np.float64)",
    ),
    (
        "empty-X",
        lambda: register(bad(X=np.zeros((0, 3)))),
        "case 'bad': X is empty (shape (0, 3)); give at least one sample",
    ),
    (
        "nan-y",
        lambda: register(bad(y=np.array([[0.0], [1.0], [NAN], [0.0]]))),
        "case 'bad': y contains nan at index (2, 0); the data must be finite",
    ),
    (
        "inf-X",
        lambda: register(bad(SIGMOID_NEURON, X=np.where(SIGMOID_NEURON.data.X > 5, INF, SIGMOID_NEURON.data.X))),
        "case 'bad': X contains inf at index (6, 0); the data must be finite",
    ),
    (
        "row-count",
        lambda: register(bad(y=NETWORK_3_4_1.data.y[:3])),
        "case 'bad': X has 4 rows but y has 3; give one target row per sample",
    ),
    # the classic: (n,) targets against (n, 1) outputs
    (
        "flat-targets-341",
        lambda: register(bad(y=NETWORK_3_4_1.data.y.ravel())),
        "case 'bad': forward(net, X) has shape (4, 1) but its targets have shape (4,); output - target would "
        "broadcast to (4, 4), pairing every output with every target: give y rows of the output's shape",
    ),
    (
        "column-targets-neuron",
        lambda: register(bad(SIGMOID_NEURON, y=SIGMOID_NEURON.data.y.reshape(-1, 1))),
        "case 'bad': forward(net, X) has shape (8,) but its targets have shape (8, 1); output - target would "
        "broadcast to (8, 8), pairing every output with every target: give y rows of the output's shape",
    ),
    # learning rate, seed, schedule
    (
        "zero-learning-rate",
        lambda: register(bad(learning_rate=0.0)),
        "case 'bad': learning_rate must be positive and finite, got 0.0",
    ),
    (
        "negative-learning-rate",
        lambda: register(bad(learning_rate=-1)),
        "case 'bad': learning_rate must be positive and finite, got -1",
    ),
    (
        "nan-learning-rate",
        lambda: register(bad(learning_rate=NAN)),
        "case 'bad': learning_rate must be positive and finite, got nan",
    ),
    (
        "text-learning-rate",
        lambda: register(bad(learning_rate="1")),
        "case 'bad': learning_rate must be a real number, got '1'",
    ),
    ("negative-seed", lambda: register(bad(seed=-1)), "case 'bad': seed must be an int in [0, 2**32), got -1"),
    (
        "no-steps",
        lambda: register(bad(batches=lambda rng: [])),
        "case 'bad': batches(rng) gives no batch: a run needs at least one step",
    ),
    (
        "batch-out-of-range",
        lambda: register(bad(SIGMOID_NEURON, batches=lambda rng: [0, 1, 8])),
        "case 'bad': batch 2 (8) selects no row of X, which has 8 rows",
    ),
    (
        "float-batch",
        lambda: register(bad(SIGMOID_NEURON, batches=lambda rng: [0.5])),
        "case 'bad': batch 0 is 0.5; a batch is an int, a slice or a 1-D integer index array",
    ),
    (
        "short-last-batch",
        lambda: register(bad(batches=lambda rng: [np.array([0, 1]), np.array([2, 3]), np.array([0])])),
        "case 'bad': batch 2 has 1 row but batch 0 has 2 rows: every batch must be the same size; "
        "drop or refill the short last batch",
    ),
    (
        "one-sample-then-a-batch",
        lambda: register(bad(SIGMOID_NEURON, batches=lambda rng: [0, slice(None)])),
        "case 'bad': batch 1 has 8 rows but batch 0 has one sample: every batch must be the same size; "
        "drop or refill the short last batch",
    ),
    (
        "curve-beyond-the-run",
        lambda: register(bad(batches=lambda rng: [slice(None)] * 10, curve_steps=range(0, 20, 5))),
        "case 'bad': curve_steps run from 0 to 15 but the run has steps 0 to 9",
    ),
    (
        "curve-out-of-order",
        lambda: register(bad(curve_steps=[10, 0])),
        "case 'bad': curve_steps must be increasing step numbers, got [10, 0]",
    ),
    # the twin mapping: names and shapes
    (
        "map-names",
        lambda: register(
            bad(
                params={
                    "W1": Link("layer1.weight", transpose=True),
                    "weights2": Link("layer2.weight", transpose=True),
                }
            )
        ),
        "case 'bad': init() returns parameters ['weights1', 'weights2'] but Scratch(params=...) names ['W1', 'weights2']",
    ),
    (
        "map-unknown-tensor",
        lambda: register(
            bad(
                params={
                    "weights1": Link("layer1.weight", transpose=True),
                    "weights2": Link("layer3.weight", transpose=True),
                }
            )
        ),
        "case 'bad': params['weights2'] points at twin tensor 'layer3.weight', which the twin does not have; "
        "it has ['layer1.weight', 'layer2.weight']",
    ),
    (
        "map-shape-without-transpose",
        lambda: register(bad(params=transposed_map())),
        "case 'bad': scratch parameter 'weights1' has shape (3, 4) but twin tensor 'layer1.weight' has shape (4, 3)",
    ),
    (
        "map-index-out-of-range",
        lambda: register(bad(NETWORK_2_2_1, params=map_221(b3=Link("output.bias", (1,))))),
        "case 'bad': params['b3'] index (1,) is out of range: index 1 is out of bounds for dimension 0 with size 1",
    ),
    (
        "map-element-twice",
        lambda: register(bad(NETWORK_2_2_1, params=map_221(w2=Link("hidden.weight", (0, 0))))),
        "case 'bad': every element of twin tensor 'hidden.weight' must be mapped exactly once; counts are [[2, 0], [1, 1]]",
    ),
    (
        "map-not-a-link",
        lambda: register(bad(params={"weights1": "layer1.weight", "weights2": Link("layer2.weight", transpose=True)})),
        "case 'bad': params['weights1'] must be a Link(tensor, index, transpose), got str",
    ),
    # parameters and the case's functions
    (
        "nan-initial-parameter",
        lambda: register(bad(init=lambda rng: {"weights1": np.full((3, 4), NAN), "weights2": np.ones((4, 1))})),
        "case 'bad': initial parameter 'weights1' contains NaN or Inf",
    ),
    (
        "build-with-integer-parameters",
        lambda: register(
            bad(build=lambda p, lr: s341.NeuralNetwork(s341.X, s341.Y, p["weights1"].astype(int), p["weights2"]))
        ),
        "case 'bad': build(params, learning_rate) raised TypeError: weights1 must be a float array, got dtype int64; "
        "an integer parameter cannot take a gradient step (use .astype(np.float64))",
    ),
    (
        "unreduced-loss",
        lambda: register(bad(scratch_loss=lambda out, y: (y - out) ** 2)),
        "case 'bad': loss(output, y[batch 0]) must be a scalar, got shape (4, 1)",
    ),
    (
        "float32-forward",
        lambda: register(bad(SIGMOID_NEURON, forward=lambda net, x: np.asarray(net.predict(x), dtype=np.float32))),
        "case 'bad': forward() returns float32 but the case is float64",
    ),
    (
        "gradient-missing",
        lambda: register(bad(gradients=lambda net, x, y: {"weights1": np.zeros((3, 4))})),
        "case 'bad': gradients() must return a dict with the keys ['weights1', 'weights2'], got ['weights1']",
    ),
    (
        "gradient-shape",
        lambda: register(bad(gradients=lambda net, x, y: {"weights1": np.zeros((3, 4)), "weights2": np.zeros(4)})),
        "case 'bad': gradient of 'weights2' is float64 (4,) but the parameter is float64 (4, 1)",
    ),
    (
        "update-that-broadcasts",
        lambda: register(
            bad(update=lambda net, g, lr: setattr(net, "weights2", net.weights2 - lr * g["weights2"].ravel()))
        ),
        "case 'bad': after update() parameter 'weights2' is float64 (4, 4), not float64 (4, 1): something broadcast",
    ),
    (
        "twin-not-a-module",
        lambda: register(bad(module=lambda dtype: "Network341")),
        "case 'bad': twin(dtype) must return a torch.nn.Module, got str",
    ),
    (
        "twin-loss-broadcast",  # the twin's own loss refuses, and validate says which call
        lambda: register(bad(twin_loss=lambda out, y: r341.sum_of_squares(out, y.ravel()))),
        "case 'bad': twin_loss(output, y[batch 0]) raised ValueError: prediction has shape (4, 1) but target has "
        "shape (4,); F.mse_loss would broadcast them to (4, 4), pairing every prediction with every target: "
        "give the target the prediction's shape (target.reshape(4, 1))",
    ),
]


@pytest.mark.parametrize("call, message", [pytest.param(*row[1:], id=row[0]) for row in HARNESS])
def test_register_rejects(call, message):
    before = dict(registry())
    assert_raises(call, RegistrationError, message)
    assert registry() == before  # a rejected case is not half-registered


def test_register_rejects_a_second_case_under_a_taken_name():
    assert_raises(
        lambda: register(bad(name="network_3_4_1", description="another network")),
        RegistrationError,
        f"a case named 'network_3_4_1' is already registered by module 'tutorials.networks' "
        f"({sys.modules['tutorials.networks'].__file__}); give this one another name (registered: {sorted(registry())})",
    )
    assert registry()["network_3_4_1"] is NETWORK_3_4_1


def test_the_tutorial_cases_validate():
    for case in (SIGMOID_NEURON, NETWORK_2_2_1, NETWORK_3_4_1):
        validate(case)  # raises on any problem


def test_twin_checks_inside_vmap_keep_shapes():
    """The seed sweep runs the twins under torch.func.vmap: the checks look at shapes, never at values."""
    batched = torch.func.vmap(r341.sum_of_squares)
    assert_raises(
        lambda: batched(torch.zeros(5, 4, 1, dtype=F64), torch.zeros(5, 4, dtype=F64)),
        ValueError,
        "prediction has shape (4, 1) but target has shape (4,); F.mse_loss would broadcast them to (4, 4), "
        "pairing every prediction with every target: give the target the prediction's shape (target.reshape(4, 1))",
    )


class TwinGoingNaN(r_neuron.SigmoidNeuron):
    """The neuron's twin, whose output turns NaN from its fourth training call on: the twins check shapes
    at each step, not values, so a NaN that training produces must be caught where the traces meet."""

    def __init__(self, dtype=F64):
        super().__init__(dtype)
        self.calls = 0

    def forward(self, x):
        out = super().forward(x)
        self.calls += self.training
        return out * NAN if self.calls >= 4 else out


def test_a_nan_the_twin_produces_during_training_is_named_with_its_step_and_side():
    case = vary(SIGMOID_NEURON, name="twin_going_nan", module=TwinGoingNaN)
    params, batches = start(case)
    pair = scratch_trace(case, params, batches[:6]), twin_trace(case, params, batches[:6])
    assert run_check(case, "training_run", pair).message() == (
        "twin_going_nan / training_run: the twin side becomes non-finite at step 3, forward output, "
        f"while the scratch side stays finite: scratch = {float(pair[0]['output'][3])!r}, twin = nan"
    )
