"""The third oracle: central finite differences of the scratch loss agree with the scratch and twin
gradients at the first, middle and last step of every tutorial run; when one of the three is wrong,
the failure names it."""

import numpy as np
import pytest

from crosscheck.case import vary
from crosscheck.finite_diff import (
    FINITE_DIFFERENCES,
    SCRATCH,
    TWIN,
    central_difference,
    finite_difference_votes,
    judge,
    step_size,
)
from crosscheck.run.memo import first_step_traces, traces
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON, TUTORIAL_CASES

names = pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)


@names
def test_the_three_oracles_agree_along_the_run(case):
    result = finite_difference_votes(case, traces(case))
    assert result.passed, result.message()
    n = len(case.data.batches(np.random.RandomState(case.data.seed)))
    assert result.steps == (0, n // 2, n - 1)
    assert len(result.votes) == 3 * sum(
        np.size(v) for v in case.calls.init(np.random.RandomState(case.data.seed)).values()
    )


@names
def test_the_bound_is_tight_enough_to_see_a_one_in_a_million_error(case):
    # The bound is a few 1e-10 (measured largest error 3.2e-11, at most 0.27 of its bound):
    # far below what a wrong factor or sign would move a gradient of these sizes.
    result = finite_difference_votes(case, first_step_traces(case), steps=[0])
    assert max(v.bound for v in result.votes) < 1e-9


@pytest.mark.parametrize("p", [0.0, 1e-300, 0.37, -2.5, 1e6])
def test_the_step_is_exactly_the_one_taken(p):
    h = step_size(p)
    assert (p + h) - p == h
    assert h == pytest.approx(np.cbrt(np.finfo(float).eps) * max(1.0, abs(p)), rel=1e-9)


@pytest.mark.parametrize("p", [0.0, 0.5, -3.0, 40.0])
def test_the_bound_holds_where_the_derivative_is_known(p):
    estimate = central_difference(np.sin, p)
    assert abs(estimate.value - np.cos(p)) <= estimate.bound
    assert estimate.bound < 1e-9 * max(1.0, abs(p)) ** 2  # truncation grows as h^2, h as |p|


@pytest.mark.parametrize("where", [0.997, -0.997, 0.6])
def test_a_kink_just_inside_the_step_does_not_accuse_the_true_slope(where):
    # A ReLU's kink a sliver inside h moves D(h) by a sliver of its jump: far beyond the smooth bound, while the
    # one-sided slopes part by less than the curvature the wider steps see there (measured on a book's ReLU MLP:
    # a pre-activation 0.997 h from its kink; finite differences named correct gradients the odd one out).
    p, slope = 0.3, 0.25
    kink = p + where * step_size(p)
    estimate = central_difference(lambda x: slope * x + max(0.0, x - kink), p)
    true = slope + (1.0 if kink < p else 0.0)
    assert abs(estimate.value - true) > 100 * estimate.bound  # D(h) alone would accuse the true slope
    fd, bound = estimate.closest(true)
    assert not estimate.smooth or abs(fd - true) <= bound
    if abs(where) > 0.5:  # outside h/2: D(h/2) is the slope itself
        assert abs(estimate.half - true) <= estimate.half_bound
    fd, bound = estimate.closest(true + 1e-6)
    assert abs(fd - (true + 1e-6)) > bound  # a gradient off by more than every bound is not near any estimate


def test_a_jump_of_the_second_derivative_at_the_point_itself_is_cancelled_by_richardson():
    # A zero bias on rows of zeros: their first-derivative jumps cancel, the second derivative jumps at p, and
    # D(h) and D(h/2) both err by a term first order in h (by 1e-9 against bounds of 2e-10 on a spiral MLP).
    p, slope, jump = 0.0, 0.3, 2e3
    estimate = central_difference(lambda x: slope * x + (jump / 2) * max(0.0, x) ** 2, p)
    assert abs(estimate.value - slope) > estimate.bound and abs(estimate.half - slope) > estimate.half_bound
    fd, bound = estimate.closest(slope)
    assert fd == 2 * estimate.half - estimate.value and abs(fd - slope) <= bound
    fd, bound = estimate.closest(slope * 1.001)  # a gradient a part in 1e3 off is near none of the three
    assert abs(fd - slope * 1.001) > bound


def negate_one_gradient(cls, method):
    """A realistic bug: the sign of one parameter's gradient flipped in the scratch network."""
    original = getattr(cls, method)
    if cls is s_neuron.NeuralNetwork:
        return lambda self, x, t: (-original(self, x, t)[0], original(self, x, t)[1])
    if cls is s221.TrainableNeuralNetwork:
        return lambda self, x, y: original(self, x, y) | {"w4": -original(self, x, y)["w4"]}
    return lambda self: (original(self)[0], -original(self)[1])


WRONG_SCRATCH = [
    (SIGMOID_NEURON, s_neuron.NeuralNetwork, "_compute_gradients", "bias"),
    (NETWORK_2_2_1, s221.TrainableNeuralNetwork, "_partial_derivatives", "w4"),
    (NETWORK_3_4_1, s341.NeuralNetwork, "_gradients", "weights2[0, 0]"),
]


@pytest.mark.parametrize("case, cls, method, parameter", WRONG_SCRATCH, ids=lambda v: getattr(v, "name", None))
def test_a_wrong_scratch_gradient_is_named_the_odd_one_out(case, cls, method, parameter, monkeypatch):
    monkeypatch.setattr(cls, method, negate_one_gradient(cls, method))
    result = finite_difference_votes(case, first_step_traces(case), steps=[0])
    assert not result.passed
    assert result.first_disagreement.odd_one_out == SCRATCH
    assert result.message().startswith(
        f"{case.name} / finite_differences: at step 0, gradient of {parameter}: the scratch gradient is the "
        "odd one out (twin and finite differences agree): scratch = "
    )


@names
def test_a_wrong_twin_gradient_is_named_the_odd_one_out(case):
    # A twin whose loss is doubled (say, a mean where the scratch side sums, over two rows).
    doubled = vary(case, twin_loss=lambda out, y: 2 * case.twin.loss(out, y))
    result = finite_difference_votes(doubled, first_step_traces(doubled), steps=[0])
    assert not result.passed
    assert result.first_disagreement.odd_one_out == TWIN
    assert "the twin gradient is the odd one out (scratch and finite differences agree)" in result.message()


@names
def test_a_loss_that_does_not_match_the_gradients_makes_finite_differences_the_odd_one_out(case):
    # Finite differences see only forward and loss: a loss the gradient code was not derived from.
    doubled = vary(case, scratch_loss=lambda out, y: 2 * case.calls.loss(out, y))
    result = finite_difference_votes(doubled, first_step_traces(doubled), steps=[0])
    assert not result.passed
    assert result.first_disagreement.odd_one_out == FINITE_DIFFERENCES
    assert "the finite-difference estimate is the odd one out (scratch and twin agree)" in result.message()


@pytest.mark.parametrize(
    "values, odd, verdict",
    [
        ((1.0, 1.0, 1.0), None, "agree"),
        ((2.0, 1.0, 1.0), SCRATCH, "the scratch gradient is the odd one out (twin and finite differences agree)"),
        ((1.0, 2.0, 1.0), TWIN, "the twin gradient is the odd one out (scratch and finite differences agree)"),
        (
            (1.0, 1.0, 2.0),
            FINITE_DIFFERENCES,
            "the finite-difference estimate is the odd one out (scratch and twin agree); both gradients disagree "
            "with the loss they claim to differentiate: the same bug on both sides (a derivative left out, a "
            ".detach()), or a loss that is not smooth there",
        ),
        ((1.0, 2.0, 3.0), None, "all three disagree"),
        (
            (1.0, 1.0 + 2e-3, 1.0 + 1e-3),
            None,
            "scratch and twin disagree while finite differences is within reach of both; the three cannot tell which is off",
        ),
    ],
)
def test_the_odd_one_out_is_the_one_that_disagrees_with_both_others(values, odd, verdict):
    # bound 1.5e-3 between a gradient and finite differences, 1e-4 between scratch and twin
    assert judge(*values, bound=1.5e-3, pair_tolerance=1e-4) == (odd, verdict)


def test_finite_differences_refuse_float32():
    case = vary(SIGMOID_NEURON, dtype=np.dtype(np.float32))
    with pytest.raises(ValueError, match="float64 only"):
        finite_difference_votes(case, None)  # refused before any value is read


def test_steps_outside_the_run_are_refused():
    with pytest.raises(ValueError, match=r"steps \[1500\] are outside the run's 1500 steps"):
        finite_difference_votes(NETWORK_3_4_1, traces(NETWORK_3_4_1), steps=[1500])


def test_the_copies_a_cyclic_network_leaves_are_freed_as_the_evaluations_go():
    # An optimizer that holds its model makes each copy a reference cycle, freed only when the collector runs (by
    # the count of objects made, not bytes): a large network's copies, nine an element, piled up by the gigabyte.
    import weakref

    from fixture_net import Net, make_case

    from crosscheck.run.memo import RUNS

    live: weakref.WeakSet = weakref.WeakSet()
    most = {"alive": 0}

    class Cyclic(Net):
        def __init__(self, **params):
            super().__init__(**params)
            self.optimizer = {"model": self}  # the cycle
            live.add(self)

        def forward(self, x):
            live.add(self)  # a copy is made without __init__
            most["alive"] = max(most["alive"], len(live))
            return super().forward(x)

    case = make_case("cyclic_fd", build=lambda params, lr: Cyclic(**params), forward=Cyclic.forward)
    RUNS.full(case)  # its run, and the snapshots finite differences start from
    before = len(live)
    most["alive"] = 0
    result = finite_difference_votes(case, None)
    assert result.passed and len(result.votes) > 30  # nine loss evaluations each
    assert most["alive"] <= before + 1, (before, most["alive"])  # the one copy being evaluated (144 before)
