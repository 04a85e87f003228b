"""Whatever the network does, a PASS means scratch and twin agree; what cannot be checked is a message.

Each test builds a small case of its own (a 2-3-1 tanh network on six points, a few full-batch steps)
through the public API, changes one thing the way a user's network might, and asserts the harness's
exact words.  Nothing here touches the tutorial networks.
"""

import itertools
import warnings

import numpy as np
import pytest
import torch
from fixture_net import Net, TwinNet, X, Y, make_case, mse
from torch.nn import functional as F

from crosscheck import RegistrationError, parametrize_with_checks, register, run_check
from crosscheck.case import MAX_STEPS
from crosscheck.checks import battery
from crosscheck.testing import assert_check


@pytest.fixture(autouse=True)
def _registry_restored(monkeypatch):
    """Cases registered here stay here: later tests see the project's registry as it was."""
    from crosscheck import registration

    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))


def message(case, check="training_run"):
    result = run_check(case, check)
    assert not result.passed, f"{case.name} / {check} passed"
    return result.message()


def test_the_fixture_passes_the_whole_battery():
    case = make_case()
    assert all(run_check(case, check).passed for check in battery(case))


# --- silent passes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: (s for s in (0, 3, 5)), lambda: iter([0, 3, 5])], ids=["generator", "iter"])
def test_one_shot_curve_steps_are_read_once_and_a_wrong_metric_fails(make, request):
    name = f"one_shot_{request.node.callspec.id}"
    case = make_case(name=name, curve_steps=make(), scratch_evaluate=lambda net, X, y: 1.01 * mse(net.forward(X), y))
    assert case.data.curve_steps == (0, 3, 5)
    register(case)  # validation reads the steps, and must not use them up
    assert message(case).startswith(f"{name} / training_run: scratch and twin part at step 0, recorded loss curve")


def centring(net, x):
    x -= x.mean(0)  # a bug: the caller's data is changed
    return Net.forward(net, x)


def test_a_scratch_network_that_writes_into_its_input_fails_naming_the_step_and_side():
    case = make_case(forward=centring)
    before = case.data.X.copy()
    assert message(case) == (
        "fixture_2_3_1 / training_run: the case cannot be checked: case 'fixture_2_3_1': forward(net, X) writes into "
        "its input: the harness hands X and y over read-only, so that both sides and every later step see the same "
        "data; compute on a copy (x = x - x.mean(0), not x -= x.mean(0))"
    )
    np.testing.assert_array_equal(case.data.X, before)
    assert not case.data.X.flags.writeable and case.data.X is not X  # the case holds its own read-only copy


def calls(net, what):
    """How many times ``what`` was called on this network object before: each run builds its own network,
    so its step k is call k of its forward (the harness calls forward once per step)."""
    n = net.__dict__.get(what, 0)
    setattr(net, what, n + 1)
    return n


def test_a_network_that_writes_into_its_input_after_the_first_step_is_named_at_that_step(monkeypatch):
    def late_centring(net, x):
        return centring(net, x) if calls(net, "forward_calls") >= 2 else Net.forward(net, x)

    case = make_case(forward=late_centring)
    assert message(case) == (
        "fixture_2_3_1 / training_run: at step 2 the scratch side's forward writes into its input: the harness "
        "hands X and y over read-only, so that both sides and every later step see the same data; compute on a "
        "copy (x = x - x.mean(0), not x -= x.mean(0))"
    )


class CentringTwin(TwinNet):
    def forward(self, x):
        x -= x.mean(0)
        return super().forward(x)


def test_a_twin_that_writes_into_its_input_is_refused():
    case = make_case(module=CentringTwin)
    assert message(case) == (
        "fixture_2_3_1 / training_run: the case cannot be checked: case 'fixture_2_3_1': at step 0 the twin writes "
        "into its input (an in-place operation such as x.sub_() or x -= ... on the batch); compute on a new tensor "
        "(x = x - x.mean(0))"
    )


