"""A case's verdict: its battery run on its run, kept with that run, for the diagnosis and the reports.

It sits below both: the diagnosis reads a verdict to say where a failure first grows, and the reports
render verdicts; neither runs the battery its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crosscheck.case import Case
from crosscheck.checks import battery, not_run, run_check, tolerance
from crosscheck.compare import Comparison
from crosscheck.errors import StepError
from crosscheck.lockstep import Run
from crosscheck.registration import registry
from crosscheck.run.memo import RUNS
from crosscheck.state_paths import not_compared
from crosscheck.validate import validation_problem


@dataclass(frozen=True)
class NetworkReport:
    """One network's comparisons and the run they were computed from."""

    name: str
    source: str | None
    description: str
    comparisons: tuple[Comparison, ...]
    run: Run | None  # None where the run was refused at some step (each check's problem says where)
    curve_steps: tuple[int, ...]
    atol: float
    rtol: float
    # What the battery left out for this case: {check: why} of the checks not run (``checks.not_run``), and a
    # sentence per optimizer state kind not compared (``state_paths.not_compared``).
    not_run: Mapping[str, str] = field(default_factory=dict)
    not_compared: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def collect(case: Case) -> NetworkReport:
    """Run the battery on ``case`` from its run (``RUNS``)."""
    run: Run | None = None
    if validation_problem(case) is None:
        try:
            run = RUNS.full(case)
        except StepError:
            pass  # each check says the refusal: ``run_check`` reads it from ``RUNS``
    atol, rtol = tolerance(case)
    return NetworkReport(
        name=case.name,
        source=case.source,
        description=case.description,
        comparisons=tuple(run_check(case, check, run) for check in battery(case)),
        run=run,
        curve_steps=tuple(int(s) for s in case.data.curve_steps),
        atol=atol,
        rtol=rtol,
        not_run=not_run(case),
        not_compared=tuple(not_compared(case)),
    )


def collect_all(cases: Iterable[Case] | None = None) -> list[NetworkReport]:
    """``collect`` over ``cases`` (default: every registered case), in order."""
    return [collect(case) for case in (registry().values() if cases is None else cases)]
