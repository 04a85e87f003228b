"""``crosscheck`` / ``python -m crosscheck``: cross-check every network of the project the current folder
belongs to and print the verdicts; with ``--reports DIR``, also write summary.md (and the repro of a failing
step) there (``python -m crosscheck.report`` writes the other reports).

The cases listed in ``[tool.crosscheck] float32`` are also checked in float32 (rows ``<name>_float32``).

Exit status: 0 when every check passed (float32 variants included) or failed as its case expects
(``Case(expected_failures=...)``), 1 when one failed (or an expected failure passed), 2 for a usage error (an
unknown option or network name).  ``--help``, ``--version`` and ``--list`` import neither torch nor the
project's cases (``--list`` imports them only where the source does not name them, and builds no network then).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from crosscheck.errors import RegistrationError
from crosscheck.registration import Project, names_only, project, registry

if TYPE_CHECKING:
    from crosscheck.case import Case
    from crosscheck.compare import Comparison
    from crosscheck.report.text import Declared

# The verdict column for a check its case declares it fails (pytest's words for a strict xfail).
_EXPECTED = {"expected failure": "XFAIL", "unexpected pass": "XPASS"}


def table(
    results: list[Comparison],
    declared: Mapping[str, Declared] | None = None,
    left_out: Mapping[str, list[str]] | None = None,
) -> str:
    """The verdicts, one row a check; ``declared`` (what each case declares about its verdict) marks a case's own
    tolerance with ``*``, explained under the table with its reason, and an expected failure ``XFAIL``."""
    from crosscheck.compare import GROWTH_CELL
    from crosscheck.report.text import outcome, own_tolerance_text

    declared = declared or {}
    header = ("network", "check", "steps", "max abs diff", "max rel diff", "tolerance", "verdict")
    rows = []
    for r in results:
        notes = declared.get(r.network)
        cells = list(r.cells(no_steps="init"))
        if r.problem is not None and r.problem.kind != "oracle":
            # Nothing was compared: no difference or tolerance to show; what stopped it is written under the table.
            step = r.problem.step
            cells[:4] = ["-" if step is None else f"step {step}", "-", "-", "not compared"]
        cells[-1] = _EXPECTED.get(outcome(r, notes), cells[-1])
        if own_tolerance_text(notes, r):
            cells[-2] += " *"
        rows.append((r.network, r.check, *cells))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines += _problem_lines(results)
    for name in dict.fromkeys(r.network for r in results):
        notes = declared.get(name)
        own = own_tolerance_text(notes)
        lines += [f"* {name}: {own}"] if own else []
        for check, why in notes.expected.items() if notes is not None else ():
            lines.append(f"XFAIL {name} / {check}: {why}")
        lines += [f"- {name}: {line}" for line in (left_out or {}).get(name, [])]  # report.text.case_left_out
    lines += [f"{GROWTH_CELL} {r.network} / {r.check}: {r.note}" for r in results if r.note]
    return "\n".join(lines)


def _problem_lines(results: list[Comparison]) -> list[str]:
    """One line per thing that kept a network's checks from comparing (a step refused, a case that cannot be
    checked), with the checks it stopped: the row says only that nothing was compared."""
    stopped: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.problem is not None and r.problem.kind != "oracle":
            first = (r.problem.text.splitlines() or ["(no message)"])[0]
            stopped.setdefault((r.network, first), []).append(r.check)
    return [f"FAIL {name} / {', '.join(checks)}: {text}" for (name, text), checks in stopped.items()]


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
    from crosscheck.checks import battery, run_check
    from crosscheck.size import announce

    problem = unknown_names(list(names or ()), list(cases))
    if problem:
        raise SystemExit(f"crosscheck: {problem}")
    live = progress is not None and progress.isatty()
    results = []
    for name in names or list(cases):
        announce(cases[name], progress)
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


def float32_variants(cases: dict[str, Case], names: list[str] | None = None) -> list[Case]:
    """The float32 variants of the cases listed in ``[tool.crosscheck] float32``, of those named (default: all)."""
    from crosscheck.precision import configured_cases, float32_case

    try:
        listed = configured_cases()
    except RegistrationError as exc:
        raise SystemExit(f"crosscheck: {exc}") from None
    wanted = set(names or cases)
    return [float32_case(case) for case in listed if case.name in wanted]


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


def declared_names(proj: Project) -> list[str] | None:
    """The names of the cases the project's case modules register, read from their source without importing
    them (no torch): every ``register(...)`` call whose argument is a call with a literal ``name="..."``.
    None when a module is not a file under the project's folder, calls no ``register`` itself, or a ``register``
    call names its case otherwise: then only importing the modules tells."""
    names: list[str] = []
    for module in proj.cases:
        base = proj.root.joinpath(*module.split("."))
        source = next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)
        if source is None:
            return None
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError):
            return None
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) == "register"]
        if not calls:  # it registers through another module (a function of its, a package's submodules), or not at all
            return None
        for call in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
            inner = call.args[0] if len(call.args) == 1 and not call.keywords else None
            name = _literal_name(inner) if isinstance(inner, ast.Call) else None
            if name is None:
                return None
            names.append(name)
    return names


def _called(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _literal_name(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


def version() -> str:
    from crosscheck import __version__

    return __version__


def usage_error(message: str) -> SystemExit:
    """A usage error exits 2, as argparse's own do; a failing check exits 1."""
    print(f"crosscheck: {message}", file=sys.stderr)
    return SystemExit(2)


