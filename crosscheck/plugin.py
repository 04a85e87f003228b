"""The pytest plugin, loaded in every project that installs nn-crosscheck (entry point ``pytest11``).

- The ``golden`` check that ``parametrize_with_checks`` yields reads its settings here: the folder
  (``[tool.crosscheck] goldens`` of the project at pytest's rootdir, default ``tests/goldens``) and
  pytest-regressions' ``--force-regen``/``--regen-all``, which are refused when ``CI`` is set.
- At the end of the run: a summary of the cross-check tests (cases, checks, each failure with its
  first divergence), golden files that no case read, and with ``--crosscheck-report=DIR`` the reports
  of ``python -m crosscheck.report`` for the cases the run collected.

Nothing heavy is imported at load time: a project that never uses the harness pays for none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crosscheck import settings
from crosscheck.settings import Settings

SECTION = "crosscheck"
BLOCK = "crosscheck_diagnosis"  # a failing case's block of facts, made by its check, carried with its report


@dataclass
class _Run:
    """What one pytest run saw of the cross-check tests."""

    folder: Path
    reports: Path
    root: Path
    cases: dict[str, Any] = field(default_factory=dict)  # name -> Case, for the cases collected
    # (case, check) -> (outcome, message)
    outcomes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    deselected: bool = False
    orphans: list[Path] = field(default_factory=list)
    orphan_error: str | None = None
    written: Path | None = None
    report_error: str | None = None
    registered: list[str] | str | None = None  # under xdist: the case names a worker loaded, or its error
    blocks: dict[str, list[str]] = field(default_factory=dict)  # case name -> its diagnosis, as its check made it


_RUN = pytest.StashKey[_Run]()
_SETTINGS = pytest.StashKey[Settings]()
# Configs of the pytest runs in progress, innermost last (pytester runs one inside another).
_ACTIVE: list[pytest.Config] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crosscheck", "cross-check of from-scratch networks against PyTorch twins")
    group.addoption(
        "--crosscheck-report",
        metavar="DIR",
        default=None,
        help="write the comparison reports (summary.md, results.json, index.html, plots) of the cases this "
        "run collected into DIR",
    )


def _project(config: pytest.Config) -> Any:
    from crosscheck.errors import RegistrationError
    from crosscheck.registration import project

    try:
        return project(config.rootpath)
    except RegistrationError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    from crosscheck.goldens import regeneration_refusal

    proj = _project(config)
    folder = proj.goldens
    refusal = regeneration_refusal(
        bool(config.getoption("force_regen", False)), bool(config.getoption("regen_all", False)), folder
    )
    if refusal is not None:
        raise pytest.UsageError(refusal)
    out = config.getoption("crosscheck_report")
    if out is not None and config.getoption("numprocesses", None):
        raise pytest.UsageError("--crosscheck-report needs the cases in this process: run it without -n (xdist)")
    reports = Path(config.invocation_params.dir, out) if out is not None else proj.root / "reports"
    config.stash[_RUN] = _Run(folder, reports, proj.root)
    config.stash[_SETTINGS] = Settings(
        goldens=folder,
        force_regen=bool(config.getoption("force_regen", False)),
        regen_all=bool(config.getoption("regen_all", False)),
        reports=reports,
        root=proj.root,
    )
    settings.push(config.stash[_SETTINGS])
    _ACTIVE.append(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _ACTIVE:
        _ACTIVE.remove(config)
    if _SETTINGS in config.stash:
        settings.pop(config.stash[_SETTINGS])


def _case_and_check(item: pytest.Item) -> tuple[Any, str] | None:
    """(case, check name) of a test made by ``parametrize_with_checks``, else None."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    check = params.get("check")
    if "case" not in params or getattr(check, "func", None) is None:
        return None
    from crosscheck.testing import assert_check

    if check.func is not assert_check:  # type: ignore[union-attr]
        return None
    return params["case"], str(check.args[0])  # type: ignore[union-attr]


