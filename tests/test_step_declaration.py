"""A network's own step registered as it is written (``Step``: what it takes, where its loss is), and a network
drawing its initial weights from the global ``np.random``: both through ``register``, as a user meets them."""

from __future__ import annotations

import random

import numpy as np
import pytest
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, RegistrationError, Scratch, Step, Twin, register, registration, run_check
from crosscheck.checks import battery
from crosscheck.run.memo import traces


@pytest.fixture(autouse=True)
def _registry_as_it_was(monkeypatch):
    """The cases registered here leave the process's registry as it was."""
    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))


X = np.array([[0.0, 1.0], [1.0, 0.5], [-1.0, 0.25], [0.5, -0.5], [2.0, 0.0], [-0.5, -1.0]])
Y = np.tanh(X @ np.array([[0.8], [-0.6]]))
PARAMS = {"W": Link("fc.weight", transpose=True), "b": Link("fc.bias")}


class Library:
    """A from-scratch library's model: ``train_on_batch(X, y)`` returns ``(loss, accuracy)``; its learning rate is
    its own; ``update_mini_batch(mini_batch, eta)`` is Nielsen's, a list of (x, y) samples, returning nothing."""

    def __init__(self, rng):
        self.W, self.b, self.lr = rng.normal(size=(2, 1)), np.zeros(1), 0.1

    def forward(self, x):
        return x @ self.W + self.b

    def _descend(self, x, y, lr):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.W, self.b = self.W - lr * x.T @ d_out, self.b - lr * d_out.sum(0)

    def train_on_batch(self, x, y):
        loss = np.mean((self.forward(x) - y) ** 2)
        self._descend(x, y, self.lr)
        return loss, 0.5

    def update_mini_batch(self, mini_batch, eta):
        x = np.array([a for a, _ in mini_batch]).reshape(-1, 2)
        y = np.array([b for _, b in mini_batch]).reshape(-1, 1)
        self._descend(x, y, eta)


class Twin1(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.fc = nn.Linear(2, 1, dtype=dtype)

    def forward(self, x):
        return self.fc(x)


def mse(out, y):
    return np.mean((out - y) ** 2)


def case(step, network=Library, name="library", batches=lambda rng: [slice(None)] * 4, **changes):
    return Case(
        name=name,
        scratch=Scratch(PARAMS, mse, network=network, step=step, **changes),
        twin=Twin(Twin1, F.mse_loss),
        data=Data(X, Y, batches=batches, learning_rate=0.1),
    )


def test_a_step_returning_loss_and_accuracy_registers_by_declaring_where_its_loss_is():
    c = register(case(Step("train_on_batch", takes=("x", "y"), loss=0)))
    assert [check for check in battery(c) if not run_check(c, check).passed] == []
    scratch, twin = traces(c)  # every value, recorded anew
    assert scratch["loss"][0] == pytest.approx(twin["loss"][0], abs=1e-15)  # item 0 is what is compared


def test_the_declared_item_is_the_loss_compared():
    class Summed(Library):
        def train_on_batch(self, x, y):
            loss, accuracy = super().train_on_batch(x, y)
            return accuracy, loss * len(y)  # the summed loss is not the twin's mean

    c = case(Step("train_on_batch", takes=("x", "y"), loss=1), network=Summed, name="summed")
    assert not run_check(c, "loss").passed
    assert run_check(c, "one_step").passed


@pytest.mark.parametrize("batches", [lambda rng: [slice(None)] * 4, lambda rng: [0, 3, 5, 1]], ids=["rows", "samples"])
def test_nielsens_update_mini_batch_takes_a_list_of_pairs_and_the_harness_computes_its_loss(batches):
    c = case(Step("update_mini_batch", takes=("pairs", "lr"), loss=None), batches=batches)
    assert [check for check in battery(c) if not run_check(c, check).passed] == []
    scratch, _ = traces(c)  # every value, recorded anew
    # The loss before each step, on the forward output the harness recorded: the step itself returns nothing.
    assert np.array_equal(
        scratch["loss"], [mse(out, Y[b]) for out, b in zip(scratch["output"], batches(None), strict=True)]
    )


def test_naming_a_method_that_does_not_take_x_y_lr_is_refused_with_its_signature():
    with pytest.raises(RegistrationError) as exc:
        register(case("update_mini_batch", name="nielsen"))
    assert str(exc.value) == (
        "case 'nielsen': Scratch(step=...): the harness calls net.update_mini_batch(x, y, lr) (the default, without "
        "a Step), but its signature is net.update_mini_batch(mini_batch, eta) (too many positional arguments); "
        "declare what it takes with crosscheck.Step('update_mini_batch', takes=(...)): 'x', 'y' (the batch's inputs "
        "and targets), 'pairs' (the batch as a list of (x, y) samples), 'lr' (the learning rate), in the order it "
        "takes them after the network"
    )


def test_a_declaration_that_does_not_fit_a_function_is_refused_with_its_signature():
    def train(net, x, y):
        return net.train_on_batch(x, y)

    with pytest.raises(RegistrationError) as exc:
        register(case(Step(train, takes=("x", "y", "lr"), loss=0), name="fn"))
    assert str(exc.value).startswith(
        "case 'fn': Scratch(step=...): the harness calls train(net, x, y, lr), but its signature is "
        "train(net, x, y) (too many positional arguments); declare what it takes with crosscheck.Step(<function "
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            Step("train_on_batch", takes=("x",)),
            "case 'bad': Step(takes=('x',)) must name the batch as 'x' and 'y' or as 'pairs', and 'lr' if the step "
            "takes the learning rate: 'x', 'y' (the batch's inputs and targets), 'pairs' (the batch as a list of "
            "(x, y) samples), 'lr' (the learning rate), in the order it takes them after the network",
        ),
        (
            Step("train_on_batch", takes=("x", "y"), loss=True),
            "case 'bad': Step(loss=True) must be 'returned' (the step returns the loss, or (output, loss)), the index "
            "of the loss in the tuple it returns (0 for (loss, accuracy)), or None (it returns no loss: the harness "
            "computes the case's scratch loss on forward(net, x) before the step)",
        ),
        (
            Step("train_on_batch", takes=("x", "y"), loss=2),
            "case 'bad': at step 0 the scratch side's step() returned a 2-item tuple; Step(loss=2) reads item 2 of "
            "the tuple it returns as the batch's loss (Step(loss=None): the harness computes it)",
        ),
    ],
    ids=["takes", "loss-type", "loss-index"],
)
def test_a_declaration_that_cannot_be_read_is_refused_at_registration(step, message):
    with pytest.raises(RegistrationError) as exc:
        register(case(step, name="bad"))
    assert str(exc.value) == message


