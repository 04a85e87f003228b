"""The examples' bug catalogue: each typical bug in a network's own code fails the gate where it first shows,
naming the state, buffer or parameter; each correct example passes its whole battery."""

import pytest

from crosscheck.case import validation_problem
from crosscheck.checks import assert_check, battery, run_check
from examples.bugs import BUGS


@pytest.mark.parametrize("name", BUGS)
def test_a_typical_bug_in_the_networks_own_code_fails_where_it_first_shows(name):
    bug = BUGS[name]
    case = bug.case()
    assert validation_problem(case) is None  # a bug in the arithmetic, not in how the case is put together
    result = run_check(case, "training_run")
    assert result.message().startswith(
        f"{name}_bug / training_run: scratch and twin part at step {bug.step}, {bug.where}["
    ), result.message()


@pytest.mark.parametrize("name", BUGS)
def test_the_correct_example_passes_its_battery(name):
    case = BUGS[name].case.__globals__["NET"]
    assert case.name == name
    failing = [check for check in battery(case) if not run_check(case, check).passed]
    assert failing == []


def test_an_update_failure_says_what_the_twin_trains_with():
    with pytest.raises(AssertionError) as excinfo:
        assert_check("training_run", BUGS["adam_schedule"].case())
    assert (
        "\nthe twin trains with torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0) with "
        "StepLR(step_size=40, gamma=0.5); if the network's optimizer is of another kind or has other options, give "
        "the twin the same (Twin(optimizer=..., scheduler=...))"
    ) in str(excinfo.value)


def test_the_block_of_an_update_failure_names_the_twins_optimizer():
    from crosscheck.diagnose import diagnose

    found = diagnose(BUGS["momentum_mlp"].case())
    assert found is not None
    assert found.block()[1:4] == [
        "  first divergence: step 0, parameter after update of layers[0].W[0, 0] (one_step check)",
        found.block()[2],
        "  the difference first grows at: update (parameters after the step)",
    ]
    assert found.block()[4] == (
        "  the twin trains with torch.optim.SGD(lr=0.05, momentum=0.9, dampening=0, weight_decay=0.001, nesterov=False)"
    )
