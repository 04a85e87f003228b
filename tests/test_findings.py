"""The claims of "What the cross-check found in the tutorials", asserted.

Each test recomputes what it can independently of ``tutorials.findings`` (from the seeds'
own code in ``scratch.quirks``, from IEEE arithmetic, from the tutorials' printed text) and
checks the finding's numbers against it.
"""

import math

import numpy as np
import pytest

from crosscheck.tolerance import FLOAT64_ATOL
from scratch import quirks
from scratch import sigmoid_neuron as s_neuron
from tutorials import findings


@pytest.fixture(scope="module")
def produced():
    return findings.findings()


@pytest.fixture(scope="module")
def quirk(produced):
    return {q.id: q for q in produced}


# Each finding has tests of its own below: a finding added without them, or one renamed, fails here.
TESTED = {
    "seed_000_update_rule",
    "seed_001_printed_values",
    "seed_002_bias_comment",
    "seed_003_gradients",
    "seed_004_update",
    "sigmoid_limits",
}


def test_every_finding_has_its_tests_a_unique_id_and_its_sources(produced):
    ids = [q.id for q in produced]
    assert sorted(ids) == sorted(TESTED)  # a repeated id would show twice
    for q in produced:
        assert q.finding and q.numbers, q.id
        assert q.sources and all(s in findings.SEED_FILES.values() for s in q.sources), q.id


def test_findings_leave_the_global_random_state_alone():
    # The seeds' constructors draw from np.random; a report must not shift later draws.
    np.random.seed(1234)
    expected = np.random.random_sample(3)
    np.random.seed(1234)
    findings.findings()
    np.testing.assert_array_equal(np.random.random_sample(3), expected)


# --- seed 000 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1.7420383, -0.2579617, 0.0])
def test_seed_000_rule_is_weights_minus_abs_d(d):
    w = np.array([1.45, -0.66])
    np.testing.assert_array_equal(quirks.seed_000_update(w, d), w - abs(d))


def test_seed_000_rule_raises_the_error_for_a_target_above_the_prediction(quirk):
    t1 = quirk["seed_000_update_rule"].numbers["target_1"]
    assert t1["target"] > t1["prediction"]
    assert t1["seed_rule_error"] > t1["error"], "the seed's rule should make this error worse"
    assert t1["gradient_step_error"] < t1["error"], "a gradient step should make it better"
    # The gradient w.r.t. the weights has the opposite sign to what the rule subtracts (|d| > 0).
    assert all(gw < 0 for gw in t1["scratch_gradient_weights"])
    np.testing.assert_allclose(t1["scratch_gradient_weights"], t1["twin_gradient_weights"], rtol=0, atol=FLOAT64_ATOL)


def test_seed_000_rule_helps_for_the_tutorials_target_0(quirk):
    t0 = quirk["seed_000_update_rule"].numbers["target_0"]
    assert t0["target"] == 0 and t0["seed_rule_error"] < t0["error"]
    assert f"{t0['seed_rule_error']:.8f}" == "0.00022388"  # what seed 000 prints as the new error


# --- seed 001 ---------------------------------------------------------------------------------


def test_seed_001_printed_lines_are_not_what_its_code_prints(quirk):
    n = quirk["seed_001_printed_values"].numbers
    lines = quirks.seed_001_printed_lines()
    assert n["dot_line_from_code"] == lines["dot"] != n["dot_line_printed"]
    assert n["error_line_from_code"] == lines["error"] != n["error_line_printed"]
    # Seed 000 runs the same np.dot and prints the full repr.
    assert lines["dot"] == "The dot product is: 4.1259999999999994"


def test_seed_001_printed_error_is_the_square_of_the_rounded_prediction(quirk):
    n = quirk["seed_001_printed_values"].numbers
    assert repr(0.87101915**2) == "0.7586743596667225"
    assert f"[{n['square_of_printed_prediction']}]" == n["error_printed"]
    assert n["error_float_repr"] != n["square_of_printed_prediction"]
    assert float(n["error_float_repr"]) == float(n["error_twin_repr"])


# --- seed 002 ---------------------------------------------------------------------------------


def test_seed_002_output_follows_the_code_not_the_comment(quirk):
    n = quirk["seed_002_bias_comment"].numbers
    assert repr(n["scratch_bias_4"]) == n["printed"] == repr(n["twin_bias_4"])
    assert n["bias_0"] == pytest.approx(1 / (1 + math.exp(-3)), rel=1e-15)
    assert repr(n["bias_0"]) != n["printed"]


# --- seed 003 ---------------------------------------------------------------------------------


