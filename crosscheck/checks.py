"""The battery: every check runs on every registered case.

Each ``check_<property>(case, run)`` is a plain function of a case and what its run produced, returning a
``Comparison``: data, never an assertion.  The pytest glue (``crosscheck.testing``) turns them into tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crosscheck import growth, lockstep
from crosscheck.case import Case
from crosscheck.compare import Comparison, Problem, compare
from crosscheck.errors import StepError
from crosscheck.finite_diff import finite_difference_votes
from crosscheck.keys import Pair, Trace
from crosscheck.lockstep import TRAINING_KEYS, Run
from crosscheck.run.capture import captured_params
from crosscheck.run.memo import RUNS
from crosscheck.run.start import start
from crosscheck.size import announce
from crosscheck.validate import validation_problem


def tolerance(case: Case, steps: int | None = None) -> tuple[float, float]:
    """(atol, rtol) for the case's dtype over ``steps`` steps of rounding (default: the whole run; the rule and
    its measured reason: ``crosscheck.tolerance``)."""
    return lockstep.tolerance(case, run_length(case) if steps is None else steps)


def run_length(case: Case) -> int:
    """How many steps the case's run takes."""
    return len(start(case)[1])


def _keys(trace: Trace, *prefixes: str) -> list[str]:
    return [k for k in trace if k.split(".")[0] in prefixes]


def _compare(
    case: Case,
    check: str,
    run: Pair,
    prefixes: tuple[str, ...],
    steps: slice = slice(None),
    exact: bool = False,
    tolerance_steps: int | None = 1,
) -> Comparison:
    """``tolerance_steps``: how many steps of rounding the compared values have been through (1 for the first
    step and before training; None for the whole run), which sets the float32 bound."""
    scratch, twin = run
    atol, rtol = (0.0, 0.0) if exact else tolerance(case, tolerance_steps)
    return compare(
        case.name,
        check,
        scratch,
        twin,
        _keys(scratch, *prefixes),
        steps=steps,
        curve_steps=list(case.data.curve_steps),
        dtype=np.dtype(case.dtype),
        atol=atol,
        rtol=rtol,
    )


def check_initial_parameters(case: Case, run: Pair) -> Comparison:
    """Both sides start from bit-identical parameters: the map round-trips exactly."""
    return _compare(case, "initial_parameters", run, ("init",), exact=True)


def check_forward(case: Case, run: Pair) -> Comparison:
    """The output on the whole dataset at the initial parameters."""
    return _compare(case, "forward", run, ("forward",))


def check_loss(case: Case, run: Pair) -> Comparison:
    """The first step's loss."""
    return _compare(case, "loss", run, ("output", "loss"), steps=slice(0, 1))


def check_gradients(case: Case, run: Pair) -> Comparison:
    """The gradient of every parameter at the first step."""
    return _compare(case, "gradients", run, ("grad",), steps=slice(0, 1))


def check_one_step(case: Case, run: Pair) -> Comparison:
    """The first optimizer step: the learning rate, the optimizer's state, the parameters after it, and the
    buffers (running statistics)."""
    return _compare(case, "one_step", run, ("lr", "state", "param", "buffer"), steps=slice(0, 1))


def check_training_run(case: Case, run: Pair) -> Comparison:
    """Every step of the whole run: output, loss, dL/doutput, gradients, learning rate, optimizer state,
    parameters, buffers, the recorded curve."""
    result = _compare(case, "training_run", run, TRAINING_KEYS, tolerance_steps=None)
    if result.first_divergence is None:
        return result
    # Beyond the fixed bound: judged against the rounding growth the run itself shows (a chaotic run's sides part
    # by their own dynamics; the anchored steps judge each step at the fixed bound).
    return growth.judge(case, result, run, list(case.data.curve_steps))


CHECKS: dict[str, Callable[[Case, Pair], Comparison]] = {
    "initial_parameters": check_initial_parameters,
    "forward": check_forward,
    "loss": check_loss,
    "gradients": check_gradients,
    "one_step": check_one_step,
    "training_run": check_training_run,
}
# The checks that read nothing after the run's first step: its first step is enough to compute for them, so that
# a network broken at step 0 fails in milliseconds rather than after its whole run.
FIRST_STEP = frozenset({"initial_parameters", "forward", "loss", "gradients", "one_step"})


def check_finite_differences(case: Case, run: Run) -> Comparison:
    """The third oracle: every gradient (a bounded spread of elements, at the first, middle and last step)
    against central finite differences of the scratch loss; a failure names the odd one out of scratch,
    twin and finite differences.  It catches a bug both sides share, which the twin alone cannot."""
    result = finite_difference_votes(case, run)
    worst = result.worst
    # Python floats: a diverged run's ratio overflows to inf, where NumPy's would warn (an error under pytest).
    scale = max(abs(worst.finite_difference) if worst else 0.0, float(np.finfo(np.float64).tiny))
    return Comparison(
        network=case.name,
        check="finite_differences",
        quantity="gradient against finite differences",
        steps=len(result.steps),
        max_abs=result.max_error,
        max_rel=result.max_error / scale,
        atol=result.largest_bound,
        rtol=0.0,
        first_divergence=None,
        problem=None if result.passed else Problem("oracle", result.detail(), "grad"),
    )