def parser(epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosscheck",
        description="Cross-check every registered network (or the ones named) against its PyTorch twin and "
        "print the verdicts; with --reports, write summary.md there too. Exit status 1 when a check fails, "
        "2 for a usage error.",
        epilog=epilog,
    )
    parser.add_argument("networks", nargs="*", help="networks to check (default: all registered)")
    parser.add_argument("--list", action="store_true", help="print the registered networks' names and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--reports",
        type=Path,
        default=None,
        metavar="DIR",
        help="write summary.md (all networks checked) and the one-step repro of a failing network into DIR "
        "(default: write no file)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        here: Project | None = project()
    except RegistrationError as exc:
        here, problem = None, str(exc)
    if here is None:
        where = f"the project of the current folder ({problem})"
    elif here.pyproject:
        where = f"the project at {here.pyproject}"
    else:
        where = f"{here.root} (no pyproject.toml found above it)"
    epilog = (
        f"Cases come from [tool.crosscheck] cases in pyproject.toml, found from the current folder upwards: "
        f"{where}. crosscheck --list names them."
    )
    args = parser(epilog).parse_args(argv)
    proj = load_project()
    if args.list:
        names = declared_names(proj)
        if names is None:
            with names_only():  # the names, not the networks: no case is validated
                names = list(load_cases())
        print("\n".join(names) if names else f"no network is registered for {where}")
        return 0
    # Importing torch and the project's cases takes seconds: say what is going on before.
    print(f"crosscheck: loading the cases of {where} (torch first)", file=sys.stderr, flush=True)
    cases = load_cases()
    if not cases:
        raise SystemExit(
            f"crosscheck: no network is registered for {where}; list the modules that register your cases in "
            f'pyproject.toml: [tool.crosscheck] cases = ["mypackage.mynet"]'
        )
    unknown = unknown_names(args.networks, list(cases))
    if unknown:
        raise usage_error(unknown)
    out = reports_folder(args.reports) if args.reports is not None and not args.networks else None
    # The float32 variants too, as python -m crosscheck.report runs them: a bug in the float32 path fails here.
    variants = float32_variants(cases, args.networks)
    checked = {**cases, **{case.name: case for case in variants}}
    results = run_all(checked, [*(args.networks or cases), *(case.name for case in variants)], progress=sys.stderr)
    from crosscheck.report.text import FAILED, XPASSED, case_left_out, counts_text, declared, outcome

    notes = declared(checked.values())
    print(table(results, notes, {name: case_left_out(case) for name, case in checked.items()}))
    outcomes = [outcome(r, notes.get(r.network)) for r in results]
    # A check its case expects to fail does not fail the command (pytest counts it as a strict xfail alike).
    failed = [r for r, o in zip(results, outcomes, strict=True) if o in (FAILED, XPASSED)]
    if failed:
        from crosscheck.diagnose import diagnose

        # One block per failing network: its first divergence, where it grows, the oracle, the repro.
        for name in dict.fromkeys(r.network for r in failed):
            # A variant has no repro: the script finds its case by name among the registered ones.
            found = diagnose(checked[name], args.reports if name in cases else None, proj.root)
            if found is not None:
                print("\n" + "\n".join(found.block()), file=sys.stderr)
    print(f"\n{counts_text(outcomes)}")
    if args.reports is None:
        print("summary.md not written: give --reports DIR to write it")
    elif out is None:
        print("summary.md not written: it covers every registered network; run without names to write it")
    else:
        from crosscheck import report
        from crosscheck.environment import provenance
        from crosscheck.findings import sections

        # The same cached traces: collecting re-runs only the comparisons, which take milliseconds.
        text = report.summary_markdown(report.collect_all(checked.values()), sections(), provenance(), notes)
        print(f"wrote {report.write_summary(text, out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
