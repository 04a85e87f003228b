"""A third oracle: central finite differences of the scratch loss, against both gradients.

At a few points of a training run (by default the first, middle and last step) every parameter
element ``p`` is moved by ``±h`` and the scratch loss ``f`` of that step's batch is evaluated
through ``case.calls.forward`` / ``case.calls.loss`` only, never through the gradient code, each time on a
copy of the scratch network as it stood entering the step (``crosscheck.run.snapshot``: a hidden state
carried across batches, a step counter, stay as the run had them), the parameter written in by its path:

    D(h) = (f(p + h) - f(p - h)) / 2h

**Step size.**  The error of ``D(h)`` against ``f'(p)`` is truncation plus rounding,

    |D(h) - f'(p)| <= h^2/6 |f'''(p)|  +  eps_f / h,

where ``eps_f`` bounds the rounding error of one evaluation of ``f``.  The sum is smallest at
``h ~ (3 eps_f / |f'''|)^(1/3)``; with ``eps_f ~ eps`` and ``|f'''| ~ 1`` that is ``cbrt(eps)``
(6.1e-6 in float64), and ``max(1, |p|)`` scales it with ``p`` so that ``p ± h`` moves ``p`` by
the same number of ulps whatever its size.  ``h`` is then rounded to what ``p + h`` really adds.

**Bound.**  The agreement bound is that error formula evaluated at the step taken, not a tuned
constant.  ``|f'''(p)|`` is estimated by the four-point third difference at the wider step
``H = eps^(1/5) max(1, |p|)`` (optimal for it), plus that estimate's own rounding error
``3 eps_f / H^3``.  ``eps_f = EVAL_ULPS * eps * max(1, |f|)``: the tutorial losses are short
chains of roundings of O(1) numbers (sigmoid outputs in (0, 1), targets 0 or 1), so their rounding
error is a few ulps of 1 even when ``f`` itself is tiny.  Measured against an 80-bit long-double
evaluation at 600 points of each tutorial run: ``|f64 - f_ld| <= 1.75 eps max(1, |f|)`` (3-4-1;
0.79 neuron, 0.83 2-2-1), hence ``EVAL_ULPS = 4``.  The analytic gradient is itself only known to
the float64 cross-check tolerance, which is added.

**Verdict.**  Scratch and twin must agree within the float64 tolerance of the battery, each must
agree with ``D`` within the bound.  When they do not, the one that disagrees with both others is
named the odd one out: ``scratch``, ``twin`` or ``finite differences``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import Batch, Case, Params
from crosscheck.keys import Pair, Trace, at_step, describe, index_text
from crosscheck.layout import twin_to_scratch
from crosscheck.run.memo import RUNS
from crosscheck.run.snapshot import (
    Entering,
    ScratchSnapshot,
    TwinSnapshot,
    default_steps,
    scratch_network,
    taken,
    twin_module,
)
from crosscheck.run.start import start
from crosscheck.run.twin import backward_at
from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL

EPS = float(np.finfo(np.float64).eps)
# Elements checked per parameter and step: all of a small parameter, an even spread of a large one, so
# that the check stays cheap on a 64-128-10 MLP (each element costs six loss evaluations).
MAX_ELEMENTS = 16
# Rounding error of one loss evaluation, in ulps of max(1, |f|): measured at most 1.75 (see above).
EVAL_ULPS = 4.0
SCRATCH, TWIN, FINITE_DIFFERENCES = "scratch", "twin", "finite differences"
NOUN = {
    SCRATCH: "the scratch gradient",
    TWIN: "the twin gradient",
    FINITE_DIFFERENCES: "the finite-difference estimate",
}


@dataclass(frozen=True)
class Estimate:
    """``D(h)`` for one parameter element and the bound on its error."""

    value: float
    h: float
    bound: float
    truncation: float
    rounding: float


@dataclass(frozen=True)
class Vote:
    """The three oracles for one parameter element at one step."""

    step: int
    parameter: str
    index: tuple[int, ...]
    scratch: float
    twin: float
    finite_difference: float
    h: float
    bound: float  # |gradient - D| allowed
    pair_tolerance: float  # |scratch - twin| allowed
    odd_one_out: str | None  # None when they agree, or when the three cannot single one out
    verdict: str  # what the three say, in words

    @property
    def agree(self) -> bool:
        return self.verdict == "agree"

    def where(self) -> str:
        return f"{at_step(self.step)}, {describe('grad', self.parameter)}{index_text(self.index)}"


@dataclass(frozen=True)
class OracleResult:
    network: str
    steps: tuple[int, ...]
    votes: tuple[Vote, ...]

    @property
    def passed(self) -> bool:
        return all(v.agree for v in self.votes)

    @property
    def first_disagreement(self) -> Vote | None:
        return next((v for v in self.votes if not v.agree), None)

    @property
    def max_error(self) -> float:
        """Largest |gradient - D| over both gradients and every element."""
        return max(max(abs(v.scratch - v.finite_difference), abs(v.twin - v.finite_difference)) for v in self.votes)

    @property
    def worst_ratio(self) -> float:
        """Largest |gradient - D| / bound: below 1 passes."""
        return max(
            max(abs(v.scratch - v.finite_difference), abs(v.twin - v.finite_difference)) / v.bound for v in self.votes
        )

    def message(self) -> str:
        return f"{self.network} / finite_differences: {self.detail()}"

    def detail(self) -> str:
        """The message without its ``<network> / finite_differences: `` head."""
        v = self.first_disagreement
        if v is None:
            return (
                f"passed ({len(self.votes)} gradient elements at steps {list(self.steps)}, "
                f"largest |gradient - finite difference| {self.max_error:.3g}, "
                f"{self.worst_ratio:.2g} of its bound)"
            )
        return (
            f"{v.where()}: {v.verdict}: scratch = {v.scratch!r}, twin = {v.twin!r}, "
            f"finite differences = {v.finite_difference!r} (h = {v.h:.3g}, bound {v.bound:.3g}; "
            f"scratch and twin may differ by {v.pair_tolerance:.3g})"
        )


def step_size(p: float) -> float:
    """``cbrt(eps) * max(1, |p|)``, rounded to the step ``p + h`` really takes."""
    h = np.cbrt(EPS) * max(1.0, abs(p))
    return float((p + h) - p)


def central_difference(f: Callable[[float], float], p: float) -> Estimate:
    """``D(h)`` of ``f`` at ``p`` with the step size and error bound of the module docstring."""
    h = step_size(p)
    f_plus, f_minus = f(p + h), f(p - h)
    value = (f_plus - f_minus) / ((p + h) - (p - h))
    eps_f = EVAL_ULPS * EPS * max(1.0, abs(f_plus), abs(f_minus))
    big = EPS ** (1 / 5) * max(1.0, abs(p))
    third = (f(p + 2 * big) - 2 * f(p + big) + 2 * f(p - big) - f(p - 2 * big)) / (2 * big**3)
    third_bound = abs(third) + 3 * eps_f / big**3
    truncation = h * h / 6 * third_bound
    rounding = eps_f / h
    return Estimate(value, h, truncation + rounding, truncation, rounding)


def scratch_loss(case: Case, net: Any, batch: Batch) -> float:
    """The scratch loss of one batch from ``net`` (a copy of a snapshot, which the forward may change), summed
    over the batch as the twin's loss is."""
    return float(np.sum(case.calls.loss(case.calls.forward(net, case.data.X[batch]), case.data.y[batch])))


