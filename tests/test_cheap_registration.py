"""Registration is cheap (issue 24): a case is validated on the rows its first batches take, ``crosscheck --list``
builds no network, and a repro imports only the module of its own case.  And a run says its size (issue 23,
class 10): announced when large, refused above the case's ``max_size``."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixture_net import Net, TwinNet, make_case

from crosscheck import RegistrationError, register, registration, settings, shuffled_batches, size
from crosscheck.__main__ import run_all
from crosscheck.checks import run_check
from crosscheck.diagnose.repro import write_repro
from tools.user_project import NETWORK

ROOT = Path(__file__).resolve().parent.parent
ROWS = 1000


@pytest.fixture
def empty_registry(monkeypatch):
    """A registry of this test's own: the cases registered here do not reach other tests."""
    monkeypatch.setattr(registration, "_REGISTRY", {})
    monkeypatch.setattr(registration, "_REGISTERED_IN", {}, raising=False)


def test_registration_takes_the_first_steps_on_their_rows_and_the_checks_the_whole_data(empty_registry):
    seen: list[int] = []

    class Counted(TwinNet):
        def forward(self, x):
            seen.append(len(x))
            return super().forward(x)

    def forward(net, x):
        seen.append(len(x))
        return Net.forward(net, x)

    X = np.random.RandomState(1).normal(size=(ROWS, 2))
    case = make_case(
        name="many_rows",
        X=X,
        y=np.tanh(X @ np.array([[0.8], [-0.6]])),
        batches=shuffled_batches(ROWS, 10, 1),
        curve_steps=[0, 50, 99],
        forward=forward,
        module=Counted,
    )
    register(case)
    # The first three batches of ten rows: nothing of the whole data.
    assert max(seen) <= 30, seen
    seen.clear()
    assert run_check(case, "forward").passed
    assert ROWS in seen  # the forward check compares the whole data, as before


def test_list_builds_no_network_where_it_must_import_the_cases(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\ncases = ["unbuilt"]\n')
    (tmp_path / "unbuilt.py").write_text(
        NETWORK + "\n\ndef refuse(rng):\n    raise RuntimeError('a network was built')\n\n\n"
        "from dataclasses import replace\n\n"
        "for name in ('first', 'second'):  # names not literal in register(...): --list must import the module\n"
        "    register(replace(CASE, name=name, scratch=replace(CASE.scratch, network=refuse)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, out in ((["--list"], "first\nsecond\n"), (["--version"], None), (["--help"], None)):
        done = subprocess.run(
            [sys.executable, "-m", "crosscheck", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert out is None or done.stdout == out


def test_list_imports_a_module_that_registers_through_another_module(tmp_path):
    # A package whose __init__ only imports its submodules, and a module that calls another's function: no
    # register(...) call of their own to read, so --list imports them (it printed "No network is registered").
    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\ncases = ["pkg", "calls_other"]\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg import inner  # noqa: F401\n")
    (tmp_path / "pkg" / "inner.py").write_text(NETWORK + "\n\nregister(CASE)\n")
    (tmp_path / "maker.py").write_text(
        NETWORK + "\n\nfrom dataclasses import replace\n\n\n"
        "def make():\n    return register(replace(CASE, name='made'))\n"
    )
    (tmp_path / "calls_other.py").write_text("from maker import make\n\nMADE = make()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    done = subprocess.run(
        [sys.executable, "-m", "crosscheck", "--list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert sorted(done.stdout.split()) == ["line", "made"]


def test_a_repro_imports_only_the_module_of_its_case_and_validates_only_it(tmp_path, empty_registry, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\ncases = ["h3_broken", "h3_lines"]\n')
    (tmp_path / "h3_broken.py").write_text("raise ImportError('the repro imported another case module')\n")
    (tmp_path / "h3_lines.py").write_text(
        NETWORK + "\n\ndef refuse(rng):\n    raise RuntimeError('another case was built')\n\n\n"
        "from dataclasses import replace\n\n"
        "register(CASE)\n"
        "register(replace(CASE, name='other', scratch=replace(CASE.scratch, network=refuse)))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "h3_lines", raising=False)
    case = registration.load_module(tmp_path, "h3_lines")["line"]
    assert registration.registered_in(case) == ("h3_lines", str(tmp_path / "h3_lines.py"))
    script = write_repro(case, 0, None, tmp_path / "repro", tmp_path)
    assert "'h3_lines'" in script.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "line: step 0 on both sides from the state entering it (rows of X: [0, 1, 2, 3])\n"
        "scratch and twin agree on this step\n"
    )


# --- the size of a run ------------------------------------------------------------------------------
# The fixture: 6 steps of a 2-3-1 (13 parameters).

OVER = (
    "case 'fixture_2_3_1': the run is 6 steps x 13 parameters = 78 parameter-steps, above the case's max_size of 50; "
    "shorten the schedule (Data(batches=...)) or raise max_size"
)


def test_a_run_over_the_cases_bound_is_refused_with_its_size(empty_registry):
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(max_size=50))
    assert str(excinfo.value) == OVER
    assert run_check(make_case(max_size=50), "forward").message() == (
        f"fixture_2_3_1 / forward: the case cannot be checked: {OVER}"
    )
    assert run_check(make_case(max_size=78), "forward").passed  # the bound itself is allowed


@pytest.mark.parametrize("bound", [0, 2.5, "78"])
def test_a_bound_that_is_not_a_positive_int_is_refused(bound):
    assert run_check(make_case(max_size=bound), "forward").message() == (
        f"fixture_2_3_1 / forward: the case cannot be checked: case 'fixture_2_3_1': max_size must be a positive "
        f"int (steps x parameters), got {bound!r}"
    )


def test_a_large_run_says_its_size_once_before_it_starts(monkeypatch, capsys):
    monkeypatch.setattr(size, "LARGE", 78)
    monkeypatch.setattr(settings, "current", lambda: None)  # outside pytest: standard error
    case = make_case()
    for check in ("forward", "training_run"):
        assert run_check(case, check).passed
    assert capsys.readouterr().err == "fixture_2_3_1: a large run, 6 steps x 13 parameters = 78 parameter-steps\n"
    monkeypatch.setattr(size, "LARGE", 79)
    run_check(small := make_case(), "forward")
    assert size.large_run(small) is None and capsys.readouterr().err == ""


def test_the_command_says_a_large_runs_size_before_its_checks(monkeypatch):
    monkeypatch.setattr(size, "LARGE", 78)
    case = make_case()
    progress = io.StringIO()
    run_all({case.name: case}, progress=progress)
    first, second = progress.getvalue().splitlines()
    assert first == "fixture_2_3_1: a large run, 6 steps x 13 parameters = 78 parameter-steps"
    assert second.startswith("fixture_2_3_1: 8 checks, all passed (")


def test_under_pytest_a_large_run_is_said_on_the_terminal_past_the_capture(monkeypatch, capsys):
    # pytest captures a test's standard error: the plugin hands the library its terminal instead.
    said: list[str] = []
    run = settings.current()
    assert run is not None and run.say is not None  # the plugin's own
    monkeypatch.setattr(settings, "current", lambda: dataclasses.replace(run, say=said.append))
    monkeypatch.setattr(size, "LARGE", 78)
    assert run_check(make_case(), "forward").passed
    assert said == ["fixture_2_3_1: a large run, 6 steps x 13 parameters = 78 parameter-steps"]
    assert capsys.readouterr().err == ""
