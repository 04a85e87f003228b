"""Which layer: the first layer, forward or backward, where scratch and twin part at a step.

A case may name its layers (``Case.layers``): for each, the scratch network's attribute that holds the
layer's value after ``forward`` (``"h"``, or a dotted path such as ``"hidden.out"``), the twin submodule
whose output (or input) is that value, recorded with a forward hook, and optionally the scratch
attribute holding dL/d(that value) after ``gradients``, which the twin's backward hook gives.
``localise_layers(case, step, run)`` replays that one step on both sides from the state entering it (each
side's network as the run left it, ``RUNS.entering``, with the twin's parameters, optimizer state and
buffers written into the scratch copy: one shared state, as the anchored steps take) and compares layer by
layer: forward from the input, then backward from the output.  The first layer past
its tolerance is where the sides part; the error was introduced there when the layer before it (its input)
agrees exactly or to a small fraction of its tolerance, else it only carried and amplified an error
from that layer.  Forward, "there" is the layer's own forward; backward, a layer's signal dL/d(its value) is
computed by the backward of what comes after it, which is where the error was introduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import Case
from crosscheck.checks import tolerance
from crosscheck.compare import differences
from crosscheck.keys import Pair
from crosscheck.layer_values import scratch_layer_values, twin_layer_values
from crosscheck.lockstep import Run
from crosscheck.run.memo import RUNS
from crosscheck.run.scratch import load_scratch_state
from crosscheck.run.snapshot import scratch_network, twin_module
from crosscheck.state import state_entering

# A layer "introduces" the error when its input's difference is below this fraction of the input's own
# tolerance: rounding at the level of the tolerance, amplified, cannot make a wrong formula's difference.
INTRODUCED_BELOW = 0.01


@dataclass(frozen=True)
class LayerVerdict:
    step: int
    layer: str
    direction: str  # "forward" or "backward"
    introduced: bool
    ratio: float  # the layer's largest |difference| / tolerance
    before: str | None  # the layer it takes its input from, in this direction (None: the data, or the loss)
    before_ratio: float

    def text(self) -> str:
        where = f"{self.direction}, layer {self.layer!r}"
        if self.introduced and self.direction == "forward":
            came = (
                f"introduced there (its input, {self.before!r}, agrees to {self.before_ratio:.2g} of its tolerance)"
                if self.before
                else "introduced there (its input is the data)"
            )
        elif self.introduced:
            # A layer's backward signal, dL/d(its value), is computed by the backward of what comes after it: the
            # error is there, not in this layer's own backward (which turns the signal into its input's).
            came = (
                f"its backward signal parts first, introduced by the backward of what computes {self.before!r} "
                f"from it (the signal of {self.before!r} agrees to {self.before_ratio:.2g} of its tolerance)"
                if self.before
                else "its backward signal parts first, introduced by the backward of what follows it up to the "
                "loss (the forward pass agrees)"
            )
        else:
            origin = repr(self.before) if self.before else "the forward pass"
            came = (
                f"carried from {origin} ({self.before_ratio:.2g} of its tolerance) and amplified "
                f"to {self.ratio:.3g} times the tolerance"
            )
        return f"{where}: {came}"


def _ratio(case: Case, a: Any, b: Any) -> float:
    if a is None or b is None:
        return float("nan")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        a = a.reshape(b.shape) if a.size == b.size else a
        if a.shape != b.shape:
            return float("inf")
    atol, rtol = tolerance(case, 1)
    diff, tol, _ = differences(a, b, atol, rtol)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(diff / tol)) if diff.size else 0.0


def localise_layers(case: Case, step: int, run: Run | Pair | None) -> LayerVerdict | None:
    """The first layer where the sides part at ``step``, or None when the case names no layers or every
    named layer agrees (the divergence is then in the parameter gradients or the update)."""
    if not case.layers:
        return None
    state = state_entering(case, step, run)  # the twin's, the reference
    entering = RUNS.entering(case, [step])[step]
    net = scratch_network(entering.scratch)
    for name, value in state.params.items():
        paths.write(net, name, value)
    if state.held:
        load_scratch_state(case, net, state.held)
    s_values, s_grads = scratch_layer_values(case, state.params, state.batch, net)
    t_values, t_grads = twin_layer_values(case, state.params, state.batch, twin_module(entering.twin))
    names = [layer.name for layer in case.layers]
    forward = [_ratio(case, a, b) for a, b in zip(s_values, t_values, strict=True)]
    backward = [_ratio(case, a, b) for a, b in zip(s_grads, t_grads, strict=True)]
    found = first_parting(names, forward, backward)
    return None if found is None else LayerVerdict(step, *found)


def first_parting(
    names: list[str], forward: list[float], backward: list[float]
) -> tuple[str, str, bool, float, str | None, float] | None:
    """(layer, direction, introduced, ratio, the layer before it, that layer's ratio) for the first layer
    whose |difference| / tolerance exceeds 1: forward from the input, then backward from the output over
    the layers that have a backward signal (NaN: none).  Before the first forward layer is the data
    (exact); before the last layer's backward signal is the forward pass (its largest ratio)."""
    paths = (
        ("forward", [i for i in range(len(names))], forward),
        ("backward", [i for i in reversed(range(len(names))) if not np.isnan(backward[i])], backward),
    )
    for direction, order, ratios in paths:
        for position, i in enumerate(order):
            if ratios[i] > 1:
                before = order[position - 1] if position > 0 else None
                if before is not None:
                    before_ratio = ratios[before]
                elif direction == "forward":
                    before_ratio = 0.0
                else:
                    before_ratio = max(forward, default=0.0)
                introduced = not before_ratio > INTRODUCED_BELOW
                return (
                    names[i],
                    direction,
                    introduced,
                    ratios[i],
                    names[before] if before is not None else None,
                    before_ratio,
                )
    return None
