"""Issue 23's silent passes and lost data, each through the entry point where it was seen, on the fixture
network (tests/fixture_net.py): a network that unlocks the harness's data to write into it."""

import numpy as np
import pytest
from fixture_net import Net, X, make_case, mse

from crosscheck import run_check
from crosscheck.checks import battery
from crosscheck.testing import assert_check

# --- class 3: no call can change the case's data ------------------------------------------------------

UNLOCK = (
    "unlocks its input to write into it (setflags(write=True)): the harness hands X and y over read-only, in "
    "memory no flag unlocks, so that both sides and every later step see the same data; compute on a copy "
    "(x = x - x.mean(0), not x -= x.mean(0))"
)


def unlocking_centring(x, through_base=False):
    """The bug: the input is made writable and centred in place (the twin does not centre)."""
    (x.base if through_base and x.base is not None else x).setflags(write=True)
    x -= x.mean(0)


def nth_call(net, what):
    n = net.__dict__.get(what, 0)
    setattr(net, what, n + 1)
    return n


@pytest.mark.parametrize("through_base", [False, True], ids=["array", "base"])
def test_a_network_that_unlocks_its_input_fails_every_check_and_leaves_the_data_as_it_was(through_base):
    def forward(net, x):
        unlocking_centring(x, through_base)
        return Net.forward(net, x)

    case = make_case(forward=forward)
    before = case.data.X.copy()
    for check in [*battery(case), "golden"]:
        with pytest.raises(AssertionError) as excinfo:
            assert_check(check, case)
        assert str(excinfo.value) == (
            f"fixture_2_3_1 / {check}: the case cannot be checked: case 'fixture_2_3_1': forward(net, X) {UNLOCK}"
        )
    np.testing.assert_array_equal(case.data.X, before)
    np.testing.assert_array_equal(case.data.X, X)


@pytest.mark.parametrize("through_base", [False, True], ids=["array", "base"])
def test_an_unlocking_forward_after_validation_is_named_at_its_step_and_side(through_base):
    def forward(net, x):
        if nth_call(net, "forward_calls") >= 2:
            unlocking_centring(x, through_base)
        return Net.forward(net, x)

    case = make_case(forward=forward)
    result = run_check(case, "training_run")
    assert result.message() == f"fixture_2_3_1 / training_run: at step 2 the scratch side's forward {UNLOCK}"
    np.testing.assert_array_equal(case.data.X, X)


def test_an_unlocking_evaluate_is_named_at_its_step_and_side():
    def evaluate(net, X, y):
        if nth_call(net, "evaluate_calls") >= 1:
            unlocking_centring(X)
        return mse(net.forward(X), y)

    case = make_case(scratch_evaluate=evaluate)
    assert run_check(case, "training_run").message() == (
        f"fixture_2_3_1 / training_run: at step 3 the scratch side's evaluate {UNLOCK}"
    )
    np.testing.assert_array_equal(case.data.X, X)


def test_an_index_array_batch_cannot_be_unlocked_either():
    def forward(net, x):
        if len(x) < len(X):
            unlocking_centring(x)
        return Net.forward(net, x)

    case = make_case(forward=forward, batches=lambda rng: [np.array([0, 2, 4]), np.array([1, 3, 5])] * 3)
    assert run_check(case, "training_run").message() == (
        f"fixture_2_3_1 / training_run: the case cannot be checked: case 'fixture_2_3_1': forward(net, X[batch 0]) "
        f"{UNLOCK}"
    )
    np.testing.assert_array_equal(case.data.X, X)
