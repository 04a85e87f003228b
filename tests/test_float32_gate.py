"""A bug only in the float32 path of a case listed in ``[tool.crosscheck] float32`` fails every gate: a plain
``pytest`` (``parametrize_with_checks`` adds the variant's tests), ``--crosscheck-report`` and the ``crosscheck``
command, as ``python -m crosscheck.report`` does, each naming the variant and its failing checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crosscheck import registration
from tests.test_plugin import _nothing_outlives_the_nested_runs, project, summary  # noqa: F401
from tools.user_project import NETWORK

# The learner's forward in float32 only: a constant that float64 never sees.
FLOAT32_BUG = NETWORK.replace(
    "        return x @ self.w + self.b\n",
    "        return x @ self.w + self.b + (1e-3 if x.dtype == np.float32 else 0.0)\n",
)
PYPROJECT = (
    '[project]\nname = "user-project"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n\n'
    '[tool.crosscheck]\ncases = ["line"]\nfloat32 = ["line"]\n'
)


@pytest.fixture
def float32_bug(project, monkeypatch):  # noqa: F811
    assert FLOAT32_BUG != NETWORK
    # This process has loaded the tutorials, whose findings section a user's process would not have.
    monkeypatch.setattr("crosscheck.findings._PRODUCERS", {})
    monkeypatch.setattr("crosscheck.registration._REGISTRY", {})
    project.makepyprojecttoml(PYPROJECT)
    project.makepyfile(line=FLOAT32_BUG + "\nregister(CASE)\n")
    project.runpytest("-p", "no:cacheprovider")  # writes the float64 golden, which the float32 bug leaves right
    registration._REGISTRY.clear()  # the next run imports line.py again, as a new process would
    return project


def test_pytest_fails_on_a_float32_only_bug_naming_each_failing_check(float32_bug):
    # parametrize_with_checks([CASE]) adds the variant of the listed case: a plain run checks it.
    result = float32_bug.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=10, failed=6)  # the float64 tests and the variant's initial parameters pass
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert summary(result)[0] == "2 cases, 16 checks: 6 failed, 10 passed"
    failed = sorted(line.split(" - ")[0] for line in result.outlines if line.startswith("FAILED tests/"))
    assert failed == sorted(
        f"FAILED tests/test_line.py::test_line[line_float32-{check}]"
        for check in ("forward", "loss", "gradients", "one_step", "training_run", "anchored_steps")
    )
    # The reports count the variant's checks once: as the tests they were, and in the page's float32 section.
    registration._REGISTRY.clear()
    result = float32_bug.runpytest("-p", "no:cacheprovider", "--crosscheck-report=out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert summary(result)[0] == "2 cases, 16 checks: 6 failed, 10 passed"
    assert not any(line.startswith("float32 (--crosscheck-report)") for line in summary(result))
    page = (float32_bug.path / "out" / "index.html").read_text(encoding="utf-8")  # written, failures included
    assert (
        '<span class="total fail">8 checks on 1 network: 8 passed, 0 failed; Float32 drift: 7 checks, 6 failed</span>'
        in page
    )


def test_the_command_runs_the_float32_variants_and_fails_on_them(float32_bug):
    # In a fresh process, as a user runs it: in this one line.py would stay imported after the test.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "crosscheck"], cwd=float32_bug.path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    rows = {(row.split()[0], row.split()[1]): row.split()[-1] for row in lines[2:] if row.startswith("line")}
    assert {check for (network, check), verdict in rows.items() if verdict == "FAIL"} == {
        "forward",
        "loss",
        "gradients",
        "one_step",
        "training_run",
        "anchored_steps",
    }
    assert all(network == "line_float32" for (network, _), verdict in rows.items() if verdict == "FAIL")
    assert ("line_float32", "initial_parameters") in rows and ("line", "finite_differences") in rows
    assert "9 passed, 6 failed" in lines
    assert "line_float32: 6 check(s) failed (forward, loss, gradients, one_step, training_run, anchored_steps)" in (
        done.stderr.splitlines()
    )


def test_the_float32_report_says_a_project_problem_in_one_line(monkeypatch, capsys):
    from crosscheck import precision
    from crosscheck.errors import RegistrationError

    def broken() -> None:
        raise RegistrationError("pyproject.toml: [tool.crosscheck] float32 names ['nope'], which are not registered")

    monkeypatch.setattr(precision, "float32_report", broken)
    assert precision.main(["--out", "unused.json"]) == 1
    assert capsys.readouterr().err == (
        "python -m crosscheck.precision: pyproject.toml: [tool.crosscheck] float32 names ['nope'], which are not "
        "registered\n"
    )
