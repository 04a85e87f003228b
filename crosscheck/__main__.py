"""python -m crosscheck: cross-check every registered network, print the verdicts and write
reports/summary.md (nox -s report writes the other reports)."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from crosscheck.case import registry
from crosscheck.checks import CHECKS, run_check
from crosscheck.compare import Comparison


def table(results: list[Comparison]) -> str:
    header = ("network", "check", "steps", "max abs diff", "max rel diff", "tolerance", "verdict")
    rows = [
        (
            r.network,
            r.check,
            str(r.steps) if r.steps else "init",
            f"{r.max_abs:.2e}",
            f"{r.max_rel:.2e}",
            "exact" if r.atol == r.rtol == 0 else f"{r.atol:.0e} + {r.rtol:.0e}·|twin|",
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def unknown_names(names: list[str], registered: list[str]) -> str | None:
    """A one-line error for names that are not registered, suggesting the nearest; None when all are."""
    unknown = [n for n in names if n not in registered]
    if not unknown:
        return None
    hints = []
    for name in unknown:
        near = difflib.get_close_matches(name, registered, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return f"unknown network {', '.join(hints)}; registered: {', '.join(registered)}"


def run_all(names: list[str] | None = None) -> list[Comparison]:
    cases = registry()
    problem = unknown_names(list(names or ()), list(cases))
    if problem:
        raise SystemExit(problem)
    return [run_check(cases[n], check) for n in (names or list(cases)) for check in CHECKS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crosscheck", description=__doc__)
    parser.add_argument("networks", nargs="*", help="networks to check (default: all registered)")
    parser.add_argument("--list", action="store_true", help="print the registered networks' names and exit")
    parser.add_argument(
        "--reports", type=Path, default=Path("reports"), help="folder for summary.md (default: reports)"
    )
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(registry()))
        return 0
    results = run_all(args.networks)
    print(table(results))
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"\n{r.message()}", file=sys.stderr)
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    if args.networks:
        print("summary.md not written: it covers every registered network; run without names to write it")
    else:
        from crosscheck import report
        from crosscheck.environment import provenance
        from crosscheck.findings import findings

        # The same cached traces: collecting re-runs only the comparisons, which take milliseconds.
        text = report.summary_markdown(report.collect_all(), findings(), provenance())
        print(f"wrote {report.write_summary(text, args.reports)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
