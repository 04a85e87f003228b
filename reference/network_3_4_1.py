"""Twin of ``scratch.network_3_4_1``: two bias-free ``nn.Linear`` layers with sigmoids."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reference import _checks


class Network341(nn.Module):
    def __init__(self, n_in: int = 3, hidden: int = 4, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        n_in, hidden = _checks.positive_size("n_in", n_in), _checks.positive_size("hidden", hidden)
        _checks.float_dtype(dtype)
        # nn.Linear stores (out, in): the scratch (in, out) weights arrive transposed.
        self.layer1 = nn.Linear(n_in, hidden, bias=False, dtype=dtype)
        self.layer2 = nn.Linear(hidden, 1, bias=False, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _checks.forward_input(self.layer1.weight.dtype, x, self.layer1.in_features)
        return torch.sigmoid(self.layer2(torch.sigmoid(self.layer1(x))))


def sum_of_squares(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The seed's loss, summed over the batch (so SGD with lr 1 is its ``+=`` update)."""
    _checks.loss_pair(prediction, target)
    return F.mse_loss(prediction, target, reduction="sum")
