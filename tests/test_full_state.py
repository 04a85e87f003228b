"""Full state (issue 22, item 3): the oracles that replay a step start from both sides as the run left them
entering it, never from a network rebuilt from its parameters.

The networks (tests/stateful_nets.py) keep more than their parameters: a recurrent network's hidden state
carried across batches, a ``gradients()`` reading what ``forward`` cached, a step counter that scales the
output and warms up the learning rate.  Before the oracles started from snapshots (measured on commit
12a96a2, finite differences at the middle step): the recurrent network was accused ("the scratch gradient is
the odd one out (twin and finite differences agree)", scratch -0.00279 against -0.00292, its recorded gradient
set beside a twin and a loss rebuilt with a zero hidden state); the cached network raised ``AttributeError:
'CachedNet' object has no attribute 'output'``; the annealed network passed, judged at step count 0, where a
bug in its scale's derivative does not show: with that bug the ``finite_differences`` check passed and the
diagnosis said "scratch, twin and finite differences agree on this element (the divergence is elsewhere)".
"""

import threading

import numpy as np
import pytest
from fixture_net import TwinNet
from stateful_nets import RNN_PARAMS, AnnealedNet, CachedNet, ElmanRNN, annealed_case, cached_case, rnn_case

from crosscheck import Layer, run_check
from crosscheck.diagnose import diagnose
from crosscheck.diagnose.layers import localise_layers
from crosscheck.diagnose.repro import one_step
from crosscheck.finite_diff import SCRATCH, finite_difference_votes, vote_at
from crosscheck.layout import twin_to_scratch
from crosscheck.run.memo import RUNS, traces
from crosscheck.run.snapshot import default_steps
from crosscheck.run.start import start
from crosscheck.state import state_entering

CASES = {"recurrent": rnn_case, "cached_forward": cached_case, "annealed": annealed_case}


def middle(case):
    return len(start(case)[1]) // 2


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_finite_differences_at_a_middle_step_start_from_the_state_the_run_was_in(make):
    case = make()
    run = traces(case)
    result = finite_difference_votes(case, run, steps=[middle(case)])
    assert result.passed, result.message()
    assert run_check(case, "finite_differences").passed  # the first, middle and last step, from the memo's run


def test_the_snapshots_are_the_state_entering_the_step_on_both_sides():
    case = rnn_case()
    scratch, twin = traces(case)
    steps = default_steps(len(scratch["loss"]))
    kept = RUNS.entering(case, steps)
    assert RUNS.entering(case, steps)[steps[1]] is kept[steps[1]]  # taken while stepping, not stepped again
    for step in steps[1:]:
        entering = kept[step]
        for name in RNN_PARAMS:
            np.testing.assert_array_equal(getattr(entering.scratch.net, name), scratch[f"param.{name}"][step - 1])
        np.testing.assert_array_equal(twin_to_scratch(entering.twin.module, case)["Wh"], twin["param.Wh"][step - 1])
        # The hidden state carried in from the chunk before: what a rebuild from parameters loses.
        assert np.abs(entering.scratch.net.h).min() > 1e-3
        np.testing.assert_allclose(entering.twin.module.h.numpy(), entering.scratch.net.h, rtol=0, atol=1e-12)
        assert all(p.grad is None for p in entering.twin.module.parameters())


def test_a_step_without_a_snapshot_is_stepped_to_again_and_lands_on_the_same_state():
    case = annealed_case()
    scratch, twin = traces(case)
    entering = RUNS.entering(case, [5])[5]
    assert entering.scratch.net.t == 5 and entering.twin.module.t == 5
    np.testing.assert_array_equal(entering.scratch.net.W1, scratch["param.W1"][4])
    np.testing.assert_array_equal(twin_to_scratch(entering.twin.module, case)["W1"], twin["param.W1"][4])
    assert entering.twin.scheduler["last_epoch"] == 5  # the warm-up where the run had it
    assert RUNS.entering(case, [5])[5] is entering  # kept until another step is asked for


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_the_repro_of_a_correct_network_at_a_middle_step_finds_the_sides_agree(make):
    case = make()
    step = middle(case)
    params, held, _, _ = state_entering(case, step, traces(case))
    assert one_step(case, params, start(case)[1][step], held, step) == []


