"""The real-size network through the public API: a 64-128-10 MLP on scikit-learn's digits."""

import numpy as np

from crosscheck import parametrize_with_checks
from crosscheck.trace import traces
from examples.digits import DIGITS, LABELS, LABELS_TEST, PIXELS, X_TEST
from scratch.mlp import MLP


@parametrize_with_checks([DIGITS])
def test_digits(case, check):
    check(case)


def test_data_is_load_digits():
    from sklearn.datasets import load_digits  # imported here: it costs ~0.75 s (SciPy)

    pixels, labels = load_digits(return_X_y=True)
    np.testing.assert_array_equal(PIXELS, pixels)
    np.testing.assert_array_equal(LABELS, labels)


def _trained(side):
    scratch, twin = traces(DIGITS)
    trace = scratch if side == "scratch" else twin
    return trace, MLP(**{p: trace[f"param.{p}"][-1] for p in DIGITS.param_map}, learning_rate=DIGITS.learning_rate)


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
