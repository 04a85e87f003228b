"""The plugin in a project that registers no case changes nothing, and under xdist a case is computed once.

A user installs nn-crosscheck into the environment of a project they already have; its pytest11 entry point
loads the plugin in every pytest run there.  These runs are fresh interpreters (what a run imports is the point)
or nested runs in a folder of their own.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crosscheck.settings import CI_VARIABLES
from tools.user_project import NETWORK, TWO_CASES, XDIST_CONFTEST

TRIVIAL = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'a' < 'b'\n"
MODULES = """
import json, os, sys


def pytest_unconfigure(config):
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def pytest_in(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in (*CI_VARIABLES, "PYTEST_ADDOPTS")} | (env or {})
    environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's crosscheck
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],  # the plugin loads from its pytest11 entry point
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
    )


def unrelated_project(folder: Path) -> Path:
    """A project that uses pytest and knows nothing of crosscheck."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_trivial.py").write_text(TRIVIAL)
    return folder


def test_loading_the_plugin_imports_only_pytest_and_the_standard_library(tmp_path):
    project = unrelated_project(tmp_path / "p")
    (project / "conftest.py").write_text(MODULES)
    seen = {}
    for label, switch in (("on", []), ("off", ["-p", "no:crosscheck"])):
        out = tmp_path / f"{label}.json"
        run = pytest_in(project, *switch, env={"MODULES_OUT": str(out)})
        assert run.returncode == 0, run.stdout + run.stderr
        seen[label] = set(json.loads(out.read_text()))
    added = seen["on"] - seen["off"]
    foreign = sorted(
        m for m in added if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "crosscheck"
    )
    assert foreign == [], f"loading the plugin imported {foreign}"
    assert not {"numpy", "torch", "matplotlib"} & seen["on"]
    assert sorted(m for m in added if m.startswith("crosscheck")) == [
        "crosscheck",
        "crosscheck.plugin",
        "crosscheck.settings",
    ]


def test_a_broken_pyproject_above_the_rootdir_is_not_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text("this is [not toml\n")
    run = pytest_in(unrelated_project(tmp_path / "p"), "-p", "no:cacheprovider")
    assert run.returncode == 0, run.stdout + run.stderr


def test_in_ci_pytest_regressions_flags_are_left_to_a_project_without_goldens_of_crosscheck(tmp_path):
    project = unrelated_project(tmp_path / "p")
    for flag in ("--force-regen", "--regen-all"):
        run = pytest_in(project, "-p", "no:cacheprovider", flag, env={"CI": "true"})
        assert run.returncode == 0, run.stdout + run.stderr


def test_a_run_without_cases_writes_nothing_and_adds_no_section(tmp_path):
    project = unrelated_project(tmp_path / "p")
    (project / "goldens_like").mkdir()
    run = pytest_in(project)  # with pytest's cache on: crosscheck's part of it is made only when needed
    assert run.returncode == 0, run.stdout + run.stderr
    assert "crosscheck" not in run.stdout
    assert not (project / ".pytest_cache" / "d" / "crosscheck").exists()
    assert sorted(p.name for p in project.iterdir() if p.name != "__pycache__") == [
        ".pytest_cache",
        "goldens_like",
        "pytest.ini",
        "test_trivial.py",
    ]


def test_an_unrelated_npz_in_the_golden_folder_is_left_alone(tmp_path):
    # Only crosscheck's own files there can be orphans (tests/test_golden_integrity.py); this is the run's side.
    project = unrelated_project(tmp_path / "p")
    goldens = project / "tests" / "goldens"
    goldens.mkdir(parents=True)
    (goldens / "mine.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    assert pytest_in(project, "-p", "no:cacheprovider").returncode == 0


@pytest.mark.parametrize("dist", ["loadgroup"])
def test_under_xdist_loadgroup_each_case_is_computed_once(tmp_path, dist):
    pytest.importorskip("xdist")
    project = tmp_path / "p"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (project / "line.py").write_text(NETWORK)
    (project / "conftest.py").write_text(XDIST_CONFTEST)
    (project / "tests" / "test_line.py").write_text(TWO_CASES)
    log = tmp_path / "full_runs.log"
    run = pytest_in(
        project, "-p", "no:cacheprovider", "-vv", "-n", "2", "--dist", dist, env={"FULL_RUNS_LOG": str(log)}
    )
    assert "2 failed, 16 passed" in run.stdout, run.stdout + run.stderr  # the two goldens, written on a first run
    workers: dict[str, set[str]] = {}
    for worker, case in re.findall(r"\[(gw\d+)\] \[ *\d+%\] \w+ tests/test_line\.py::test_line\[(\w+)-", run.stdout):
        workers.setdefault(case, set()).add(worker)
    assert {case: len(found) for case, found in workers.items()} == {"line": 1, "line_b": 1}, run.stdout
    assert sorted(log.read_text().split()) == ["line", "line_b"]
