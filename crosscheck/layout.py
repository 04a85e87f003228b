"""Scratch <-> twin tensors: the twin's data, and parameters written into and read out of the twin through
each parameter's ``Link`` (transpose, then index)."""

from __future__ import annotations

import numpy as np
import torch

from crosscheck.case import Array, Case, Link, Params


def twin_data(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """X and y for the twin: copies, sharing no memory with the case's read-only arrays; integer arrays (class
    labels, token ids) become torch.int64, the index type F.cross_entropy, F.nll_loss and nn.Embedding take."""

    def tensor(a: Array) -> torch.Tensor:
        t = torch.tensor(a)
        return t.long() if np.issubdtype(a.dtype, np.integer) else t

    return tensor(case.data.X), tensor(case.data.y)


def twin_tensor(module: torch.nn.Module, link: Link) -> torch.Tensor:
    tensors = dict(module.named_parameters())
    t = tensors[link.tensor]
    return t.T if link.transpose else t


def as_scratch(t: torch.Tensor, link: Link) -> Array:
    """A twin tensor (a parameter, its gradient, its optimizer state or a buffer) in the scratch layout."""
    if t.ndim == 0:
        return t.detach().cpu().numpy().copy()
    t = t.T if link.transpose else t
    return t.detach()[link.index].cpu().numpy().copy()


def twin_to_scratch(module: torch.nn.Module, case: Case, grads: bool = False) -> Params:
    """The twin's parameters (or their ``.grad``) under the scratch names and layouts."""
    out: Params = {}
    tensors = dict(module.named_parameters())
    for name, link in case.scratch.params.items():
        t: torch.Tensor = tensors[link.tensor]
        if grads:
            # .grad lives on the leaf tensor, not on a transposed view of it.
            if t.grad is None:
                raise AssertionError(f"{case.name}: twin tensor {link.tensor!r} got no gradient")
            t = t.grad
        out[name] = as_scratch(t, link)
    return out


def load_into_twin(module: torch.nn.Module, case: Case, params: Params) -> None:
    with torch.no_grad():
        for name, link in case.scratch.params.items():
            view = twin_tensor(module, link)
            view[link.index] = torch.as_tensor(params[name], dtype=view.dtype)
