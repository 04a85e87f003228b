"""The free run judged against the rounding its own training amplifies.

Two correct sides round differently at every step (NumPy and torch sum a matrix product in different orders),
and where training amplifies rounding (a chaotic run) those last-bit differences grow past any fixed bound. How
much this run amplifies is measured on the run itself: the twin is run a second time from initial parameters
moved by one ulp each, and ``g(s)``, its largest difference up to step ``s`` for a quantity from the twin's
run from the parameters themselves (the envelope), is what one ulp at the start has become by then.  A
free-run difference passes when it is within

    atol + rtol * |twin| + (s + 1) * g(s)

that is, what one ulp entering at each step so far could have grown to, bounded by the growth of the first (a
rounding that enters later has had fewer steps to grow).  Measured on ``examples/edge_of_stability.py`` (1,500
steps, first parting beyond the fixed bound at step 117, by 1.6e-3 at the end): the largest
``|scratch - twin| / ((s + 1) * g(s))`` over its output, loss, gradients and parameters is 0.012, so the bound
leaves some 80x headroom (measured with ``g(s)`` at step ``s`` alone; its envelope is never smaller); an error
of 1e-9 planted in every update exceeds it at step 0, where ``g`` is 1e-16.

The second twin costs another run of both sides and the twin, stepped together a chunk at a time
(``crosscheck.lockstep``), made only when the fixed bound is exceeded.  The anchored steps
(``checks.check_anchored_steps``) judge every step from a shared state at the fixed bound, so a bug still fails at
the step where it first acts, however chaotic the free run.
"""

from __future__ import annotations

import numpy as np

from crosscheck.case import Case, Params
from crosscheck.compare import Comparison, Divergence, differences
from crosscheck.keys import STEPPED, Pair, Trace, split_key, stage_rank
from crosscheck.lockstep import chunks
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace


def _nudged(params: Params) -> Params:
    """Every initial parameter one ulp up, an exact zero left as it is: rounding never moves an exact zero (both
    sides start from the same bits), and a zero bias one ulp away (5e-324) moves every pre-activation that sums
    exact zeros off a ReLU's kink, a change of its derivative from 0 to 1 that no rounding makes."""
    return {name: np.where(value == 0, value, np.nextafter(value, np.inf)) for name, value in params.items()}


def _per_step(a: np.ndarray) -> np.ndarray:
    """The largest absolute value of each step's row."""
    return np.abs(a).reshape(len(a), -1).max(axis=1) if a.size else np.zeros(len(a))


def _judge_stretch(
    result: Comparison,
    scratch: Trace,
    twin: Trace,
    base: Trace,
    nudged: Trace,
    curve_steps: list[int],
    first: int,
    envelope: dict[str, float],
) -> tuple[list[tuple[int, int, Divergence]], tuple[float, float]]:
    """The divergences beyond the growth bound over steps ``first``, ... of the traces (``base`` and ``nudged``: the
    twin's runs from the initial parameters and one ulp away), and the largest growth: the bound's allowance and
    the second twin's own difference."""
    found: list[tuple[int, int, Divergence]] = []
    worst_growth = worst_ulp = 0.0
    for key in scratch:
        quantity, parameter = split_key(key)
        if quantity not in (*STEPPED, "curve") or key not in twin or key not in nudged or key not in base:
            continue
        a, b = np.asarray(scratch[key], dtype=np.float64), np.asarray(twin[key], dtype=np.float64)
        base_k, nudged_k = np.asarray(base[key], dtype=np.float64), np.asarray(nudged[key], dtype=np.float64)
        if a.shape != b.shape or b.shape != nudged_k.shape or base_k.shape != nudged_k.shape or not len(a):
            continue
        if quantity == "curve":
            steps = np.asarray(curve_steps, dtype=np.float64)
        else:
            steps = np.arange(first, first + len(a), dtype=np.float64)
        # The envelope of what the ulp has grown to by each step, carried from the stretches before: a chaotic run's
        # differences rise and fall, and the second twin's may come close to the twin's at a step where the sides'
        # do not (a correct run failed at step 1,942 of 2,000, its loss 1.2e-3 apart against 1.5e-4).
        ulp = np.maximum.accumulate(np.maximum(_per_step(nudged_k - base_k), envelope.get(key, 0.0)))
        envelope[key] = float(ulp[-1])
        growth = (steps + 1) * ulp
        worst_growth, worst_ulp = max(worst_growth, float(growth.max())), max(worst_ulp, float(ulp.max()))
        diff, tol, _ = differences(a, b, result.atol, result.rtol)
        bound = tol + growth.reshape((-1,) + (1,) * (a.ndim - 1))
        bad = ~(diff <= bound) | ~np.isfinite(a) | ~np.isfinite(b)  # NaN or Inf never passes, as in the kernel
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            step = int(steps[at[0]])
            d = Divergence(
                step, quantity, parameter, at[1:], float(a[at]), float(b[at]), float(diff[at]), float(bound[at]),
                # Named in the message only where it moved the bound (1% of it or more).
                growth=float(growth[at[0]]) if growth[at[0]] >= 0.01 * bound[at] else None,
            )  # fmt: skip
            found.append((step, stage_rank(key), d))
    return found, (worst_growth, worst_ulp)


