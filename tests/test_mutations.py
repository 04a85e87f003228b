"""The gate's power, gated: every bug of the catalogue, in every network it applies to, must fail the
battery, and the failure must name that network and the quantity (and step) where the bug first shows.

Ids read ``<mutant>-<network>``; ``crosscheck/mutations.py`` holds the bugs and the expectations.
"""

import json
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from crosscheck.keys import describe
from crosscheck.run.memo import traces
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from tools import mutants
from tutorials.mutations import CASES, CATALOGUE, PREFIX, Expect, Outcome, gate, prefix, run, short
from tutorials.networks import TUTORIAL_CASES

PAIRS = [pytest.param(m, CASES[n], id=f"{m.name}-{n}") for m in CATALOGUE for n in m.variants]

# The kinds of bug the issue names; the catalogue may hold more, never fewer.
REQUIRED = {
    "gradient_sign",
    "missing_sigmoid_prime",
    "sigmoid_prime_argument",
    "transposed_weight",
    "bias_never_updated",
    "wrong_learning_rate",
    "update_before_gradient",
    "stale_activation",
    "mean_instead_of_sum",
    "schedule_off_by_one",
    "aliased_weights",
    "float32_downcast",
}


def what(expect: Expect) -> str:
    return describe(expect.quantity, expect.parameter)


def assert_first_failure(outcome: Outcome, expect: Expect) -> None:
    first = outcome.first
    assert first is not None, f"{outcome.mutant} in {outcome.network}: every check of the battery passed"
    message = first.message()
    assert message.startswith(f"{outcome.network} / {first.check}: "), message
    if expect.problem is not None:  # the facts, as data, before the sentence that says them
        assert first.problem is not None, message
        assert (first.problem.kind, first.problem.quantity, first.problem.side) == (
            expect.problem,
            expect.quantity,
            "scratch" if expect.problem == "dtype" else None,
        ), message
    if expect.problem == "dtype" and expect.quantity == "grad":
        # A gradient of another dtype is refused at the step it appears, before any value is compared.
        assert first.problem is not None, message
        assert first.problem.text.startswith(
            f"at step 0 the scratch side's gradients() gave the gradient of {expect.parameter!r} as float32 "
        ), message
        assert first.problem.text.endswith("(a float32 gradient must not pass as float64)"), message
    elif expect.problem == "dtype":
        assert first.problem is not None and first.problem.text.startswith(
            f"{what(expect)} is float32 on the scratch side"
        )
    elif expect.problem == "shape":
        assert first.problem is not None and first.problem.text.startswith(f"{what(expect)} has shape "), message
        assert "on the scratch side but" in first.problem.text
    else:
        step = expect.step_for(outcome.clean_batches)
        at = "before training" if step is None else f"at step {step}"
        assert message.startswith(f"{outcome.network} / {first.check}: scratch and twin part {at}, {what(expect)}"), (
            f"expected the failure at {expect.describe()}, got: {message}"
        )
        d = first.first_divergence
        assert d is not None and (d.quantity, d.parameter, d.step) == (expect.quantity, expect.parameter, step)


@pytest.mark.parametrize("mutant, case", PAIRS)
def test_the_gate_catches_the_bug_where_it_first_shows(mutant, case):
    outcome = run(mutant, case)
    assert outcome.caught
    assert_first_failure(outcome, mutant.variants[case.name].expect)
    assert_left_nothing_behind(case)


def assert_left_nothing_behind(case):
    """Once the injection is undone the scratch network computes the clean trace again, bit for bit."""
    params, batches = start(case)
    again = scratch_trace(short(case), params, batches[:PREFIX])
    for key, value in prefix(case, traces(case)[0]).items():
        np.testing.assert_array_equal(again[key], value, err_msg=f"{case.name} {key} after the injection")


@pytest.mark.parametrize(
    "mutant, case",
    [p for p in PAIRS if (s := p.values[0].variants[p.values[1].name].expect.step) is not None and s != 0],
)
def test_nothing_shows_before_the_expected_step(mutant, case):
    """A bug the expectation places at step k > 0 is invisible in the first k steps: the step is real."""
    expect = mutant.variants[case.name].expect
    k = expect.step_for(start(case)[1])
    assert k is not None and 0 < k < PREFIX
    assert not run(mutant, case, steps=k).caught
    assert run(mutant, case, steps=k + 1).caught


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_without_a_bug_the_prefix_passes(case):
    """The cut traces themselves raise no failure: every failure above is the bug's."""
    outcome = gate(case, nullcontext)
    assert not outcome.caught, [r.message() for r in outcome.results.values() if not r.passed]


def test_the_catalogue_covers_every_network():
    assert REQUIRED <= {m.name for m in CATALOGUE}
    for mutant in CATALOGUE:
        assert set(mutant.variants) | set(mutant.not_applicable) == set(CASES), mutant.name
        assert not set(mutant.variants) & set(mutant.not_applicable), mutant.name
        assert all(reason.strip() for reason in mutant.not_applicable.values()), mutant.name


# --- nox -s mutants: the runner's pieces and the committed report ----------------------------------

REPORT = Path(__file__).resolve().parent.parent / "reports" / "mutation.json"


def test_mutmut_ids_name_the_function():
    assert mutants.function_of("scratch._checks.x_data__mutmut_21") == "data"
    assert mutants.function_of("scratch.mlp.xǁMLPǁ__init____mutmut_3") == "MLP.__init__"


def test_a_mutants_diff_is_renumbered_from_the_files_first_line():
    diff = "--- f.py\n+++ f.py\n@@ -2,4 +2,4 @@\n     a = 1\n-    b = 2\n+    b = 3\n     c = 4"
    assert mutants.mutated_line(diff) == ("b = 2", "b = 3")
    assert mutants.renumbered(diff, 41).splitlines()[2] == "@@ -40,4 +40,4 @@"


def test_the_plugin_runs_each_twin_once_per_schedule():
    calls = []
    remembered = mutants._remember_twins(lambda case, params, batches: calls.append(len(batches)) or len(calls))
    case = SimpleNamespace(
        name="toy",
        dtype="float64",
        data=SimpleNamespace(learning_rate=0.1, X=4, y=5),
        twin=SimpleNamespace(loss=2),
        calls=SimpleNamespace(twin_evaluate=3),
    )
    params = {"w": np.array([1.0, 2.0])}
    assert remembered(case, params, [0, 1]) == remembered(case, params, [0, 1]) == 1
    assert remembered(case, params, [1, 0]) == 2  # another schedule: its own twin run
    assert remembered(case, {"w": np.array([1.0, 2.5])}, [0, 1]) == 3  # other initial parameters too


def test_every_equivalent_survivor_is_explained_at_a_function_that_exists():
    for (file, function, line), reason in mutants.EQUIVALENT.items():
        assert mutants.line_of(file, function, "") is not None, (file, function)
        assert line and len(reason) > 40


def test_the_committed_mutation_report_meets_the_bar():
    report = json.loads(REPORT.read_text())
    assert report["score"] >= mutants.TARGET_SCORE
    assert report["unexplained"] == 0
    for s in report["survivors"]:
        assert ("killed_by" in s) != ("equivalent" in s), s["id"]
        if "equivalent" in s:
            _, added = mutants.mutated_line(s["diff"])
            assert s["equivalent"] == mutants.EQUIVALENT[(s["file"], s["function"], added)], s["id"]
        for test in s.get("killed_by", []):
            path, _, name = test.partition("::")
            assert f"def {name.split('[')[0]}(" in (REPORT.parent.parent / path).read_text(), test
