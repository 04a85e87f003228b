"""Compare two traces element by element and say where they first part.

``compare`` never raises: the report needs the figures of passing checks too.
``Comparison.message`` is the one failure message the tests raise.
"""

from __future__ import annotations

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


# A table's mark for a bound that holds the rounding growth of the run (``Comparison.note`` says how much).
GROWTH_CELL = "+ rounding growth"


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
            self.bound_cell(),
            "PASS" if self.passed else "FAIL",
        )

    def bound_cell(self) -> str:
        """The bound in a table's cell; a free run that passed judged against its rounding growth (``note``) says
        so, as its largest difference there sits beyond the fixed bound."""
        return tolerance_cell(self.atol, self.rtol) + (f" {GROWTH_CELL}" if self.note else "")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["problem"] = None if self.problem is None else self.problem.text
        out["passed"] = self.passed
        if self.first_divergence is not None:
            out["first_divergence"]["index"] = list(self.first_divergence.index)
        return out


def differences(
    a: np.ndarray, b: np.ndarray, atol: float | np.ndarray, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one difference kernel: ``|a - b|``, the tolerance ``atol + rtol * |b|`` (``b`` is the reference; ``atol``
    one bound, or one an element), and where ``a`` fails it; a NaN or Inf on either side never passes."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, and NaN never passes
        # No copy of what is float64 already: a chunk of a large network's run is compared as it is.
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        # As arrays, a 0-d one too (NumPy gives a scalar there), so that each result can be written in place.
        diff = np.asarray(np.subtract(a64, b64))
        np.abs(diff, out=diff)
        tol = np.asarray(np.abs(b64) * rtol)
        tol += atol
    bad = np.asarray(np.less_equal(diff, tol))  # a NaN on either side makes diff NaN, which fails
    np.logical_not(bad, out=bad)
    # An infinite twin value makes an infinite tolerance, which a finite scratch value would meet: one reduction
    # tells whether any is there (a NaN propagates through it too), and only then are both sides read again.
    if diff.size and not np.isfinite(tol.max()):
        bad |= ~np.isfinite(a64) | ~np.isfinite(b64)
    return diff, tol, bad


def relative_differences(diff: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``diff / |b|`` (``diff`` from ``differences``), and 0 where ``diff`` is 0, where ``b`` is 0 too: the
    relative difference the checks and the sweep report."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over |b| subnormal: an infinite ratio
        return np.divide(diff, np.abs(b), out=np.zeros(np.shape(diff)), where=diff != 0)


@dataclass(frozen=True)
class _Figures:
    """One quantity's comparison as figures: where an element exceeds ``atol`` or a side is not finite, ``diff``
    and ``tol`` element by element and the elements that fail (else None: nothing can fail); the largest |diff|
    and relative difference; and by row (step), where asked, the largest |diff| and |diff| / tolerance."""

    diff: np.ndarray | None
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

    def arrays(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Three flat float64 arrays of ``size`` elements, valid until the next call."""
        for i, flat in enumerate(self._flat):
            if flat.size < size:
                self._flat[i] = np.empty(size)
        first, second, third = (flat[:size] for flat in self._flat)
        return first, second, third


def _figures(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool, work: Workspace | None = None
) -> _Figures:
    """The figures of one quantity.  This runs on every tensor of every step of both comparisons, and a passing
    float64 run's differences lie far below ``atol``, where no element can fail (every tolerance is at least
    ``atol``): there the figures are taken block by block, reading each array as few times as they need, and the
    failing elements are not sought; elsewhere every element's difference, tolerance and verdict is kept.
    ``work``: where the blocks are written."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # No copy of what is float64 already: a chunk of a large network's run is compared as it is.
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        within = _within_atol(a64, b64, atol, rtol, by_row, work)
        return within if within is not None else _element_by_element(a64, b64, atol, rtol, by_row)


# Elements compared at a time: a block's arrays stay in a core's L2 cache across the kernel's passes (measured on
# arrays of 1e6 elements: 3.4 ns an element in blocks of 65,536, 5.1 ns whole).
BLOCK = 65536


def _within_atol(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool, work: Workspace | None
) -> _Figures | None:
    """``_figures`` where every difference is within ``atol`` (a passing float64 run), taken a block of whole rows
    (or of one long row) at a time; None as soon as one is not (NaN and Inf included).  The same figures, bit for
    bit, whatever the blocks: each is a largest value."""
    rows = len(a) if by_row else 1
    a2, b2 = a.reshape(rows, -1), b.reshape(rows, -1)
    cols = a2.shape[1]
    per_block = max(1, BLOCK // max(cols, 1))  # rows a block holds; 1 for a row longer than a block
    buffers = work.arrays(min(a2.size, per_block * min(cols, BLOCK))) if work is not None else None
    row_abs, row_ratio = np.zeros(rows), np.zeros(rows)
    max_rel = 0.0
    for r in range(0, rows, per_block):
        for lo in range(0, cols, BLOCK):
            x, y = a2[r : r + per_block, lo : lo + BLOCK], b2[r : r + per_block, lo : lo + BLOCK]
            if buffers is not None:
                d, s, q = (flat[: x.size].reshape(x.shape) for flat in buffers)
            else:
                d, s, q = (np.empty(x.shape) for _ in range(3))
            np.subtract(x, y, out=d)
            np.abs(d, out=d)
            largest = d.max(axis=1)
            if not largest.max() <= atol:
                return None
            np.maximum(row_abs[r : r + len(x)], largest, out=row_abs[r : r + len(x)])
            np.abs(y, out=s)
            np.divide(d, s, out=q)  # 0 / 0 (both sides 0) is NaN, which fmax passes over
            max_rel = max(max_rel, float(np.fmax.reduce(q, axis=None, initial=0.0)))
            if by_row:
                np.multiply(s, rtol, out=s)
                np.add(s, atol, out=s)
                np.divide(d, s, out=q)  # 0 / 0 where both sides are 0 exactly under atol 0: within it
                ratio = np.fmax.reduce(q, axis=1, initial=0.0)
                np.maximum(row_ratio[r : r + len(x)], ratio, out=row_ratio[r : r + len(x)])
    return _Figures(None, None, None, float(row_abs.max()), max_rel, (row_abs, row_ratio) if by_row else None)


def _rows_max(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    return flat.max(axis=1) if flat.shape[1] else np.zeros(len(x))


def _element_by_element(a: np.ndarray, b: np.ndarray, atol: float, rtol: float, by_row: bool) -> _Figures:
    """``_figures`` where a difference exceeds ``atol`` or a side is not finite: ``differences``' figures of every
    element.  A NaN never passes, an Inf passes only the same Inf; either makes the largest differences infinite,
    and is an infinite difference in the figures by row (drawn and ranked as the largest)."""
    diff, tol, bad = differences(a, b, atol, rtol)
    finite = bool(np.isfinite(diff).all())
    rows = None
    if by_row:
        shown = diff if finite else np.where(np.isfinite(a) & np.isfinite(b), diff, np.inf)
        ratio = np.divide(shown, tol)
        if atol == 0:  # 0 / 0 where both sides are 0 exactly: within tolerance
            ratio[shown == 0] = 0.0
        rows = (_rows_max(shown), _rows_max(ratio))
    if not finite:
        return _Figures(diff, tol, bad, np.inf, np.inf, rows)
    max_rel = float(relative_differences(diff, b).max(initial=0.0))
    return _Figures(diff, tol, bad, float(diff.max(initial=0.0)), max_rel, rows)


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
