"""Twin of ``scratch.sigmoid_neuron``: ``nn.Linear(2, 1)`` then ``torch.sigmoid``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reference import _checks


class SigmoidNeuron(nn.Module):
    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        _checks.float_dtype(dtype)
        self.linear = nn.Linear(2, 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _checks.forward_input(self.linear.weight.dtype, x, 2)
        # squeeze(-1): one sample gives a 0-d prediction, a batch gives (n,), as in the scratch net.
        return torch.sigmoid(self.linear(x)).squeeze(-1)


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample loss of the SGD steps: (prediction - target)**2."""
    _checks.loss_pair(prediction, target)
    return F.mse_loss(prediction, target, reduction="sum")


def cumulative_error(prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The tutorial's recorded metric: squared errors summed over the whole dataset."""
    _checks.loss_pair(prediction, targets)
    return F.mse_loss(prediction, targets, reduction="sum")


def worked_step(
    input_vector: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor, target: float
) -> dict[str, torch.Tensor]:
    """The tutorials' hand-worked step, with every derivative taken by autograd."""
    neuron = SigmoidNeuron(dtype=input_vector.dtype)
    with torch.no_grad():
        neuron.linear.weight.copy_(weights.reshape(1, 2))
        neuron.linear.bias.copy_(bias.reshape(1))
    prediction = neuron(input_vector)
    prediction.retain_grad()
    mse = (prediction - target) ** 2
    mse.backward()
    derivative = prediction.grad
    assert derivative is not None
    # The tutorials' own update: the derivative w.r.t. the prediction subtracted from every weight.
    with torch.no_grad():
        neuron.linear.weight -= derivative
        new_weights = neuron.linear.weight.detach().clone().reshape(2)
    neuron.zero_grad()
    new_prediction = neuron(input_vector)
    new_error = (new_prediction - target) ** 2
    new_error.backward()
    assert neuron.linear.weight.grad is not None and neuron.linear.bias.grad is not None
    return {
        "prediction": prediction.detach(),
        "mse": mse.detach(),
        "derivative": derivative,
        "new_weights": new_weights,
        "new_prediction": new_prediction.detach(),
        "new_error": new_error.detach(),
        "derror_dbias": neuron.linear.bias.grad.detach().reshape(()),
        "derror_dweights": neuron.linear.weight.grad.detach().reshape(2),
    }
