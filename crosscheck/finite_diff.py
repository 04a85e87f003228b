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

**Smoothness.**  ``D(h)`` estimates ``f'(p)`` only where ``f`` is smooth within ``h`` of ``p``: at a kink
(a ReLU pre-activation within ``h`` of 0) it is the midpoint of the two one-sided slopes, and the third
difference, taken wider, does not see the kink's size.  The one-sided slopes ``(f(p + h) - f(p)) / h`` and
``(f(p) - f(p - h)) / h`` of a smooth ``f`` differ by ``h |f''|`` plus their rounding ``4 eps_f / h``;
``|f''|`` is bounded by the second differences at the wider steps ``H`` and ``2H`` (plus their rounding).
Where the slopes differ by more than ``SMOOTH_SLACK`` times that, the oracle declines to judge the element
and says so (``Vote.declined``); it judges the others.  A kink a sliver inside ``h`` (a pre-activation at 0.997 h
from 0, measured on a book's ReLU MLP) moves ``D(h)`` by that sliver of its slope jump, beyond the bound, while the
slopes part by less than the wider steps' curvature allows; so ``D(h/2)`` is taken too, with its own bound
(truncation at ``h/2``, rounding ``eps_f / (h/2)``).  Both bound their distance from ``f'(p)`` where ``f`` is
smooth, so where they part by more than the two bounds the element is declined as well.

**Clipped.**  ``D`` estimates the loss's own derivative; a twin with ``Twin(clip=...)`` updates with the clipped
gradient, which no loss has.  The twin's gradient here is backward's, before the clip, and an element the clip
changes is not judged (``Vote.declined``, "clipped here"); the battery's ``gradients`` check compares the clipped
gradients of both sides there.

**Not finite.**  A run that diverged (a parameter, a gradient or the loss near it is not a finite float64)
cannot be judged: the oracle names the first step and element where it is not finite, and judges no later one.

**Verdict.**  Scratch and twin must agree within the float64 tolerance of the battery, each must agree
within its bound with the estimate nearest the twin's gradient of ``D(h)``, ``D(h/2)`` and ``2 D(h/2) - D(h)``
(``Estimate.closest``: the last cancels an error first order in ``h``, a jump of the second derivative at
``p``).  When they do not, the one that disagrees with both others is named the odd one out: ``scratch``,
``twin`` or ``finite differences``.
"""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import Batch, Case, Params
from crosscheck.keys import Pair, Trace, at_step, describe, index_text
from crosscheck.layout import twin_to_scratch
from crosscheck.lockstep import Run
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
from crosscheck.state import recorded_at
from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL

EPS = float(np.finfo(np.float64).eps)
# Elements checked per parameter and step: all of a small parameter, an even spread of a large one, so
# that the check stays cheap on a 64-128-10 MLP (each element costs nine loss evaluations).
MAX_ELEMENTS = 16
# Rounding error of one loss evaluation, in ulps of max(1, |f|): measured at most 1.75 (see above).
EVAL_ULPS = 4.0
# How far beyond the smooth bound the one-sided slopes may part before the element is declined.  The bound
# estimates the very gap it bounds (h |f''|, with |f''| from second differences ~120x wider than h): over the
# three tutorial runs the gap is at most 1.0 of it; a kink within h makes the gap its slope jump, about
# H / h (~120) times the bound, so 4 leaves room for |f''| changing over the wider step and keeps kinks apart.
SMOOTH_SLACK = 4.0
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
    forward: float  # (f(p + h) - f(p)) / h
    backward: float  # (f(p) - f(p - h)) / h
    smooth_bound: float  # |forward - backward| allowed where f is smooth within h
    half: float  # D(h / 2), a second estimate of the same derivative
    half_bound: float  # the bound on its error

    @property
    def smooth(self) -> bool:
        """False where the one-sided slopes part beyond what a smooth loss allows, or where ``D(h)`` and ``D(h/2)``
        part beyond their two error bounds (each bounds its distance from the derivative of a smooth loss): a kink
        within ``h``."""
        return abs(self.forward - self.backward) <= self.smooth_bound and abs(self.value - self.half) <= (
            self.bound + self.half_bound
        )

    @property
    def finite(self) -> bool:
        return all(math.isfinite(x) for x in (self.value, self.bound, self.forward, self.backward, self.half))

    def closest(self, gradient: float) -> tuple[float, float]:
        """(estimate, its error bound) nearest ``gradient`` in units of its bound, of three estimates of ``f'(p)``:
        ``D(h)``; ``D(h/2)`` (a kink just inside ``h`` moves ``D(h)`` by a sliver of its slope jump, which the
        slopes and ``D(h/2)`` may not tell from the bounds; one outside ``h/2`` leaves ``D(h/2)`` as it is); and
        ``2 D(h/2) - D(h)``, where an error first order in ``h`` cancels (a jump of the second derivative at ``p``
        itself: a zero bias on rows of zeros, whose first-derivative jumps cancel).  Each bounds its distance
        from ``f'(p)`` under its own assumption."""
        estimates = (
            (self.value, self.bound),
            (self.half, self.half_bound),
            (2 * self.half - self.value, 2 * self.half_bound + self.bound),
        )
        return min(estimates, key=lambda e: abs(gradient - e[0]) / e[1])


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
    declined: bool = False  # the loss is not smooth within h: finite differences do not judge this element

    @property
    def agree(self) -> bool:
        return self.verdict == "agree"

    @property
    def passed(self) -> bool:
        """Agreed, or not judged (declined): a kink is no evidence against either gradient."""
        return self.agree or self.declined

    def error(self) -> float:
        return max(abs(self.scratch - self.finite_difference), abs(self.twin - self.finite_difference))

    def where(self) -> str:
        return f"{at_step(self.step)}, {describe('grad', self.parameter)}{index_text(self.index)}"


@dataclass(frozen=True)
class OracleResult:
    network: str
    steps: tuple[int, ...]
    votes: tuple[Vote, ...]
    not_finite: str | None = None  # where the run stops being finite, in words: nothing from there on is judged

    @property
    def judged(self) -> tuple[Vote, ...]:
        return tuple(v for v in self.votes if not v.declined)

    @property
    def declined(self) -> tuple[Vote, ...]:
        return tuple(v for v in self.votes if v.declined)

    @property
    def passed(self) -> bool:
        return self.not_finite is None and bool(self.judged) and all(v.agree for v in self.judged)

    @property
    def first_disagreement(self) -> Vote | None:
        return next((v for v in self.votes if not v.passed), None)

    @property
    def worst(self) -> Vote | None:
        """The judged vote with the largest |gradient - D|."""
        return max(self.judged, key=Vote.error, default=None)

    @property
    def max_error(self) -> float:
        """Largest |gradient - D| over both gradients and every judged element (0 when none was judged)."""
        return max((v.error() for v in self.judged), default=0.0)

    @property
    def largest_bound(self) -> float:
        return max((v.bound for v in self.judged), default=0.0)

    @property
    def worst_ratio(self) -> float:
        """Largest |gradient - D| / bound: below 1 passes."""
        return max((v.error() / v.bound for v in self.judged), default=0.0)

    def message(self) -> str:
        return f"{self.network} / finite_differences: {self.detail()}"

    def detail(self) -> str:
        """The message without its ``<network> / finite_differences: `` head."""
        v = self.first_disagreement
        if v is not None:
            return (
                f"{v.where()}: {v.verdict}: scratch = {v.scratch!r}, twin = {v.twin!r}, "
                f"finite differences = {v.finite_difference!r} (h = {v.h:.3g}, bound {v.bound:.3g}; "
                f"scratch and twin may differ by {v.pair_tolerance:.3g})"
            )
        if self.not_finite is not None:
            return self.not_finite
        declined = self._declined_text()
        if not self.judged and any(v.verdict.startswith(CLIPPED) for v in self.votes):
            return (
                f"judged none of the {len(self.votes)} gradient elements at steps {list(self.steps)}: at each the "
                f"twin's clip changes the gradient or the loss is not smooth within the step{declined}; finite "
                f"differences judge the loss's own derivative, which a clipped update does not follow (choose steps "
                f"where the clip does not act)"
            )
        if not self.judged:
            return (
                f"judged none of the {len(self.votes)} gradient elements at steps {list(self.steps)}: the loss is not "
                f"smooth within the step at any of them{declined}; finite differences cannot check this network's "
                f"gradients here (move the data or the initial parameters off the kinks, e.g. nonzero biases)"
            )
        return (
            f"passed ({len(self.judged)} gradient elements at steps {list(self.steps)}, "
            f"largest |gradient - finite difference| {self.max_error:.3g}, "
            f"{self.worst_ratio:.2g} of its bound{declined})"
        )

    def _declined_text(self) -> str:
        text = ""
        clipped = [v for v in self.declined if v.verdict.startswith(CLIPPED)]
        kinks = [v for v in self.declined if not v.verdict.startswith(CLIPPED)]
        for votes, why in ((kinks, "the loss not smooth within the step"), (clipped, "the twin's clip acting")):
            if votes:
                more = len(votes) - 1
                text += (
                    f"; {len(votes)} not judged, {why} there ({votes[0].where()}: {votes[0].verdict}"
                    f"{f', and {more} more' if more else ''})"
                )
        return text


def step_size(p: float) -> float:
    """``cbrt(eps) * max(1, |p|)``, rounded to the step ``p + h`` really takes."""
    h = np.cbrt(EPS) * max(1.0, abs(p))
    return float((p + h) - p)


def central_difference(f: Callable[[float], float], p: float) -> Estimate:
    """``D(h)`` of ``f`` at ``p`` with the step size and error bound of the module docstring, and the one-sided
    slopes that tell whether ``f`` is smooth within ``h``.  A value that overflows gives a non-finite estimate
    (``Estimate.finite``), never an exception."""
    h = step_size(p)
    half = float((p + h / 2) - p)
    big = EPS ** (1 / 5) * max(1.0, abs(p))
    f0, f_plus, f_minus = f(p), f(p + h), f(p - h)
    f_half = (f(p + half), f(p - half))
    f_big = (f(p + big), f(p - big))
    f_2big = (f(p + 2 * big), f(p - 2 * big))
    value = (f_plus - f_minus) / ((p + h) - (p - h))
    eps_f = EVAL_ULPS * EPS * max(1.0, abs(f0), abs(f_plus), abs(f_minus), *map(abs, f_half))
    cube = big * big * big  # not big**3: a float power raises OverflowError where a product gives inf
    third = (f_2big[0] - 2 * f_big[0] + 2 * f_big[1] - f_2big[1]) / (2 * cube)
    third_bound = abs(third) + 3 * eps_f / cube
    truncation = h * h / 6 * third_bound
    rounding = eps_f / h
    forward, backward = (f_plus - f0) / ((p + h) - p), (f0 - f_minus) / (p - (p - h))
    curvature = max(
        abs(f_big[0] - 2 * f0 + f_big[1]) / (big * big), abs(f_2big[0] - 2 * f0 + f_2big[1]) / (4 * big * big)
    ) + 4 * eps_f / (big * big)
    smooth_bound = SMOOTH_SLACK * (h * curvature + 4 * eps_f / h)
    half_value = (f_half[0] - f_half[1]) / ((p + half) - (p - half))
    half_bound = half * half / 6 * third_bound + eps_f / half
    return Estimate(
        value, h, truncation + rounding, truncation, rounding, forward, backward, smooth_bound, half_value, half_bound
    )


def scratch_loss(case: Case, net: Any, batch: Batch) -> float:
    """The scratch loss of one batch from ``net`` (a copy of a snapshot, which the forward may change), summed
    over the batch as the twin's loss is."""
    return float(np.sum(case.calls.loss(case.calls.forward(net, case.data.X[batch]), case.data.y[batch])))


def scratch_gradient(
    case: Case, snapshot: ScratchSnapshot, batch: Batch, step: int = 0, scratch: Trace | None = None
) -> Params:
    """The scratch gradients from a copy of the network entering the step, called as the run calls them (the
    forward, then ``gradients``, which may read what the forward cached; a network with its own step calls
    ``gradients`` alone); for a network whose own step leaves them behind, as the run recorded them at ``step``
    (``scratch``: the scratch side's stepped quantities there)."""
    if case.calls.gradients is None:
        if scratch is None:
            raise ValueError(
                f"{case.name}: its own step keeps the gradients; give the run that recorded them at step {step}"
            )
        return {k: np.array(scratch[f"grad.{k}"]) for k in case.scratch.params}
    net = scratch_network(snapshot)
    probe = _probe(net)
    xb, yb = case.data.X[batch], case.data.y[batch]
    if case.calls.step is None:
        case.calls.forward(net, xb)
    grads = {k: np.asarray(v) for k, v in case.calls.gradients(net, xb, yb).items()}
    del net
    _COPIES.let_go(probe)
    return grads


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
    case: Case, run: Run | Pair | None, steps: Sequence[int] | None = None, limit: int = MAX_ELEMENTS
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
    votes: list[Vote] = []
    for step in chosen:
        params, batch = _params(case, states[step]), batches[step]
        diverged = _not_finite_parameter(params, step)
        if diverged is not None:
            return OracleResult(case.name, chosen, tuple(votes), diverged)
        by_scratch, by_twin, clipped = _gradients(case, states[step], params, batch, step, run)
        for name in case.scratch.params:
            for index in spread(params[name].shape, limit):
                vote = _vote(case, states[step], params, batch, step, name, index, by_scratch, by_twin, clipped)
                if vote.verdict.startswith(NOT_FINITE):
                    return OracleResult(case.name, chosen, tuple(votes), f"{vote.where()}: {vote.verdict}")
                votes.append(vote)
    return OracleResult(case.name, chosen, tuple(votes))


NOT_FINITE = "not finite here"
CLIPPED = "clipped here"


def _not_finite_parameter(params: Params, step: int) -> str | None:
    """Where the scratch parameters entering ``step`` are not finite, in words, or None."""
    for name, value in params.items():
        bad = np.argwhere(~np.isfinite(np.asarray(value, dtype=np.float64)))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            return (
                f"{at_step(step)}, the scratch network enters the step with {name}{index_text(index)} = "
                f"{float(np.asarray(value)[index])!r}: the run diverged before it, and finite "
                f"differences judge a finite run only; lower the learning rate, or find where the run stops being "
                f"finite"
            )
    return None


def vote_at(case: Case, run: Run | Pair | None, step: int, name: str, index: tuple[int, ...]) -> Vote:
    """The three oracles on one gradient element at one step of the case's ``run`` (its traces), from both sides
    entering that step (a step the run kept no snapshot of is stepped to again)."""
    _, batches = start(case)
    entering = RUNS.entering(case, [step])[step]
    params, batch = _params(case, entering), batches[step]
    by_scratch, by_twin, clipped = _gradients(case, entering, params, batch, step, run)
    return _vote(case, entering, params, batch, step, name, index, by_scratch, by_twin, clipped)


def _params(case: Case, entering: Entering) -> Params:
    """The scratch network's parameters entering the step: where the three oracles are evaluated."""
    taken(entering.scratch)
    return case.read_params(entering.scratch.net)


def _gradients(
    case: Case, entering: Entering, params: Params, batch: Batch, step: int, run: Run | Pair | None
) -> tuple[Params, Params, Params]:
    """The scratch gradients, the twin's before its clip (the loss's derivative, which finite differences
    estimate) and where the twin's ``Twin(clip=...)`` changes them (``{name: bool array}``; empty without one)."""
    scratch = scratch_gradient(case, entering.scratch, batch, step, recorded_at(run, step, "scratch"))
    if case.twin.clip is None:
        return scratch, twin_gradient(case, entering.twin, params, batch), {}
    module = backward_at(case, params, batch, twin_module(entering.twin))
    raw = twin_to_scratch(module, case, grads=True)
    case.twin.clip(module)
    clipped = {k: v != raw[k] for k, v in twin_to_scratch(module, case, grads=True).items()}
    return scratch, raw, clipped


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
    clipped: Params | None = None,
) -> Vote:
    def loss_at(value: float) -> float:
        # A fresh copy of the network for every evaluation (a forward may change what it keeps: a hidden state,
        # running statistics); in it, only the one element is moved, where the copy's own array allows.
        net = scratch_network(entering.scratch)
        probe = _probe(net)
        held, now = paths.read(net, name), params[name]
        if isinstance(held, np.ndarray) and held.flags.writeable and (held.shape, held.dtype) == (now.shape, now.dtype):
            held[index] = value
        else:
            moved = np.array(now)
            moved[index] = value
            paths.write(net, name, moved)
        loss = scratch_loss(case, net, batch)
        del net, held
        _COPIES.let_go(probe)
        return loss

    # The probes move the parameter where the run never was: an overflow there is the oracle's own, named below
    # as a non-finite estimate rather than raised as a NumPy warning from the user's code.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        estimate = central_difference(loss_at, float(params[name][index]))
    s, t = float(by_scratch[name][index]), float(by_twin[name][index])
    pair_tolerance = FLOAT64_ATOL + FLOAT64_RTOL * abs(t)
    # The estimate nearest the twin's gradient, the reference (``Estimate.closest``): the scratch one is then held
    # to the same estimate, and a bug both share is far from all three.
    fd, fd_bound = estimate.closest(t) if math.isfinite(t) else (estimate.value, estimate.bound)
    bound = fd_bound + pair_tolerance  # the gradients are known only to their own tolerance
    where = (step, name, tuple(int(i) for i in index), s, t, fd, estimate.h, bound, pair_tolerance)
    if not (estimate.finite and math.isfinite(s) and math.isfinite(t)):
        return Vote(*where, None, f"{NOT_FINITE}: {_not_finite_text(s, t, estimate)}")
    if clipped and clipped[name][index]:
        # The update follows the clipped gradient, which is no derivative of the loss: nothing for finite
        # differences to judge; the gradients check compares the clipped gradients of both sides.
        verdict = f"{CLIPPED}: the twin's clip changes its gradient {t!r}; finite differences do not judge this element"
        return Vote(*where, None, verdict, declined=True)
    if not estimate.smooth:
        verdict = (
            f"not smooth here: one-sided slopes {estimate.backward!r} and {estimate.forward!r}, D(h) "
            f"{estimate.value!r} and D(h/2) {estimate.half!r}"
        )
        return Vote(*where, None, f"{verdict}; finite differences do not judge this element", declined=True)
    return Vote(*where, *judge(s, t, fd, bound, pair_tolerance))