def scratch_gradient(
    case: Case, snapshot: ScratchSnapshot, batch: Batch, step: int = 0, scratch: Trace | None = None
) -> Params:
    """The scratch gradients from a copy of the network entering the step, called as the run calls them (the
    forward, then ``gradients``, which may read what the forward cached; a network with its own step calls
    ``gradients`` alone); for a network whose own step leaves them behind, as the run ``scratch`` recorded them
    at ``step``."""
    if case.calls.gradients is None:
        if scratch is None:
            raise ValueError(f"{case.name}: its own step keeps the gradients; give the run that recorded them")
        return {k: np.array(scratch[f"grad.{k}"][step]) for k in case.scratch.params}
    net = scratch_network(snapshot)
    xb, yb = case.data.X[batch], case.data.y[batch]
    if case.calls.step is None:
        case.calls.forward(net, xb)
    return {k: np.asarray(v) for k, v in case.calls.gradients(net, xb, yb).items()}


def twin_gradient(case: Case, snapshot: TwinSnapshot, params: Params, batch: Batch) -> Params:
    """The twin's gradients on ``batch`` from a copy of its module entering the step (whatever else it keeps, a
    hidden state say, as it stood) holding ``params``, in the scratch layout."""
    return twin_to_scratch(backward_at(case, params, batch, twin_module(snapshot)), case, grads=True)


def judge(scratch: float, twin: float, fd: float, bound: float, pair_tolerance: float) -> tuple[str | None, str]:
    """(odd one out, verdict): the one that disagrees with both others, if exactly one does."""
    agree = {
        (SCRATCH, TWIN): abs(scratch - twin) <= pair_tolerance,
        (SCRATCH, FINITE_DIFFERENCES): abs(scratch - fd) <= bound,
        (TWIN, FINITE_DIFFERENCES): abs(twin - fd) <= bound,
    }
    agreeing = [pair for pair, ok in agree.items() if ok]
    if len(agreeing) == 3:
        return None, "agree"
    if len(agreeing) == 1:
        (a, b) = agreeing[0]
        odd = next(o for o in (SCRATCH, TWIN, FINITE_DIFFERENCES) if o not in (a, b))
        verdict = f"{NOUN[odd]} is the odd one out ({a} and {b} agree)"
        if odd == FINITE_DIFFERENCES:
            verdict += (
                "; both gradients disagree with the loss they claim to differentiate: the same bug on both sides "
                "(a derivative left out, a .detach()), or a loss that is not smooth there"
            )
        return odd, verdict
    if not agreeing:
        return None, "all three disagree"
    (a, b) = next(pair for pair, ok in agree.items() if not ok)
    c = next(o for o in (SCRATCH, TWIN, FINITE_DIFFERENCES) if o not in (a, b))
    return None, f"{a} and {b} disagree while {c} is within reach of both; the three cannot tell which is off"


