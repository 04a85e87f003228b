"""Twin of ``scratch.mlp``: ``nn.Linear`` layers, ``F.relu``, ``F.cross_entropy`` (batch mean)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratch.mlp import HIDDEN, N_IN, N_OUT


class MLP(nn.Module):
    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        # nn.Linear stores (out, in): the scratch (in, out) weights arrive transposed.
        self.hidden = nn.Linear(N_IN, HIDDEN, dtype=dtype)
        self.output = nn.Linear(HIDDEN, N_OUT, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, before the softmax that ``F.cross_entropy`` applies."""
        return self.output(F.relu(self.hidden(x)))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Batch-mean cross-entropy; ``targets`` are one-hot rows (class probabilities)."""
    return F.cross_entropy(logits, targets, reduction="mean")
