"""Twin of ``scratch.network_2_2_1``: two ``nn.Linear`` layers with sigmoids."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reference import _checks


class Network221(nn.Module):
    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        _checks.float_dtype(dtype)
        self.hidden = nn.Linear(2, 2, dtype=dtype)  # rows: h1 = (w1, w2), h2 = (w3, w4); bias (b1, b2)
        self.output = nn.Linear(2, 1, dtype=dtype)  # (w5, w6); bias b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _checks.forward_input(self.hidden.weight.dtype, x, 2)
        return torch.sigmoid(self.output(torch.sigmoid(self.hidden(x)))).squeeze(-1)


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample loss of the SGD steps."""
    _checks.loss_pair(prediction, target)
    return F.mse_loss(prediction, target, reduction="sum")


def mse_loss(prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The tutorial's recorded metric: mean squared error over the four people."""
    _checks.loss_pair(prediction, targets)
    return F.mse_loss(prediction, targets, reduction="mean")
