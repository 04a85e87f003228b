"""The digits MLP's pieces against torch where the digits run does not look: logits large enough to
overflow an unshifted softmax, rows of very different scale, one sample as a 1-D vector, ReLU's
subgradient at exactly zero, and the errors for bad parameters and inputs."""

import numpy as np
import pytest
import torch

from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL
from scratch import mlp

LOGITS = {
    # exp(1000) overflows: the shift by the row's maximum is what keeps this finite.
    "large": np.array([[1000.0, 1001.0, 999.0], [-2.0, 0.5, 3.0]]),
    # A shift by the batch's maximum instead of each row's underflows the first row to log(0).
    "rows-of-different-scale": np.array([[0.0, 1.0, -1.0], [1000.0, 1001.0, 1002.0]]),
    # One sample as a vector: the class axis is the last one, whatever the leading shape.
    "one-sample": np.array([0.5, -1.0, 2.0]),
}


@pytest.mark.parametrize("logits", LOGITS.values(), ids=LOGITS)
def test_log_softmax_is_torchs(logits):
    twin = torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy()
    np.testing.assert_allclose(mlp.log_softmax(logits), twin, rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


@pytest.mark.parametrize("logits", LOGITS.values(), ids=LOGITS)
def test_cross_entropy_is_torchs(logits):
    targets = np.zeros_like(logits)
    targets[..., 1] = 1.0
    t_logits, t_targets = torch.from_numpy(logits), torch.from_numpy(targets)
    twin = -(t_targets * torch.log_softmax(t_logits, dim=-1)).sum(dim=-1).mean().item()
    assert mlp.cross_entropy(logits, targets) == pytest.approx(twin, rel=FLOAT64_RTOL, abs=FLOAT64_ATOL)


def test_relu_passes_no_gradient_at_exactly_zero_like_torch():
    """PyTorch's ReLU has gradient 0 at 0; inputs of zeros and zero biases put every unit there."""
    rng = np.random.RandomState(0)
    W1 = rng.standard_normal((mlp.N_IN, mlp.HIDDEN)) * 0.1
    b1 = np.where(np.arange(mlp.HIDDEN) % 2 == 0, 0.0, 0.3)  # half the units sit exactly at z = 0
    W2, b2 = rng.standard_normal((mlp.HIDDEN, mlp.N_OUT)) * 0.1, np.zeros(mlp.N_OUT)
    x = np.zeros((3, mlp.N_IN))
    targets = np.eye(mlp.N_OUT)[[1, 4, 7]]
    grads = mlp.MLP(W1, b1, W2, b2, learning_rate=0.1).gradients(x, targets)

    t = {k: torch.tensor(v, requires_grad=True) for k, v in dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
    logits = torch.relu(torch.from_numpy(x) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    (-(torch.from_numpy(targets) * torch.log_softmax(logits, dim=-1)).sum(-1).mean()).backward()
    for name, tensor in t.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL, err_msg=name)


def good():
    return dict(
        W1=np.zeros((mlp.N_IN, mlp.HIDDEN)),
        b1=np.zeros(mlp.HIDDEN),
        W2=np.zeros((mlp.HIDDEN, mlp.N_OUT)),
        b2=np.zeros(mlp.N_OUT),
        learning_rate=0.1,
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(b1=np.zeros(127)), ValueError, "b1 must have shape (128,), got (127,)"),
        (dict(b2=np.zeros((10, 1))), ValueError, "b2 must have shape (10,), got (10, 1)"),
        (
            dict(learning_rate=0.0),
            ValueError,
            "learning_rate must be positive and finite, got 0.0; gradient descent needs a step > 0",
        ),
    ],
    ids=["b1-shape", "b2-shape", "learning-rate"],
)
def test_a_bad_parameter_is_named(change, error, message):
    with pytest.raises(error) as excinfo:
        mlp.MLP(**(good() | change))
    assert str(excinfo.value) == message


def test_an_input_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError) as excinfo:
        mlp.MLP(**good()).forward(np.zeros((3, 63)))
    assert str(excinfo.value) == "x must have shape (n, 64), got (3, 63)"