def test_seed_003_compute_gradients_returns_none():
    net = quirks.Seed003NeuralNetwork.__new__(quirks.Seed003NeuralNetwork)  # no global draws
    net.learning_rate, net.weights, net.bias = 0.1, np.array([1.56, -0.45]), 0.0
    assert net.compute_gradients(np.array([1.54, 1.32]), 0) is None
    with pytest.raises(TypeError, match="NoneType"):
        net.update_params(*net.compute_gradients(np.array([1.54, 1.32]), 0))


def test_seed_003_printed_bias_gradient_is_taken_after_the_update(quirk):
    n = quirk["seed_003_gradients"].numbers
    cells = quirks.seed_003_cells(np.array([1.54, 1.32]), np.array([1.56, -0.45]), np.array([0.0]))
    assert str(cells["d_error_wrt_bias"]) == n["printed_bias_gradient"] == "[0.00351628]"
    assert n["scratch_bias_gradient_after_update"] == n["printed_bias_gradient"]
    assert f"[{n['twin_bias_gradient_after_update']:.8f}]" == n["printed_bias_gradient"]
    # At the weights that made the prediction the gradient is some 60 times larger.
    assert n["scratch_bias_gradient_before_update"] > 50 * n["twin_bias_gradient_after_update"]
    assert n["scratch_bias_gradient_before_update"] == pytest.approx(
        n["twin_bias_gradient_before_update"], rel=0, abs=FLOAT64_ATOL
    )


# --- seed 004 ---------------------------------------------------------------------------------


def test_seed_004_plus_equals_is_sgd_with_learning_rate_1(quirk):
    n = quirk["seed_004_update"].numbers
    # The battery's float64 bound: measured 5.6e-17 after one step and 4.0e-15 after 1500.
    assert n["one_step_max_abs_vs_twin_sgd_lr1"] <= FLOAT64_ATOL
    assert n["full_run_max_abs_vs_twin_sgd_lr1"] <= FLOAT64_ATOL
    assert n["sum_over_mean_gradient_ratio"] == pytest.approx(4, rel=1e-12)  # 4 samples: sum = 4 * mean


def test_seed_004_sigmoid_derivative_is_right_only_for_activations(quirk):
    n = quirk["seed_004_update"].numbers
    # s * (1 - s) against autograd's sigmoid backward, which computes the same product: a few ulps at most.
    assert n["derivative_of_activation_max_abs_vs_autograd"] <= 4 * np.finfo(np.float64).eps
    assert n["derivative_of_preactivation_max_abs_vs_autograd"] > 0.1


# --- the sigmoid's limits -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype, mantissa_bits", [(np.float64, 53), (np.float32, 24)])
def test_sigmoid_overflow_and_saturation_thresholds(quirk, dtype, mantissa_bits):
    n = quirk["sigmoid_limits"].numbers[np.dtype(dtype).name]
    # exp(-x) overflows where -x exceeds log(max float); 1 + exp(-x) rounds to 1 once exp(-x) is at most
    # half an ulp of 1, 2**-mantissa_bits, i.e. from x = mantissa_bits * ln 2.
    assert n["overflow_below"] == pytest.approx(-math.log(float(np.finfo(dtype).max)), rel=1e-6)
    assert n["scratch_saturates_from"] == pytest.approx(mantissa_bits * math.log(2), rel=1e-6)
    assert n["overflows_at_threshold"] and not n["overflows_one_step_above"]
    x = dtype(n["overflow_below"])
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        s_neuron.sigmoid(x)
    with np.errstate(over="ignore"):
        assert s_neuron.sigmoid(x) == 0
        assert s_neuron.sigmoid(np.nextafter(x, dtype(0))) > 0
    assert s_neuron.sigmoid(dtype(n["scratch_saturates_from"])) == 1.0
    assert s_neuron.sigmoid(np.nextafter(dtype(n["scratch_saturates_from"]), dtype(0))) < 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_formula_gradient_is_nan_where_exp_overflows(quirk, dtype):
    n = quirk["sigmoid_limits"].numbers[dtype]
    assert math.isnan(n["torch_formula_grad_at_overflow"])
    assert n["torch_sigmoid_grad_at_overflow"] == 0 and n["torch_sigmoid_at_overflow"] == 0
    assert n["scratch_value_at_overflow"] == 0
    # Where the sigmoid is exactly 1, s * (1 - s) is 0 but the true derivative (about e^-x) is not.
    assert n["scratch_derivative_at_saturation"] == 0 == n["torch_sigmoid_grad_at_saturation"]
    assert n["torch_formula_grad_at_saturation"] == pytest.approx(math.exp(-n["scratch_saturates_from"]), rel=1e-3)


def test_first_true_rejects_a_bracket_that_does_not_bracket():
    with pytest.raises(ValueError, match="false at"):
        findings.first_true(lambda x: True, 0.0, 1.0, np.float64)
