"""The battery: every check runs on every registered case.

Each ``check_<property>(case)`` returns a ``Comparison``; ``parametrize_with_checks``
turns (case, check) pairs into pytest tests with ids ``<network>-<check>``, and
known failures become strict xfails, as scikit-learn's estimator checks do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import numpy as np

from crosscheck.case import Case
from crosscheck.compare import FLOAT64_ATOL, FLOAT64_RTOL, Comparison, compare
from crosscheck.errors import StepError
from crosscheck.trace import Trace, first_step_traces, traces
from crosscheck.validate import validation_problem

# Fixed bounds per dtype; float32 has none here: its bounds grow with the run's length (below).
TOLERANCES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float64): (FLOAT64_ATOL, FLOAT64_RTOL),
}


def tolerance(case: Case, steps: int | None = None) -> tuple[float, float]:
    """(atol, rtol) for the case's dtype: the table for float64; for float32,
    ``4 * eps32 * sqrt(steps)`` each, over ``steps`` steps compared (default: the whole run; the rule
    and its measured reason: ``crosscheck.precision``)."""
    dtype = np.dtype(case.dtype)
    if dtype == np.float32:
        # Imported here so that ``python -m crosscheck.precision`` does not find itself imported.
        from crosscheck.precision import float32_tolerance, run_length

        return float32_tolerance(max(1, run_length(case) if steps is None else steps))
    return TOLERANCES[dtype]


def _keys(trace: Trace, *prefixes: str) -> list[str]:
    return [k for k in trace if k.split(".")[0] in prefixes]


def _run(
    case: Case,
    check: str,
    keys_of: Callable[[Trace], list[str]],
    steps: slice = slice(None),
    exact: bool = False,
    pair: tuple[Trace, Trace] | None = None,
    tolerance_steps: int | None = 1,
    first_step: bool = False,
) -> Comparison:
    """``tolerance_steps``: how many steps of rounding the compared values have been through (1 for the
    first step and before training; None for the whole run), which sets the float32 bound.  ``first_step``:
    the check reads nothing after the first step, so the run's first step is enough to compute."""
    scratch, twin = pair if pair is not None else first_step_traces(case) if first_step else traces(case)
    atol, rtol = (0.0, 0.0) if exact else tolerance(case, tolerance_steps)
    return compare(
        case.name,
        check,
        scratch,
        twin,
        keys_of(scratch),
        steps=steps,
        curve_steps=list(case.curve_steps),
        dtype=np.dtype(case.dtype),
        atol=atol,
        rtol=rtol,
    )


