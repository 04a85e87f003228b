"""A case cut down to the rows its first batches take: what registration validates on, so that registering a case
on a large dataset costs a few steps on a few rows, not forwards of the whole data."""

from __future__ import annotations

import dataclasses

import numpy as np

from crosscheck.case import Batch, Case
from crosscheck.schedule import is_int

# Data of at most this many rows is validated whole: a forward of it costs no more than a step, and the
# messages then name the data's own shapes.
SMALL = 64


def batch_rows(b: Batch, n: int) -> np.ndarray:
    """The row numbers (0 to n - 1) that batch ``b`` of a checked schedule takes, in its order."""
    if is_int(b):
        return np.array([int(b) % n])
    if isinstance(b, slice):
        return np.arange(n)[b]
    return np.asarray(b, dtype=np.int64) % n


def first_rows(case: Case, batches: list[Batch]) -> tuple[Case, list[Batch]]:
    """``case`` with its data cut to the rows ``batches`` take, and the batches renumbered into them: each
    batch selects the same rows, of the same shape (an int stays one sample, a slice becomes an index array);
    curve steps past the batches are dropped.  Small data (``SMALL``), or batches that take every row: ``case``
    itself."""
    n = len(case.data.X)
    if n <= SMALL:
        return case, batches
    taken = [batch_rows(b, n) for b in batches]
    rows = np.unique(np.concatenate(taken))
    if len(rows) == n:
        return case, batches
    renumbered: list[Batch] = [
        int(np.searchsorted(rows, t[0])) if is_int(b) else np.searchsorted(rows, t).astype(np.int64)
        for b, t in zip(batches, taken, strict=True)
    ]
    data = dataclasses.replace(
        case.data,
        X=case.data.X[rows],
        y=case.data.y[rows],
        batches=lambda rng: renumbered,
        curve_steps=tuple(s for s in case.data.curve_steps if s < len(batches)),
    )
    return dataclasses.replace(case, data=data), renumbered