def test_an_unregistered_case_is_validated_by_run_check_and_the_battery():
    case = make_case(y=Y.ravel(), scratch_loss=lambda out, y: np.mean((out - y) ** 2))  # (6, 1) outputs against (6,)
    expected = (
        "the case cannot be checked: case 'fixture_2_3_1': forward(net, X) has shape (6, 1) but its targets have "
        "shape (6,); output - target would broadcast to (6, 6), pairing every output with every target: give y "
        "rows of the output's shape"
    )
    assert message(case) == f"fixture_2_3_1 / training_run: {expected}"
    with pytest.raises(AssertionError) as excinfo:
        assert_check("golden", case)
    assert str(excinfo.value) == f"fixture_2_3_1 / golden: {expected}"


def test_parametrize_with_checks_gives_every_float64_case_the_oracle_and_the_golden():
    mark = parametrize_with_checks([make_case()])
    assert [p.id for p in mark.args[1]] == [
        f"fixture_2_3_1-{c}"
        for c in (
            "initial_parameters",
            "forward",
            "loss",
            "gradients",
            "one_step",
            "training_run",
            "anchored_steps",
            "finite_differences",
            "golden",
        )
    ]


class Identity(torch.autograd.Function):
    """tanh forward, identity backward: the derivative left out, on the twin's side too."""

    @staticmethod
    def forward(ctx, z):
        return torch.tanh(z)

    @staticmethod
    def backward(ctx, grad):
        return grad


class SameBugTwin(TwinNet):
    def forward(self, x):
        return self.out(Identity.apply(self.hidden(x)))


class SameBugNet(Net):
    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        d_h = d_out @ self.W2.T  # tanh's derivative left out
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}


def test_a_bug_on_both_sides_is_caught_by_finite_differences():
    case = make_case(module=SameBugTwin, gradients=SameBugNet.gradients)
    assert run_check(case, "training_run").passed  # the twin alone cannot see it
    text = message(case, "finite_differences")
    assert text.startswith("fixture_2_3_1 / finite_differences: at step 0, gradient of W1[0, 0]: ")
    assert (
        "the finite-difference estimate is the odd one out (scratch and twin agree); both gradients disagree with "
        "the loss they claim to differentiate: the same bug on both sides"
    ) in text


# --- runs that go wrong at a step ------------------------------------------------------------------


def exploding():
    """A learning rate of 1e200: step 1's outputs are near 1e200 on both sides, and their squares overflow."""
    return make_case(learning_rate=1e200, curve_steps=[])


def test_a_numpy_warning_at_a_step_is_a_message_naming_it():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = message(exploding())
    assert text.startswith(
        "fixture_2_3_1 / training_run: at step 1 the scratch side's loss raised NumPy's floating-point warning "
        '"overflow encountered in square": the values leave the range of float64 there'
    )


def test_a_run_where_both_sides_become_non_finite_says_so():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        text = message(exploding())
    assert text.startswith("fixture_2_3_1 / training_run: both sides become non-finite at step 1, loss: ")
    assert text.endswith(
        "the run itself diverges (a learning rate too large, unscaled data), and the sides cannot be compared "
        "from there: make the run stay finite"
    )


def from_step_one(change):
    """A gradients() that is right at step 0 and changed by ``change`` after it."""

    def gradients(net, x, y):
        grads = Net.gradients(net, x, y)
        return change(grads) if calls(net, "gradient_calls") >= 1 else grads  # each network's step 0 is right

    return gradients


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda g: {**g, "b3": g["b2"]}, "returned the keys ['W1', 'W2', 'b1', 'b2', 'b3']: not parameters ['b3']"),
        (
            lambda g: {k: v for k, v in g.items() if k != "b1"},
            "returned the keys ['W1', 'W2', 'b2']: missing ['b1']",
        ),
        (
            lambda g: {**g, "W2": g["W2"].astype(np.float32)},
            "gave the gradient of 'W2' as float32 (3, 1); the parameter is float64 (3, 1) "
            "(a float32 gradient must not pass as float64)",
        ),
        (lambda g: {**g, "b2": g["b2"][:, None]}, "gave the gradient of 'b2' as float64 (1, 1)"),
        (lambda g: list(g.values()), "returned a list, not a dict of gradients by parameter name"),
        (lambda g: {**g, "b1": g["b1"].tolist()}, "gave the gradient of 'b1' as a list, not a NumPy array"),
    ],
    ids=["extra key", "missing key", "float32", "shape", "list", "list value"],
)
def test_gradients_that_change_after_step_0_fail_naming_the_step(change, words):
    text = message(make_case(gradients=from_step_one(change)))
    assert text.startswith(f"fixture_2_3_1 / training_run: at step 1 the scratch side's gradients() {words}")


