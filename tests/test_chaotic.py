"""A chaotic run (examples/edge_of_stability.py): the correct network passes, a bug of 1e-9 fails at its step.

The free run of two correct sides parts beyond the fixed float64 bound (their rounding differs, and this training
amplifies it); it passes when judged against the growth the run itself shows.  The anchored steps judge each step
from a shared state at the fixed bound: a planted error fails at the step it is planted, even where the free run
has amplified rounding far beyond it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from crosscheck import Case, Data, Link, Scratch, Twin
from crosscheck.__main__ import table
from crosscheck.checks import _compare, run_check
from crosscheck.compare import GROWTH_CELL
from crosscheck.diagnose.chain import per_step, where_it_grows
from crosscheck.goldens import AMPLIFIED, GoldenError, check_golden, load_golden, write_golden
from crosscheck.keys import STEPPED, split_key
from crosscheck.report.markdown import summary_markdown
from crosscheck.report.results import check_record
from crosscheck.run.memo import RUNS, traces
from crosscheck.verdict import collect
from examples.edge_of_stability import EDGE, PLANTED, PLANTED_LATE, EdgeNet
from examples.edge_of_stability import case as edge_case

FREE_RUN = ("output", "buffer", "loss", "dloss", "grad", "lr", "state", "param", "curve")


def test_the_correct_networks_free_run_parts_beyond_the_fixed_bound():
    # What makes the example chaotic: without the growth judgment its correct free run would fail.
    fixed = _compare(EDGE, "training_run", traces(EDGE), FREE_RUN, tolerance_steps=None)
    assert fixed.first_divergence is not None and fixed.first_divergence.step > 50


def test_the_correct_network_passes_judged_against_its_rounding_growth():
    free = run_check(EDGE, "training_run")
    assert free.passed, free.message()
    assert free.note is not None and "within the rounding this run amplifies" in free.note
    anchored = run_check(EDGE, "anchored_steps")
    assert anchored.passed and anchored.max_abs <= 1e-14, anchored.message()  # measured: 1e-15 over 1,500 steps


def test_an_error_of_1e_9_in_every_update_fails_at_step_0_both_ways():
    for check in ("training_run", "anchored_steps"):
        result = run_check(PLANTED, check)
        d = result.first_divergence
        assert d is not None and (d.step, d.quantity) == (0, "param"), result.message()
    # The growth at step 0 is a few ulps: the message is the fixed bound's, the rounding growth too small to name.
    assert run_check(PLANTED, "training_run").message().endswith("(atol 1e-12 + rtol 1e-10 * |twin|)")


def test_an_error_planted_deep_in_the_chaos_fails_the_anchored_steps_at_its_step():
    # From step 700 the free run has amplified rounding past 1e-9: there it cannot tell; the anchored steps can.
    assert run_check(PLANTED_LATE, "training_run").passed
    result = run_check(PLANTED_LATE, "anchored_steps")
    d = result.first_divergence
    assert d is not None and (d.step, d.quantity, d.parameter) == (700, "param", "W0"), result.message()
    assert abs(d.difference - 1e-9) < 1e-12


class GradientLate(EdgeNet):
    """An error of 1e-9 in the gradient of W1 from step 700 on: the bug acts before the update."""

    def __init__(self, rng: np.random.RandomState) -> None:
        super().__init__(rng)
        self.calls = 0

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        grads = super().gradients(x, y)
        self.calls += 1
        if self.calls > 700:
            grads["W1"] = grads["W1"] + 1e-9
        return grads


def test_deep_in_the_chaos_the_chain_of_the_anchored_step_places_the_bug():
    # The free run's figures at step 700 are the amplified rounding from the loss on: placed by them, a planted
    # update reads as "first grows at: loss".  The anchored step entered from the twin's state.
    for case, stage, quantity in (
        (PLANTED_LATE, "update (parameters after the step)", "param"),
        (edge_case(GradientLate, "edge_of_stability_gradient_late"), "parameter gradient", "grad"),
    ):
        net = collect(case)
        where = where_it_grows(net)
        assert where is not None and (where["check"], where["step"]) == ("anchored_steps", 700), where
        assert where["stage"] == stage, where
        entering, *links = where["chain"]
        assert (entering["max_abs"], entering["over_tolerance"]) == (0.0, 0.0)
        # Every link before the one named is within its tolerance: the free run's are not, there.
        named = [link["stage"] for link in links].index(stage)
        assert all(link["over_tolerance"] <= 1 for link in links[:named]), where["chain"]
        assert where["chain"][0]["stage"].startswith("parameters entering the step")
        assert net.run is not None and split_key(next(iter(net.run.anchored_chain)))[0] in STEPPED
        free = per_step(net)
        assert free["loss"]["ratio"][700] > 1  # what placed it at the loss before
        assert quantity in {split_key(k)[0] for k in net.run.anchored_chain}


def _golden(case: Case, folder: Path) -> str | None:
    """The golden check of the case's run against ``folder``: None where it passes, else its message."""
    try:
        check_golden(case, folder / "goldens", RUNS.full(case), workdir=folder / "work", environ={})
    except GoldenError as exc:
        return str(exc)
    return None