def _verdict(result: Comparison, found: list[tuple[int, int, Divergence]], growth: tuple[float, float]) -> Comparison:
    d = result.first_divergence
    assert d is not None
    if not found:
        allowance, ulp = growth
        note = (
            f"the sides part beyond the fixed bound from step {d.step}, within the rounding this run amplifies: "
            f"their largest difference is {result.max_abs:.3g}, where a second twin started one ulp away parts "
            f"from the twin by up to {ulp:.3g}, and step s allows s + 1 times that step's (up to {allowance:.3g})"
        )
        return Comparison(
            result.network, result.check, result.quantity, result.steps, result.max_abs, result.max_rel,
            result.atol, result.rtol, None, None, note,
        )  # fmt: skip
    first = min(found, key=lambda f: (f[0], f[1]))[2]
    return Comparison(
        result.network, result.check, result.quantity, result.steps, result.max_abs, result.max_rel,
        result.atol, result.rtol, first,
    )  # fmt: skip


def judge(case: Case, result: Comparison, run: Pair, curve_steps: list[int]) -> Comparison:
    """``result``, a free-run comparison of ``run`` (both sides' traces) that parted beyond the fixed bound, judged
    again against the rounding growth of the run: it passes with a note saying so, or fails at its first
    divergence beyond the growth.  A ``run`` that does not start from the case's own initial parameters (a seed of
    the sweep) cannot be told: ``result`` stands."""
    params, batches = start(case)
    twin = run[1]
    if result.first_divergence is None or any(
        not np.array_equal(params[name], twin[f"init.{name}"]) for name in case.scratch.params
    ):
        return result
    steps = batches[: len(twin["loss"])]
    # The growth is measured between two runs of the twin made here: ``run``'s twin is what is judged, and may not
    # be the twin's own run (a test's changed trace).
    base, nudged = twin_trace(case, params, steps), twin_trace(case, _nudged(params), steps)
    return _verdict(result, *_judge_stretch(result, run[0], twin, base, nudged, curve_steps, 0, {}))


def judge_run(case: Case, result: Comparison) -> Comparison:
    """As ``judge``, for the case's own run stepped again with the second twin, a chunk at a time."""
    if result.first_divergence is None:
        return result
    params, batches = start(case)
    found: list[tuple[int, int, Divergence]] = []
    worst = (0.0, 0.0)
    envelope: dict[str, float] = {}
    for chunk in chunks(case, params, batches, anchored=False, others=[_nudged(params)]):
        # The twin stepped here is the twin's own run, from the case's initial parameters: the growth's base too.
        more, growth = _judge_stretch(
            result, chunk.scratch, chunk.twin, chunk.twin, chunk.others[0], chunk.curve_steps(case), chunk.first,
            envelope,
        )  # fmt: skip
        worst = (max(worst[0], growth[0]), max(worst[1], growth[1]))
        if more:
            found = more  # the earliest chunk's divergences come before any later one's
            break
    return _verdict(result, found, worst)
