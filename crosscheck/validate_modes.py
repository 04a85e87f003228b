"""What a network with training and evaluation modes (BatchNorm's running statistics) must declare, refused at
registration with what to do: read from the first step, where the two sides would otherwise part on a buffer or
on the loss curve with a message that names only the value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from crosscheck import paths
from crosscheck.case import Case
from crosscheck.errors import RegistrationError, call_user
from crosscheck.layout import twin_data


def _buffers(case: Case, net: Any) -> dict[str, np.ndarray]:
    return {path: np.array(paths.read(net, path)) for path in case.scratch.buffers}


def gradients_leaving_buffers(case: Case, where: str, net: Any, what: str, *args: Any) -> Any:
    """``gradients(net, x, y)``, called after the harness's own ``forward(net, x)``: a buffer it moves means a
    second training forward in the step (the twin runs one), which parts the running statistics at step 0."""
    gradients = case.calls.gradients
    assert gradients is not None  # a case with its own step takes no gradients() call
    if not case.scratch.buffers:
        return call_user(where, what, gradients, net, *args)
    before = _buffers(case, net)
    grads = call_user(where, what, gradients, net, *args)
    moved = [p for p, value in _buffers(case, net).items() if not np.array_equal(value, before[p], equal_nan=True)]
    if moved:
        raise RegistrationError(
            f"{where}: at step 0 the scratch side's {what} changes buffer {moved[0]!r}: it runs a training forward "
            f"of its own after the harness's forward(net, x), so each step moves the running statistics twice and "
            f"the twin's once; declare the network's training step with Scratch(step=...) (one forward, backward "
            f"and update), or compute the gradients from what forward kept, without calling forward again"
        )
    return grads


def check_eval_mode(case: Case, where: str, module: torch.nn.Module) -> None:
    """A twin that evaluates otherwise than it trains (BatchNorm, on its running statistics) is evaluated in eval
    mode for the loss curve, as a training loop evaluates; the scratch side must then say how it evaluates."""
    if case.scratch.evaluate is not None or not case.data.curve_steps:
        return
    X, y = twin_data(case)
    evaluate: Callable[..., Any] = case.calls.twin_evaluate
    losses = []
    for training in (True, False):
        twin = copy.deepcopy(module).train(training)  # a copy: a training forward moves the running statistics
        with torch.no_grad():
            losses.append(call_user(where, "twin evaluate(module, X, y)", evaluate, twin, X, y))
    if torch.equal(losses[0], losses[1]):
        return
    raise RegistrationError(
        f"{where}: the twin computes otherwise in eval mode than in training (BatchNorm's running statistics, "
        f"say), and the loss curve is recorded with the twin in eval mode, as a training loop evaluates; the "
        f"scratch side has no Scratch(evaluate=...), so its curve would be loss(forward(net, X), y), the training "
        f"forward: give Scratch(evaluate=lambda net, X, y: ...) that computes the loss as the network evaluates "
        f"(on its running statistics)"
    )