def spread(shape: tuple[int, ...], limit: int = MAX_ELEMENTS) -> list[tuple[int, ...]]:
    """Every index of ``shape`` when there are at most ``limit``, else ``limit`` evenly spread, first and
    last included."""
    size = int(np.prod(shape))
    flat = range(size) if size <= limit else sorted({int(round(i)) for i in np.linspace(0, size - 1, limit)})
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat] if shape else [()]


def finite_difference_votes(
    case: Case, run: Pair | None, steps: Sequence[int] | None = None, limit: int = MAX_ELEMENTS
) -> OracleResult:
    """Finite differences of the scratch loss against the scratch and twin gradients, float64 only, at
    ``steps`` (default: the first, middle and last) and at most ``limit`` elements of each parameter.  Each step
    starts from both sides as they stood entering it in the case's run (``RUNS.entering``: the snapshots taken
    while it stepped); ``run`` (the case's traces) gives the gradients a network's own step leaves behind (None
    will do for a network with a ``gradients`` function).  A side that could not be copied raises a StepError
    saying why: the oracle cannot judge from a state the network was never in."""
    if np.dtype(case.dtype) != np.float64:
        raise ValueError(
            f"{case.name}: finite differences are checked in float64 only (their bound assumes float64 "
            f"rounding); this case is {np.dtype(case.dtype).name}"
        )
    _, batches = start(case)
    chosen = tuple(steps) if steps is not None else default_steps(len(batches))
    bad = [s for s in chosen if not 0 <= s < len(batches)]
    if bad:
        raise ValueError(f"{case.name}: steps {bad} are outside the run's {len(batches)} steps")
    states = RUNS.entering(case, chosen)
    votes = []
    for step in chosen:
        params, batch = _params(case, states[step]), batches[step]
        by_scratch, by_twin = _gradients(case, states[step], params, batch, step, run)
        for name in case.scratch.params:
            for index in spread(params[name].shape, limit):
                votes.append(_vote(case, states[step], params, batch, step, name, index, by_scratch, by_twin))
    return OracleResult(case.name, chosen, tuple(votes))


def vote_at(case: Case, run: Pair, step: int, name: str, index: tuple[int, ...]) -> Vote:
    """The three oracles on one gradient element at one step of the case's ``run`` (its traces), from both sides
    entering that step (a step the run kept no snapshot of is stepped to again)."""
    _, batches = start(case)
    entering = RUNS.entering(case, [step])[step]
    params, batch = _params(case, entering), batches[step]
    by_scratch, by_twin = _gradients(case, entering, params, batch, step, run)
    return _vote(case, entering, params, batch, step, name, index, by_scratch, by_twin)


def _params(case: Case, entering: Entering) -> Params:
    """The scratch network's parameters entering the step: where the three oracles are evaluated."""
    taken(entering.scratch)
    return case.read_params(entering.scratch.net)


def _gradients(
    case: Case, entering: Entering, params: Params, batch: Batch, step: int, run: Pair | None
) -> tuple[Params, Params]:
    return (
        scratch_gradient(case, entering.scratch, batch, step, run[0] if run else None),
        twin_gradient(case, entering.twin, params, batch),
    )


def _vote(
    case: Case,
    entering: Entering,
    params: Params,
    batch: Batch,
    step: int,
    name: str,
    index: tuple[int, ...],
    by_scratch: Params,
    by_twin: Params,
) -> Vote:
    def loss_at(value: float) -> float:
        net = scratch_network(entering.scratch)
        moved = np.array(params[name])
        moved[index] = value
        paths.write(net, name, moved)
        return scratch_loss(case, net, batch)

    estimate = central_difference(loss_at, float(params[name][index]))
    s, t = float(by_scratch[name][index]), float(by_twin[name][index])
    pair_tolerance = FLOAT64_ATOL + FLOAT64_RTOL * abs(t)
    bound = estimate.bound + pair_tolerance  # the gradients are known only to their own tolerance
    odd, verdict = judge(s, t, estimate.value, bound, pair_tolerance)
    return Vote(
        step, name, tuple(int(i) for i in index), s, t, estimate.value, estimate.h, bound, pair_tolerance, odd, verdict
    )