def _probe(net: Any) -> weakref.ref[Any] | None:
    try:
        return weakref.ref(net)
    except TypeError:  # a dict, a list: no weak reference, and no copy the collector need find
        return None


class _Copies:
    """The copies of a network that the loss evaluations let go, freed at once.  A network whose parts refer to
    each other (an optimizer that holds its model) is a reference cycle, which Python frees only when its
    collector runs, and it runs by the count of objects made, not their bytes: an 8e5-parameter MLP's copies,
    nine an element, piled up to 1.3 GB above the run's peak.  The young generations are collected at once
    (microseconds); a copy that lived on into the oldest is collected with the next few (a full collection
    costs some 25 ms with torch loaded)."""

    def __init__(self, every: int = 8) -> None:
        self.every, self.pending = every, 0

    def let_go(self, probe: weakref.ref[Any] | None) -> None:
        if probe is None or probe() is None:
            return
        gc.collect(1)
        if probe() is not None:
            self.pending += 1
            if self.pending >= self.every:
                gc.collect()
                self.pending = 0


_COPIES = _Copies()


def _not_finite_text(scratch: float, twin: float, estimate: Estimate) -> str:
    sides = [side for side, x in ((SCRATCH, scratch), (TWIN, twin)) if not math.isfinite(x)]
    if sides:
        what = f"the {' and the '.join(sides)} gradient{'s are' if len(sides) == 2 else ' is'} not finite"
    else:
        what = "the scratch loss a small step from this parameter is not finite (it overflows)"
    return (
        f"{what} (the run diverges here), and finite differences judge a finite run only; lower the learning rate, "
        f"or find where the run stops being finite"
    )
