"""The pytest plugin, loaded in every project that installs nn-crosscheck (entry point ``pytest11``).

- The ``golden`` check that ``parametrize_with_checks`` yields reads its settings here: the folder
  (``[tool.crosscheck] goldens`` of the project's own pyproject.toml, the inifile or the rootdir's, default
  ``tests/goldens``) and pytest-regressions' ``--force-regen``/``--regen-all``, which are refused on a CI
  service (``settings.in_ci``) once the run has collected a golden check.
- At the end of the run, when it ran cross-check tests: a summary of them (cases, checks, each failure with
  its first divergence), golden files that no case read, and with ``--crosscheck-report=DIR`` the reports
  of ``python -m crosscheck.report`` for the cases the run collected.

Loading it and configuring pytest import only pytest and the standard library, and read and write no file:
a project that registers no case pays for none of it (``tests/test_plugin_isolation.py``).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crosscheck import settings
from crosscheck.settings import Settings

SECTION = "crosscheck"
BLOCK = "crosscheck_diagnosis"  # a failing case's block of facts, made by its check, carried with its report
ORPHANS = "crosscheck goldens"  # the name of the error an orphan golden adds to pytest's own tally


@dataclass
class _Run:
    """What one pytest run saw of the cross-check tests."""

    cases: dict[str, Any] = field(default_factory=dict)  # name -> Case, for the cases collected
    # (case, check) -> reason, for the checks collected as strict xfails: the reports count them as expected.
    xfails: dict[tuple[str, str], str] = field(default_factory=dict)
    # (case, check) -> (outcome, message)
    outcomes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    deselected: bool = False
    folder: Path | None = None  # the golden folder, once the orphan check has read it
    orphans: list[Path] = field(default_factory=list)
    orphan_error: str | None = None
    written: Path | None = None
    report_error: str | None = None
    registered: list[str] | str | None = None  # under xdist: the case names a worker loaded, or its error
    blocks: dict[str, list[str]] = field(default_factory=dict)  # case name -> its diagnosis, as its check made it
    # The float32 variants that --crosscheck-report ran: how many checks, and a line for each that failed.
    float32_cases: int = 0
    float32_checks: int = 0
    float32_failures: list[str] = field(default_factory=list)
    # case name -> what its battery leaves out and why (report.text.case_left_out); under xdist, from the workers
    left_out: dict[str, list[str]] = field(default_factory=dict)


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
        "run collected into DIR, and the one-step repros of failing cases into DIR/repro",
    )


def _pyproject(config: pytest.Config) -> Path | None:
    """The project's one file: the inifile when it is a pyproject.toml, else the rootdir's (none above it)."""
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    candidate = config.rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


def _workdir(config: pytest.Config) -> Path:
    """pytest's cache folder for crosscheck (``.pytest_cache/d/crosscheck``, which pytest keeps out of version
    control); with the cache plugin off, a folder in pytest's own temporary area (``--basetemp``, else
    ``pytest-of-<user>``, whose old runs pytest removes); made on first use."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("crosscheck"))
    factory = getattr(config, "_tmp_path_factory", None)  # the tmp_path_factory fixture's, set when pytest configures
    if factory is not None:
        return Path(factory.mktemp("crosscheck"))
    return Path(tempfile.mkdtemp(prefix="pytest-crosscheck-"))


def pytest_configure(config: pytest.Config) -> None:
    # Without pytest-xdist the mark parametrize_with_checks sets would be unknown to --strict-markers.
    config.addinivalue_line(
        "markers", "xdist_group(name): pytest-xdist's --dist loadgroup runs the group on one worker"
    )
    out = config.getoption("crosscheck_report")
    if out is not None and config.getoption("numprocesses", None):
        raise pytest.UsageError("--crosscheck-report needs the cases in this process: run it without -n (xdist)")
    config.stash[_RUN] = _Run()
    config.stash[_SETTINGS] = Settings(
        root=config.rootpath,
        pyproject=_pyproject(config),
        force_regen=bool(config.getoption("force_regen", False)),
        regen_all=bool(config.getoption("regen_all", False)),
        report=Path(config.invocation_params.dir, out) if out is not None else None,
        workdir=functools.cache(functools.partial(_workdir, config)),
        say=functools.partial(_say, config),
    )
    settings.push(config.stash[_SETTINGS])
    _ACTIVE.append(config)


