"""What a case declares about its own verdict, as every entry point shows it: its own float64 tolerance with the
reason (refused without one), and its expected failures, counted as expected (exit 0) by the ``crosscheck``
command, ``python -m crosscheck.report`` and ``pytest --crosscheck-report`` alike."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
import torch._dynamo  # noqa: F401  (as tests/test_plugin.py: imported once, before any nested pytest run)
from fixture_net import Net, make_case

import crosscheck.report.plots  # noqa: F401  (matplotlib, for the same reason)
from crosscheck import RegistrationError, Tolerance, register, registration, run_check, verdict
from crosscheck.__main__ import main
from crosscheck.checks import battery
from crosscheck.compare import Problem
from crosscheck.goldens import GoldenError, check_golden, golden_tolerance
from crosscheck.report import cli
from crosscheck.run.memo import RUNS
from crosscheck.settings import CI_VARIABLES
from tools.user_project import NETWORK

MADE = {"commit": "abc1234", "generated_at": "2026-12-02T12:00:00Z"}
REASON = "its update rounds to 1e-9 a step (measured: 1.1e-8 after 6 steps)"


@pytest.fixture(autouse=True)
def _registry_as_it_was(monkeypatch):
    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))


def _off_by(eps):
    """Net's update, each parameter moved ``eps`` further: a difference of 1e-9 a step."""

    def update(net, grads, lr):
        Net.update(net, grads, lr)
        for name in grads:
            setattr(net, name, getattr(net, name) + eps)

    return update


def test_a_tolerance_without_a_reason_is_refused():
    with pytest.raises(RegistrationError) as exc:
        register(make_case(name="no_reason", tolerance=Tolerance(1e-8, 1e-10)))
    assert str(exc.value) == (
        "case 'no_reason': Tolerance(atol=1e-08, rtol=1e-10) has no reason; a case's own bound is shown beside its "
        "figures in every report with why it is needed: give the measured reason, Tolerance(1e-08, 1e-10, "
        "reason='...')"
    )


def test_a_cases_own_tolerance_is_the_bound_of_its_float64_checks():
    fixed = make_case(name="fixed_bound", update=_off_by(1e-9))
    own = register(make_case(name="own_bound", update=_off_by(1e-9), tolerance=Tolerance(1e-7, 1e-10, REASON)))
    assert not run_check(fixed, "training_run").passed
    result = run_check(own, "training_run")
    assert result.passed and (result.atol, result.rtol) == (1e-7, 1e-10)
    assert [check for check in battery(own) if not run_check(own, check).passed] == []


def test_a_cases_own_tolerance_is_the_bound_of_its_golden_too(tmp_path):
    # Its sides part by 1e-9 a step, within its own bound: each meets a golden written from either side within the
    # same bound, as they meet each other (under the fixed bound the twin side failed every run after the first,
    # "only the twin side moved").
    own = register(make_case(name="own_bound", update=_off_by(1e-9), tolerance=Tolerance(1e-7, 1e-10, REASON)))
    folder, work = tmp_path / "goldens", tmp_path / "work"
    with pytest.raises(GoldenError, match="no golden file yet"):
        check_golden(own, folder, RUNS.full(own), workdir=work, environ={})
    check_golden(own, folder, RUNS.full(own), workdir=work, environ={})
    assert golden_tolerance(own) == (1e-7, 1e-10) and golden_tolerance(make_case(name="fixed")) == (1e-12, 1e-10)


