"""The ``crosscheck`` command as a user meets it: fast answers without torch, exit statuses, files only where
asked, a first line before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_net import make_case

from crosscheck.__main__ import declared_names, main, table
from crosscheck.compare import Comparison
from crosscheck.registration import project

ROOT = Path(__file__).resolve().parent.parent

# Reports which modules the command imported, after it ran (its own exit status is passed on).
_PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['crosscheck', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('crosscheck', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')\n"
)


def _command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("--list",)])
def test_help_version_and_list_answer_within_a_second_without_torch(args):
    started = time.perf_counter()
    done = _command(*args)
    elapsed = time.perf_counter() - started
    assert done.stdout.rstrip().endswith("NO TORCH"), done.stdout + done.stderr
    # The interpreter's own start is in it; torch alone takes 2 s or more to import.
    assert elapsed < 1.5, f"crosscheck {' '.join(args)} took {elapsed:.2f} s"


def test_version_names_the_installed_distribution():
    from crosscheck import __version__

    assert _command("--version").stdout.splitlines()[0] == f"crosscheck {__version__}"


def test_list_read_from_the_source_names_what_importing_registers():
    # In a fresh process: this one may hold cases other tests registered.
    code = "from crosscheck.registration import registry; print(' '.join(registry()))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert declared_names(project(ROOT)) == done.stdout.split()


def test_list_falls_back_to_importing_when_a_name_is_not_a_literal(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\ncases = ["nets"]\n')
    (tmp_path / "nets.py").write_text("from crosscheck import register\nNAME = 'x'\nregister(make(name=NAME))\n")
    assert declared_names(project(tmp_path)) is None


def test_a_usage_error_exits_2_and_a_misspelt_network_is_one(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--no-such-option"])
    assert exc.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["network_2_2_l"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("crosscheck: unknown network 'network_2_2_l' (did you mean 'network_2_2_1'?)")


def test_a_run_says_what_it_does_before_torch_loads():
    # The first line is printed, flushed, before the cases (and torch) are imported: a misspelt name is
    # found only after that, so its run stops with exit 2 right after the first line.
    done = _command("network_2_2_l")
    lines = done.stderr.splitlines()
    assert lines[0].startswith("crosscheck: loading the cases of the project at "), done.stderr
    assert lines[-1].startswith("crosscheck: unknown network 'network_2_2_l'"), done.stderr


def test_a_run_writes_no_file_unless_given_reports(tmp_path, monkeypatch, capsys):
    fixture = make_case(name="fixture_cli")
    (tmp_path / "pyproject.toml").write_text("[tool.crosscheck]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("crosscheck.__main__.registry", lambda: {fixture.name: fixture})
    assert main([]) == 0
    assert "summary.md not written: give --reports DIR to write it" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]


def _comparison(check: str, max_abs: float, max_rel: float, atol: float, rtol: float) -> Comparison:
    return Comparison("net", check, "q", 3, max_abs, max_rel, atol, rtol, None)


def test_a_row_under_an_absolute_bound_shows_no_relative_difference_beside_it():
    rows = table([_comparison("finite_differences", 2.1e-11, 1.67e-9, 2e-10, 0.0)]).splitlines()[2].split()
    assert rows == ["net", "finite_differences", "3", "2.10e-11", "-", "2e-10", "absolute", "PASS"]
    # A failing difference of 3.65e-8 beside a bound of 3.61e-8 read as "4e-08 absolute | FAIL".
    rows = table([_comparison("finite_differences", 3.65e-8, 1e-3, 3.61e-8, 0.0)]).splitlines()[2].split()
    assert rows[3:7] == ["3.65e-08", "-", "3.61e-08", "absolute"]
    rows = table([_comparison("training_run", 1e-15, 1e-14, 1e-12, 1e-12)]).splitlines()[2].split()
    assert rows[3:6] == ["1.00e-15", "1.00e-14", "1e-12"]