def check_anchored_steps(case: Case, run: Run) -> Comparison:
    """Every step judged from a shared state: before each step the scratch network is given the parameters,
    optimizer state and buffers the twin entered it with, takes that one step, and is compared with the twin's
    step at the bound of one step of rounding (``crosscheck.lockstep`` takes the steps beside the free run's).
    Where training amplifies rounding (a chaotic run) the free run parts by its own dynamics; here a bug still
    fails at the step where it first acts."""
    if run.anchored_steps is None:
        return failed(case, "anchored_steps", Problem("case", "this run was made from traces, not stepped anchored"))
    return run.anchored_steps


def judged(case: Case, check: str, run: Run) -> Comparison:
    """One check of the battery on the case's ``Run``: the first step's checks on its first step, the free run
    judged beyond the fixed bound against the rounding growth the run itself shows (a chaotic run's sides part
    by their own dynamics; the anchored steps judge each step at the fixed bound)."""
    if check in CHECKS and check != "training_run":
        return CHECKS[check](case, run.first)
    if check == "training_run":
        return growth.judge_run(case, run.training_run)
    return ORACLES[check](case, run)


# Checks that need the case's own functions, not only its traces: not in CHECKS, which any pair of traces (a
# float32 run, a seed of the sweep, a mutant's prefix) can be put through.  Finite differences judge float64
# only (their error bound assumes its rounding).
ORACLES: dict[str, Callable[[Case, Run], Comparison]] = {
    "anchored_steps": check_anchored_steps,
    "finite_differences": check_finite_differences,
}
FLOAT64_ONLY = frozenset({"finite_differences"})


def exposed_gradients(case: Case) -> set[str]:
    """The parameters whose scratch gradient can be seen: all with a ``gradients`` function, else those whose
    gradient the case names the path a step leaves it at, or the method that receives it (``Capture``)."""
    if case.calls.gradients is not None:
        return set(case.scratch.params)
    return set(case.scratch.grads) | captured_params(case.scratch)


# Why a network whose own step keeps its gradients to itself is not put through the checks that read them.
HIDDEN = (
    "the network's own step keeps {which} to itself: name where the step leaves them (Scratch(grads=...)) or the "
    "method that receives them (Scratch(capture=Capture(...)))"
)


def not_run(case: Case) -> dict[str, str]:
    """{check: why} for the checks of the battery that ``case`` cannot be put through: the gradient checks, where
    its step keeps some of its gradients to itself (the parameters after each update then carry the check)."""
    shown = exposed_gradients(case)
    hidden = sorted(set(case.scratch.params) - shown)
    if not hidden:
        return {}
    which = "its gradients" if not shown else f"the gradients of {', '.join(hidden)}"
    why = HIDDEN.format(which=which)
    out = {} if shown else {"gradients": why}
    if np.dtype(case.dtype) == np.float64:  # the oracle votes on every parameter's gradient
        out["finite_differences"] = why
    return out


def battery(case: Case) -> list[str]:
    """The checks that apply to ``case``: CHECKS, the anchored steps, and for a float64 case the finite-difference
    oracle; less those ``not_run(case)`` says why it cannot be put through."""
    float64 = np.dtype(case.dtype) == np.float64
    dropped = not_run(case)
    return [c for c in (*CHECKS, *(n for n in ORACLES if float64 or n not in FLOAT64_ONLY)) if c not in dropped]


def run_check(case: Case, check: str, run: Pair | Run | None = None) -> Comparison:
    """One check of the battery on ``run``: the case's ``Run`` (``RUNS.full``), or both sides' traces (a float32
    run, a seed of the sweep, a mutant's prefix) for the checks of ``CHECKS``.  Without ``run``, the case is
    validated first (once per case object) and its run is taken from ``RUNS`` (computed once per case); a case
    that cannot be checked, or a run that goes wrong at some step, gives a failed ``Comparison`` whose
    ``problem`` says what and where."""
    known = {**CHECKS, **ORACLES}
    if check not in known:
        raise KeyError(f"unknown check {check!r}; the battery has {list(known)}")
    if check in FLOAT64_ONLY and np.dtype(case.dtype) != np.float64:
        raise ValueError(f"{case.name}: {check} applies to float64 cases only; this one is {np.dtype(case.dtype)}")
    if isinstance(run, tuple):
        if check in ORACLES:
            raise TypeError(f"{check} needs the case's Run (crosscheck.run.memo.RUNS.full), not a pair of traces")
        return CHECKS[check](case, run)
    problem = validation_problem(case)
    if problem is not None:
        return failed(case, check, Problem("case", f"the case cannot be checked: {problem}"))
    announce(case)  # a large run says its size before it starts (once per case)
    try:
        if run is None and check in FIRST_STEP:
            return CHECKS[check](case, RUNS.first_step(case))
        return judged(case, check, RUNS.full(case) if run is None else run)
    except StepError as exc:
        return failed(case, check, Problem.from_step_error(exc, case.name))
    finally:
        RUNS.checked(case, check, battery(case))


def failed(case: Case, check: str, problem: Problem) -> Comparison:
    return Comparison(case.name, check, "", 0, np.inf, np.inf, 0.0, 0.0, None, problem)
