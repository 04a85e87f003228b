"""The real-size network through the public API: a 64-128-10 MLP on scikit-learn's digits."""

import numpy as np
import pytest

from crosscheck import parametrize_with_checks
from crosscheck.run.memo import traces
from examples.digits import DIGITS, LABELS_TEST, X_TEST
from scratch.mlp import MLP


@parametrize_with_checks([DIGITS])
def test_digits(case, check):
    check(case)


def _trained(side):
    scratch, twin = traces(DIGITS)
    trace = scratch if side == "scratch" else twin
    return trace, MLP(
        **{p: trace[f"param.{p}"][-1] for p in DIGITS.scratch.params}, learning_rate=DIGITS.data.learning_rate
    )


def test_one_epoch_learns_the_held_out_digits():
    # Chance is 0.1; after one epoch held-out accuracy is 0.82-0.86 over seeds 0-2 (measured).
    for side in ("scratch", "twin"):
        _, net = _trained(side)
        accuracy = np.mean(net.predict(X_TEST) == LABELS_TEST)
        assert accuracy > 0.6, f"{side}: held-out accuracy {accuracy:.3f} after one epoch"


def test_training_loss_falls_well_below_chance():
    # A network that guesses uniformly has cross-entropy log(10) = 2.30; one epoch reaches ~0.5.
    trace, _ = _trained("scratch")
    curve = trace["curve"]
    assert curve[0] > 2.0, f"the initial loss {curve[0]:.3f} should be near log(10)"
    assert curve[-1] < 1.0, f"the loss after one epoch is {curve[-1]:.3f}"


def _params(**change):
    params = {"W1": np.zeros((64, 128)), "b1": np.zeros(128), "W2": np.zeros((128, 10)), "b2": np.zeros(10)}
    return {**params, **change}


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (_params(W1=np.zeros((128, 64))), ValueError, r"W1 must have shape \(64, 128\)"),
        (_params(b2=np.zeros(10, dtype=np.float32)), TypeError, "share one dtype"),
        (_params(W2=np.zeros((128, 10), dtype=int)), TypeError, "W2 must be a float array"),
    ],
)
def test_bad_parameters_are_refused(params, error, match):
    with pytest.raises(error, match=match):
        MLP(**params, learning_rate=0.1)


def test_labels_instead_of_one_hot_targets_are_refused():
    net = MLP(**_params(), learning_rate=0.1)
    with pytest.raises(ValueError, match=r"one-hot with shape \(2, 10\)"):
        net.gradients(np.zeros((2, 64)), np.array([3.0, 7.0]))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 64\)"):
        net.forward(np.zeros((2, 8, 8)))