def _say(config: pytest.Config, line: str) -> None:
    """A line on pytest's terminal while tests run (a test's own output is captured); standard error where there
    is no terminal reporter (an xdist worker's, whose output the controller shows)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(line, file=sys.stderr, flush=True)
        return
    reporter.ensure_newline()
    reporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _ACTIVE:
        _ACTIVE.remove(config)
    if _SETTINGS in config.stash:
        settings.pop(config.stash[_SETTINGS])


def _project(config: pytest.Config) -> Any:
    """The run's project (read now, when a cross-check test needs it), or a usage error naming the file."""
    from crosscheck.errors import RegistrationError
    from crosscheck.registration import run_project

    try:
        return run_project(config.stash[_SETTINGS])
    except RegistrationError as exc:
        raise pytest.UsageError(str(exc)) from None


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
    """The cases of the tests that will run (after -k, -m and --deselect have taken theirs); the CI refusal of
    regeneration, once a golden check is among them (a run with none rewrites no golden of crosscheck's)."""
    config = session.config
    run = config.stash[_RUN]
    golden = False
    for item in session.items:
        found = _case_and_check(item)
        if found is not None:
            run.cases.setdefault(found[0].name, found[0])
            golden = golden or found[1] == "golden"
            mark = item.get_closest_marker("xfail")
            if mark is not None and mark.kwargs.get("strict", False):
                run.xfails[(found[0].name, found[1])] = str(mark.kwargs.get("reason", ""))
    run_settings = config.stash[_SETTINGS]
    if golden and not hasattr(config, "workerinput"):  # a worker's golden checks refuse on their own
        from crosscheck.settings import regeneration_refusal

        refusal = regeneration_refusal(run_settings.force_regen, run_settings.regen_all, _project(config).goldens)
        if refusal is not None:
            raise pytest.UsageError(refusal)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``--dist loadgroup``: make the ``xdist_group`` of the cross-check tests reach the
    scheduler.  pytest-xdist (3.8) appends ``@<group>`` to ``item._nodeid``, the string pytest read its node ids
    from until 9.2; pytest 9.2 reads them from ``item._id``, so the suffix is lost and each worker would run
    every case again.  Only the cross-check tests are touched, and only where the two ids disagree."""
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return
    for item in items:
        wanted = getattr(item, "_nodeid", None)
        if not isinstance(wanted, str) or wanted == item.nodeid or not hasattr(item, "_id"):
            continue
        if _case_and_check(item) is None:
            continue
        try:
            from _pytest.nodeid import NodeId  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return
        item._id = NodeId.parse(wanted)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items and items[0].config in _ACTIVE:
        items[0].config.stash[_RUN].deselected = True


_CHECK_RAN = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Whether the test's body called its ``check``, counted on the check itself (one object may serve several
    items: a parametrization applied to two tests)."""
    check = getattr(getattr(item, "callspec", None), "params", {}).get("check")
    before = getattr(check, "calls", None)
    yield
    if before is not None and _case_and_check(item) is not None:
        item.stash[_CHECK_RAN] = getattr(check, "calls", 0) > before