def test_the_layers_of_a_correct_network_agree_at_a_middle_step_from_the_state_the_run_was_in():
    # Rebuilt from its parameters, the scratch copy would run at count 0 and the twin's at count 0: agreeing
    # too, but about a step the run never took; from the snapshots both run at the step's own count.
    case = annealed_case("annealed_layers", layers=[Layer("hidden", scratch="h", twin="act", grad="d_h")])
    step = middle(case)
    assert RUNS.entering(case, [step])[step].scratch.net.t == step
    assert localise_layers(case, step, traces(case)) is None


class ForgetsTheScale(AnnealedNet):
    """A real bug that only acts once the count has moved: dL/doutput without the output's scale."""

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.d_h = d_out @ self.W2.T
        d_h = self.d_h * (1 - self.h**2)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}


def test_a_bug_that_acts_with_the_step_count_is_pinned_on_the_scratch_side():
    hidden = Layer("hidden", scratch="h", twin="act", grad="d_h")
    case = annealed_case("annealed_bug", ForgetsTheScale, layers=[hidden])
    run = traces(case)
    # Step 0 runs at count 0, where the scale is 1 and the bug cannot show; from step 1 on it does.
    vote = vote_at(case, run, 1, "W2", (0, 0))
    assert vote.odd_one_out == SCRATCH, vote.verdict
    assert finite_difference_votes(case, run, steps=[middle(case)]).first_disagreement.odd_one_out == SCRATCH
    found = diagnose(case)
    assert found is not None and found.divergence.step == 1
    assert found.odd_one_out.startswith("the scratch gradient is the odd one out"), found.odd_one_out
    assert (
        localise_layers(case, 1, run)
        .text()
        .startswith("backward, layer 'hidden': its backward signal parts first, introduced by")
    )


class ForgetsTheCarriedState(ElmanRNN):
    """A real bug of truncated backpropagation: the gradient of Wh takes the state carried into the chunk as
    zero, as it is only in the first chunk."""

    def _into(self, hs, t):
        return hs[t] if t else np.zeros_like(hs[t])


def test_a_bug_in_the_carried_state_of_a_recurrent_network_is_pinned_on_the_scratch_side():
    case = rnn_case("rnn_bug", step=ForgetsTheCarriedState.train_step, build=lambda p, lr: ForgetsTheCarriedState(**p))
    run = traces(case)
    found = diagnose(case)
    assert found is not None and found.divergence.step == 1 and found.divergence.parameter == "Wh"
    assert found.odd_one_out.startswith("the scratch gradient is the odd one out"), found.odd_one_out
    # Past the first divergence the sides' hidden states have parted too, and a hidden state is not a parameter
    # that could be written from one side into the other: there the three may only say they all disagree.
    assert vote_at(case, run, 1, "Wh", (0, 0)).odd_one_out == SCRATCH


class Locked(CachedNet):
    """A network that holds a lock: it cannot be deep-copied."""

    def __init__(self, W1, b1, W2, b2):
        super().__init__(W1, b1, W2, b2)
        self.lock = threading.Lock()


def test_a_network_that_cannot_be_copied_gets_a_reason_not_a_crash_nor_an_accusation():
    case = cached_case("locked", Locked)
    assert run_check(case, "training_run").passed
    result = run_check(case, "finite_differences")
    assert not result.passed
    assert result.message().startswith(
        "locked / finite_differences: at step 0 the scratch network cannot be deep-copied (TypeError: cannot pickle "
        "'_thread.lock' object); the oracles that replay a step start from a copy of it as it stands, so make "
        "copy.deepcopy work on it"
    ), result.message()
    assert (result.problem.step, result.problem.side) == (0, "scratch")
    found = diagnose(case)
    assert found.odd_one_out is None and found.check == "finite_differences"


class LockedTwin(TwinNet):
    """A twin that holds a lock: its module cannot be deep-copied."""

    def __init__(self, dtype):
        super().__init__(dtype)
        self.lock = threading.Lock()


def test_a_twin_that_cannot_be_copied_gets_a_reason_naming_the_twin():
    case = cached_case("locked_twin", module=LockedTwin)
    assert run_check(case, "training_run").passed
    result = run_check(case, "finite_differences")
    assert result.message().startswith(
        "locked_twin / finite_differences: at step 0 the twin's module cannot be deep-copied (TypeError: "
    ), result.message()
    assert (result.problem.step, result.problem.side) == (0, "twin")
