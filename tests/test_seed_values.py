"""Every deterministic value the tutorials print, recomputed by the scratch code and by the twin.

Each value is formatted the way the tutorial printed it (NumPy's array print,
Python's float repr, or the tutorial's own format string) and compared as text,
so the test holds at exactly the printed precision.  Where a seed prints text
its own code cannot produce, the case is a strict xfail that says why.
"""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from crosscheck.layout import load_into_twin
from reference import network_2_2_1 as ref221
from reference import sigmoid_neuron as ref_neuron
from scratch import network_2_2_1 as s221
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import NETWORK_2_2_1

T = torch.float64


def as_array(value) -> str:
    """How the tutorial shows a one-element array: ``[0.7985731]``."""
    return str(np.atleast_1d(np.asarray(value, dtype=np.float64)))


def as_float(value) -> str:
    return str(float(value))


# --- The worked step of seeds 000/001 (weights [1.45, -0.66]) and 003 (weights [1.56, -0.45]) ---

STEP_000 = dict(input_vector=[2, 1.5], weights=[1.45, -0.66], bias=[0.0], target=0)
STEP_003 = dict(input_vector=[1.54, 1.32], weights=[1.56, -0.45], bias=[0.0], target=0)


def scratch_step(args):
    return s_neuron.worked_step(**args)


def twin_step(args):
    return {
        k: v.numpy()
        for k, v in ref_neuron.worked_step(
            torch.tensor(args["input_vector"], dtype=T),
            torch.tensor(args["weights"], dtype=T),
            torch.tensor(args["bias"], dtype=T),
            args["target"],
        ).items()
    }


def step(side, args, key):
    """One printed intermediate of the worked step, as the tutorial shows it."""
    return as_array((scratch_step if side == "scratch" else twin_step)(args)[key])


def first_prediction(side):
    """0.7985731: the prediction for input [1.66, 1.56] before the input changes to [2, 1.5]."""
    args = dict(STEP_000, input_vector=[1.66, 1.56])
    return (scratch_step if side == "scratch" else twin_step)(args)["prediction"]


# --- seed 002 ---------------------------------------------------------------------------------


def neuron_002(x, side):
    """Neuron(weights [0, 1], bias 4): the comment says b = 0, the code says 4, the output agrees with 4."""
    if side == "scratch":
        return s221.Neuron(np.array([0, 1]), 4).feedforward(np.array(x))
    linear = torch.nn.Linear(2, 1, dtype=T)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.0, 1.0]]))
        linear.bias.fill_(4.0)
        return torch.sigmoid(linear(torch.tensor(x, dtype=T))).item()


def demo_002(side):
    if side == "scratch":
        return s221.OurNeuralNetwork().feedforward(np.array([2, 3]))
    twin = ref221.Network221()
    fixed = {n: np.array(0.0) for n in s221.PARAM_NAMES} | {
        "w2": np.array(1.0),
        "w4": np.array(1.0),
        "w6": np.array(1.0),
    }
    load_into_twin(twin, NETWORK_2_2_1, fixed)
    with torch.no_grad():
        return twin(torch.tensor([2.0, 3.0], dtype=T)).item()


def mse_002(side):
    y_true, y_pred = [1, 0, 0, 1], [0, 0, 0, 0]
    if side == "scratch":
        return s221.mse_loss(np.array(y_true), np.array(y_pred))
    return F.mse_loss(torch.tensor(y_pred, dtype=T), torch.tensor(y_true, dtype=T)).item()


def dot(a, b, side):
    if side == "scratch":
        return np.dot(np.array(a), np.array(b))
    return torch.dot(torch.tensor(a, dtype=T), torch.tensor(b, dtype=T)).item()


def predict_class(side, args):
    prediction = (scratch_step if side == "scratch" else twin_step)(args)["prediction"]
    if side == "scratch":
        return s_neuron.predict_class(prediction)
    return int(torch.as_tensor(prediction).item() > 0.5)


XFAIL_001_DOT = "seed 001 prints 4.1259, but its np.dot gives 4.1259999999999994 (seed 000 prints that)"
XFAIL_001_ERROR = (
    "seed 001 prints the error as [0.7586743596667225], but printing a NumPy array shows 8 "
    "significant digits: [0.75867436] (seed 000 prints that)"
)