def test_a_chaotic_runs_golden_holds_on_the_next_run_and_still_sees_a_change(tmp_path):
    # The sides' final weights part by the amplified rounding (1.6e-3 at step 1,499): against a golden holding the
    # scratch side's, the twin side would part on every run after the first.
    written = _golden(EDGE, tmp_path)
    assert written is not None and "no golden file yet (first run)" in written
    assert _golden(EDGE, tmp_path) is None
    path = tmp_path / "goldens" / "edge_of_stability.npz"
    kept = load_golden(path)
    # Before the sides part, the golden's own tolerance alone: an initial weight moved by 1e-9 fails.
    write_golden(path, {**kept, "init.W0": kept["init.W0"] + np.where(np.arange(kept["init.W0"].size) == 0, 1e-9, 0)
                        .reshape(kept["init.W0"].shape)})  # fmt: skip
    message = _golden(EDGE, tmp_path)
    assert message is not None and "init.W0[0, 0]" in message and AMPLIFIED not in message, message
    # Where they part, a change beyond this run's own |scratch - twin| fails, the bound saying what it holds.
    write_golden(path, {**kept, "final.W2": kept["final.W2"] + 0.1})
    message = _golden(EDGE, tmp_path)
    assert message is not None and "final.W2[0, 0]" in message and AMPLIFIED in message, message
    # As another machine's rounding, amplified, would move it: within that allowance, pytest-regressions' own
    # comparison (an array's tolerance at a time) passes too, not a bare "Values are not sufficiently close".
    scratch, twin = RUNS.full(EDGE).golden
    apart = twin["final.W2"] - scratch["final.W2"]
    # Halfway is beyond the golden's own tolerance (how far beyond depends on the CPU's last bits, amplified).
    assert (np.abs(apart) / 2 > 1e-12 + 1e-10 * np.abs(kept["final.W2"])).any()
    write_golden(path, {**kept, "final.W2": kept["final.W2"] + apart / 2})  # halfway: each side within |apart|
    assert _golden(EDGE, tmp_path) is None


def test_no_golden_is_written_from_a_run_whose_anchored_steps_fail(tmp_path):
    # Its free run passes (the planted error hides in the amplified rounding): the anchored steps see it.
    message = _golden(PLANTED_LATE, tmp_path)
    assert message is not None and "not written" in message and "(anchored_steps failed)" in message, message
    assert not (tmp_path / "goldens" / "edge_of_stability_planted_late.npz").exists()


def test_a_pass_within_the_rounding_growth_says_so_in_every_report():
    # Its largest difference (1.6e-3) sits beside a bound of 1e-12: a reader must see why it passed.
    net = collect(EDGE)
    free = next(c for c in net.comparisons if c.check == "training_run")
    assert free.passed and free.note is not None and free.max_abs > 1e-6
    assert f"their largest difference is {free.max_abs:.3g}" in free.note
    rows = table(list(net.comparisons)).splitlines()
    assert [line.split()[-2:] for line in rows if " training_run " in line] == [["growth", "PASS"]]
    assert f"{GROWTH_CELL} edge_of_stability / training_run: {free.note}" in rows
    summary = summary_markdown([net], [], {"commit": "abc1234", "generated_at": "2026-12-06T00:00:00Z"})
    assert "## Passed within the rounding the training amplifies\n\n- **edge_of_stability** / training_run: " in summary
    assert check_record(free)["note"] == free.note
    assert all(check_record(c)["note"] is None for c in net.comparisons if c.check != "training_run")


