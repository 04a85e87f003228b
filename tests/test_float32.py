"""The tutorial networks run in float32 on both sides, with the float32 tolerance rule of ``crosscheck.precision``;
their battery (ids ``<network>_float32-<check>``) is tests/test_battery.py's, where parametrize_with_checks adds
the variants of the cases listed in [tool.crosscheck] float32."""

import math

import numpy as np
import pytest

from crosscheck.checks import check_training_run, tolerance
from crosscheck.precision import drift, float32_case, float32_cases
from crosscheck.run.memo import RUNS
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from crosscheck.tolerance import EPS32, FLOAT64_ATOL, FLOAT64_RTOL, float32_tolerance
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import SIGMOID_NEURON, TUTORIAL_CASES

# Steps of the patched run below: 1% of the neuron's run, well past the step where the wrong gradient shows.
STEPS = 100


@pytest.mark.parametrize("case", float32_cases(), ids=lambda c: c.name)
def test_both_sides_really_run_in_float32(case):
    # The first step of the run the battery computed: every quantity, as each side records it at every step.
    for side, trace in zip(("scratch", "twin"), RUNS.full(case).first, strict=True):
        for key, value in trace.items():
            assert value.dtype == np.float32, f"{case.name} {side} {key} is {value.dtype}"


def test_the_float32_tolerance_grows_as_the_square_root_of_the_run():
    one, _ = float32_tolerance(1)
    assert one == 4 * EPS32
    assert float32_tolerance(400) == pytest.approx((20 * one, 20 * one))
    # The neuron's 10,000 steps: 4 eps32 * 100 = 4.8e-5.
    assert tolerance(float32_case(SIGMOID_NEURON)) == pytest.approx((4 * EPS32 * 100,) * 2)
    assert tolerance(SIGMOID_NEURON) == (FLOAT64_ATOL, FLOAT64_RTOL)


def test_a_run_has_at_least_one_step():
    with pytest.raises(ValueError, match="at least one step"):
        float32_tolerance(0)


def test_only_a_float64_case_has_a_float32_variant():
    with pytest.raises(ValueError, match="takes a float64 case"):
        float32_case(float32_case(SIGMOID_NEURON))


def test_the_float32_tolerance_still_catches_a_wrong_gradient(monkeypatch):
    case = float32_case(SIGMOID_NEURON)
    # A bias gradient 0.1% too large: well inside what float32 can resolve over the run.
    original = s_neuron.NeuralNetwork._compute_gradients
    monkeypatch.setattr(
        s_neuron.NeuralNetwork,
        "_compute_gradients",
        lambda self, x, t: (original(self, x, t)[0] * np.float32(1.001), original(self, x, t)[1]),
    )
    # The first STEPS steps on both sides, judged at the whole run's tolerance (4 eps32 * sqrt(10,000), what
    # the check allows any step of the run): the wrong gradient first parts from the twin's by more than
    # that at step 5, so the full run names the same divergence.
    params, batches = start(case)
    pair = scratch_trace(case, params, batches[:STEPS]), twin_trace(case, params, batches[:STEPS])
    result = check_training_run(case, pair)
    assert (result.atol, result.rtol) == tolerance(case) == float32_tolerance(len(batches))
    assert not result.passed
    assert (result.first_divergence.quantity, result.first_divergence.parameter) == ("grad", "bias")


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_float32_drifts_from_float64_but_stays_near(case):
    figures = drift(case)
    for side in ("scratch", "twin"):
        worst = max(figures[side].values())
        # Nonzero: the float32 run is not float64 in disguise.  Below 1e-3: a few thousand float32
        # ulps of the O(1) values (measured largest drift 2.2e-5, the neuron's gradient).
        assert 0 < worst < 1e-3, (side, figures[side])
        assert math.isfinite(worst)
