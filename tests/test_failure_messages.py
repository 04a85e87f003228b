"""A divergence is reported once, naming network, step, quantity, parameter, element, both values,
the difference and the tolerance; the messages are asserted exactly."""

import re

import numpy as np
import pytest

from crosscheck.case import vary
from crosscheck.checks import check_forward, check_initial_parameters, check_training_run
from crosscheck.compare import compare
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON

F64 = np.dtype(np.float64)
# Steps of the patched runs below: a wrong gradient parts at step 0, and the steps after it as well.
STEPS = 3


def toy_traces():
    scratch = {
        "loss": np.array([1.0, 0.5, 0.25]),
        "grad.w": np.array([[0.5, 0.25], [0.5, 0.25 + 1e-9], [0.5, 0.25]]),
        "param.w": np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 3.0]]),
    }
    twin = {k: v.copy() for k, v in scratch.items()}
    twin["grad.w"][1, 1] = 0.25
    twin["param.w"][2, 1] = 2.0
    return scratch, twin


def test_first_divergence_message_is_exact():
    scratch, twin = toy_traces()
    result = compare("toy", "training_run", scratch, twin, list(scratch), dtype=F64, atol=1e-12, rtol=1e-10)
    assert not result.passed
    assert result.message() == (
        "toy / training_run: scratch and twin part at step 1, gradient of w[1]: "
        "scratch = 0.250000001, twin = 0.25, |difference| = 1e-09 > tolerance 2.6e-11 "
        "(atol 1e-12 + rtol 1e-10 * |twin|)"
    )


