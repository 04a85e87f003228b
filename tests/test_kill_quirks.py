"""The seeds' own code in scratch/quirks.py where the findings and the replays do not look.

The findings call seed 003's class only to show that ``compute_gradients`` returns None, so its
``sigmoid``, ``predict``, ``sigmoid_derivative`` and ``update_params`` never give a number there; they
read one entry of ``seed_003_cells``'s result, at the seed's target 0 and bias 0, compare seed 001's
error line only with itself, and try seed 000's rule only with derivatives of 1.74, -0.26 and 0.
These checks pin those paths to what the seeds print, to hand computation and to torch, never to
the code's own output.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL
from scratch import quirks

T = torch.float64
SEED_003_INPUT, SEED_003_WEIGHTS = np.array([1.54, 1.32]), np.array([1.56, -0.45])


def seed_003_net(learning_rate=0.1, weights=(1.5, -0.25), bias=0.75):
    """Seed 003's class with the given parameters, without its draws from the global ``np.random``."""
    net = quirks.Seed003NeuralNetwork.__new__(quirks.Seed003NeuralNetwork)
    net.learning_rate, net.weights, net.bias = learning_rate, np.array(weights), bias
    return net


# --- seed 003's class ---------------------------------------------------------------------------

# The logistic function where it is known in closed form: 1/(1+e^0) = 1/2, 1/(1+1/3) = 3/4, 1/(1+3) = 1/4.
LOGISTIC = [(0.0, 0.5), (math.log(3), 0.75), (-math.log(3), 0.25)]


@pytest.mark.parametrize("x, expected", LOGISTIC, ids=["0", "ln3", "-ln3"])
def test_seed_003_sigmoid_is_the_logistic_function(x, expected):
    assert seed_003_net().sigmoid(x) == pytest.approx(expected, rel=1e-15)


