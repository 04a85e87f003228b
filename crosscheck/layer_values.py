"""The values of a case's named layers (``Case.layers``) on each side, for one step from given parameters.

The scratch side reads each layer's attribute after ``forward`` (and its dL/d(value) after ``gradients``);
the twin records the same with forward and backward hooks on the named submodules.  Validation reads them
once to check that both sides have each layer, with one size; the layer localisation
(``crosscheck.diagnose.layers``) compares them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crosscheck import paths
from crosscheck.case import Case, Params
from crosscheck.layout import layer_as_scratch
from crosscheck.run.twin import backward_at


def scratch_layer_values(case: Case, params: Params, batch: Any, net: Any = None) -> tuple[list[Any], list[Any]]:
    """(values, gradients) of each named layer on the scratch side, from ``net`` (a network the caller gives
    up to this step: a snapshot's copy, which holds ``params``) or else one built from ``params``; a gradient is
    None where the layer names no scratch attribute for it."""
    if net is None:
        net = case.calls.build({k: np.array(v) for k, v in params.items()}, case.data.learning_rate)
    xb, yb = case.data.X[batch], case.data.y[batch]
    if case.calls.gradients is None:  # the network's own step: forward and backward in one call, read after it
        assert case.calls.step is not None
        case.calls.step(net, xb, yb, case.data.learning_rate)
        values = [np.array(paths.read(net, layer.scratch)) for layer in case.layers]
    else:
        case.calls.forward(net, xb)
        values = [np.array(paths.read(net, layer.scratch)) for layer in case.layers]
        case.calls.gradients(net, xb, yb)
    grads = [np.array(paths.read(net, layer.grad)) if layer.grad else None for layer in case.layers]
    return values, grads


def twin_layer_values(
    case: Case, params: Params, batch: Any, module: torch.nn.Module | None = None, *, layout: bool = True
) -> tuple[list[Any], list[Any]]:
    """(values, gradients) of each named layer on the twin, from hooks on the submodules of ``module`` (a
    snapshot's copy; by default a new one) holding ``params``, in the scratch layout the layer declares
    (``layout=False``: as the hooks saw them); None where a hook did not fire or the layer names no gradient."""
    module = case.twin.module(case.torch_dtype) if module is None else module
    values: list[Any] = [None] * len(case.layers)
    grads: list[Any] = [None] * len(case.layers)
    handles = []
    for i, layer in enumerate(case.layers):
        sub = module.get_submodule(layer.twin)
        at = 0 if layer.twin_io == "input" else None

        def forward_hook(m: Any, inputs: Any, output: Any, i: int = i, at: int | None = at) -> None:
            values[i] = (inputs[at] if at is not None else output).detach().numpy().copy()

        def backward_hook(m: Any, grad_in: Any, grad_out: Any, i: int = i, at: int | None = at) -> None:
            g = grad_in[at] if at is not None else grad_out[0]
            grads[i] = None if g is None else g.detach().numpy().copy()

        handles.append(sub.register_forward_hook(forward_hook))
        if layer.grad:
            handles.append(sub.register_full_backward_hook(backward_hook))
    try:
        backward_at(case, params, batch, module, input_grad=True)
    finally:
        for handle in handles:
            handle.remove()
    if layout:
        values = [v if v is None else layer_as_scratch(layer, v) for layer, v in zip(case.layers, values, strict=True)]
        grads = [g if g is None else layer_as_scratch(layer, g) for layer, g in zip(case.layers, grads, strict=True)]
    return values, grads