class ZeroKinkNet:
    """4-8-1 ReLU with zero biases, on rows some of which are all zeros: their pre-activations are exactly 0, at
    the kink; ``ge`` takes the ReLU's derivative there as 1 (``>=``), where torch takes 0: a bug at step 0."""

    ge = False

    def __init__(self, rng: np.random.RandomState) -> None:
        self.W1, self.b1 = rng.normal(size=(4, 8)) * 0.5, np.zeros(8)
        self.W2, self.b2 = rng.normal(size=(8, 1)) * 0.5, np.zeros(1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.z = x, x @ self.W1 + self.b1
        return np.maximum(self.z, 0) @ self.W2 + self.b2

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        d = 2 * (self.forward(x) - y) / y.size
        dz = d @ self.W2.T * ((self.z >= 0) if self.ge else (self.z > 0))
        h = np.maximum(self.z, 0)
        return {"W1": x.T @ dz, "b1": dz.sum(0), "W2": h.T @ d, "b2": d.sum(0)}

    def update(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, g in grads.items():
            setattr(self, name, getattr(self, name) - lr * g)


class ZeroKinkBug(ZeroKinkNet):
    ge = True


class ZeroKinkTwin(torch.nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden, self.out = torch.nn.Linear(4, 8, dtype=dtype), torch.nn.Linear(8, 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def zero_kink_case(network: type[ZeroKinkNet]) -> Case:
    rows = np.random.RandomState(3).normal(size=(16, 4))
    rows[::4] = 0.0  # every fourth row all zeros
    params = {
        "W1": Link("hidden.weight", transpose=True), "b1": Link("hidden.bias"),
        "W2": Link("out.weight", transpose=True), "b2": Link("out.bias"),
    }  # fmt: skip
    return Case(
        name=f"zero_kink_{network.__name__}",
        description="ReLU MLP with zero biases on rows of zeros",
        scratch=Scratch(params, lambda out, y: np.mean((out - y) ** 2), network=network, gradients="gradients",
                        update="update"),
        twin=Twin(ZeroKinkTwin, torch.nn.functional.mse_loss),
        data=Data(rows, rows[:, :1] * 0.5 + 1.0, batches=lambda rng: [slice(None)] * 20, learning_rate=0.05),
    )  # fmt: skip


def test_the_rounding_growth_is_not_measured_across_a_kink_no_rounding_reaches():
    # A second twin with its zero biases one ulp up (5e-324) would move the rows of zeros off the ReLU's kink: its
    # gradient would part by as much as the bug's, and the free run pass as "rounding this run amplifies".
    assert run_check(zero_kink_case(ZeroKinkNet), "training_run").passed
    result = run_check(zero_kink_case(ZeroKinkBug), "training_run")
    d = result.first_divergence
    assert d is not None and (d.step, d.quantity) == (0, "grad") and result.note is None, result.message()


def test_the_state_entering_a_step_the_run_kept_nothing_of_is_the_run_stepped_again():
    # A divergence beyond the rounding growth is judged on a second pass, at a step the run kept no values of: the
    # repro and the localisation read the state entering it from the run stepped again to it (they raised).
    from crosscheck.state import state_entering

    run = RUNS.full(EDGE)
    assert run.values_at(499) is None
    state = state_entering(EDGE, 500, run)
    twin = traces(EDGE)[1]
    for name, value in state.params.items():
        np.testing.assert_array_equal(value, twin[f"param.{name}"][499])


def test_the_rounding_growth_is_the_envelope_of_what_one_ulp_has_become():
    # A chaotic run's differences rise and fall: the second twin's loss came within 1e-6 of the twin's at a step
    # where the sides' parted by 1.2e-3 (a correct run failed at step 1,942 of 2,000). The bound at step s holds
    # the largest growth up to s, carried from one stretch of the run to the next.
    from crosscheck.compare import Comparison
    from crosscheck.growth import _judge_stretch

    result = Comparison("net", "training_run", "loss", 3, 2e-3, 1.0, 1e-12, 1e-10, None)
    base = {"loss": np.array([1.0, 1.0, 1.0])}
    nudged = {"loss": np.array([1.0 + 1e-3, 1.0 - 1e-3, 1.0 + 1e-6])}
    scratch = {"loss": np.array([1.0, 1.0 + 5e-4, 1.0 + 2e-3])}
    found, (allowance, ulp) = _judge_stretch(result, scratch, base, base, nudged, [], 0, {})
    assert found == [] and abs(ulp - 1e-3) < 1e-15 and abs(allowance - 3e-3) < 1e-15
    # Carried: the second stretch (steps 3, 4) keeps the first's envelope.
    envelope: dict[str, float] = {}
    _judge_stretch(result, scratch, base, base, nudged, [], 0, envelope)
    tail = {"loss": np.array([1.0, 1.0])}
    found, _ = _judge_stretch(
        result, {"loss": np.array([1.0 + 3.5e-3, 1.0 + 4.5e-3])}, tail, tail, {"loss": np.array([1.0, 1.0])}, [], 3,
        envelope,
    )  # fmt: skip
    assert found == [] and list(envelope) == ["loss"] and abs(envelope["loss"] - 1e-3) < 1e-15
    found, _ = _judge_stretch(
        result, {"loss": np.array([1.0 + 3.5e-3, 1.0 + 4.5e-3])}, tail, tail, {"loss": np.array([1.0, 1.0])}, [], 3, {}
    )
    assert [f[0] for f in found] == [3]  # without the first stretch's envelope, beyond the growth