def test_seed_003_sigmoid_is_torchs_on_an_array():
    x = np.array([-30.0, -2.5, -0.1, 0.0, 0.7, 4.0, 30.0])
    twin = torch.sigmoid(torch.tensor(x, dtype=T)).numpy()
    np.testing.assert_allclose(seed_003_net().sigmoid(x), twin, rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


def test_seed_003_sigmoid_derivative_is_autograds():
    x = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    xt = torch.tensor(x, dtype=T, requires_grad=True)
    torch.sigmoid(xt).sum().backward()
    derivative = seed_003_net().sigmoid_derivative(x)
    np.testing.assert_allclose(derivative, xt.grad.numpy(), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)
    assert derivative[2] == 0.25  # s(0) (1 - s(0)) = 1/2 * 1/2, exactly


def test_seed_003_predict_prints_the_seeds_prediction():
    """Cell [6] prints ``The prediction is [0.85916839]`` for these weights and bias [0.0]; the class's
    ``predict`` is cell [5]'s ``make_prediction`` as a method."""
    net = seed_003_net(weights=SEED_003_WEIGHTS, bias=np.array([0.0]))
    assert str(net.predict(SEED_003_INPUT)) == "[0.85916839]"


@pytest.mark.parametrize("bias", [0.75, -1.25])
def test_seed_003_predict_adds_the_bias_like_the_twin(bias):
    x, w = np.array([2.0, -1.5]), np.array([0.5, 0.25])
    twin = torch.sigmoid(torch.tensor(x, dtype=T) @ torch.tensor(w, dtype=T) + bias).item()
    net = seed_003_net(weights=w, bias=bias)
    assert net.predict(x) == pytest.approx(twin, rel=FLOAT64_RTOL, abs=FLOAT64_ATOL)


def test_seed_003_update_params_subtracts_the_gradients_times_the_learning_rate():
    # Binary fractions, so every product and difference is exact: 1.5 - 2 * 0.25 = 1.0,
    # -0.25 - (-4) * 0.25 = 0.75, 0.75 - 1 * 0.25 = 0.5.
    net = seed_003_net(learning_rate=0.25, weights=(1.5, -0.25), bias=0.75)
    net.update_params(np.array([2.0, -4.0]), 1.0)
    np.testing.assert_array_equal(net.weights, [1.0, 0.75])
    assert net.bias == 0.5


def test_seed_003_update_params_is_a_torch_sgd_step():
    """Learning rate 0.1 (the findings build the class with it) from the seed's weights, against
    ``torch.optim.SGD``."""
    grad_w, grad_b = np.array([0.3, -1.7]), 0.45
    net = seed_003_net(learning_rate=0.1, weights=SEED_003_WEIGHTS, bias=0.2)
    net.update_params(grad_w, grad_b)

    w = torch.tensor(SEED_003_WEIGHTS, dtype=T, requires_grad=True)
    b = torch.tensor(0.2, dtype=T, requires_grad=True)
    w.grad, b.grad = torch.tensor(grad_w, dtype=T), torch.tensor(grad_b, dtype=T)
    torch.optim.SGD([w, b], lr=0.1).step()
    np.testing.assert_allclose(net.weights, w.detach().numpy(), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)
    assert net.bias == pytest.approx(b.item(), rel=FLOAT64_RTOL, abs=FLOAT64_ATOL)


def test_seed_003_init_keeps_the_learning_rate_and_draws_weights_then_bias():
    state = np.random.get_state()
    try:
        np.random.seed(7)
        net = quirks.Seed003NeuralNetwork(0.1)
    finally:
        np.random.set_state(state)
    expected = np.random.RandomState(7)
    w0, w1, b = expected.randn(), expected.randn(), expected.randn()
    assert net.learning_rate == 0.1
    np.testing.assert_array_equal(net.weights, [w0, w1])
    assert net.bias == b


def test_seed_003_compute_gradients_leaves_the_parameters_alone():
    net = seed_003_net()
    assert net.compute_gradients(SEED_003_INPUT, 1) is None
    np.testing.assert_array_equal(net.weights, [1.5, -0.25])
    assert net.bias == 0.75


# Where the prediction equals the target the error's derivative is exactly 0: at zero weights and bias
# the prediction is 1/(1+e^0) = 0.5; at a pre-activation of 800 it is exactly 1.0, because e^-800
# underflows to 0 (silently), and the sigmoid's slope 1.0 * (1 - 1.0) is exactly 0 as well.
EXACT_FITS = [
    dict(weights=(0.0, 0.0), bias=0.0, target=0.5),
    dict(weights=(0.0, 0.0), bias=800.0, target=1.0),
]


@pytest.mark.parametrize("fit", EXACT_FITS, ids=["prediction-0.5", "saturated"])
def test_seed_003_compute_gradients_is_silent_at_an_exact_fit(fit):
    """The seed's chain rule only multiplies: a zero derivative or slope raises no floating-point warning."""
    net = seed_003_net(weights=fit["weights"], bias=fit["bias"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert net.compute_gradients(SEED_003_INPUT, fit["target"]) is None


# --- seed 003's cells -----------------------------------------------------------------------------


def test_seed_003_cells_are_what_the_seed_prints():
    """Cells [6] to [8] print the prediction, the derivative, the new prediction and the bias gradient."""
    cells = quirks.seed_003_cells(SEED_003_INPUT, SEED_003_WEIGHTS, np.array([0.0]))
    assert set(cells) == {"prediction", "derivative", "weights", "new_prediction", "d_error_wrt_bias"}
    assert str(cells["prediction"]) == "[0.85916839]"
    assert str(cells["derivative"]) == "[1.71833678]"
    assert str(cells["new_prediction"]) == "[0.04285867]"
    assert str(cells["d_error_wrt_bias"]) == "[0.00351628]"
    # Cell [7]: weights = weights - derivative; the printed derivative is within 5e-9 of the held one.
    np.testing.assert_allclose(cells["weights"], SEED_003_WEIGHTS - 1.71833678, rtol=0, atol=1e-8)


def twin_seed_003_cells(x, w, b, target):
    """Cells [6] to [8] in torch: the prediction, d = 2 (prediction - target), weights - d, and the
    bias gradient of (prediction - target)^2 by autograd at the new weights."""
    x, w = torch.tensor(x, dtype=T), torch.tensor(w, dtype=T)
    prediction = torch.sigmoid(x @ w + b)
    derivative = 2 * (prediction - target)
    weights = w - derivative
    bias = torch.tensor(b, dtype=T, requires_grad=True)
    new_prediction = torch.sigmoid(x @ weights + bias)
    ((new_prediction - target) ** 2).backward()
    return {
        "prediction": prediction.item(),
        "derivative": derivative.item(),
        "weights": weights.numpy(),
        "new_prediction": new_prediction.item(),
        "d_error_wrt_bias": bias.grad.item(),
    }


@pytest.mark.parametrize("bias, target", [(0.5, 1.0), (-0.75, 0.25)])
def test_seed_003_cells_are_torchs_away_from_target_0_and_bias_0(bias, target):
    """The seed's target 0 and bias 0 hide ``prediction + target`` and ``x - bias``."""
    cells = quirks.seed_003_cells(SEED_003_INPUT, SEED_003_WEIGHTS, np.array([bias]), target)
    twin = twin_seed_003_cells(SEED_003_INPUT, SEED_003_WEIGHTS, bias, target)
    for key, expected in twin.items():
        np.testing.assert_allclose(
            np.ravel(cells[key]), np.ravel(expected), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL, err_msg=key
        )


# --- the seeds' make_prediction -----------------------------------------------------------------


def test_make_prediction_adds_the_bias_like_the_twin():
    """The seeds call it with bias [0.0], where adding and subtracting the bias agree."""
    x, w, b = np.array([2.0, 1.5]), np.array([1.45, -0.66]), np.array([0.5])
    twin = torch.sigmoid(torch.tensor(x) @ torch.tensor(w) + 0.5).item()
    np.testing.assert_allclose(quirks.make_prediction(x, w, b), [twin], rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


# --- seed 001's printed lines -------------------------------------------------------------------


def test_seed_001_error_line_holds_seed_000s_printed_prediction_and_error():
    """Seed 000 runs the same cells and prints ``array([0.87101915])`` and ``array([0.75867436])``."""
    assert quirks.seed_001_printed_lines()["error"] == "Prediction: [0.87101915]; Error: [0.75867436]"


# --- seed 000's update rule ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [0.5, 1.0, -0.5, -1.0])
def test_seed_000_rule_is_weights_minus_abs_d_on_both_sides_of_one(d):
    w = np.array([1.45, -0.66])
    np.testing.assert_array_equal(quirks.seed_000_update(w, d), w - abs(d))


def test_seed_000_rule_subtracts_a_zero_derivative():
    """At d == 0 the seed's ``d >= 0`` takes ``weights_1 - d``: in IEEE arithmetic -0.0 - 0.0 is -0.0,
    where ``weights_1 + d`` would give -0.0 + 0.0 = +0.0."""
    updated = quirks.seed_000_update(np.array([-0.0, 1.45]), 0.0)
    np.testing.assert_array_equal(updated, [0.0, 1.45])
    assert np.signbit(updated[0])


# --- seed 001's class ---------------------------------------------------------------------------


def test_seed_001_gradients_from_zero_weights_are_autograds():
    """Zero is a common initial value; the gradients there must be finite and exact."""
    net = quirks.Seed001NeuralNetwork.__new__(quirks.Seed001NeuralNetwork)  # no global draws
    net.weights, net.bias, net.learning_rate = np.zeros(2), 0.0, 0.1
    x, target = np.array([3.0, 1.5]), 1.0
    derror_dbias, derror_dweights = net._compute_gradients(x, target)

    w = torch.zeros(2, dtype=T, requires_grad=True)
    b = torch.zeros((), dtype=T, requires_grad=True)
    ((torch.sigmoid(torch.tensor(x) @ w + b) - target) ** 2).backward()
    np.testing.assert_allclose(derror_dweights, w.grad.numpy(), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)
    assert derror_dbias == pytest.approx(b.grad.item(), rel=FLOAT64_RTOL, abs=FLOAT64_ATOL)


# --- seed 004's class ---------------------------------------------------------------------------


def test_seed_004_output_starts_as_zeros_of_the_targets_shape():
    x, y = np.zeros((4, 3)), np.ones((4, 1))
    state = np.random.get_state()
    try:
        net = quirks.Seed004NeuralNetwork(x, y)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(net.output, np.zeros((4, 1)))
    assert net.output.shape == (4, 1)