def pytest_collection_finish(session: pytest.Session) -> None:
    """The cases of the tests that will run (after -k, -m and --deselect have taken theirs)."""
    run = session.config.stash[_RUN]
    for item in session.items:
        found = _case_and_check(item)
        if found is not None:
            run.cases.setdefault(found[0].name, found[0])


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items and items[0].config in _ACTIVE:
        items[0].config.stash[_RUN].deselected = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    found = _case_and_check(item)
    if found is not None and (report.when == "call" or report.failed):
        # user_properties travel with the report, to the xdist controller as well.
        report.user_properties.append((SECTION, (found[0].name, found[1])))
        if report.failed:
            from crosscheck.testing import diagnosis_block

            block = diagnosis_block(found[0].name)
            if block:
                report.user_properties.append((BLOCK, block))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    values = [value for key, value in report.user_properties if key == SECTION]
    tag = (str(values[0][0]), str(values[0][1])) if values else None  # type: ignore[index]
    config = _ACTIVE[-1] if _ACTIVE else None
    if tag is None or config is None:
        return
    if hasattr(report, "wasxfail"):
        outcome = "xpassed" if report.passed else "xfailed"
    else:
        outcome = report.outcome
    message = ""
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
    run = config.stash[_RUN]
    blocks: list[Any] = [value for key, value in report.user_properties if key == BLOCK]
    if blocks:
        run.blocks.setdefault(tag[0], [str(line) for line in blocks[0]])
    if run.outcomes.get(tag, ("passed", ""))[0] == "failed":
        return  # a setup or teardown error after the call failed keeps the call's message
    run.outcomes[tag] = (outcome, message)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[_RUN]
    if hasattr(config, "workerinput"):
        # An xdist worker: the controller sums up.  It collected nothing and has not loaded the cases
        # (nor torch), so the worker, which has, tells it the registered names.
        if run.cases:
            config.workeroutput[_REGISTERED] = _registered(config)  # type: ignore[attr-defined]
        return
    golden_ran = any(check == "golden" for _, check in run.outcomes)
    if golden_ran and _whole_suite(config, run) and not session.shouldfail and not session.shouldstop:
        from crosscheck.goldens import orphan_goldens

        registered = run.registered if run.registered is not None else _registered(config)
        if isinstance(registered, str):
            run.orphan_error = f"golden files not checked for orphans: {registered}"
        else:
            names = set(run.cases) | {name for name, _ in run.outcomes} | set(registered)
            run.orphans = orphan_goldens(run.folder, names) if run.folder.is_dir() else []
        if (run.orphans or run.orphan_error) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    out = config.getoption("crosscheck_report")
    if out is not None and run.cases:
        try:
            run.written = _write_reports(config, list(run.cases.values()), Path(config.invocation_params.dir, out))
        except (OSError, ImportError) as exc:
            run.report_error = f"--crosscheck-report={out}: the reports could not be written: {exc}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


_REGISTERED = "crosscheck_registered"


def _registered(config: pytest.Config) -> list[str] | str:
    """The names of the project's registered cases, or why they could not be loaded."""
    from crosscheck.errors import RegistrationError
    from crosscheck.registration import registry

    try:
        return list(registry(config.rootpath))
    except RegistrationError as exc:
        return str(exc)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # On the xdist controller; a worker that crashed sent nothing.
    registered = (getattr(node, "workeroutput", None) or {}).get(_REGISTERED)
    config = node.config
    if registered is not None and config in _ACTIVE:
        config.stash[_RUN].registered = registered


def _whole_suite(config: pytest.Config, run: _Run) -> bool:
    """Whether this run collected the whole suite: only then is a golden no test read an orphan rather than
    one this run did not select (paths, -k, -m, --deselect, --lf; under xdist the controller collects
    nothing, so the options are what tells)."""
    option = config.option
    filtered = (
        run.deselected
        or config.args_source == pytest.Config.ArgsSource.ARGS
        or bool(getattr(option, "keyword", ""))
        or bool(getattr(option, "markexpr", ""))
        or bool(getattr(option, "deselect", None))
        or bool(getattr(option, "lf", False))
    )
    return not filtered


def _write_reports(config: pytest.Config, cases: list[Any], out: Path) -> Path:
    from crosscheck import precision, report
    from crosscheck.environment import environment, provenance
    from crosscheck.findings import sections
    from crosscheck.registration import project

    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder")
    wanted = set(project(config.rootpath).float32)
    float32 = [case for case in cases if case.name in wanted]
    networks = report.collect_all(cases)
    report.write_reports(
        networks,
        sections(),
        environment(),
        provenance(),
        out,
        precision.float32_report(float32) if float32 else None,
        report.failing_blocks(cases, networks, out),
    )
    return out


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None or not run.outcomes:
        return
    tr = terminalreporter
    tr.section(SECTION)
    counts: dict[str, int] = {}
    for outcome, _ in run.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    cases = {name for name, _ in run.outcomes}
    tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    tr.write_line(f"{len(cases)} case{'s' if len(cases) != 1 else ''}, {len(run.outcomes)} checks: {tally}")
    failing: dict[str, list[tuple[str, str]]] = {}
    for (name, check), (outcome, message) in run.outcomes.items():
        if outcome == "failed":
            failing.setdefault(name, []).append((check, message))
    for name, failures in failing.items():
        shown = run.blocks.get(name, []) if any(check != "golden" for check, _ in failures) else []
        for line in shown:
            tr.write_line(line, red=line == shown[0])
        for check, message in failures:
            if shown and check != "golden":
                continue  # the block above says it
            lines = message.splitlines() or ["(no message)"]
            tr.write_line(f"FAILED {name}-{check}: {lines[0]}", red=True)
            for line in lines[1:4]:
                tr.write_line(f"    {line}")
    if run.orphans:
        tr.write_line(
            f"golden files that no case read: {', '.join(p.name for p in run.orphans)} in {run.folder}/; "
            f"a case was renamed or removed (delete the file), or its module is missing from "
            f"[tool.crosscheck] cases in pyproject.toml",
            red=True,
        )
    if run.orphan_error is not None:
        tr.write_line(run.orphan_error, red=True)
    if run.written is not None:
        tr.write_line(f"reports written to {run.written}/ (index.html, summary.md, results.json)")
    if run.report_error is not None:
        tr.write_line(run.report_error, red=True)
