"""The pytest plugin as a user project meets it: nested pytest runs in a fresh folder with one tiny network.

Each run is a whole pytest session in that folder (its own rootdir, pyproject.toml and goldens), so what
is asserted is what a user sees: which tests fail, the messages, the end-of-run summary, the files.

The runs are in this process (a subprocess would import torch again for each): pytester forgets the
modules a nested run imports, and torch registers operators once per process when ``torch.optim``
first steps (it imports ``torch._dynamo``), so that is imported here, before any nested run; so is
matplotlib, which a second copy of itself confuses (``--crosscheck-report`` draws plots).  What every
nested run imports is imported here too, once, as the whole suite has it: the checks, and Hypothesis,
whose pytest plugin imports it at the end of each session (installed as a plugin, its ~150 modules are
assertion-rewritten on each import, 3-7 s a run when this file runs alone).  Nothing a nested run
registers or counts outlives its test (``project`` checks and restores it).
"""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import hypothesis.internal.observability  # noqa: F401  (see above)
import numpy as np
import pytest
import torch._dynamo  # noqa: F401

import crosscheck.checks  # noqa: F401  (see above)
import crosscheck.finite_diff  # noqa: F401
import crosscheck.report.plots  # noqa: F401  (matplotlib, for the same reason as torch._dynamo)
from crosscheck import findings, plugin, registration
from crosscheck.goldens import load_golden
from crosscheck.settings import CI_VARIABLES
from tools.user_project import NETWORK

TEST = """
from crosscheck import parametrize_with_checks
from line import CASE


@parametrize_with_checks([CASE])
def test_line(case, check):
    check(case)
"""


@pytest.fixture
def _nothing_outlives_the_nested_runs():
    """This process's state of the harness as before the test, checked after it (and after ``monkeypatch``
    has undone the test's own changes): no nested run's config left active, no case or findings section
    left registered."""
    before = list(plugin._ACTIVE), dict(registration._REGISTRY), dict(findings._PRODUCERS)
    yield
    assert (plugin._ACTIVE, registration._REGISTRY, findings._PRODUCERS) == before


@pytest.fixture
def project(_nothing_outlives_the_nested_runs, pytester, monkeypatch):
    """An empty project folder with one network, its test, and a pyproject.toml."""
    # The nested runs are a user project's gate, not this one: their full runs (the line's, once per run)
    # count in counters of their own, dropped after the test (tests/conftest.py fails a gate that computes
    # a full run twice).
    monkeypatch.setattr("tests.full_runs.FULL_RUNS", Counter())
    monkeypatch.setattr("tests.full_runs.FULL_RUN_SITES", {})
    for name in CI_VARIABLES:  # a CI service's own variables would make the nested runs CI runs
        monkeypatch.delenv(name, raising=False)
    pytester.makepyprojecttoml('[project]\nname = "user-project"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n')
    pytester.makepyfile(line=NETWORK)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_line.py").write_text(TEST)
    monkeypatch.syspath_prepend(pytester.path)
    return pytester