def check_initial_parameters(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """Both sides start from bit-identical parameters: the map round-trips exactly."""
    return _run(case, "initial_parameters", lambda t: _keys(t, "init"), exact=True, pair=pair, first_step=True)


def check_forward(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """The output on the whole dataset at the initial parameters."""
    return _run(case, "forward", lambda t: ["forward"], pair=pair, first_step=True)


def check_loss(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """The first step's loss."""
    return _run(case, "loss", lambda t: _keys(t, "output", "loss"), steps=slice(0, 1), pair=pair, first_step=True)


def check_gradients(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """The gradient of every parameter at the first step."""
    return _run(case, "gradients", lambda t: _keys(t, "grad"), steps=slice(0, 1), pair=pair, first_step=True)


def check_one_step(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """The first optimizer step: the learning rate, the optimizer's state, the parameters after it, and the
    buffers (running statistics)."""
    keys = ("lr", "state", "param", "buffer")
    return _run(case, "one_step", lambda t: _keys(t, *keys), steps=slice(0, 1), pair=pair, first_step=True)


def check_training_run(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """Every step of the whole run: output, loss, dL/doutput, gradients, learning rate, optimizer state,
    parameters, buffers, the recorded curve."""
    keys = ("output", "buffer", "loss", "dloss", "grad", "lr", "state", "param", "curve")
    return _run(case, "training_run", lambda t: _keys(t, *keys), pair=pair, tolerance_steps=None)


CHECKS: dict[str, Callable[..., Comparison]] = {
    "initial_parameters": check_initial_parameters,
    "forward": check_forward,
    "loss": check_loss,
    "gradients": check_gradients,
    "one_step": check_one_step,
    "training_run": check_training_run,
}


def check_finite_differences(case: Case, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """The third oracle: every gradient (a bounded spread of elements, at the first, middle and last step)
    against central finite differences of the scratch loss; a failure names the odd one out of scratch,
    twin and finite differences.  It catches a bug both sides share, which the twin alone cannot."""
    from crosscheck.finite_diff import check_finite_differences as oracle

    result = oracle(case)
    votes = result.votes
    worst = max(votes, key=lambda v: max(abs(v.scratch - v.finite_difference), abs(v.twin - v.finite_difference)))
    scale = max(abs(worst.finite_difference), np.finfo(np.float64).tiny)
    return Comparison(
        network=case.name,
        check="finite_differences",
        quantity="gradient against finite differences",
        steps=len(result.steps),
        max_abs=result.max_error,
        max_rel=result.max_error / scale,
        atol=max(v.bound for v in votes),
        rtol=0.0,
        first_divergence=None,
        problem=None if result.passed else result.detail(),
    )


# Checks that need the case's own functions, not only its traces, in float64: not in CHECKS, which any
# pair of traces (a float32 run, a seed of the sweep, a mutant's prefix) can be put through.
ORACLES: dict[str, Callable[..., Comparison]] = {"finite_differences": check_finite_differences}


def exposed_gradients(case: Case) -> set[str]:
    """The parameters whose scratch gradient can be seen: all with a ``gradients`` function, else those whose
    gradient the case names the path a step leaves it at."""
    return set(case.param_map) if case.gradients is not None else set(case.scratch.grads)


def battery(case: Case) -> list[str]:
    """The checks that apply to ``case``: CHECKS, and for a float64 case the finite-difference oracle; a
    network whose own step keeps its gradients to itself has no gradient to check, only what follows."""
    checks = [*CHECKS, *ORACLES] if np.dtype(case.dtype) == np.float64 else list(CHECKS)
    shown = exposed_gradients(case)
    if not shown:
        checks = [c for c in checks if c != "gradients"]
    if shown != set(case.param_map):  # the oracle votes on every parameter's gradient
        checks = [c for c in checks if c != "finite_differences"]
    return checks


def run_check(case: Case, check: str, pair: tuple[Trace, Trace] | None = None) -> Comparison:
    """One check of the battery.  Without ``pair`` the case is validated first (once per case object) and
    its traces are computed (once per process); a case that cannot be checked, or a run that goes wrong
    at some step, gives a failed ``Comparison`` whose ``problem`` says what and where."""
    known = {**CHECKS, **ORACLES}
    if check not in known:
        raise KeyError(f"unknown check {check!r}; the battery has {list(known)}")
    if check in ORACLES and check not in battery(case):
        raise ValueError(f"{case.name}: {check} applies to float64 cases only; this one is {np.dtype(case.dtype)}")
    if pair is None or check in ORACLES:
        problem = validation_problem(case)
        if problem is not None:
            return failed(case, check, f"the case cannot be checked: {problem}")
        try:
            return known[check](case, None)
        except StepError as exc:
            return failed(case, check, str(exc).removeprefix(f"{case.name}: "))
    return CHECKS[check](case, pair)


def failed(case: Case, check: str, problem: str) -> Comparison:
    return Comparison(case.name, check, "", 0, np.inf, np.inf, 0.0, 0.0, None, problem)


GOLDEN = "golden"


def assert_check(check: str, case: Case) -> None:
    """Run one check and raise its message on failure (pytest shows it at the user's test)."""
    __tracebackhide__ = True
    problem = validation_problem(case)
    if problem is not None:
        raise AssertionError(f"{case.name} / {check}: the case cannot be checked: {problem}")
    if check == GOLDEN:
        from crosscheck import goldens, plugin

        settings = plugin.settings()
        goldens.check_golden(case, settings.folder, force_regen=settings.force_regen, regen_all=settings.regen_all)
        return
    result = run_check(case, check)
    if not result.passed:
        raise AssertionError(result.message() + optimizer_line(result, case) + _repro_line(case, result))


def optimizer_line(result: Comparison, case: Case) -> str:
    """For a divergence in the update (learning rate, optimizer state, parameters after it): what the twin
    trains with, since a network whose optimizer differs in kind or options parts exactly there."""
    d = result.first_divergence
    if d is None or d.quantity not in ("lr", "state", "param"):
        return ""
    from crosscheck.optimizer_text import describe_optimizer

    return (
        f"\nthe twin trains with {describe_optimizer(case)}; if the network's optimizer is of another kind or has "
        f"other options, give the twin the same (Twin(optimizer=..., scheduler=...))"
    )


def _repro_line(case: Case, result: Comparison) -> str:
    """Under pytest, for a value divergence: the layer where the sides part (when the case names its
    layers) and the one-step repro, written now, as lines for the message."""
    from crosscheck import plugin
    from crosscheck.repro import repro_for

    if result.first_divergence is None or not plugin.active():
        return ""
    from crosscheck.diagnose import layer_text

    settings = plugin.settings()
    step = result.first_divergence.step
    try:
        layer = layer_text(case, step)
        path = repro_for(case, step, settings.reports, settings.root)
    except StepError:  # the full run goes wrong later; the check that reads it says where
        return ""
    return (f"\nlayer: {layer}" if layer else "") + (f"\none-step repro: python {path}" if path is not None else "")


def parametrize_with_checks(
    cases: Iterable[Case], expected_failed_checks: Mapping[str, Mapping[str, str]] | None = None
) -> Any:
    """``pytest.mark.parametrize("case, check", ...)`` over every (case, check) pair: the battery's checks
    and, for a float64 case, the golden check, with ids ``<case>-<check>``.

    ``expected_failed_checks`` is ``{case name: {check: reason}}``; each entry becomes a strict xfail.
    """
    import pytest

    expected = expected_failed_checks or {}
    cases = list(cases)
    if not cases:
        from crosscheck.registration import project, pytest_root

        proj = project(pytest_root())
        where = f"the project at {proj.pyproject}" if proj.pyproject else f"{proj.root} (no pyproject.toml above it)"
        raise ValueError(
            f"parametrize_with_checks() got no case, so no check would run. If you pass registry().values(): no "
            f"case is registered for {where}; list the modules that register yours in its pyproject.toml, "
            f'[tool.crosscheck] cases = ["mypackage.mynet"]'
        )
    params = []
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"parametrize_with_checks takes crosscheck.Case objects, got {type(case).__name__}")
        # Goldens are float64: a float32 run is checked against its twin, whose float64 run has the golden.
        names = battery(case) + ([GOLDEN] if np.dtype(case.dtype) == np.float64 else [])
        failing = expected.get(case.name, {})
        unknown = set(failing) - set(names)
        if unknown:
            raise KeyError(
                f"expected_failed_checks for {case.name!r} names unknown checks {sorted(unknown)}; "
                f"the checks are {names}"
            )
        for name in names:
            marks = [pytest.mark.xfail(strict=True, reason=failing[name])] if name in failing else []
            params.append(pytest.param(case, partial(assert_check, name), id=f"{case.name}-{name}", marks=marks))
    return pytest.mark.parametrize("case, check", params)