# (id, printed text, value on a side -> formatted text)
PRINTED = [
    ("000-dot1", "2.1672", lambda s: as_float(dot([1.72, 1.23], [1.26, 0], s))),
    ("000-dot2", "4.1259999999999994", lambda s: as_float(dot([1.72, 1.23], [2.17, 0.32], s))),
    ("000-prediction", "[0.7985731]", lambda s: as_array(first_prediction(s))),
    ("000-class-1", "1", lambda s: str(predict_class(s, dict(STEP_000, input_vector=[1.66, 1.56])))),
    ("000-prediction-2", "[0.87101915]", lambda s: step(s, STEP_000, "prediction")),
    ("000-class-2", "1", lambda s: str(predict_class(s, STEP_000))),
    ("000-mse", "[0.75867436]", lambda s: step(s, STEP_000, "mse")),
    ("000-derivative", "[1.7420383]", lambda s: step(s, STEP_000, "derivative")),
    ("000-new-prediction", "[0.01496248]", lambda s: step(s, STEP_000, "new_prediction")),
    ("000-new-error", "[0.00022388]", lambda s: step(s, STEP_000, "new_error")),
    ("001-dot1", "2.1672", lambda s: as_float(dot([1.72, 1.23], [1.26, 0], s))),
    pytest.param(
        "001-dot2",
        "4.1259",
        lambda s: as_float(dot([1.72, 1.23], [2.17, 0.32], s)),
        marks=pytest.mark.xfail(strict=True, reason=XFAIL_001_DOT),
    ),
    ("001-prediction", "[0.7985731]", lambda s: as_array(first_prediction(s))),
    ("001-prediction-2", "[0.87101915]", lambda s: step(s, STEP_000, "prediction")),
    pytest.param(
        "001-error",
        "[0.7586743596667225]",
        lambda s: step(s, STEP_000, "mse"),
        marks=pytest.mark.xfail(strict=True, reason=XFAIL_001_ERROR),
    ),
    ("001-derivative", "[1.7420383]", lambda s: step(s, STEP_000, "derivative")),
    ("001-new-prediction", "[0.01496248]", lambda s: step(s, STEP_000, "new_prediction")),
    ("001-new-error", "[0.00022388]", lambda s: step(s, STEP_000, "new_error")),
    ("002-dot", "7", lambda s: str(int(dot([1, 2], [3, 2], s)))),
    ("002-neuron", "0.9990889488055994", lambda s: as_float(neuron_002([2, 3], s))),
    (
        "002-sigmoid-7",
        "0.9990889488055994",
        lambda s: as_float(s221.sigmoid(7) if s == "scratch" else torch.sigmoid(torch.tensor(7.0, dtype=T)).item()),
    ),
    ("002-neuron-ones", "0.9933071490757153", lambda s: as_float(neuron_002([1, 1], s))),
    ("002-network", "0.7216325609518421", lambda s: as_float(demo_002(s))),
    ("002-mse", "0.5", lambda s: as_float(mse_002(s))),
    ("003-prediction", "[0.85916839]", lambda s: step(s, STEP_003, "prediction")),
    ("003-derivative", "[1.71833678]", lambda s: step(s, STEP_003, "derivative")),
    ("003-new-prediction", "[0.04285867]", lambda s: step(s, STEP_003, "new_prediction")),
    ("003-dbias", "[0.00351628]", lambda s: step(s, STEP_003, "derror_dbias")),
]


def _params():
    for entry in PRINTED:
        marks = ()
        if hasattr(entry, "marks"):  # a pytest.param carrying a strict xfail
            entry, marks = entry.values, entry.marks
        id_, printed, computed = entry
        for side in ("scratch", "twin"):
            yield pytest.param(printed, computed, side, id=f"{id_}-{side}", marks=marks)


@pytest.mark.parametrize("printed, computed, side", list(_params()))
def test_printed_value(printed, computed, side):
    assert computed(side) == printed


def test_seed_000_weights_concatenation():
    weights1 = np.concatenate((np.array([0.0]), np.array([1.45, -0.66])))
    assert repr(weights1) == "array([ 0.  ,  1.45, -0.66])"