def summary(result):
    """The lines of the plugin's block at the end of the run."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "= crosscheck =" in line)
    return [line for line in lines[start + 1 :] if line.strip() and not line.startswith("=")][:12]


def test_first_run_writes_the_golden_and_fails_then_the_second_passes(project):
    golden = project.path / "tests" / "goldens" / "line.npz"
    first = project.runpytest("-p", "no:cacheprovider")
    first.assert_outcomes(passed=8, failed=1)
    assert summary(first)[:2] == [
        "1 case, 9 checks: 1 failed, 8 passed",
        f"FAILED line-golden: crosscheck.goldens.GoldenError: line / golden: no golden file yet (first run), "
        f"written {golden}; review it and commit it",
    ]
    assert sorted(load_golden(golden)) == sorted(
        ["init.w", "init.b", "forward", "curve"]
        + [f"first_{q}" for q in ("output", "loss", "grad.w", "grad.b", "param.w", "param.b")]
        + ["final.w", "final.b"]
    )
    second = project.runpytest("-p", "no:cacheprovider")
    second.assert_outcomes(passed=9)
    assert summary(second)[0] == "1 case, 9 checks: 9 passed"


def test_the_golden_folder_is_configurable(project):
    project.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["."]\n\n[tool.crosscheck]\ngoldens = "data/g"\n'
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=8, failed=1)
    assert (project.path / "data" / "g" / "line.npz").is_file()
    assert not (project.path / "tests" / "goldens").exists()


def test_in_ci_a_missing_golden_fails_and_is_not_written(project, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1)
    folder = project.path / "tests" / "goldens"
    assert summary(result)[1] == (
        f"FAILED line-golden: crosscheck.goldens.GoldenError: line / golden: golden file {folder / 'line.npz'} is "
        "missing, and in CI a missing golden is not written (a run must not pass on values it has just created); "
        "generate it on a developer machine with `pytest --force-regen 'tests/test_line.py::test_line[line-golden]'`, "
        "review it and commit it"
    )
    assert not folder.exists()


@pytest.mark.parametrize("flag", ["--force-regen", "--regen-all"])
def test_in_ci_regeneration_is_refused_before_any_test_runs(project, monkeypatch, flag):
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("-p", "no:cacheprovider", flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    folder = project.path / "tests" / "goldens"
    assert (
        f"ERROR: {flag} refused: CI='true' says this is a CI run, and a CI run must never rewrite the goldens it "
        f"checks. Regenerate them on purpose on a developer machine with `pytest --force-regen -k golden`, review "
        f"the change to {folder}/, and commit it."
    ) in result.errlines


def test_a_changed_golden_names_the_command_and_folder_to_regenerate(project):
    project.runpytest("-p", "no:cacheprovider")
    golden = project.path / "tests" / "goldens" / "line.npz"
    arrays = load_golden(golden)
    arrays["final.w"] = arrays["final.w"] + 1e-9
    np.savez_compressed(golden, **arrays)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1)
    text = "\n".join(result.outlines)
    assert f"line / golden: the scratch and twin sides part from {golden}:" in text
    assert (
        "if the change is intended, regenerate it on purpose with `pytest --force-regen "
        f"'tests/test_line.py::test_line[line-golden]'` (outside CI), review the change to {golden.parent}/ and "
        "commit it"
    ) in text
    regen = project.runpytest("-p", "no:cacheprovider", "--force-regen", "tests/test_line.py::test_line[line-golden]")
    regen.assert_outcomes(failed=1)
    assert "the run parts from the golden; --force-regen set, written" in "\n".join(regen.outlines)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=9)


def test_an_orphan_golden_fails_the_run(project):
    project.runpytest("-p", "no:cacheprovider")
    orphan = project.path / "tests" / "goldens" / "renamed_net.npz"
    orphan.write_bytes((project.path / "tests" / "goldens" / "line.npz").read_bytes())
    np.savez(orphan.parent / "users_own.npz", a=np.arange(3))  # not crosscheck's: left alone
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9, errors=1)  # pytest's last line and the exit status agree
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.outlines[-1].startswith("=") and "9 passed, 1 error" in result.outlines[-1]
    assert summary(result)[1] == (
        f"golden files that no case read: renamed_net.npz in {orphan.parent}/; either a case was renamed or removed "
        "(delete the file) or its module is missing from [tool.crosscheck] cases in pyproject.toml, or its case is "
        "registered only where something this machine lacks is installed (keep the file, and declare it there: "
        'optional = ["renamed_net"])'
    )
    # A run that selects some tests only cannot tell an orphan from a golden it did not select.
    assert project.runpytest("-p", "no:cacheprovider", "-k", "line-golden").ret == pytest.ExitCode.OK
    assert project.runpytest("-p", "no:cacheprovider", "tests/test_line.py").ret == pytest.ExitCode.OK


def test_the_golden_of_a_case_registered_only_with_an_optional_dependency_is_kept_when_declared(project):
    # The case module registers its case only where an optional package imports; here it does not.
    project.makepyfile(
        optional_net="try:\n    import not_installed_here  # noqa: F401\nexcept ImportError:\n    pass\n"
        "else:\n    from crosscheck import register, vary\n    from line import CASE\n\n"
        "    register(vary(CASE, name='gpu_line'))\n"
    )
    project.runpytest("-p", "no:cacheprovider")
    goldens = project.path / "tests" / "goldens"
    (goldens / "gpu_line.npz").write_bytes((goldens / "line.npz").read_bytes())  # committed where it registers
    config = '[tool.pytest.ini_options]\npythonpath = ["."]\n\n[tool.crosscheck]\ncases = ["optional_net"]\n'
    project.makepyprojecttoml(config)
    assert project.runpytest("-p", "no:cacheprovider").ret == pytest.ExitCode.TESTS_FAILED
    project.makepyprojecttoml(config + 'optional = ["gpu_line"]\n')
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    assert result.ret == pytest.ExitCode.OK
    assert (goldens / "gpu_line.npz").is_file()


def test_a_plain_run_checks_the_float32_variant_of_a_listed_case(project):
    project.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["."]\n\n[tool.crosscheck]\nfloat32 = ["line"]\n'
    )
    project.runpytest("-p", "no:cacheprovider")  # writes the golden (float64 only)
    result = project.runpytest("-p", "no:cacheprovider", "-v")
    ran = [line.split("::")[1].split(" ")[0] for line in result.outlines if "::test_line[" in line]
    assert [t for t in ran if "_float32-" in t] == [
        f"test_line[line_float32-{check}]"
        for check in (
            "initial_parameters",
            "forward",
            "loss",
            "gradients",
            "one_step",
            "training_run",
            "anchored_steps",
        )
    ]
    result.assert_outcomes(passed=len(ran))
    assert summary(result)[0] == f"2 cases, {len(ran)} checks: {len(ran)} passed"


def test_no_case_is_a_collection_error_not_a_silent_pass(project, monkeypatch):
    monkeypatch.setattr("crosscheck.registration._REGISTRY", {})  # a user's process, without the tutorials
    project.makepyfile(
        test_nothing="from crosscheck import parametrize_with_checks, registry\n\n\n"
        "@parametrize_with_checks(registry().values())\ndef test_x(case, check):\n    check(case)\n"
    )
    result = project.runpytest("-p", "no:cacheprovider", "test_nothing.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    text = "\n".join(result.outlines)
    assert "parametrize_with_checks() got no case, so no check would run." in text
    assert f"no case is registered for the project at {project.path / 'pyproject.toml'}" in text


def test_crosscheck_report_writes_the_reports_of_the_cases_collected(project, monkeypatch):
    # This process has loaded the tutorials, whose findings section a user's process would not have.
    monkeypatch.setattr("crosscheck.findings._PRODUCERS", {})
    project.runpytest("-p", "no:cacheprovider")
    result = project.runpytest("-p", "no:cacheprovider", "--crosscheck-report=out")
    result.assert_outcomes(passed=9)
    out = project.path / "out"
    assert f"reports written to {out}/ (index.html, summary.md, results.json)" in result.outlines
    assert {"index.html", "summary.md", "results.json"} <= {p.name for p in out.iterdir()}
    summary_md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| line |" in summary_md
    assert "network_2_2_1" not in summary_md and "tutorials" not in summary_md  # only this project's case


def test_crosscheck_report_into_a_file_is_a_clear_error(project):
    (project.path / "taken").write_text("a file")
    result = project.runpytest("-p", "no:cacheprovider", "--crosscheck-report=taken")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert any(
        line.startswith("--crosscheck-report=taken: the reports could not be written: ") and "is a file" in line
        for line in result.outlines
    )


def test_a_failing_case_gets_one_block_and_a_one_step_repro(project):
    project.makepyfile(line=NETWORK.replace('"w": x.T @ d,', '"w": 0.5 * (x.T @ d),'))  # a learner's bug
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=6)
    block = summary(result)[1:7]
    # Into pytest's temporary folder (its cache folder, when the cache plugin is on), not the project.
    repro = Path(block[5].removeprefix("  one-step repro: python "))
    assert repro.is_file() and repro.parts[-3:] == ("repro", "line", "repro.py")
    assert repro.is_relative_to(project.path.parent / "basetemp")  # pytester's --basetemp for the nested run
    assert not (project.path / "reports").exists()
    assert block[0] == "line: 5 check(s) failed (gradients, one_step, training_run, anchored_steps, finite_differences)"
    assert block[1] == "  first divergence: step 0, gradient of w[0, 0] (gradients check)"
    assert block[2].startswith("  scratch = ") and "> tolerance" in block[2]
    assert block[3] == "  the difference first grows at: parameter gradient"
    assert (
        block[4] == "  finite differences: the scratch gradient is the odd one out (twin and finite differences agree)"
    )
    assert block[5] == f"  one-step repro: python {repro}"
    assert f"one-step repro: python {repro}" in "\n".join(result.outlines)  # in the failure message too

    # In a fresh interpreter (2-3 s of imports), as the block tells a user to run it: in this process the
    # project's folder is on sys.path, the line's module may be loaded and this repository's cases are
    # registered, so a script that found its case or state only through the session that wrote it would pass.
    run = subprocess.run([sys.executable, str(repro)], cwd=project.path, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "line: step 0 on both sides from the state entering it (rows of X: [0, 1, 2, 3])"
    assert lines[1].startswith("  gradient of w[0, 0]: scratch = ")
    # Every row has a non-zero input, so each alone shows the halved gradient of w.
    assert lines[-1] == "one row suffices: each of rows [0, 1, 2, 3] alone shows the difference (e.g. X[0])"


def test_registry_finds_the_project_of_the_pytest_run_wherever_pytest_starts(project, monkeypatch):
    from crosscheck import registration

    monkeypatch.setattr(registration, "_REGISTRY", {})  # a user's process, without the tutorials
    inner = project.path / "inner"
    (inner / "tests").mkdir(parents=True)
    (inner / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\n\n[tool.crosscheck]\ncases = ["registered"]\n'
    )
    (inner / "registered.py").write_text(NETWORK.replace('name="line"', 'name="inner_line"') + "\nregister(CASE)\n")
    (inner / "tests" / "test_all.py").write_text(
        "from crosscheck import parametrize_with_checks, registry\n\n\n"
        "@parametrize_with_checks(registry().values())\ndef test_all(case, check):\n    check(case)\n"
    )
    result = project.runpytest("-p", "no:cacheprovider", "inner")  # from the folder above the project
    result.assert_outcomes(passed=8, failed=1)
    assert (inner / "tests" / "goldens" / "inner_line.npz").is_file()


def test_under_xdist_a_worker_tells_the_controller_the_registered_names(monkeypatch, tmp_path):
    # The controller collects nothing: to tell an orphan golden it needs the registered names, and loading
    # the cases itself would import torch at the end of every run. A worker, which has loaded them, sends them.
    from types import SimpleNamespace

    run = plugin._Run(cases={"sigmoid_neuron": object()})
    worker = SimpleNamespace(workerinput={}, workeroutput={}, stash={plugin._RUN: run}, rootpath=tmp_path)
    monkeypatch.setattr(plugin, "_registered", lambda config: ["sigmoid_neuron", "network_2_2_1"])
    monkeypatch.setattr(plugin, "_left_out", lambda run: {"sigmoid_neuron": ["gradients not run: why"]})
    plugin.pytest_sessionfinish(SimpleNamespace(config=worker), 0)
    assert worker.workeroutput == {
        "crosscheck_registered": ["sigmoid_neuron", "network_2_2_1"],
        "crosscheck_left_out": {"sigmoid_neuron": ["gradients not run: why"]},  # for the end-of-run summary
    }

    goldens = tmp_path / "goldens"
    goldens.mkdir()
    for name in ("sigmoid_neuron", "network_2_2_1", "renamed_net"):
        np.savez(goldens / f"{name}.npz", **{"init.w": np.zeros(1), "first_loss": np.zeros(1)})
    ran = plugin._Run(outcomes={("sigmoid_neuron", "golden"): ("passed", "")})
    run_settings = SimpleNamespace(memo={"project": registration.Project(tmp_path, None, goldens=goldens)})
    reports = []
    controller = SimpleNamespace(
        stash={plugin._RUN: ran, plugin._SETTINGS: run_settings},
        getoption=lambda name: None,
        hook=SimpleNamespace(pytest_collectreport=lambda report: reports.append(report)),
    )
    monkeypatch.setattr(plugin, "_ACTIVE", [controller])
    plugin.pytest_testnodedown(SimpleNamespace(config=controller), None)  # a crashed worker sends nothing
    assert ran.registered is None
    plugin.pytest_testnodedown(SimpleNamespace(config=controller, workeroutput=worker.workeroutput), None)
    assert ran.registered == ["sigmoid_neuron", "network_2_2_1"]
    assert ran.left_out == {"sigmoid_neuron": ["gradients not run: why"]}

    # The controller's end of the run: the orphan check with the worker's names, no case loaded here.
    def load_the_cases(config):
        raise AssertionError("the controller loaded the cases")

    monkeypatch.setattr(plugin, "_registered", load_the_cases)
    monkeypatch.setattr(plugin, "_whole_suite", lambda config, run: True)
    session = SimpleNamespace(config=controller, shouldfail=False, shouldstop=False, exitstatus=pytest.ExitCode.OK)
    plugin.pytest_sessionfinish(session, 0)
    assert ran.orphans == [goldens / "renamed_net.npz"]
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
    assert [(r.nodeid, r.failed) for r in reports] == [("crosscheck goldens", True)]


@pytest.mark.parametrize("where", ["cache", "report"])
def test_a_repro_goes_where_asked_or_into_pytests_cache(project, where):
    project.makepyfile(line=NETWORK.replace('"w": x.T @ d,', '"w": 0.5 * (x.T @ d),'))
    args = ["--crosscheck-report=out"] if where == "report" else []  # with pytest's cache plugin on
    result = project.runpytest(*args)
    result.assert_outcomes(passed=3, failed=6)
    folder = project.path / ("out" if where == "report" else ".pytest_cache/d/crosscheck")
    repro = folder / "repro" / "line" / "repro.py"
    assert repro.is_file()
    assert f"  one-step repro: python {repro}" in summary(result)
    assert not (project.path / "reports").exists()


def test_a_crash_while_writing_the_reports_is_a_line_and_a_failing_status(project, monkeypatch):
    def warns(*args):
        raise UserWarning("Matplotlib is building the font cache; this may take a moment.")  # as filterwarnings=error

    monkeypatch.setattr(plugin, "_write_reports", warns)
    project.runpytest("-p", "no:cacheprovider")
    result = project.runpytest("-p", "no:cacheprovider", "--crosscheck-report=out")
    result.assert_outcomes(passed=9)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (
        "--crosscheck-report=out: the reports could not be written: UserWarning: Matplotlib is building the font "
        "cache; this may take a moment."
    ) in result.outlines
    assert not any("Traceback" in line for line in result.outlines + result.errlines)


def test_a_test_that_never_calls_its_check_fails_saying_so(project):
    (project.path / "tests" / "test_line.py").write_text(TEST.replace("    check(case)", "    pass"))
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=9)
    lines = summary(result)
    assert lines[0] == "1 case, 9 checks: 9 failed"
    assert lines[1] == (
        "FAILED line-initial_parameters: line / initial_parameters: the test passed without running its check: "
        "check(case) was never called; call it in the body of the test that parametrize_with_checks decorates "
        "(def test_x(case, check): check(case))"
    )
    assert not (project.path / "tests" / "goldens").exists()


def test_a_check_called_in_one_of_two_tests_sharing_the_parametrization_fails_the_other(project):
    (project.path / "tests" / "test_line.py").write_text(
        "from crosscheck import parametrize_with_checks\nfrom line import CASE\n\n"
        "checks = parametrize_with_checks([CASE])\n\n\n"
        "@checks\ndef test_checked(case, check):\n    check(case)\n\n\n"
        "@checks\ndef test_unchecked(case, check):\n    assert case.name == 'line'\n"
    )
    project.runpytest("-p", "no:cacheprovider")  # writes the golden
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9, failed=9)
    failed = [line for line in result.outlines if line.startswith("FAILED tests/")]
    assert len(failed) == 9 and all("test_unchecked[" in line for line in failed)


# --- class 6 of issue 23: a variant loses no data, and the regenerate command selects one case ----------------


VARIANT_TEST = """
from crosscheck import parametrize_with_checks, vary
from line import CASE


