"""The batch schedule: ``shuffled_batches``, the usual one, and ``schedule``, a case's own read once and bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

import numpy as np

from crosscheck.case import Array, Batch, Case, Rng, bounded_list
from crosscheck.errors import RegistrationError, call_user

# The index arrays torch takes rows by: int64 and int32.  It reads uint8 as a mask of rows (not their numbers) and
# refuses the other integer kinds (IndexError), where NumPy takes every one as row numbers.
TORCH_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """An integer, Python's or NumPy's, and not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def shuffled_batches(rows: int, batch_size: int, epochs: int) -> Callable[[Rng], list[Array]]:
    """The usual mini-batch schedule, as ``Data(batches=...)``: each epoch a fresh permutation of the ``rows``
    rows, drawn from the case's stream, cut into batches of ``batch_size`` (which must divide ``rows``: every
    batch has one size)."""
    if not all(is_int(n) and n > 0 for n in (rows, batch_size, epochs)):
        raise RegistrationError(
            f"shuffled_batches(rows={rows!r}, batch_size={batch_size!r}, epochs={epochs!r}): each must be a "
            f"positive int"
        )
    if rows % batch_size:
        raise RegistrationError(
            f"shuffled_batches: batch_size {batch_size} does not divide the {rows} rows, and every batch must have "
            f"one size; drop {rows % batch_size} rows or pick a divisor"
        )

    def batches(rng: Rng) -> list[Array]:
        out: list[Array] = []
        for _ in range(epochs):
            order = rng.permutation(rows)
            out += [order[i : i + batch_size] for i in range(0, rows, batch_size)]
        return out

    return batches


def schedule(case: Case, rng: Rng, where: str | None = None) -> list[Batch]:
    """The batch schedule ``case.data.batches(rng)``, read once and bounded by ``MAX_STEPS``."""
    where = where or f"case {case.name!r}"
    return bounded_list(call_user(where, "batches(rng)", case.data.batches, rng), "batches(rng)", where)


def checked_schedule(case: Case, where: str, rng: Rng) -> list[Batch]:
    """The batch schedule (drawn after init, from the same stream), checked batch by batch: each selects rows
    of X, all select as many, and the curve steps fall inside the run."""
    batches = schedule(case, rng, where)
    if not batches:
        raise RegistrationError(f"{where}: batches(rng) gives no batch: a run needs at least one step")
    n = len(case.data.X)
    for step, b in enumerate(batches):
        if is_int(b):
            ok = -n <= int(b) < n
        elif isinstance(b, slice):
            _check_slice(b, step, where)
            ok = len(range(*b.indices(n))) > 0
        elif isinstance(b, np.ndarray) and b.ndim == 1 and np.issubdtype(b.dtype, np.integer):
            _check_index_dtype(b, step, where)
            ok = b.size > 0 and bool(np.all((b >= -n) & (b < n)))
        else:
            raise RegistrationError(
                f"{where}: batch {step} is {b!r}; a batch is an int, a slice or a 1-D integer index array"
            )
        if not ok:
            raise RegistrationError(f"{where}: batch {step} ({b!r}) selects no row of X, which has {n} rows")
    # Each step's output, loss and gradients are stacked along the step axis: one batch shape for all.
    sizes = [None if is_int(b) else len(case.data.X[b]) for b in batches]
    odd = next((i for i, size in enumerate(sizes) if size != sizes[0]), None)
    if odd is not None:

        def rows(size: int | None) -> str:
            return "one sample" if size is None else f"{size} row{'' if size == 1 else 's'}"

        raise RegistrationError(
            f"{where}: batch {odd} has {rows(sizes[odd])} but batch 0 has {rows(sizes[0])}: every batch "
            f"must be the same size; drop or refill the short last batch"
        )
    steps = list(case.data.curve_steps)
    if not all(is_int(s) for s in steps) or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise RegistrationError(f"{where}: curve_steps must be increasing step numbers, got {steps[:10]}")
    if steps and not 0 <= steps[0] <= steps[-1] < len(batches):
        raise RegistrationError(
            f"{where}: curve_steps run from {steps[0]} to {steps[-1]} but the run has steps 0 to {len(batches) - 1}"
        )
    return batches


def _check_slice(b: slice, step: int, where: str) -> None:
    """A slice both sides take the same rows with: torch slices with a positive step only (ValueError)."""
    bounds_ok = all(x is None or is_int(x) for x in (b.start, b.stop, b.step))
    if not bounds_ok or (b.step is not None and b.step <= 0):
        raise RegistrationError(
            f"{where}: batch {step} is {b!r}: torch takes rows by a slice of int bounds and a positive step only; "
            f"give the rows as an int64 index array instead (np.arange(len(X))[::-1] for the rows in reverse)"
        )


def _check_index_dtype(b: Array, step: int, where: str) -> None:
    """An index array both sides read as row numbers: int64 or int32 (see ``TORCH_INDEX_DTYPES``)."""
    if b.dtype not in TORCH_INDEX_DTYPES:
        torch_does = "reads as a mask of rows, not their numbers" if b.dtype == np.uint8 else "refuses as an index"
        raise RegistrationError(
            f"{where}: batch {step} is an index array of dtype {b.dtype}, which torch {torch_does}; give it as "
            f"int64 (batch.astype(np.int64))"
        )
