"""The pytest glue: ``parametrize_with_checks`` makes the battery into pytest tests, and each test's assertion
turns a check's result into its failure message.

Above the checks, the goldens and the diagnosis, and below the plugin: what the run decides (the golden folder,
regeneration, where repros go) comes from ``crosscheck.settings``, which the plugin fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import numpy as np

from crosscheck import goldens, settings
from crosscheck.case import Case
from crosscheck.checks import battery, run_check
from crosscheck.compare import Comparison
from crosscheck.errors import StepError
from crosscheck.optimizer_text import describe_optimizer
from crosscheck.registration import project, run_project
from crosscheck.run.memo import RUNS
from crosscheck.validate import validation_problem

GOLDEN = "golden"


def assert_check(check: str, case: Case) -> None:
    """Run one check and raise its message on failure (pytest shows it at the user's test)."""
    __tracebackhide__ = True
    problem = validation_problem(case) or _name_taken(case)
    if problem is not None:
        raise AssertionError(f"{case.name} / {check}: the case cannot be checked: {problem}")
    if check == GOLDEN:
        found = settings.required()
        goldens.check_golden(
            case,
            run_project(found).goldens,
            RUNS.full(case),
            workdir=found.workdir(),
            force_regen=found.force_regen,
            regen_all=found.regen_all,
        )
        return
    result = run_check(case, check)
    if not result.passed:
        raise AssertionError(result.message() + optimizer_line(result, case) + _diagnosis_lines(case, result))


def _name_taken(case: Case) -> str | None:
    """Under pytest: why ``case`` may not be checked under its name, when another case object holds it (the
    registered case of that name, else the first case of the run checked under it).  A case's name names its
    golden file and its repro, so a variant that kept it would overwrite the other's golden and replay the
    other case."""
    run = settings.current()
    if run is None:
        return None
    from crosscheck.registration import name_key, registry

    claims: dict[str, tuple[Case, str]] = run.memo.setdefault("checked cases", {})
    key = name_key(case.name)
    if key not in claims:
        try:
            registered = {name_key(name): c for name, c in registry().items()}
        except Exception:  # a project whose cases cannot be loaded: the run reports that on its own
            registered = {}
        owner = registered.get(key)
        claims[key] = (owner, "the registered case") if owner is not None else (case, "a case checked before")
    owner, which = claims[key]
    if owner is case:
        return None
    return (
        f"case {case.name!r} is not {which} named {owner.name!r}, and a case's name names its golden file and its "
        f"repro: give the variant another name: vary(case, name=...)"
    )


def optimizer_line(result: Comparison, case: Case) -> str:
    """For a divergence in the update (learning rate, optimizer state, parameters after it): what the twin
    trains with, since a network whose optimizer differs in kind or options parts exactly there."""
    d = result.first_divergence
    if d is None or d.quantity not in ("lr", "state", "param"):
        return ""
    from crosscheck.diagnose.update import candidates_text, hidden_update

    if hidden_update(case, d):  # the gradient is as suspect as the optimizer: both candidates, no fix of either
        return f"\nthe twin trains with {describe_optimizer(case)}; {candidates_text(case, d, RUNS.full(case))}"
    return (
        f"\nthe twin trains with {describe_optimizer(case)}: where that is the optimizer the network means to be, "
        f"the scratch update is the suspect (do not copy its rule into the twin); where the network means another "
        f"kind or other options, give the twin those (Twin(optimizer=..., scheduler=...))"
    )


def diagnosis_block(case_name: str) -> list[str]:
    """The block of facts of a case whose check failed in the pytest run in progress, when a check made it."""
    run = settings.current()
    found = run.diagnoses.get(case_name) if run is not None else None
    return found.block() if found is not None else []


def _diagnosis_lines(case: Case, result: Comparison) -> str:
    """Under pytest, for a value divergence: the layer where the sides part (when the case names its layers) and
    the one-step repro, as lines for the message.  The case's diagnosis is made once per run, by its first
    failing check; its other checks and the end-of-run summary read it."""
    run = settings.current()
    if run is None:
        return ""
    if case.name not in run.diagnoses:
        from crosscheck.diagnose import diagnose

        try:
            run.diagnoses[case.name] = diagnose(case, run.reports, run.root)
        except StepError:  # the full run goes wrong later; the check that reads it says where
            run.diagnoses[case.name] = None
    found = run.diagnoses[case.name]
    if found is None or result.first_divergence is None:
        return ""
    return (f"\nlayer: {found.layer}" if found.layer else "") + (
        f"\none-step repro: python {found.repro}" if found.repro is not None else ""
    )


class CheckCall(partial[None]):
    """The ``check`` a test of ``parametrize_with_checks`` receives: ``assert_check`` with its check's name,
    counting its calls, so that the plugin fails a test whose body never calls it (it would pass, checking
    nothing)."""

    calls = 0

    def __call__(self, /, *args: Any, **keywords: Any) -> None:
        self.calls += 1
        super().__call__(*args, **keywords)


def not_called(case_name: str, check: str) -> str:
    """The failure of a test that passed without calling its ``check``."""
    return (
        f"{case_name} / {check}: the test passed without running its check: check(case) was never called; "
        f"call it in the body of the test that parametrize_with_checks decorates (def test_x(case, check): "
        f"check(case))"
    )


def _float32_variants(cases: list[Case]) -> list[Case]:
    """The float32 variants of the given cases that the project lists in ``[tool.crosscheck] float32`` (and that
    are not given already): a plain pytest run checks them as the command and the reports do."""
    from crosscheck.precision import float32_case

    run = settings.current()
    listed = set((run_project(run) if run is not None else project()).float32)
    given = {case.name for case in cases if isinstance(case, Case)}
    wanted = [c for c in cases if isinstance(c, Case) and c.name in listed and np.dtype(c.dtype) == np.float64]
    return [variant for variant in map(float32_case, wanted) if variant.name not in given]


def parametrize_with_checks(
    cases: Iterable[Case], expected_failed_checks: Mapping[str, Mapping[str, str]] | None = None
) -> Any:
    """``pytest.mark.parametrize("case, check", ...)`` over every (case, check) pair: the battery's checks
    and, for a float64 case, the golden check, with ids ``<case>-<check>``.

    ``expected_failed_checks`` is ``{case name: {check: reason}}``; each entry, and each of a case's own
    ``Case(expected_failures=...)``, becomes a strict xfail.

    Each case's checks carry ``pytest.mark.xdist_group(<case>)``: under ``pytest -n N --dist loadgroup`` they go
    to one worker, which computes the case's run once for all of them.
    """
    import pytest

    expected = expected_failed_checks or {}
    cases = list(cases)
    if not cases:
        run = settings.current()
        proj = run_project(run) if run is not None else project()
        where = f"the project at {proj.pyproject}" if proj.pyproject else f"{proj.root} (no pyproject.toml there)"
        raise ValueError(
            f"parametrize_with_checks() got no case, so no check would run. If you pass registry().values(): no "
            f"case is registered for {where}; list the modules that register yours in its pyproject.toml, "
            f'[tool.crosscheck] cases = ["mypackage.mynet"]'
        )
    cases += _float32_variants(cases)
    params = []
    seen: dict[str, Case] = {}
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"parametrize_with_checks takes crosscheck.Case objects, got {type(case).__name__}")
        if seen.setdefault(case.name, case) is not case:
            raise ValueError(
                f"parametrize_with_checks got two different cases named {case.name!r}; a case's name names its golden "
                f"file and its repro: give the variant another name: vary(case, name=...)"
            )
        # Goldens are float64: a float32 run is checked against its twin, whose float64 run has the golden.
        names = battery(case) + ([GOLDEN] if np.dtype(case.dtype) == np.float64 else [])
        failing = {**case.expected_failures, **expected.get(case.name, {})}  # the case's own, then the test's
        unknown = set(failing) - set(names)
        if unknown:
            raise KeyError(
                f"expected_failed_checks for {case.name!r} names unknown checks {sorted(unknown)}; "
                f"the checks are {names}"
            )
        for name in names:
            marks = [pytest.mark.xdist_group(case.name)]
            marks += [pytest.mark.xfail(strict=True, reason=failing[name])] if name in failing else []
            params.append(pytest.param(case, CheckCall(assert_check, name), id=f"{case.name}-{name}", marks=marks))
    return pytest.mark.parametrize("case, check", params)