@parametrize_with_checks([vary(CASE, learning_rate=0.05)])
def test_variant(case, check):
    check(case)
"""


def test_a_same_name_variant_of_a_registered_case_is_refused_and_its_golden_kept(project, monkeypatch):
    project.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["."]\n\n[tool.crosscheck]\ncases = ["registered"]\n'
    )
    project.makepyfile(registered="from crosscheck import register\nfrom line import CASE\n\nregister(CASE)\n")
    monkeypatch.setattr(registration, "_REGISTRY", {})  # a user's process, without the tutorials
    project.runpytest("-p", "no:cacheprovider")  # writes the registered case's golden
    monkeypatch.setattr(registration, "_REGISTRY", {})  # each nested run imports the line anew
    golden = project.path / "tests" / "goldens" / "line.npz"
    committed = golden.read_bytes()
    (project.path / "tests" / "test_variant.py").write_text(VARIANT_TEST)
    result = project.runpytest("-p", "no:cacheprovider", "--force-regen")
    result.assert_outcomes(passed=9, failed=9)
    failed = [line for line in result.outlines if line.startswith("FAILED tests/")]
    assert len(failed) == 9 and all("test_variant.py::test_variant[" in line for line in failed)
    assert (
        "line / golden: the case cannot be checked: case 'line' is not the registered case named 'line', and a "
        "case's name names its golden file and its repro: give the variant another name: vary(case, name=...)"
    ) in "\n".join(result.outlines)
    assert golden.read_bytes() == committed
    assert not list(golden.parent.glob("repro*")) and not (project.path / "reports").exists()


def test_two_different_cases_with_one_name_in_one_parametrization_are_refused(project):
    (project.path / "tests" / "test_line.py").write_text(
        VARIANT_TEST.replace("[vary(CASE, learning_rate=0.05)]", "[CASE, vary(CASE, learning_rate=0.05)]")
    )
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert (
        "ValueError: parametrize_with_checks got two different cases named 'line'; a case's name names its golden "
        "file and its repro: give the variant another name: vary(case, name=...)"
    ) in "\n".join(result.outlines)


def test_a_same_name_case_checked_second_in_a_run_is_refused(project):
    (project.path / "tests" / "test_variant.py").write_text(VARIANT_TEST)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=10, passed=8)  # the line's golden is written (a first run), the variant refused
    assert (
        "line / initial_parameters: the case cannot be checked: case 'line' is not a case checked before named "
        "'line', and a case's name names its golden file and its repro: give the variant another name: "
        "vary(case, name=...)"
    ) in "\n".join(result.outlines)


def test_the_regenerate_command_selects_exactly_one_case(project, monkeypatch):
    names = ["tiny", "my_tiny", "-h"]
    project.makepyfile(
        nets="from crosscheck import vary\nfrom line import CASE\n\n"
        + "".join(f"C{i} = vary(CASE, name={name!r})\n" for i, name in enumerate(names))
    )
    (project.path / "tests" / "test_line.py").write_text(
        "from crosscheck import parametrize_with_checks\nfrom nets import C0, C1, C2\n\n\n"
        "@parametrize_with_checks([C0, C1, C2])\ndef test_nets(case, check):\n    check(case)\n"
    )
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=24, failed=3)
    text = "\n".join(result.outlines)
    monkeypatch.delenv("CI")
    folder = project.path / "tests" / "goldens"
    for name in names:
        nodeid = f"tests/test_line.py::test_nets[{name}-golden]"
        command = f"pytest --force-regen '{nodeid}'"
        assert f"generate it on a developer machine with `{command}`, review it and commit it" in text
        written = {p.name for p in folder.glob("*.npz")} if folder.exists() else set()
        regen = project.runpytest("-p", "no:cacheprovider", "--force-regen", nodeid)  # the command, as printed
        regen.assert_outcomes(failed=1)  # one test selected: its golden written
        assert {p.name for p in folder.glob("*.npz")} - written == {f"{name}.npz"}


def test_a_case_module_that_raises_on_import_is_one_line_at_the_end_of_the_run_and_in_the_command(project, monkeypatch):
    # A module listed in [tool.crosscheck] cases whose optional dependency is missing on this machine: the tests
    # import their case from elsewhere and pass, and the end of the run, loading the registered names, fails.
    monkeypatch.setattr(registration, "_REGISTRY", {})
    project.makepyprojecttoml(
        '[project]\nname = "user-project"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n\n'
        '[tool.crosscheck]\ncases = ["line", "extra"]\n'
    )
    project.makepyfile(extra="import numpy\n\nimport crosscheck_missing_optional_dependency  # noqa\n")
    extra = project.path / "extra.py"
    line = (
        f"{project.path / 'pyproject.toml'}: importing 'extra', listed in [tool.crosscheck] cases, raised "
        f"ModuleNotFoundError: No module named 'crosscheck_missing_optional_dependency' at {extra}:3; install "
        "what it needs or remove it from the list"
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1, errors=1)  # the golden's first run, and the line below
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert f"golden files not checked for orphans: {line}" in result.outlines
    assert not any("Traceback" in text for text in result.outlines + result.errlines)

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "crosscheck"], cwd=project.path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"crosscheck: {line}"
    assert "Traceback" not in done.stderr
