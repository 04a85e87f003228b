"""``python -m crosscheck.report``: the comparison reports in ``reports/``.

The command line: run every registered network's battery, the float32 battery and the findings, write
every report (``crosscheck.report.write``), and exit 1 when any check failed, after writing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from crosscheck import precision
from crosscheck.errors import RegistrationError
from crosscheck.findings import sections as findings_sections
from crosscheck.registration import registry
from crosscheck.report.text import FAILED, REPORT_DIR, XFAILED, XPASSED, declared, outcome
from crosscheck.report.write import failing_blocks, write_reports
from crosscheck.verdict import collect_all


def main(argv: list[str] | None = None) -> int:
    from crosscheck.environment import environment, provenance  # looked up now: tests replace provenance

    parser = argparse.ArgumentParser(prog="python -m crosscheck.report", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help="folder to write into (default: reports)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        cases = list(registry().values())
    except RegistrationError as exc:
        raise SystemExit(f"python -m crosscheck.report: {exc}") from None
    networks = collect_all(cases)
    checked = time.perf_counter()
    sections = findings_sections()
    float32_cases = precision.configured_cases()
    # A project that names no float32 network gets no float32 section (an empty table), nor its file.
    float32 = precision.float32_report(float32_cases) if float32_cases else None
    diagnoses = failing_blocks(cases, networks, args.out)
    notes = declared(cases)
    written = write_reports(networks, sections, environment(), provenance(), args.out, float32, diagnoses, notes)
    done = time.perf_counter()
    for path in written:
        print(f"wrote {path}")
    outcomes = [
        (f"{net.name} / {c.check}", outcome(c, notes.get(net.name))) for net in networks for c in net.comparisons
    ]
    # An expected failure (Case(expected_failures=...)) does not fail the command; one that passes does.
    failed = [
        label if o == FAILED else f"{label} (an expected failure that passed)"
        for label, o in outcomes
        if o in (FAILED, XPASSED)
    ]
    failed += precision.failed_checks(float32) if float32 is not None else []
    expected = sum(o == XFAILED for _, o in outcomes)
    print(
        f"{len(networks)} networks, {len(failed)} failed checks"
        + (f", {expected} expected failure{'s' if expected != 1 else ''}" if expected else "")
        + f"; traces and checks {checked - started:.1f} s, float32, findings, plots and pages {done - checked:.1f} s"
    )
    for name in failed:
        print(f"FAILED {name}", file=sys.stderr)
    # After writing: the pages describe this run, failures included, and the exit status says it failed.
    return 1 if failed else 0