def test_a_declared_item_that_is_not_a_scalar_of_the_case_dtype_names_the_declaration():
    class Counts(Library):
        def train_on_batch(self, x, y):
            loss, _ = super().train_on_batch(x, y)
            return loss, len(y)  # (loss, samples seen): item 1 is a count

    with pytest.raises(RegistrationError) as exc:
        register(case(Step("train_on_batch", takes=("x", "y"), loss=1), network=Counts, name="counts"))
    assert str(exc.value) == (
        "case 'counts': at step 0 the scratch side's loss is int64 (); it must be a float64 scalar (np.mean(...), "
        "not float(...); Step(loss=1) reads item 1 of what the step returns)"
    )


def test_an_undeclared_loss_and_accuracy_pair_says_how_to_declare_it():
    class Counts(Library):
        def train_on_batch(self, x, y, lr):
            loss, _ = super().train_on_batch(x, y)
            return loss, len(y)

    with pytest.raises(RegistrationError) as exc:
        register(case("train_on_batch", network=Counts, name="pair"))
    assert str(exc.value) == (
        "case 'pair': at step 0 the scratch side's loss is int64 (); it must be a float64 scalar (np.mean(...), not "
        "float(...); a step returning a pair returns (output, loss), in that order, or says where its loss is: "
        "Step(..., loss=0) for (loss, accuracy))"
    )


class Book(Library):
    """A book's network: its initial weights from the global np.random, as most books draw them."""

    def __init__(self, rng):
        self.W, self.b, self.lr = np.random.randn(2, 1), np.zeros(1), 0.1
        self.order = random.random()  # the standard library's stream too


def test_a_network_drawing_from_the_global_np_random_starts_from_the_cases_stream_every_time():
    np.random.seed(123)
    random.seed(7)
    before, before_py = np.random.get_state(), random.getstate()
    c = register(case(Step("train_on_batch", takes=("x", "y"), loss=0), network=Book, name="book"))
    assert [check for check in battery(c) if not run_check(c, check).passed] == []
    # Seeded from the case's stream (seed 0): np.random draws what the stream itself would.
    scratch, _ = traces(c)  # every value, recorded anew
    assert np.array_equal(scratch["init.W"], np.random.RandomState(0).randn(2, 1))
    # The user's own global streams are where they were.
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)) and random.getstate() == before_py


def test_a_network_whose_two_builds_from_one_seed_differ_is_refused_naming_the_parameter():
    class Unseeded(Library):
        def __init__(self, rng):
            super().__init__(rng)
            self.b = np.random.default_rng().normal(size=1)  # a generator of its own, seeded by the clock

    with pytest.raises(RegistrationError) as exc:
        register(case(Step("train_on_batch", takes=("x", "y"), loss=0), network=Unseeded, name="unseeded"))
    assert str(exc.value) == (
        "case 'unseeded': network(rng) built twice from the same seed (0) gives two different 'b': its initial "
        "weights come from a random source the harness does not seed (np.random.default_rng() or a RandomState of "
        "its own without a seed, torch, the time); draw them from the rng it is given, or from np.random or random, "
        "which the harness seeds from the case's stream around network(rng)"
    )


def test_an_init_drawing_from_the_global_np_random_is_seeded_alike():
    def init(rng):
        return {"W": np.random.normal(size=(2, 1)), "b": np.zeros(1)}

    def build(params, lr):
        net = Library(np.random.RandomState(0))
        net.W, net.b, net.lr = params["W"], params["b"], lr
        return net

    step = Step("train_on_batch", takes=("x", "y"), loss=0)
    c = register(
        Case(
            name="book_init",
            scratch=Scratch(PARAMS, mse, init=init, build=build, step=step),
            twin=Twin(Twin1, F.mse_loss),
            data=Data(X, Y, batches=lambda rng: [slice(None)] * 4, learning_rate=0.1),
        )
    )
    scratch, _ = traces(c)  # every value, recorded anew
    assert np.array_equal(scratch["init.W"], np.random.RandomState(0).normal(size=(2, 1)))