def _project(tmp_path, monkeypatch, *cases):
    (tmp_path / "pyproject.toml").write_text("[tool.crosscheck]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("crosscheck.__main__.registry", lambda: {c.name: c for c in cases})
    monkeypatch.setattr(cli, "registry", lambda: {c.name: c for c in cases})
    monkeypatch.setattr("crosscheck.precision.configured_cases", lambda: ())
    monkeypatch.setattr("crosscheck.environment.provenance", lambda: MADE)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_the_own_tolerance_and_its_reason_stand_beside_the_figures_in_every_report(tmp_path, monkeypatch, capsys):
    case = make_case(name="own_bound", update=_off_by(1e-9), tolerance=Tolerance(1e-7, 1e-10, REASON))
    _project(tmp_path, monkeypatch, case)
    assert main(["--reports", "out"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[1]: line for line in out if line.startswith("own_bound ")}
    assert "1e-07 + 1e-10·|twin| *" in rows["training_run"] and "exact  " in rows["initial_parameters"]
    assert f"* own_bound: the case's own tolerance (atol 1e-07, rtol 1e-10): {REASON}" in out
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert (
        f"| 1e-07 + 1e-10·\\|twin\\|; the case's own tolerance (atol 1e-07, rtol 1e-10): {REASON} | PASS |" in summary
    )

    assert cli.main(["--out", str(tmp_path / "reports")]) == 0
    data = json.loads((tmp_path / "reports" / "results.json").read_text(encoding="utf-8"))
    assert data["networks"][0]["own_tolerance"] == {"atol": 1e-7, "rtol": 1e-10, "reason": REASON}
    page = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert (
        f'<p class="meta">Tolerance: the case\'s own tolerance (atol 1e-07, rtol 1e-10): {REASON}</p>'.replace(
            "'", "&#x27;"
        )
        in page
    )


BUG = "every update moved 1e-9 too far"


def _bugged(expected):
    return make_case(name="bugged", update=_off_by(1e-9), expected_failures=dict.fromkeys(expected, BUG))


FAILING = ["one_step", "training_run", "anchored_steps"]


def test_the_bug_fails_these_checks():
    case = make_case(name="bugged", update=_off_by(1e-9))
    assert [check for check in battery(case) if not run_check(case, check).passed] == FAILING


def test_the_command_counts_expected_failures_as_expected_and_exits_0(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch, make_case(name="clean"), _bugged(FAILING))
    assert main(["--reports", "out"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    verdicts = Counter(line.split()[-1] for line in out if line.startswith("bugged "))
    assert verdicts == Counter(PASS=len(battery(_bugged(FAILING))) - 3, XFAIL=3)
    assert f"XFAIL bugged / training_run: {BUG}" in out
    assert out[-2] == "13 passed, 3 expected failures, 0 failed"
    assert "bugged: 1 check(s) failed" not in captured.err  # no diagnosis block for what is expected
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "**16 checks on 2 networks: 13 passed, 3 expected failures, 0 failed.**" in summary
    assert f"- **bugged** / training_run: {BUG}" in summary
    assert "| expected failure |" in summary and "**FAIL**" not in summary


def test_an_expected_failure_that_passes_fails_the_command(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch, _bugged([*FAILING, "forward"]))
    assert main([]) == 1
    out = capsys.readouterr().out.splitlines()
    xpassed = [line.split()[1] for line in out if line.startswith("bugged ") and line.split()[-1] == "XPASS"]
    assert xpassed == ["forward"]
    assert out[-2] == "4 passed, 3 expected failures, 1 failed"


def test_the_reports_count_expected_failures_as_expected_and_exit_0(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch, _bugged(FAILING))
    assert cli.main(["--out", str(tmp_path)]) == 0
    assert "1 networks, 0 failed checks, 3 expected failures;" in capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    outcomes = {c["check"]: (c["outcome"], c["expected_failure"]) for c in data["networks"][0]["checks"]}
    assert outcomes["training_run"] == ("expected failure", BUG) and outcomes["forward"] == ("passed", None)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<td class="xfail">expected failure</td>' in page and '<td class="fail">' not in page
    assert "3 expected failures, 0 failed" in page and "What failed" not in page


TEST = """
from crosscheck import parametrize_with_checks
from line import CASE, BUGGED


@parametrize_with_checks([CASE, BUGGED], expected_failed_checks={"bugged_line": {"training_run": "moved too far"}})
def test_line(case, check):
    check(case)
"""

BUGGED = """
from crosscheck import vary


def _update(net, grads, lr):
    net.update(grads, lr)
    net.w = net.w + 1e-9


BUGGED = vary(CASE, name="bugged_line", update=_update, expected_failures=dict.fromkeys(["one_step", "anchored_steps"], "moved too far"))
"""


def test_pytest_and_its_reports_count_the_strict_xfails_as_expected(pytester, monkeypatch):
    monkeypatch.setattr("tests.full_runs.FULL_RUNS", Counter())
    monkeypatch.setattr("tests.full_runs.FULL_RUN_SITES", {})
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    pytester.makepyprojecttoml('[project]\nname = "user-project"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n')
    pytester.makepyfile(line=NETWORK + BUGGED)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_line.py").write_text(TEST)
    monkeypatch.syspath_prepend(pytester.path)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "not golden", "--crosscheck-report=out")
    # Case(expected_failures=...) and expected_failed_checks=... both become strict xfails.
    result.assert_outcomes(passed=13, xfailed=3)
    assert result.ret == 0
    data = json.loads((pytester.path / "out" / "results.json").read_text(encoding="utf-8"))
    bugged = next(n for n in data["networks"] if n["name"] == "bugged_line")
    failing = {c["check"]: c["outcome"] for c in bugged["checks"] if not c["passed"]}
    assert failing == dict.fromkeys(["one_step", "training_run", "anchored_steps"], "expected failure")
    summary = (pytester.path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "13 passed, 3 expected failures, 0 failed" in summary
    assert np.isfinite([c["max_abs"] for c in bugged["checks"]]).all()


def test_the_battery_plot_marks_a_declared_failure_as_expected(monkeypatch, tmp_path):
    # The page's battery image said FAIL where the tables say "expected failure".
    from crosscheck.report import plots, write

    drawn = {}

    def matrix(network, comparisons, expected=()):
        drawn[network] = {c.check: plots._verdict(c, expected) for c in comparisons}
        return b""

    monkeypatch.setattr(plots, "check_matrix", matrix)
    case = make_case(name="declared_plot", expected_failures={"training_run": "a planted bug"})
    net = verdict.collect(case)
    broken = [
        dataclasses.replace(c, first_divergence=None, problem=Problem("case", "x")) if c.check == "training_run" else c
        for c in net.comparisons
    ]
    net = dataclasses.replace(net, comparisons=tuple(broken))
    write.network_plots(net, expected=case.expected_failures)
    assert drawn["declared_plot"]["training_run"] == "XFAIL"
    assert drawn["declared_plot"]["loss"] == "PASS"
    write.network_plots(
        dataclasses.replace(net, comparisons=tuple(c for c in verdict.collect(case).comparisons)),
        expected=case.expected_failures,
    )
    assert drawn["declared_plot"]["training_run"] == "XPASS"