def test_the_earliest_stage_of_the_earliest_step_is_named():
    scratch, twin = toy_traces()
    twin["loss"][1] = 0.75  # the loss of step 1 parts before its gradient does
    result = compare("toy", "training_run", scratch, twin, list(scratch), dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.first_divergence.quantity == "loss"
    assert result.first_divergence.step == 1


def test_a_float32_result_does_not_pass_against_float64():
    scratch, twin = toy_traces()
    scratch["grad.w"] = scratch["grad.w"].astype(np.float32)
    result = compare("toy", "gradients", scratch, twin, ["grad.w"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.message() == (
        "toy / gradients: gradient of w is float32 on the scratch side but the case is float64; "
        "a float32 result must not pass against a float64 expectation"
    )


def test_nan_never_passes():
    scratch, twin = toy_traces()
    scratch["loss"][2] = twin["loss"][2] = np.nan
    result = compare("toy", "loss", scratch, twin, ["loss"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert not result.passed and result.first_divergence.step == 2


@pytest.mark.parametrize(
    "case, patch, parameter",
    [
        (
            SIGMOID_NEURON,
            (
                s_neuron.NeuralNetwork,
                "_compute_gradients",
                lambda f: lambda self, x, t: (f(self, x, t)[0] * (1 + 1e-6), f(self, x, t)[1]),
            ),
            "bias",
        ),
        (
            NETWORK_2_2_1,
            (
                s221.TrainableNeuralNetwork,
                "_partial_derivatives",
                lambda f: lambda self, x, y: f(self, x, y) | {"w4": f(self, x, y)["w4"] * (1 + 1e-6)},
            ),
            "w4",
        ),
        (
            NETWORK_3_4_1,
            (
                s341.NeuralNetwork,
                "_gradients",
                lambda f: lambda self: (f(self)[0], f(self)[1] * np.array([[1], [1], [1 + 1e-6], [1]])),
            ),
            "weights2[2, 0]",
        ),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_a_wrong_gradient_is_caught_and_named(case, patch, parameter, monkeypatch):
    # A wrong gradient shows at step 0, where the first gradient is compared; every later step of the run
    # parts too, so the few steps here also ask the check to name the earliest.  Both sides run the same
    # prefix: the full run would name the same divergence, at the float64 tolerance, which does not
    # depend on the run's length.
    cls, method, wrong = patch
    monkeypatch.setattr(cls, method, wrong(getattr(cls, method)))
    params, batches = start(case)
    pair = scratch_trace(case, params, batches[:STEPS]), twin_trace(case, params, batches[:STEPS])
    result = check_training_run(case, pair)
    assert not result.passed and result.steps == STEPS
    message = result.message()
    assert message.startswith(f"{case.name} / training_run: scratch and twin part at step 0, gradient of {parameter}: ")
    assert re.search(
        r"scratch = \S+, twin = \S+, \|difference\| = \S+ > tolerance \S+ \(atol 1e-12 \+ rtol 1e-10 \* \|twin\|\)$",
        message,
    )


def test_a_two_dimensional_element_is_named():
    twin = {"grad.W": np.full((3, 2, 3), 0.125)}
    scratch = {"grad.W": twin["grad.W"].copy()}
    scratch["grad.W"][2, 1, 0] = 0.25
    result = compare("toy", "gradients", scratch, twin, ["grad.W"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.message() == (
        "toy / gradients: scratch and twin part at step 2, gradient of W[1, 0]: "
        "scratch = 0.25, twin = 0.125, |difference| = 0.125 > tolerance 1.35e-11 "
        "(atol 1e-12 + rtol 1e-10 * |twin|)"
    )


def test_an_unstepped_quantity_parts_before_training():
    twin = {"forward": np.array([[0.5], [0.25], [0.75]])}
    scratch = {"forward": np.array([[0.5], [0.25], [0.625]])}
    result = compare("toy", "forward", scratch, twin, ["forward"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.message() == (
        "toy / forward: scratch and twin part before training, forward output on the dataset[2, 0]: "
        "scratch = 0.625, twin = 0.75, |difference| = 0.125 > tolerance 7.6e-11 (atol 1e-12 + rtol 1e-10 * |twin|)"
    )


def test_a_curve_divergence_names_the_recorded_step():
    twin = {"curve": np.array([2.0, 1.0, 0.5])}
    scratch = {"curve": np.array([2.0, 1.0, 0.5 + 1e-6])}
    result = compare(
        "toy", "training_run", scratch, twin, ["curve"], curve_steps=[0, 100, 200], dtype=F64, atol=1e-12, rtol=1e-10
    )
    assert result.message() == (
        "toy / training_run: scratch and twin part at step 200, recorded loss curve: "
        "scratch = 0.500001, twin = 0.5, |difference| = 1e-06 > tolerance 5.1e-11 (atol 1e-12 + rtol 1e-10 * |twin|)"
    )


def test_a_nan_message_is_exact():
    scratch, twin = toy_traces()
    scratch["loss"][2] = np.nan
    result = compare("toy", "loss", scratch, twin, ["loss"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.message() == (
        "toy / loss: the scratch side becomes non-finite at step 2, loss, while the twin side stays finite: "
        "scratch = nan, twin = 0.25"
    )


def test_a_shape_problem_is_named_before_any_value():
    scratch, twin = toy_traces()
    twin["grad.w"] = twin["grad.w"][..., None]
    result = compare("toy", "gradients", scratch, twin, ["grad.w"], dtype=F64, atol=1e-12, rtol=1e-10)
    assert result.message() == (
        "toy / gradients: gradient of w has shape (3, 2) on the scratch side but (3, 2, 1) on the twin side"
    )


# --- real networks, values that do not depend on the machine ---------------------------------------
# The initial parameters are draws of np.random.RandomState(0), a stream NumPy keeps fixed across versions
# and platforms (its first standard normal is 1.764052345967664), so these messages are exact everywhere.


def first_step(case, **scratch_changes):
    """Scratch and twin traces of the first step, the scratch side built from a changed copy of the case."""
    params, batches = start(case)
    changed = vary(case, **scratch_changes)
    return scratch_trace(changed, params, batches[:1]), twin_trace(case, params, batches[:1])


def test_a_wrong_initial_parameter_parts_before_training():
    build = NETWORK_2_2_1.calls.build
    pair = first_step(NETWORK_2_2_1, build=lambda p, lr: build(p | {"w1": p["w1"] + 0.5}, lr))
    assert check_initial_parameters(NETWORK_2_2_1, pair).message() == (
        "network_2_2_1 / initial_parameters: scratch and twin part before training, initial parameter of w1: "
        "scratch = 2.264052345967664, twin = 1.764052345967664, |difference| = 0.5 > tolerance 0 "
        "(atol 0 + rtol 0 * |twin|)"
    )


def test_a_wrong_element_of_a_weight_matrix_is_named():
    build = NETWORK_3_4_1.calls.build

    def shifted(params, lr):
        weights1 = params["weights1"].copy()
        weights1[1, 2] += 0.25
        return build(params | {"weights1": weights1}, lr)

    pair = first_step(NETWORK_3_4_1, build=shifted)
    assert check_initial_parameters(NETWORK_3_4_1, pair).message() == (
        "network_3_4_1 / initial_parameters: scratch and twin part before training, initial parameter of "
        "weights1[1, 2]: scratch = 0.6875872112626925, twin = 0.4375872112626925, |difference| = 0.25 > "
        "tolerance 0 (atol 0 + rtol 0 * |twin|)"
    )


def test_a_flattened_output_is_a_shape_problem():
    forward = NETWORK_3_4_1.calls.forward
    pair = first_step(NETWORK_3_4_1, forward=lambda net, x: forward(net, x).ravel())
    assert check_forward(NETWORK_3_4_1, pair).message() == (
        "network_3_4_1 / forward: forward output on the dataset has shape (4,) on the scratch side but (4, 1) "
        "on the twin side"
    )
