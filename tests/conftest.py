"""The runs memo (``crosscheck.run.memo.RUNS``) is per process; a test that patches a network must not leave
patched runs behind.  This repository's own accounting (each registered case's full run computed once per gate
run) lives here and in ``tests/full_runs.py``.

Nothing is imported from the harness at module level, so loading this file does not load torch.
Golden files, the CI refusal of regeneration and the end-of-run summary come from the plugin that
nn-crosscheck installs (``crosscheck.plugin``), as in any project that uses it.
"""

import atexit
import gc
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import full_runs

# tests/test_plugin.py runs nested pytest sessions.
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _patched_traces_do_not_outlive_the_test(request: pytest.FixtureRequest) -> object:
    # A test that patches a scratch network and then fills the per-process runs memo would hand every later
    # test a run of the patched network; such a test's runs are forgotten when it ends.
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    from crosscheck.run.memo import RUNS

    # The counts of full runs go back too: a patched run the test computed is not the gate's.
    saved = [(counts, dict(counts)) for counts in (full_runs.FULL_RUNS, full_runs.FULL_RUN_SITES)]
    with RUNS.scope():
        yield
    for counts, entries in saved:
        counts.clear()
        counts.update(entries)


# --- each full run once per gate run ---------------------------------------------------------------
# `nox -s tests` runs the suite on one xdist worker per core. The trace cache is per process, so the
# files whose tests read the full run of a registered case (or of its float32 variant) through
# crosscheck.run.memo.traces run on one worker, and the run fails when any full run was computed twice
# anywhere (summed over the workers), naming the tests that computed it: add their file here.
# (The float32 runs' readers cannot be a unit of their own: the drift test reads both dtypes' whole runs.)
FULL_RUN_READERS = {
    "test_battery.py",
    "test_digits.py",
    "test_example.py",
    "test_example_bugs.py",
    "test_findings.py",
    "test_finite_differences.py",
    "test_float32.py",
    "test_mutations.py",
    "test_protocol.py",
    "test_report.py",
    "test_tutorial_runs.py",
}


def pytest_configure(config: pytest.Config) -> None:
    runs_tests = hasattr(config, "workerinput") or not config.getoption("numprocesses", None)
    if runs_tests:
        # The library's event, this repository's count; not on the controller of an xdist run, which runs no
        # test and loads no torch.
        from crosscheck.run.memo import RUNS

        if full_runs.count not in RUNS.on_full_run:
            RUNS.on_full_run.append(full_runs.count)
    if hasattr(config, "workerinput"):
        # One torch thread per xdist worker: the workers already fill the cores, and these networks'
        # tensors are far too small for a kernel to gain from splitting (results are equal within the
        # tolerance either way: tests/test_determinism.py).
        import torch

        torch.set_num_threads(1)
        # The controller waits for each worker's process to end, and an interpreter that has loaded torch
        # takes 0.5-1 s to tear its modules down. By the time atexit runs, the worker has sent every
        # report and its counts of full runs. What this skips: the teardown, and the exit functions
        # registered before this one (logging's flush of its handlers; none of these tests logs to a file).
        atexit.register(_exit_now)


def _exit_now() -> None:
    if "coverage" in sys.modules:  # a coverage run saves each worker's data at exit: let it
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the exit status of a worker is not read: its results went to the controller


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # What importing torch, the cases and the test modules made (about 400,000 objects) lives to the end of
    # the run: out of the collector's sight, the full collections that the tests' own objects set off walk
    # only those (measured: 0.6-0.9 s of full collections per xdist worker without this).
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The battery first: a learner's `pytest -x` stops at a broken network before the harness's own tests.
    # Then the tests that run pytest sessions of their own (pytester), the slowest on their own: under xdist,
    # a worker that takes one of them last would leave the other worker idle until it ends.
    items.sort(
        key=lambda item: (item.path.name != "test_battery.py", "pytester" not in getattr(item, "fixturenames", ()))
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``: the full-run readers as one unit of work, every other test on its own.

    By file name, on the controller: xdist's own loadgroup reads ``xdist_group`` marks into node ids,
    which pytest 9.2's node ids no longer take (xdist 3.8 leaves them unchanged)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FullRunReadersTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return "full-run readers" if file in FULL_RUN_READERS else nodeid

    return FullRunReadersTogether(config, log)


def _full_runs() -> list[list[Any]]:
    """[name, seed, dtype, variant, times, [tests]] for each full run this process computed."""
    return [[*key, n, full_runs.FULL_RUN_SITES.get(key, [])] for key, n in full_runs.FULL_RUNS.items()]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # On the xdist controller: the worker's full runs, sent at its session's end.
    # A worker that crashed sent nothing (and has no workeroutput).
    output = getattr(node, "workeroutput", None) or {}
    node.config.stash.setdefault(_WORKER_RUNS, []).extend(output.get("full_runs", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller checks the whole run
        config.workeroutput["full_runs"] = _full_runs()
        return
    counts: Counter = Counter()
    sites: dict[tuple, list[str]] = {}
    for *key, n, where in _full_runs() + config.stash.get(_WORKER_RUNS, []):
        counts[tuple(key)] += n
        sites.setdefault(tuple(key), []).extend(where)
    out = os.environ.get("CROSSCHECK_FULL_RUNS")  # tools/bench.py: the runs the gate's floor counts
    if out:
        Path(out).write_text(json.dumps([[*key, n] for key, n in sorted(counts.items())]))
    if not counts:
        return
    from crosscheck.errors import repeated_full_runs  # no torch: the controller of an xdist run has none

    problems = repeated_full_runs(counts, sites)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        if reporter._tw.width_of_current_line:  # xdist's progress line ends without a newline
            reporter.line("")
        reporter.write_line(
            f"full runs computed: {len(counts)}, each once" if not problems else "full runs computed more than once:"
        )
        for line in problems:
            reporter.write_line(f"  {line}", red=True)
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_WORKER_RUNS = pytest.StashKey[list]()
