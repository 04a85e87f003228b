"""The vocabulary of a run: its quantities, the one order of the stages within a step, and how a failure names a
quantity and a step.

A run's record (a trace) is a flat ``dict[str, ndarray]`` keyed ``<quantity>`` or ``<quantity>.<parameter>``
(the shape goldens are stored in).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Trace = dict[str, np.ndarray]
Pair = tuple[Trace, Trace]  # one run's record on both sides: (scratch, twin)

QUANTITIES = {
    "init": "initial parameter",
    "forward": "forward output on the dataset",
    "output": "forward output",
    "loss": "loss",
    "dloss": "dL/doutput",
    "grad": "gradient",
    "lr": "learning rate",
    "state": "optimizer state",
    "param": "parameter after update",
    "buffer": "buffer",
    "curve": "recorded loss curve",
}
# The one order of the stages, as a step computes them and so where a fault first shows: the failure message,
# the golden message, the chain of the step and the diagnosis all name the earliest stage by it.  Buffers
# (BatchNorm's running statistics) are updated by the forward pass, before the loss.
STAGE_ORDER = ("init", "forward", "output", "buffer", "loss", "dloss", "grad", "lr", "state", "param", "curve")
STEPPED = ("output", "buffer", "loss", "dloss", "grad", "lr", "state", "param")
# torch.optim's names for the state it keeps per parameter, as a failure names them.
STATE_NAMES = {
    "momentum_buffer": "momentum buffer",
    "exp_avg": "Adam first moment",
    "exp_avg_sq": "Adam second moment",
    "max_exp_avg_sq": "AMSGrad maximum second moment",
    "step": "optimizer step count",
    "square_avg": "RMSprop square average",
    "grad_avg": "RMSprop gradient average",
    "sum": "Adagrad sum of squares",
}


def split_key(key: str) -> tuple[str, str | None]:
    """A trace key's (quantity, parameter): ``grad.W1`` -> ("grad", "W1"), ``loss`` -> ("loss", None)."""
    quantity, _, parameter = key.partition(".")
    return quantity, parameter or None


def stage_rank(key: str) -> int:
    """Where a trace key's quantity comes in ``STAGE_ORDER``."""
    return STAGE_ORDER.index(split_key(key)[0])


def describe(quantity: str, parameter: str | None) -> str:
    """A trace key's quantity as a failure names it: "gradient of W1", "Adam second moment of W1"."""
    if quantity == "state" and parameter is not None:
        kind, _, name = parameter.partition(".")
        return f"{STATE_NAMES.get(kind, f'optimizer state {kind!r}')} of {name}"
    return QUANTITIES[quantity] + (f" of {parameter}" if parameter else "")


def step_text(step: int | None) -> str:
    """Which step, as a failure names it: "step 3", or "before training" for what precedes the first step."""
    return "before training" if step is None else f"step {step}"


def at_step(step: int | None) -> str:
    """When, as a failure says it: "at step 3", or "before training"."""
    return "before training" if step is None else f"at {step_text(step)}"


def tolerance_text(atol: float, rtol: float, reference: str = "twin") -> str:
    """The bound a difference is held to, as every message says it."""
    return f"atol {atol:g} + rtol {rtol:g} * |{reference}|"


def tolerance_cell(atol: float, rtol: float) -> str:
    """The same bound in a table's cell: "exact", "2e-10 absolute" (a bound on each element, with no relative
    part: the finite differences'), or "1e-12 + 1e-10·|twin|"."""
    if atol == rtol == 0:
        return "exact"
    if rtol == 0:  # a bound computed for the values compared (finite differences'): shown as it is, not rounded up
        return f"{atol:.3g} absolute"
    return f"{atol:.0e} + {rtol:.0e}·|twin|"


def relative_cell(max_rel: float, atol: float, rtol: float, digits: int = 2) -> str:
    """A table's largest relative difference, or "-" where the bound has no relative part to hold it to."""
    return "-" if rtol == 0 and atol != 0 else f"{max_rel:.{digits}e}"


def exceeds_text(difference: float, tolerance: float) -> str:
    """An element's difference beside its bound, as every failure says it."""
    return f"|difference| = {difference:.3g} > tolerance {tolerance:.3g}"


def index_text(index: Any) -> str:
    """An element's index as a message writes it: ``[1, 0]``, or nothing for a scalar."""
    return "[" + ", ".join(map(str, index)) + "]" if len(index) else ""


# A report's commit where it was made outside a git checkout (``environment.provenance``).
NOT_A_CHECKOUT = "not a git checkout"
