"""Scratch <-> twin tensors: the twin's data, and parameters written into and read out of the twin through
each parameter's ``Link``: the sum of its tensors, then transpose or permute, index, reshape."""

from __future__ import annotations

import numpy as np
import torch

from crosscheck.case import Array, Case, Layer, Link, Params


def twin_data(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """X and y for the twin: copies, sharing no memory with the case's read-only arrays; integer arrays (class
    labels, token ids) become torch.int64, the index type F.cross_entropy, F.nll_loss and nn.Embedding take."""

    def tensor(a: Array) -> torch.Tensor:
        t = torch.tensor(a)
        return t.long() if np.issubdtype(a.dtype, np.integer) else t

    return tensor(case.data.X), tensor(case.data.y)


def arranged(t: torch.Tensor, link: Link) -> torch.Tensor:
    """``t`` with its axes in the scratch order (a view: writing into it writes into ``t``)."""
    if link.permute is not None:
        return t.permute(*link.permute)
    return t.T if link.transpose else t


def twin_tensor(module: torch.nn.Module, link: Link) -> torch.Tensor:
    """The link's first tensor with its axes in the scratch order, before ``index`` and ``shape``."""
    return arranged(dict(module.named_parameters())[link.tensor], link)


def as_scratch(t: torch.Tensor, link: Link) -> Array:
    """A twin tensor (a parameter, its gradient, its optimizer state or a buffer) in the scratch layout."""
    if t.ndim == 0:
        return t.detach().cpu().numpy().copy()
    out = arranged(t.detach(), link)[link.index]
    if link.shape is not None:
        out = out.reshape(link.shape)
    return out.cpu().numpy().copy()


def stacked_as_scratch(a: np.ndarray, link: Link) -> np.ndarray:
    """Rows of a twin tensor, one per step (the first axis), each in the scratch layout; a scalar per step (Adam's
    step count) as it is, whatever the layout."""
    if a.ndim == 1:
        return a
    # In the scratch layout's own memory order: each row is compared twice (the free run, the anchored steps),
    # and a transposed view read there costs more than one copy here.
    if link.permute is not None:
        a = np.ascontiguousarray(a.transpose(0, *(axis + 1 for axis in link.permute)))
    elif link.transpose:
        a = np.ascontiguousarray(a.swapaxes(-1, -2))
    if link.index:
        # A part of the tensor: copied, so as not to hold the whole stack.
        a = a[(slice(None), *link.index)].copy()
    return a.reshape(len(a), *link.shape) if link.shape is not None else a


def assign(t: torch.Tensor, link: Link, value: Array | torch.Tensor) -> None:
    """Write ``value``, in the scratch layout, into its place in ``t`` (exactly: only moved, never computed)."""
    target = arranged(t, link)
    shape = target[link.index].shape
    target[link.index] = torch.as_tensor(value, dtype=t.dtype).reshape(shape)


def twin_to_scratch(module: torch.nn.Module, case: Case, grads: bool = False) -> Params:
    """The twin's parameters (or their ``.grad``) under the scratch names and layouts.  A sum link's parameter is
    the sum of its tensors; its gradient is its first tensor's (the others are frozen)."""
    out: Params = {}
    tensors = dict(module.named_parameters())
    for name, link in case.scratch.params.items():
        t: torch.Tensor = tensors[link.tensor]
        if grads:
            # .grad lives on the leaf tensor, not on a transposed view of it.
            if t.grad is None:
                raise AssertionError(f"{case.name}: twin tensor {link.tensor!r} got no gradient")
            t = t.grad
        elif link.plus:
            t = sum((tensors[other].detach() for other in link.plus), t.detach())
        out[name] = as_scratch(t, link)
    return out


def load_into_twin(module: torch.nn.Module, case: Case, params: Params) -> None:
    """The scratch parameters written into the twin; a sum link's value goes whole into its first tensor, zeros
    into the others, so that the sum is the scratch value bit for bit."""
    tensors = dict(module.named_parameters())
    with torch.no_grad():
        for name, link in case.scratch.params.items():
            assign(tensors[link.tensor], link, params[name])
            for other in link.plus:
                assign(tensors[other], link, np.zeros_like(params[name]))


def layer_as_scratch(layer: Layer, value: np.ndarray) -> np.ndarray:
    """A twin layer's value (or its gradient) in the scratch layout: ``permute``, then ``shape``."""
    if layer.permute is not None:
        value = value.transpose(layer.permute)
    return value.reshape(layer.shape) if layer.shape is not None else value
