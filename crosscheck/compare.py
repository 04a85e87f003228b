"""Compare two traces element by element and say where they first part.

``compare`` never raises: the report needs the figures of passing checks too.
``Comparison.message`` is the one failure message the tests raise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from crosscheck.errors import StepError
from crosscheck.keys import (
    QUANTITIES,
    STEPPED,
    Trace,
    at_step,
    describe,
    exceeds_text,
    index_text,
    relative_cell,
    split_key,
    stage_rank,
    tolerance_cell,
    tolerance_text,
)


@dataclass(frozen=True)
class Problem:
    """What kept values from being compared, as facts, and its sentence, made once where the facts are known.

    ``kind``: "dtype" or "shape" (a value of another dtype or shape than the case's or the other side's), "step"
    (a run refused at a step: ``errors.StepError``), "case" (a case that cannot be checked), "oracle" (the
    finite-difference oracle's disagreement)."""

    kind: str
    text: str
    quantity: str | None = None
    parameter: str | None = None
    side: str | None = None  # "scratch" or "twin", where one side is at fault
    step: int | None = None

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_step_error(cls, exc: StepError, case_name: str) -> Problem:
        """A refused run's facts; its sentence without the case's name, which the message puts first."""
        text = str(exc).removeprefix(f"{case_name}: ")
        return cls(exc.kind, text, exc.quantity, exc.parameter, exc.side, exc.step)


@dataclass(frozen=True)
class Divergence:
    step: int | None
    quantity: str
    parameter: str | None
    index: tuple[int, ...]
    scratch: float
    reference: float
    difference: float
    tolerance: float
    growth: float | None = None  # the rounding growth of the run the tolerance includes (``crosscheck.growth``)

    def where(self) -> str:
        return describe(self.quantity, self.parameter) + index_text(self.index)


@dataclass(frozen=True)
class Comparison:
    network: str
    check: str
    quantity: str
    steps: int
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    first_divergence: Divergence | None
    problem: Problem | None = None  # what kept the values from being compared
    note: str | None = None  # how a passing comparison was judged, where the fixed bound alone would not pass

    @property
    def passed(self) -> bool:
        return self.problem is None and self.first_divergence is None

    def message(self) -> str:
        head = f"{self.network} / {self.check}: "
        if self.problem is not None:
            return head + self.problem.text
        d = self.first_divergence
        if d is None:
            note = f"; {self.note}" if self.note else ""
            return head + f"passed ({self.steps} steps, max |diff| {self.max_abs:.3g}{note})"
        at = at_step(d.step)
        finite = (bool(np.isfinite(d.scratch)), bool(np.isfinite(d.reference)))
        if finite == (False, False):
            return head + (
                f"both sides become non-finite {at}, {d.where()}: scratch = {d.scratch!r}, twin = {d.reference!r}; "
                f"the run itself diverges (a learning rate too large, unscaled data), and the sides cannot be "
                f"compared from there: make the run stay finite"
            )
        if False in finite:
            side, other = ("scratch", "twin") if not finite[0] else ("twin", "scratch")
            return head + (
                f"the {side} side becomes non-finite {at}, {d.where()}, while the {other} side stays finite: "
                f"scratch = {d.scratch!r}, twin = {d.reference!r}"
            )
        return (
            head + f"scratch and twin part {at}, {d.where()}: "
            f"scratch = {d.scratch!r}, twin = {d.reference!r}, "
            f"{exceeds_text(d.difference, d.tolerance)} ({tolerance_text(self.atol, self.rtol)}"
            + (
                f" + the rounding this run amplifies, {d.growth:.3g} there: a divergence beyond it)"
                if d.growth is not None
                else ")"
            )
        )

    def cells(self, no_steps: str = "-") -> tuple[str, str, str, str, str]:
        """The check's row in a table: steps (``no_steps`` for what is compared before training), the largest
        absolute and relative differences, the tolerance, the verdict."""
        return (
            str(self.steps) if self.steps else no_steps,
            f"{self.max_abs:.2e}",
            # Under an absolute bound a relative difference is measured against nothing: shown, it would sit beside
            # a smaller tolerance on a passing row.
            relative_cell(self.max_rel, self.atol, self.rtol),
            tolerance_cell(self.atol, self.rtol),
            "PASS" if self.passed else "FAIL",
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["problem"] = None if self.problem is None else self.problem.text
        out["passed"] = self.passed
        if self.first_divergence is not None:
            out["first_divergence"]["index"] = list(self.first_divergence.index)
        return out


def differences(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one difference kernel: ``|a - b|``, the tolerance ``atol + rtol * |b|`` (``b`` is the reference),
    and where ``a`` fails it; a NaN or Inf on either side never passes."""
    diff, _, tol, bad, _ = _kernel(a, b, atol, rtol)
    return diff, tol, bad


def _kernel(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """``differences``, with ``|b|`` (a buffer of its own, which ``compare`` divides into) and whether every
    tolerance is finite: each array of a chunk is read as few times as the figures need."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, and NaN never passes
        # No copy of what is float64 already: a chunk of a large network's run is compared as it is.
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        # As arrays, a 0-d one too (NumPy gives a scalar there), so that each result can be written in place.
        diff = np.asarray(np.subtract(a64, b64))
        np.abs(diff, out=diff)
        size = np.asarray(np.abs(b64))
        tol = np.asarray(size * rtol)
        tol += atol
    bad = np.asarray(np.less_equal(diff, tol))  # a NaN on either side makes diff NaN, which fails
    np.logical_not(bad, out=bad)
    # An infinite twin value makes an infinite tolerance, which a finite scratch value would meet: one reduction
    # tells whether any is there (a NaN propagates through it too), and only then are both sides read again.
    finite = not diff.size or bool(np.isfinite(tol.max()))
    if not finite:
        bad |= ~np.isfinite(a64) | ~np.isfinite(b64)
    return diff, size, tol, bad, finite


def relative_differences(diff: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``diff / |b|`` (``diff`` from ``differences``), and 0 where ``diff`` is 0, where ``b`` is 0 too: the
    relative difference the checks and the sweep report."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(diff, np.abs(b), out=np.zeros(np.shape(diff)), where=diff != 0)


def _rows_max(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    return flat.max(axis=1) if flat.shape[1] else np.zeros(len(x))


@dataclass(frozen=True)
class _Figures:
    """One quantity's comparison as figures: ``diff`` and ``tol`` element by element (``tol`` None where nothing
    can fail, and then not computed), the elements that fail (None where none does), the largest |diff| and
    relative difference, and by row (step), where asked, the largest |diff| and |diff| / tolerance."""

    diff: np.ndarray | None  # None where nothing fails and the figures were taken a block at a time
    tol: np.ndarray | None
    bad: np.ndarray | None
    largest: float
    max_rel: float
    rows: tuple[np.ndarray, np.ndarray] | None


class Workspace:
    """The arrays a run's comparisons write their figures into, kept from one chunk to the next: a large
    network's chunk is a step, and three fresh arrays of its size for every tensor of every step cost more in the
    operating system's page faults than the arithmetic written into them."""

    def __init__(self) -> None:
        self._flat = [np.empty(0), np.empty(0), np.empty(0)]

    def arrays(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Three float64 arrays of ``shape``, valid until the next call."""
        n = math.prod(shape)
        for i, flat in enumerate(self._flat):
            if flat.size < n:
                self._flat[i] = np.empty(n)
        first, second, third = (flat[:n].reshape(shape) for flat in self._flat)
        return first, second, third


def _figures(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool, work: Workspace | None = None
) -> _Figures:
    """The figures of one quantity, reading each array as few times as they need: this runs on every tensor of
    every step of both comparisons, and a passing float64 run's differences lie far below ``atol`` (then no
    element can fail, since every tolerance is at least ``atol``, and the failing elements are not sought).
    ``work``: where the element-wise figures are written (they are then valid until its next use)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # No copy of what is float64 already: a chunk of a large network's run is compared as it is.
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a64.size > BLOCK:
            within = _within_atol(a64, b64, atol, rtol, by_row, work)
            if within is not None:
                return within
        shape = a64.shape  # the same as b's: compare refuses two shapes
        diff, size, quotient = work.arrays(shape) if work is not None else (np.empty(shape) for _ in range(3))
        np.subtract(a64, b64, out=diff)
        np.abs(diff, out=diff)
        row_abs = _rows_max(diff) if by_row else None
        if not diff.size:
            return _Figures(diff, None, None, 0.0, 0.0, None if row_abs is None else (row_abs, row_abs.copy()))
        largest = float(row_abs.max() if row_abs is not None and row_abs.size else diff.max())
        if not np.isfinite(largest):  # a NaN or Inf on either side (a finite largest means both sides are finite)
            return _non_finite(a64, b64, atol, rtol, by_row)
        np.abs(b64, out=size)
        # 0 / 0 (both sides 0) is NaN, which fmax passes over: relative_differences' 0 there.
        np.divide(diff, size, out=quotient)
        max_rel = float(np.fmax.reduce(quotient, axis=None, initial=0.0))
        if largest <= atol and not by_row:
            return _Figures(diff, None, None, largest, max_rel, None)
        tol = size
        np.multiply(tol, rtol, out=tol)
        np.add(tol, atol, out=tol)
        bad = None if largest <= atol else np.asarray(~np.less_equal(diff, tol))
        ratios = None
        if row_abs is not None:
            np.divide(diff, tol, out=quotient)  # 0 / 0 where both sides are 0 exactly under atol 0: within it
            ratio = np.fmax.reduce(quotient.reshape(len(quotient), -1), axis=1, initial=0.0)
            ratios = (row_abs, np.asarray(ratio, dtype=np.float64))
    return _Figures(diff, tol, bad, largest, max_rel, ratios)


# Elements a large array is compared by at a time: a block's arrays stay in a core's L2 cache across the kernel's
# passes (measured on arrays of 1e6 elements: 3.4 ns an element in blocks of 65,536, 5.1 ns whole).
BLOCK = 65536


def _within_atol(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool, work: Workspace | None
) -> _Figures | None:
    """``_figures`` of a large array a block at a time, where every difference is within ``atol`` (a passing
    float64 run); None as soon as one is not (NaN and Inf included): the whole array is then compared at once, to
    find where it fails.  The same figures, bit for bit: each is a largest value, whatever the blocks."""
    rows = len(a) if by_row else 1
    a2, b2 = a.reshape(rows, -1), b.reshape(rows, -1)
    cols = a2.shape[1]
    size = min(cols, BLOCK)
    diff, scale, quotient = work.arrays((size,)) if work is not None else (np.empty(size) for _ in range(3))
    row_abs, row_ratio = np.zeros(rows), np.zeros(rows)
    max_rel = 0.0
    for r in range(rows):
        for lo in range(0, cols, BLOCK):
            x, y = a2[r, lo : lo + BLOCK], b2[r, lo : lo + BLOCK]
            d, s, q = diff[: len(x)], scale[: len(x)], quotient[: len(x)]
            np.subtract(x, y, out=d)
            np.abs(d, out=d)
            largest = float(d.max())
            if not largest <= atol:
                return None
            row_abs[r] = max(row_abs[r], largest)
            np.abs(y, out=s)
            np.divide(d, s, out=q)
            max_rel = max(max_rel, float(np.fmax.reduce(q, initial=0.0)))
            if by_row:
                np.multiply(s, rtol, out=s)
                np.add(s, atol, out=s)
                np.divide(d, s, out=q)
                row_ratio[r] = max(row_ratio[r], float(np.fmax.reduce(q, initial=0.0)))
    return _Figures(None, None, None, float(row_abs.max()), max_rel, (row_abs, row_ratio) if by_row else None)


def _non_finite(a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool) -> _Figures:
    """``_figures`` where a side holds a NaN or an Inf: a NaN never passes, an Inf passes only the same Inf, and
    either is an infinite difference in the figures by row (drawn and ranked as the largest)."""
    diff, size, tol, bad, _ = _kernel(a, b, atol, rtol)
    rows = None
    if by_row:
        shown = np.where(np.isfinite(a) & np.isfinite(b), diff, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.divide(shown, tol)
        if atol == 0:  # 0 / 0 where both sides are 0 exactly: within tolerance
            ratio[shown == 0] = 0.0
        rows = (_rows_max(shown), _rows_max(ratio))
    return _Figures(diff, tol, bad, np.inf, np.inf, rows)


def compare(
    network: str,
    check: str,
    scratch: Trace,
    twin: Trace,
    keys: Sequence[str],
    *,
    steps: slice = slice(None),
    curve_steps: Sequence[int] = (),
    dtype: np.dtype,
    atol: float,
    rtol: float,
    first: int = 0,
    maxima: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    work: Workspace | None = None,
) -> Comparison:
    """Compare ``keys`` of both traces; stepped quantities only over ``steps``.  ``first``: the step the traces'
    first row is (a chunk of a run, ``crosscheck.lockstep``); ``curve_steps``: the steps of their curve points.
    ``maxima``, where given, gets each stepped key's largest |scratch - twin| and |scratch - twin| / tolerance at
    each step (a NaN or Inf on either side an infinite difference, ranked as the largest): the plots' and the
    chain's figures, from the same pass.  ``work``: the run's ``Workspace``, where its chunks are compared one after
    another."""
    label = ", ".join(sorted({QUANTITIES[split_key(k)[0]] for k in keys}, key=list(QUANTITIES.values()).index))
    max_abs = max_rel = 0.0
    found: list[tuple[int, int, Divergence]] = []
    n_steps = 0
    for key in sorted(keys, key=stage_rank):
        quantity, parameter = split_key(key)
        a, b = np.asarray(scratch[key]), np.asarray(twin[key])
        for side, arr in (("scratch", a), ("twin", b)):
            if arr.dtype != dtype:
                problem = Problem(
                    "dtype",
                    f"{describe(quantity, parameter)} is {arr.dtype} on the "
                    f"{side} side but the case is {np.dtype(dtype).name}; a {arr.dtype} result must not "
                    f"pass against a {np.dtype(dtype).name} expectation",
                    quantity,
                    parameter,
                    side,
                )
                return Comparison(network, check, label, 0, np.inf, np.inf, atol, rtol, None, problem)
        if a.shape != b.shape:
            problem = Problem(
                "shape",
                f"{describe(quantity, parameter)} has shape {a.shape} on the scratch side but {b.shape} on the "
                "twin side",
                quantity,
                parameter,
            )
            return Comparison(network, check, label, 0, np.inf, np.inf, atol, rtol, None, problem)
        stepped = quantity in STEPPED
        if stepped:
            a, b = a[steps], b[steps]
            offset = range(*steps.indices(len(scratch[key])))
            offset = range(offset.start + first, offset.stop + first, offset.step)
            n_steps = max(n_steps, len(a))
        figures = _figures(a, b, atol, rtol, maxima is not None and stepped and len(a) > 0, work)
        if maxima is not None and figures.rows is not None:
            maxima[key] = figures.rows
        max_abs, max_rel = max(max_abs, figures.largest), max(max_rel, figures.max_rel)
        bad = figures.bad
        if bad is not None and bad.any():
            flat = np.argwhere(bad)[0]
            if stepped:
                step, index = offset[int(flat[0])], tuple(int(i) for i in flat[1:])
            elif quantity == "curve":
                step, index = int(curve_steps[int(flat[0])]) if len(curve_steps) else int(flat[0]), ()
            else:
                step, index = None, tuple(int(i) for i in flat)
            at = tuple(flat)
            assert figures.diff is not None and figures.tol is not None
            d = Divergence(
                step=step,
                quantity=quantity,
                parameter=parameter,
                index=index,
                scratch=float(a[at]),
                reference=float(b[at]),
                difference=float(figures.diff[at]),
                tolerance=float(figures.tol[at]),
            )
            found.append((-1 if step is None else step, stage_rank(key), d))
    earliest = min(found, key=lambda f: (f[0], f[1]))[2] if found else None
    return Comparison(network, check, label, n_steps, max_abs, max_rel, atol, rtol, earliest)


def merge(a: Comparison, b: Comparison) -> Comparison:
    """One check's comparisons of two consecutive stretches of a run, ``a`` then ``b``, as one: the first problem
    or divergence (``a``'s steps all come first), the largest differences, the steps of both."""
    if a.problem is not None:
        return a
    if b.problem is not None:
        return b
    return Comparison(
        a.network, a.check, a.quantity or b.quantity, a.steps + b.steps, max(a.max_abs, b.max_abs),
        max(a.max_rel, b.max_rel), a.atol, a.rtol, a.first_divergence or b.first_divergence,
    )  # fmt: skip
