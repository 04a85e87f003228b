"""The examples' bug catalogue: each typical bug in a network's own code fails the gate where it first shows,
naming the state, buffer or parameter; each correct example passes its whole battery."""

import pytest

from crosscheck.case import vary
from crosscheck.checks import battery, run_check
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from crosscheck.testing import assert_check
from crosscheck.validate import validation_problem
from examples.bugs import BUGS

# Every bug of the catalogue shows at step 0 (``Bug.step``).  The gate runs each bugged case over its first
# STEPS steps: the same parameters and batches as its whole run (drawn from the same stream), so the first
# divergence is the whole run's (at the float64 tolerance, which does not depend on the run's length), and
# the steps after it, which part as well, ask the check to name the earliest.  The whole runs of the
# correct examples are the battery's (below, and tests/test_battery.py), from the cached traces.
STEPS = 3


def first_steps(case, steps=STEPS):
    """``case`` with its run cut to the first ``steps`` steps, and the curve steps among them."""
    draw = case.data.batches
    return vary(
        case, batches=lambda rng: list(draw(rng))[:steps], curve_steps=[s for s in case.data.curve_steps if s < steps]
    )


@pytest.mark.parametrize("name", BUGS)
def test_a_typical_bug_in_the_networks_own_code_fails_where_it_first_shows(name):
    bug = BUGS[name]
    assert bug.step < STEPS
    case = first_steps(bug.case())
    assert validation_problem(case) is None  # a bug in the arithmetic, not in how the case is put together
    # The traces run_check(case, "training_run") would get from crosscheck.run.memo.traces, computed here: the
    # two tests below take two of these cases through that path (assert_check, diagnose), and a gate
    # computes each run there once (tests/conftest.py counts them).
    params, batches = start(case)
    result = run_check(
        case, "training_run", run=(scratch_trace(case, params, batches), twin_trace(case, params, batches))
    )
    assert result.steps == STEPS
    head = f"{name}_bug / training_run: scratch and twin part at step {bug.step}, {bug.where}"
    assert result.message().startswith((head + "[", head + ":")), result.message()  # ":" after a scalar (the loss)


@pytest.mark.parametrize("name", BUGS)
def test_the_correct_example_passes_its_battery(name):
    case = BUGS[name].case.__globals__["NET"]
    assert case.name == name
    failing = [check for check in battery(case) if not run_check(case, check).passed]
    assert failing == []


def test_an_update_failure_says_what_the_twin_trains_with():
    with pytest.raises(AssertionError) as excinfo:
        assert_check("training_run", first_steps(BUGS["adam_schedule"].case()))
    assert (
        "\nthe twin trains with torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0) with "
        "StepLR(step_size=40, gamma=0.5): where that is the optimizer the network means to be, the scratch update is "
        "the suspect (do not copy its rule into the twin); where the network means another kind or other options, "
        "give the twin those (Twin(optimizer=..., scheduler=...))"
    ) in str(excinfo.value)


def test_the_block_of_an_update_failure_names_the_twins_optimizer():
    from crosscheck.diagnose import diagnose

    found = diagnose(first_steps(BUGS["momentum_mlp"].case()))
    assert found is not None
    assert found.block()[1:4] == [
        "  first divergence: step 0, parameter after update of layers[0].W[0, 0] (one_step check)",
        found.block()[2],
        "  the difference first grows at: update (parameters after the step)",
    ]
    assert found.block()[4] == (
        "  the twin trains with torch.optim.SGD(lr=0.05, momentum=0.9, dampening=0, weight_decay=0.001, nesterov=False)"
    )
