"""A divergence is reported once, naming network, step, quantity, parameter, element, both values,
the difference and the tolerance; the messages are asserted exactly."""

import re

import numpy as np
import pytest

from crosscheck.checks import check_training_run
from crosscheck.compare import compare
from crosscheck.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON
from crosscheck.trace import scratch_trace, start, traces
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron

F64 = np.dtype(np.float64)


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
    cls, method, wrong = patch
    monkeypatch.setattr(cls, method, wrong(getattr(cls, method)))
    params, batches = start(case)
    _, twin = traces(case)
    result = check_training_run(case, pair=(scratch_trace(case, params, batches), twin))
    assert not result.passed
    message = result.message()
    assert message.startswith(f"{case.name} / training_run: scratch and twin part at step 0, gradient of {parameter}: ")
    assert re.search(
        r"scratch = \S+, twin = \S+, \|difference\| = \S+ > tolerance \S+ \(atol 1e-12 \+ rtol 1e-10 \* \|twin\|\)$",
        message,
    )
