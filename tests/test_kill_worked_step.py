"""The neuron's worked step and prediction helpers against the twin, away from the tutorials' inputs.

The tutorials' worked steps use target 0 and bias 0, where ``prediction - target`` and
``prediction + target``, or ``x + bias`` and ``x - bias``, agree; these checks take a target of 1,
a bias of 0.5 and zero weights, where a wrong sign or a division by a weight shows.
"""

import numpy as np
import pytest
import torch

from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL
from reference import sigmoid_neuron as ref_neuron
from scratch import sigmoid_neuron as s_neuron

T = torch.float64
STEPS = [
    dict(input_vector=[2.0, 1.5], weights=[1.45, -0.66], bias=0.5, target=1),
    dict(input_vector=[-1.0, 3.0], weights=[0.25, 0.75], bias=-1.5, target=1),
]


def twin_step(step):
    out = ref_neuron.worked_step(
        torch.tensor(step["input_vector"], dtype=T),
        torch.tensor(step["weights"], dtype=T),
        torch.tensor([step["bias"]], dtype=T),
        step["target"],
    )
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("step", STEPS, ids=["target-1-bias-0.5", "negative-input"])
def test_worked_step_meets_the_twin_on_every_intermediate(step):
    scratch, twin = s_neuron.worked_step(**step), twin_step(step)
    assert set(scratch) == set(twin)
    for key in twin:
        np.testing.assert_allclose(
            np.ravel(scratch[key]), np.ravel(twin[key]), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL, err_msg=key
        )


def test_make_prediction_adds_the_bias():
    x, w, b = np.array([2.0, 1.5]), np.array([1.45, -0.66]), 0.5
    twin = torch.sigmoid(torch.tensor(x) @ torch.tensor(w) + b).item()
    assert s_neuron.make_prediction(x, w, b) == pytest.approx(twin, rel=FLOAT64_RTOL, abs=FLOAT64_ATOL)


@pytest.mark.parametrize("prediction, cls", [(0.2, 0), (0.5, 0), (0.50001, 1), (np.array([0.9]), 1)])
def test_predict_class_is_one_strictly_above_one_half(prediction, cls):
    # The tutorial's rule: ``1 if prediction > 0.5 else 0``; exactly 0.5 is class 0.
    assert s_neuron.predict_class(prediction) == cls


def test_a_neuron_from_zero_weights_has_the_twins_gradient():
    """Zero is a common initial value: the gradient must be finite and exact there."""
    net = s_neuron.NeuralNetwork(0.1, weights=np.zeros(2), bias=np.array(0.0))
    x, target = np.array([3.0, 1.5]), np.array(1.0)
    derror_dbias, derror_dweights = net._compute_gradients(x, target)

    twin = ref_neuron.SigmoidNeuron(T)
    with torch.no_grad():
        twin.linear.weight.zero_()
        twin.linear.bias.zero_()
    ref_neuron.squared_error(twin(torch.tensor(x)), torch.tensor(target)).backward()
    np.testing.assert_allclose(
        derror_dweights, twin.linear.weight.grad.numpy()[0], rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL
    )
    np.testing.assert_allclose(derror_dbias, twin.linear.bias.grad.numpy()[0], rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)
