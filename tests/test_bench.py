"""The bench's yardsticks and the gate's count of full runs; no timing is asserted (tools/bench.py prints
and writes the figures)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from crosscheck import jsonfile, registration
from crosscheck.case import vary
from crosscheck.checks import battery, run_check
from crosscheck.errors import repeated_full_runs
from crosscheck.layout import twin_to_scratch
from crosscheck.registration import registry
from crosscheck.run.memo import RUNS
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from tests import full_runs
from tests.fixture_net import make_case
from tests.full_runs import variant
from tools import bench, scale

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_times_the_tests_sessions_command():
    run = re.search(r'session\.run\("pytest", ([^)]*)\)', (ROOT / "noxfile.py").read_text()).group(1)
    args = tuple(a.strip().strip('"') for a in run.split(","))
    assert args[: len(bench.GATE_ARGS)] == bench.GATE_ARGS


@pytest.mark.parametrize("name", ["network_2_2_1", "adam_schedule", "batchnorm_net"])
def test_the_bare_loops_train_as_the_recorded_runs(name):
    """The yardsticks do the same work as the recorded runs: the same parameters after the same steps."""
    case = registry()[name]
    params, batches = start(case)
    batches = batches[:30]
    scratch, twin = scratch_trace(case, params, batches), twin_trace(case, params, batches)
    net, module = bench.scratch_bare(case, params, batches), bench.twin_bare(case, params, batches)
    for p, value in case.read_params(net).items():
        np.testing.assert_array_equal(value, scratch[f"param.{p}"][-1], err_msg=p)
    for p, value in twin_to_scratch(module, case).items():
        np.testing.assert_array_equal(value, twin[f"param.{p}"][-1], err_msg=p)


def test_a_full_run_computed_twice_is_counted_and_named(monkeypatch):
    monkeypatch.setattr(full_runs, "FULL_RUNS", type(full_runs.FULL_RUNS)())
    monkeypatch.setattr(full_runs, "FULL_RUN_SITES", {})
    first, again = make_case(name="built_twice"), make_case(name="built_twice")
    assert first is not again and variant(first) == variant(again)
    RUNS.full(make_case(name="not_registered"))
    assert not full_runs.FULL_RUNS  # a test's own case: not a run the gate checks
    monkeypatch.setitem(registration._REGISTRY, "built_twice", first)
    RUNS.full(first)
    RUNS.full(again)  # another object built alike: the memo cannot know, the count does
    key = ("built_twice", first.data.seed, "float64", variant(first))
    assert dict(full_runs.FULL_RUNS) == {key: 2}
    here = "tests/test_bench.py::test_a_full_run_computed_twice_is_counted_and_named"
    assert full_runs.FULL_RUN_SITES[key] == [here, here]
    assert repeated_full_runs(full_runs.FULL_RUNS, full_runs.FULL_RUN_SITES) == [
        f"built_twice (seed {first.data.seed}, float64, variant {variant(first)}): its full run was computed 2 times "
        f"(in {here}, {here}); build the case once (at import, as a registered case), get its traces from "
        "crosscheck.run.memo.traces, and run the tests that read them in one process"
    ]


def test_a_variant_that_changes_anything_is_another_run():
    case = make_case(name="varied")
    assert variant(vary(case, learning_rate=case.data.learning_rate / 2)) != variant(case)
    assert variant(vary(case, X=case.data.X + 1.0)) != variant(case)
    assert variant(vary(case, scratch_loss=lambda out, y: ((out - y) ** 2).sum())) != variant(case)


def test_the_gate_floor_counts_registered_cases_and_their_float32_variants():
    runs = [
        ["sigmoid_neuron", 1, "float64", "x", 1],
        ["sigmoid_neuron_float32", 1, "float32", "y", 1],
        ["bad", 0, "float64", "z", 1],
    ]
    cases, other = bench.full_run_cases(runs)
    assert [(c.name, np.dtype(c.dtype).name, seed) for c, seed in cases] == [
        ("sigmoid_neuron", "float64", 1),
        ("sigmoid_neuron_float32", "float32", 1),
    ]
    assert other == ["bad (float64)"]


def test_the_floor_is_the_import_plus_each_full_runs_steps_at_their_bare_time():
    # Rows measured on the way time `steps` steps of each run, whatever the run's own length.
    rows = {}
    runs = [["network_3_4_1", 0, "float64", "x", 1], ["xor_2_3_1", 0, "float64", "y", 1]]
    counted, other, floor = bench.replay_floor(runs, rows, 2.0, steps=3, repeats=1)
    assert other == []
    cases = registry()
    lengths = [len(start(cases[name])[1]) for name in ("network_3_4_1", "xor_2_3_1")]
    assert [(r["name"], r["steps"]) for r in counted] == list(zip(("network_3_4_1", "xor_2_3_1"), lengths, strict=True))
    assert [row["timed_steps"] for row in rows.values()] == [3, 3]
    bare = [
        n * (rows[(name, "float64")]["scratch"]["bare_us"] + rows[(name, "float64")]["twin"]["bare_us"]) * 1e-6
        for name, n in zip(("network_3_4_1", "xor_2_3_1"), lengths, strict=True)
    ]
    assert floor == pytest.approx(2.0 + sum(bare), rel=1e-9)


@pytest.mark.parametrize("target", [10_000, 100_000, 1_000_000])
def test_the_scale_networks_have_about_the_parameters_asked(target):
    case = scale.mlp_case(target, 2, "adam")
    params, _ = start(case)
    # h is a whole number: within half a hidden unit's parameters of the target.
    assert abs(sum(v.size for v in params.values()) - target) <= (scale.N_IN + 1 + scale.N_OUT) / 2


def test_the_scale_case_passes_the_battery_with_adam():
    """The generated network is correct code: the grid measures a passing battery, not a failure path."""
    case = scale.mlp_case(10_000, 4, "adam")
    assert [c for c in battery(case) if not run_check(case, c).passed] == []


def test_a_scale_point_measures_floor_and_battery_each_in_its_own_process():
    result = scale.grid([10_000], [3], ["sgd"], max_gb=100.0, max_s=1e9)
    written = json.loads(jsonfile.dumps(result))
    (point,) = written["points"]
    assert (point["network"], point["steps"], point["optimizer"]) == ("784-13-10", 3, "sgd")
    for side in ("floor", "battery"):
        assert point[side]["exit_code"] == 0, point[side].get("output_tail")
        assert point[side]["cpu_s"] > 0 and point[side]["work_cpu_s"] > 0
        assert point[side]["peak_rss_mb"] > 50  # torch alone is more: the child's own peak, not the parent's
    assert point["battery"]["checks"] == battery(scale.mlp_case(10_000, 3, "sgd"))
    assert point["battery"]["failed"] == {}
    assert point["cpu_over_floor"] == round(point["battery"]["cpu_s"] / point["floor"]["cpu_s"], 2)
    assert point["rss_over_floor"] == round(point["battery"]["peak_rss_mb"] / point["floor"]["peak_rss_mb"], 2)


def test_a_point_over_the_memory_limit_is_skipped_with_its_estimate():
    measured = {
        "params": 1000,
        "steps": 100,
        "optimizer": "adam",
        "battery": {"exit_code": 0, "peak_rss_mb": 400.0, "cpu_s": 2.0},
    }
    # Memory by parameters alone (the lockstep run keeps nothing that grows with the steps), CPU by both.
    per_parameter = (400.0 * 2**20 - scale.BASE_BYTES) / 1000
    rss, cpu = scale.estimate([measured], 10_000, 1_000, "adam")
    assert (rss, cpu) == (pytest.approx(scale.BASE_BYTES + per_parameter * 10_000), pytest.approx(200.0))
    # Nothing measured yet: the prior per parameter, and no child is started for a point that would not fit.
    result = scale.grid([30_000_000], [5_000], ["adam"], max_gb=24.0, max_s=1e9)
    (point,) = result["points"]
    assert point["skipped"] == "skipped: estimated 27.3 GB (limit 24 GB)"
    assert "battery" not in point and "floor" not in point