@pytest.hookimpl(hookwrapper=True)  # old-style: pytest 7.0 may run on a pluggy without wrapper=True
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    found = _case_and_check(item)
    unchecked = report.when == "call" and report.passed and not hasattr(report, "wasxfail")
    if found is not None and unchecked and not item.stash.get(_CHECK_RAN, True):
        # A body that never called check(case) checked nothing: it must not pass.
        from crosscheck.testing import not_called

        report.outcome = "failed"
        report.longrepr = not_called(found[0].name, found[1])
    if found is not None and (report.when == "call" or report.failed):
        # user_properties travel with the report, to the xdist controller as well.
        report.user_properties.append((SECTION, (found[0].name, found[1])))
        if report.failed:
            from crosscheck.testing import diagnosis_block

            block = diagnosis_block(found[0].name)
            if block:
                report.user_properties.append((BLOCK, block))


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
            config.workeroutput[_LEFT_OUT] = _left_out(run)  # type: ignore[attr-defined]
        return
    golden_ran = any(check == "golden" for _, check in run.outcomes)
    if golden_ran and _whole_suite(config, run) and not session.shouldfail and not session.shouldstop:
        _check_orphans(config, run)
        if run.orphans or run.orphan_error:
            # An error in pytest's own tally, so that its last line and the exit status agree.
            text = run.orphan_error or _orphan_text(run)
            config.hook.pytest_collectreport(
                report=pytest.CollectReport(ORPHANS, "failed", text, [])  # type: ignore[arg-type]
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    out = config.getoption("crosscheck_report")
    if out is not None and run.cases:
        try:
            run.written, float32 = _write_reports(
                config, list(run.cases.values()), Path(config.invocation_params.dir, out), run.xfails
            )
        except Exception as exc:  # a plot's warning made an error by filterwarnings, a full disk: a line, not a crash
            run.report_error = f"--crosscheck-report={out}: the reports could not be written: {_reason(exc)}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if float32 is not None:
            # The float32 variants no test of the run checked (parametrize_with_checks adds them to the cases it is
            # given): a failure there fails the run as one of its tests would.
            untested = {k: n for k, n in float32["networks"].items() if n["network"] not in run.cases}
            run.float32_cases = len(untested)
            run.float32_checks, run.float32_failures = _float32_outcome({**float32, "networks": untested})
            if run.float32_failures and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _float32_outcome(data: dict[str, Any]) -> tuple[int, list[str]]:
    """The number of float32 checks in ``precision.float32_report()``'s data, and a line for each that failed."""
    from crosscheck.precision import failed_checks

    messages = {
        f"{n['network']} / {check}": r.get("message", "")
        for n in data["networks"].values()
        for check, r in n["checks"].items()
    }
    lines = []
    for label in failed_checks(data):
        first = (messages[label].splitlines() or ["(no message)"])[0]
        lines.append(f"FAILED {label}: {first.removeprefix(label + ': ')}")
    return len(messages), lines


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if isinstance(exc, (OSError, ImportError)) else f"{type(exc).__name__}: {text}"


def _check_orphans(config: pytest.Config, run: _Run) -> None:
    from crosscheck.goldens import orphan_goldens

    try:
        proj = _project(config)
    except pytest.UsageError as exc:
        run.orphan_error = f"golden files not checked for orphans: {exc}"
        return
    registered = run.registered if run.registered is not None else _registered(config)
    if isinstance(registered, str):
        run.orphan_error = f"golden files not checked for orphans: {registered}"
        return
    run.folder = proj.goldens
    names = set(run.cases) | {name for name, _ in run.outcomes} | set(registered) | set(proj.optional)
    run.orphans = orphan_goldens(run.folder, names) if run.folder.is_dir() else []


def _orphan_text(run: _Run) -> str:
    files = ", ".join(p.name for p in run.orphans)
    names = ", ".join(f'"{p.stem}"' for p in run.orphans)
    return (
        f"golden files that no case read: {files} in {run.folder}/; either a case was renamed or removed (delete "
        f"the file) or its module is missing from [tool.crosscheck] cases in pyproject.toml, or its case is "
        f"registered only where something this machine lacks is installed (keep the file, and declare it there: "
        f"optional = [{names}])"
    )


_REGISTERED = "crosscheck_registered"
_LEFT_OUT = "crosscheck_left_out"


def _left_out(run: _Run) -> dict[str, list[str]]:
    from crosscheck.report.text import case_left_out

    return {name: lines for name, case in run.cases.items() if (lines := case_left_out(case))}


def _registered(config: pytest.Config) -> list[str] | str:
    """The names of the project's registered cases, or why they could not be loaded."""
    from crosscheck.errors import RegistrationError
    from crosscheck.registration import registry

    try:
        return list(registry())  # the project of the run in progress, this one
    except RegistrationError as exc:
        return str(exc)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # On the xdist controller; a worker that crashed sent nothing.
    registered = (getattr(node, "workeroutput", None) or {}).get(_REGISTERED)
    config = node.config
    if registered is not None and config in _ACTIVE:
        config.stash[_RUN].registered = registered
    left_out = (getattr(node, "workeroutput", None) or {}).get(_LEFT_OUT)
    if left_out and config in _ACTIVE:
        config.stash[_RUN].left_out.update(left_out)


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


def _write_reports(
    config: pytest.Config, cases: list[Any], out: Path, xfails: dict[tuple[str, str], str] | None = None
) -> tuple[Path, dict[str, Any] | None]:
    """The reports of ``cases`` into ``out``, and the float32 report's data (None when no case collected is
    listed in ``[tool.crosscheck] float32``); ``xfails``, the strict xfails the run collected, count as expected
    failures there as they do in pytest's tally."""
    from crosscheck import precision, report
    from crosscheck.environment import environment, provenance
    from crosscheck.findings import sections

    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder")
    wanted = set(_project(config).float32)
    float32 = [case for case in cases if case.name in wanted]
    variants = {f"{name}_float32" for name in wanted}
    cases = [case for case in cases if case.name not in variants]  # their figures are float32.json's
    networks = report.collect_all(cases)
    data = precision.float32_report(float32) if float32 else None
    report.write_reports(
        networks,
        sections(),
        environment(),
        provenance(),
        out,
        data,
        report.failing_blocks(cases, networks, out),
        report.declared(cases, xfails),
    )
    return out, data


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
    for name, lines in sorted((run.left_out or _left_out(run)).items()):
        for line in lines if name in cases else ():
            tr.write_line(f"{name}: {line}")
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
    if run.float32_checks:
        failed = len(run.float32_failures)
        tally = f"{failed} failed, {run.float32_checks - failed} passed" if failed else f"{run.float32_checks} passed"
        n = run.float32_cases
        tr.write_line(
            f"float32 (--crosscheck-report): {n} case{'s' if n != 1 else ''}, {run.float32_checks} checks: {tally}",
            red=bool(failed),
        )
        for line in run.float32_failures:
            tr.write_line(line, red=True)
    if run.orphans:
        tr.write_line(_orphan_text(run), red=True)
    if run.orphan_error is not None:
        tr.write_line(run.orphan_error, red=True)
    if run.written is not None:
        tr.write_line(f"reports written to {run.written}/ (index.html, summary.md, results.json)")
    if run.report_error is not None:
        tr.write_line(run.report_error, red=True)
