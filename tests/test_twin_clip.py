"""``Twin(clip=...)``: the twin's gradients clipped between backward and the update, as the network clips its own,
checked on the character RNN at a learning rate where its clip to [-5, 5] acts (examples/char_rnn.py's own run
stays below it)."""

import numpy as np
import torch

from crosscheck.case import vary
from crosscheck.checks import battery, run_check
from crosscheck.finite_diff import CLIPPED, finite_difference_votes
from crosscheck.run.memo import traces
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from crosscheck.validate import validation_problem
from examples.char_rnn import CLIP, NET, CharRNN

# At lr 0.5 the run is chaotic: from step 10 the sides part beyond the fixed float64 bound by amplified rounding
# alone (measured), so the run is cut to the steps before it; the clip first acts at step 2 among them.
STEPS = 8
_draw = NET.data.batches
FAST = vary(
    NET, name="char_rnn_fast", learning_rate=0.5, batches=lambda rng: list(_draw(rng))[:STEPS], curve_steps=[0, 5]
)


def largest_twin_gradient(case=FAST):
    """Per step, the largest |gradient| the twin recorded, over every parameter."""
    _, twin = traces(case)
    return np.max([np.abs(twin[k]).reshape(STEPS, -1).max(axis=1) for k in twin if k.startswith("grad.")], axis=0)


def first_step_beyond(bound):
    return int(np.argmax(largest_twin_gradient() > bound))


def test_the_clip_acts_in_the_run_and_the_twin_records_the_clipped_gradient():
    largest = largest_twin_gradient()
    assert largest.max() == CLIP  # clamped exactly to the bound: what the update used, not what backward made
    assert first_step_beyond(CLIP - 1e-9) == 2


def test_with_its_clip_the_twin_agrees_with_the_network_on_every_check():
    assert [check for check in battery(FAST) if not run_check(FAST, check).passed] == []


def test_a_twin_without_the_clip_parts_at_the_step_where_it_first_acts():
    result = run_check(vary(FAST, clip=None, name="char_rnn_fast_unclipped"), "training_run")
    head = f"char_rnn_fast_unclipped / training_run: scratch and twin part at step {first_step_beyond(CLIP - 1e-9)}, "
    assert result.message().startswith(head + "gradient of "), result.message()
    assert (
        f"scratch = -{CLIP}, twin = -8.16" in result.message() or f"scratch = {CLIP}, twin = 8.16" in result.message()
    )


class TightClip(CharRNN):
    """Bug: the gradients clipped to [-4, 4], not the script's [-5, 5]."""

    def loss_fun(self, inputs, targets, hprev):
        loss, *grads, h = super().loss_fun(inputs, targets, hprev)
        for g in grads:
            np.clip(g, -4.0, 4.0, out=g)
        return loss, *grads, h


def test_a_clip_to_the_wrong_bound_fails_on_the_gradient_where_it_first_acts():
    result = run_check(vary(FAST, network=TightClip, name="char_rnn_fast_tight"), "training_run")
    head = f"char_rnn_fast_tight / training_run: scratch and twin part at step {first_step_beyond(4.0)}, gradient of "
    assert result.message().startswith(head), result.message()
    assert "scratch = 4.0, twin = " in result.message() or "scratch = -4.0, twin = " in result.message()


def test_finite_differences_judge_the_gradient_before_the_clip_and_leave_out_what_it_changes():
    step = first_step_beyond(CLIP - 1e-9)
    result = finite_difference_votes(FAST, traces(FAST), steps=[step])
    assert result.passed, result.message()
    clipped = {(v.parameter, v.index) for v in result.declined if v.verdict.startswith(CLIPPED)}
    # The twin's gradient in the votes is backward's, before the clip: beyond the bound exactly where it clipped.
    assert clipped == {(v.parameter, v.index) for v in result.votes if abs(v.twin) > CLIP} != set()
    assert all(abs(v.twin) <= CLIP for v in result.judged) and len(result.judged) > len(clipped)
    assert (
        f"; {len(clipped)} not judged, the twin's clip acting there (at step {step}, gradient of " in result.message()
    )


def test_a_clip_that_assigns_the_gradients_is_recorded_as_one_in_place():
    def assigned(module):
        for p in module.parameters():
            p.grad = p.grad.clamp(-CLIP, CLIP)

    params, batches = start(FAST)
    in_place = twin_trace(FAST, params, batches)
    by_assignment = twin_trace(vary(FAST, clip=assigned, name="char_rnn_fast_assigned"), params, batches)
    for key in in_place:
        np.testing.assert_array_equal(by_assignment[key], in_place[key], err_msg=key)


def test_a_clip_that_is_not_a_function_is_refused():
    problem = validation_problem(vary(FAST, clip=5.0, name="char_rnn_fast_bad"))
    assert problem == "case 'char_rnn_fast_bad': Twin(clip=...) must be a function, got 5.0"


def test_a_clip_applies_to_the_twins_step_only_not_to_its_replayed_backward():
    # backward_at (finite differences, the layer localisation) gives the loss's own derivative.
    from crosscheck.run.twin import backward_at

    params, batches = start(FAST)
    module = backward_at(
        vary(FAST, clip=lambda m: torch.nn.utils.clip_grad_value_(m.parameters(), 0.0)), params, batches[0]
    )
    assert any(p.grad.abs().max() > 0 for p in module.parameters())