def test_a_twin_loss_outside_autograd_is_refused():
    problem = message(make_case(twin_loss=lambda o, y: F.mse_loss(o, y).item()))
    assert problem.endswith(
        "twin_loss(output, y) must return a torch tensor, got float (.item() or float() leaves autograd)"
    )


def test_a_scratch_loss_of_another_dtype_is_refused():
    from crosscheck.precision import float32_case

    problem = message(float32_case(make_case(scratch_loss=lambda o, y: float(mse(o, y)))))  # a Python float is float64
    assert problem.endswith(
        "loss(output, y[batch 0]) returns float64 (float) but the case is float32; return a NumPy value of the "
        "case's dtype (np.mean(...), not float(...))"
    )


class DropoutTwin(TwinNet):
    def forward(self, x):
        return self.out(F.dropout(torch.tanh(self.hidden(x)), 0.5, training=True))


def test_a_twin_that_is_not_deterministic_is_refused():
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(name="dropout_twin", module=DropoutTwin))
    assert str(excinfo.value) == (
        "case 'dropout_twin': the twin is not deterministic: run twice from the same parameters over its first 3 "
        "steps, it gives different forward. Dropout, or randomness drawn in forward, makes every run differ; "
        "remove it from the twin (and the scratch network), or use the module's eval behaviour for the cross-check"
    )


class DetachedTwin(TwinNet):
    def forward(self, x):
        return super().forward(x).detach()


def test_a_detached_twin_is_refused():
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(name="detached_twin", module=DetachedTwin))
    assert str(excinfo.value) == (
        "case 'detached_twin': the twin's output does not depend on its parameters through autograd (it is detached: "
        ".detach(), .numpy(), .item() or torch.no_grad() inside forward); return the tensor computed from the "
        "parameters"
    )


def test_read_only_or_negatively_strided_data_is_taken():
    x = X.copy()
    x.setflags(write=False)
    reversed_x, reversed_y = X[::-1], Y[::-1]
    assert reversed_x.strides[0] < 0
    for case in (make_case(X=x), make_case(X=reversed_x, y=reversed_y)):
        assert run_check(case, "training_run").passed


def test_an_endless_schedule_is_refused_before_it_is_read():
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(name="endless", batches=lambda rng: itertools.repeat(slice(None))))
    assert str(excinfo.value) == (
        f"case 'endless': batches(rng) gives more than {MAX_STEPS:,} items (an endless iterator such as "
        f"itertools.repeat?); give a finite schedule of at most {MAX_STEPS:,} steps"
    )


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [("Fixture_Net", "fixture_net"), ("ﬁnal_net", "final_net")])
def test_names_that_one_file_system_would_share_are_refused(first, second):
    register(make_case(name=first))
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(name=second))
    assert str(excinfo.value).startswith(
        f"case {second!r}: a case named {first!r} is already registered by module {__name__!r} ({__file__}), and the "
        f"two names differ only in letter case or Unicode form; each names a golden file, which one file system "
        f"would share between them"
    )


def test_a_name_too_long_for_a_file_is_refused_at_registration():
    with pytest.raises(RegistrationError) as excinfo:
        register(make_case(name="n" * 300))
    assert str(excinfo.value) == (
        f"case {'n' * 20!r}...: the name has 300 characters; at most 100, since it names the case's golden file"
    )
