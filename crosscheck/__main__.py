"""``crosscheck`` / ``python -m crosscheck``: cross-check every network of the project the current folder
belongs to, print the verdicts and write reports/summary.md (``python -m crosscheck.report`` writes the
other reports)."""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from pathlib import Path
from typing import TextIO

from crosscheck.case import Case
from crosscheck.checks import battery, run_check
from crosscheck.compare import Comparison
from crosscheck.errors import RegistrationError
from crosscheck.registration import Project, project, registry


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


def run_all(cases: dict[str, Case], names: list[str] | None = None, progress: TextIO | None = None) -> list[Comparison]:
    """Every check of the named cases (default: all).  With ``progress``, one line per network when it is
    done; on a terminal the line also shows the check running, rewritten in place."""
    problem = unknown_names(list(names or ()), list(cases))
    if problem:
        raise SystemExit(f"crosscheck: {problem}")
    live = progress is not None and progress.isatty()
    results = []
    for name in names or list(cases):
        started = time.perf_counter()
        done = []
        for check in battery(cases[name]):
            if live:
                print(f"\r\033[K{name}: {check} ...", end="", file=progress, flush=True)
            done.append(run_check(cases[name], check))
        if progress is not None:
            failed = sum(not r.passed for r in done)
            verdict = "all passed" if not failed else f"{failed} failed"
            line = f"{name}: {len(done)} checks, {verdict} ({time.perf_counter() - started:.1f} s)"
            print(("\r\033[K" if live else "") + line, file=progress, flush=True)
        results += done
    return results


def load_cases() -> dict[str, Case]:
    """The cases of the project the current folder belongs to; a broken setting is a one-line error."""
    try:
        return registry()
    except RegistrationError as exc:
        raise SystemExit(f"crosscheck: {exc}") from None


def load_project() -> Project:
    try:
        return project()
    except RegistrationError as exc:
        raise SystemExit(f"crosscheck: {exc}") from None


def reports_folder(path: Path) -> Path:
    """``path`` made ready to write into; a path that cannot be a folder is a one-line error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SystemExit(f"crosscheck: --reports {path}: a file is in the way; give a folder") from None
    except OSError as exc:
        raise SystemExit(f"crosscheck: --reports {path}: cannot create the folder ({exc.strerror})") from None
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    proj = load_project()
    where = f"the project at {proj.pyproject}" if proj.pyproject else f"{proj.root} (no pyproject.toml found above it)"
    epilog = (
        f"Cases come from [tool.crosscheck] cases in pyproject.toml, found from the current folder upwards: {where}."
    )
    if "-h" in argv or "--help" in argv:
        epilog += " Registered networks: " + (", ".join(load_cases()) or "none") + "."
    parser = argparse.ArgumentParser(
        prog="crosscheck",
        description="Cross-check every registered network (or the ones named) against its PyTorch twin, print "
        "the verdicts, and write summary.md into the reports folder. Exit status 1 when a check fails.",
        epilog=epilog,
    )
    parser.add_argument("networks", nargs="*", help="networks to check (default: all registered)")
    parser.add_argument("--list", action="store_true", help="print the registered networks' names and exit")
    parser.add_argument(
        "--reports",
        type=Path,
        default=proj.root / "reports",
        help="folder for summary.md and one-step repros (default: reports/ of the project)",
    )
    args = parser.parse_args(argv)
    cases = load_cases()
    if args.list:
        print("\n".join(cases) if cases else f"no network is registered for {where}")
        return 0
    if not cases:
        raise SystemExit(
            f"crosscheck: no network is registered for {where}; list the modules that register your cases in "
            f'pyproject.toml: [tool.crosscheck] cases = ["mypackage.mynet"]'
        )
    out = reports_folder(args.reports) if not args.networks else None
    results = run_all(cases, args.networks, progress=sys.stderr)
    print(table(results))
    failed = [r for r in results if not r.passed]
    if failed:
        from crosscheck.diagnose import diagnose

        # One block per failing network: its first divergence, where it grows, the oracle, the repro.
        for name in dict.fromkeys(r.network for r in failed):
            found = diagnose(cases[name], args.reports, proj.root)
            if found is not None:
                print("\n" + "\n".join(found.block()), file=sys.stderr)
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    if out is None:
        print("summary.md not written: it covers every registered network; run without names to write it")
    else:
        from crosscheck import report
        from crosscheck.environment import provenance
        from crosscheck.findings import sections

        # The same cached traces: collecting re-runs only the comparisons, which take milliseconds.
        text = report.summary_markdown(report.collect_all(cases.values()), sections(), provenance())
        print(f"wrote {report.write_summary(text, out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
