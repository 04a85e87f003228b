"""The report's text, shared by every output: figures at the level of rounding, the tolerance phrase,
a divergence in words, provenance, and where a network's plot is written."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crosscheck.compare import Comparison, Divergence
from crosscheck.keys import NOT_A_CHECKOUT, at_step, exceeds_text

if TYPE_CHECKING:
    from crosscheck.case import Case

REPORT_DIR = Path("reports")

# A check's outcome in every report, as pytest counts a strict xfail: an expected failure that passes fails.
PASSED, FAILED, XFAILED, XPASSED = "passed", "failed", "expected failure", "unexpected pass"


@dataclass(frozen=True)
class Declared:
    """What a network's case declares about its verdict: its own float64 bound with the reason (``Tolerance``), and
    the checks it is known to fail, each with why (``Case(expected_failures=...)``, or the strict xfails of the
    pytest run that wrote the report)."""

    tolerance: tuple[float, float, str] | None = None
    expected: Mapping[str, str] = field(default_factory=dict)


def declared(cases: Iterable[Case], xfails: Mapping[tuple[str, str], str] | None = None) -> dict[str, Declared]:
    """{network: Declared} of ``cases``; ``xfails``, {(network, check): reason}, adds the strict xfails a pytest run
    collected (``parametrize_with_checks(..., expected_failed_checks=...)``)."""
    out = {}
    for case in cases:
        own = case.tolerance
        expected = dict(case.expected_failures)
        expected.update({check: why for (name, check), why in (xfails or {}).items() if name == case.name})
        out[case.name] = Declared((own.atol, own.rtol, own.reason) if own is not None else None, expected)
    return out


def left_out_lines(not_run: Mapping[str, str], not_compared: Iterable[str]) -> list[str]:
    """What a case's battery left out, one sentence each: the checks not run and why, the optimizer state not
    compared (``NetworkReport.not_run``, ``.not_compared``)."""
    return [f"{check} not run: {why}" for check, why in not_run.items()] + list(not_compared)


def case_left_out(case: Case) -> list[str]:
    """``left_out_lines`` of ``case``, from its declaration alone (nothing runs)."""
    from crosscheck.checks import not_run
    from crosscheck.state_paths import not_compared

    return left_out_lines(not_run(case), not_compared(case))


def outcome(c: Comparison, notes: Declared | None) -> str:
    if notes is not None and c.check in notes.expected:
        return XPASSED if c.passed else XFAILED
    return PASSED if c.passed else FAILED


def counts_text(outcomes: Iterable[str]) -> str:
    """ "7 passed, 1 failed", with the expected failures between when there are any (an unexpected pass is a
    failure, as pytest counts a strict xfail)."""
    found = list(outcomes)
    failed = sum(o in (FAILED, XPASSED) for o in found)
    xfailed = found.count(XFAILED)
    expected = f"{xfailed} expected failure{'s' if xfailed != 1 else ''}, " if xfailed else ""
    return f"{found.count(PASSED)} passed, {expected}{failed} failed"


def own_tolerance_text(notes: Declared | None, c: Comparison | None = None) -> str | None:
    """The case's own bound and why, beside its figures (those of ``c``, when its bound is the case's own: an exact
    check or the finite differences keep theirs); None under the fixed bound."""
    if notes is None or notes.tolerance is None:
        return None
    atol, rtol, reason = notes.tolerance
    if c is not None and (c.atol, c.rtol) != (atol, rtol):
        return None
    return f"the case's own tolerance (atol {atol:g}, rtol {rtol:g}): {reason}"


def below(x: Any) -> str:
    """A difference at the level of rounding, as the power of ten above it: the exact figure
    varies with the BLAS and the vector unit, the decade does not (it is in the JSON)."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    # A hair below the log so that 1.0000000000000002e-06 is "≤ 1e-06", not "≤ 1e-05".
    return f"≤ 1e{int(np.ceil(np.log10(x) - 1e-9)):+03d}"


def divergence_text(c: Comparison, d: Divergence) -> str:
    return (
        f"{at_step(d.step)}, {d.where()}: scratch = {d.scratch:.10g}, twin = {d.reference:.10g} "
        f"({exceeds_text(d.difference, d.tolerance)})"
    )


def networks_text(n: int) -> str:
    return f"{n} network" + ("" if n == 1 else "s")


def made_text(made: Mapping[str, str]) -> str:
    if made["commit"] == NOT_A_CHECKOUT:
        return f"Made outside a git checkout at {made['generated_at']}."
    return f"Made from commit {made['commit']} at {made['generated_at']}."


def safe_name(name: str) -> str:
    """A file name from a network name: letters, digits, '_', '-' and '.' only, never '..'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).replace("..", "_") or "_"


def plot_name(network: str, kind: str) -> str:
    """Where a network's plot is written, relative to the report folder."""
    return f"plots/{safe_name(network)}-{kind}.png"
