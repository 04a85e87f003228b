"""A catalogue of bugs people make in from-scratch networks, and what the gate must say about each.

Each ``Bug`` is one kind of bug, injected into every tutorial network it applies to without
editing a source file: a context manager patches a scratch method or module function
(``unittest.mock.patch.object``, undone on exit) or yields a copy of the case with an adapter
replaced (``crosscheck.vary``).  ``run`` computes the scratch trace of the first ``PREFIX``
steps with the bug in place, meets it with the cached twin trace cut to the same steps, and runs
the whole battery on the pair.  ``Expect`` says where the failure must first show: the earliest
stage of the earliest step, as the battery's messages name it.  The tests assert exactly that,
so the gate's power to catch these bugs is itself gated.

Kinds that cannot occur in a network are not generated for it; ``Bug.not_applicable`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import numpy as np

from crosscheck.case import Batch, Case, Params, vary
from crosscheck.checks import CHECKS, failed, run_check
from crosscheck.compare import Comparison, Problem
from crosscheck.errors import StepError
from crosscheck.keys import STEPPED, Trace, at_step, describe
from crosscheck.run.memo import traces
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron
from scratch._rng import randint
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON, TUTORIAL_CASES

# Every mutant below first shows by step 5 (the neuron's schedule bug, at the first draw of the
# last sample); 50 steps keep each mutant run to a few milliseconds while leaving room to spare.
# ``test_mutations`` asserts that every mutant is caught within them.
PREFIX = 50

NEURON, N221, N341 = SIGMOID_NEURON.name, NETWORK_2_2_1.name, NETWORK_3_4_1.name

Inject = Callable[[Case], AbstractContextManager[Case]]
# An expected step: a number, None for "before training", or a function of the clean schedule.
Step = int | None | Callable[[Sequence[Batch]], int]


@dataclass(frozen=True)
class Expect:
    """Where the gate's failure must first show."""

    quantity: str  # a key of ``compare.QUANTITIES``
    parameter: str | None = None  # the parameter it names, for gradients and parameters
    step: Step = 0
    problem: str | None = None  # "dtype" or "shape": reported before any value is compared

    def step_for(self, clean_batches: Sequence[Batch]) -> int | None:
        return self.step(clean_batches) if callable(self.step) else self.step

    def describe(self, clean_batches: Sequence[Batch] | None = None) -> str:
        what = describe(self.quantity, self.parameter)
        if self.problem:
            return f"{what}: wrong {self.problem}"
        if self.step is None:
            return what + " before training"
        if callable(self.step):
            at = f"step {self.step(clean_batches)}, " if clean_batches is not None else ""
            return f"{what} at {at}{_step_text(self.step)}"
        return f"{what} at step {self.step}"

    def met_by(self, outcome: Outcome) -> bool:
        """Whether the outcome's first failure is where this expects it."""
        first = outcome.first
        if first is None:
            return False
        if self.problem:
            # Found before any value is compared, or, for a gradient, refused at the step where it appears.
            found = first.problem
            return found is not None and (found.kind, found.quantity, found.parameter) == (
                self.problem,
                self.quantity,
                self.parameter,
            )
        d = first.first_divergence
        step = self.step_for(outcome.clean_batches)
        return d is not None and (d.quantity, d.parameter, d.step) == (self.quantity, self.parameter, step)


def _step_text(step: Step) -> str:
    return str(step) if isinstance(step, int) else (step.__doc__ or "a schedule-dependent step").strip()


@dataclass(frozen=True)
class Variant:
    """One kind of bug in one network: how to inject it and what the gate must say."""

    inject: Inject
    expect: Expect
    how: str  # the buggy line, as a person would write it in this network


@dataclass(frozen=True)
class Bug:
    name: str
    bug: str
    variants: Mapping[str, Variant]
    not_applicable: Mapping[str, str] = field(default_factory=dict)


# --- injection helpers -----------------------------------------------------------------------------


def patch(owner: object, attribute: str, make: Callable[[Any], Any]) -> Inject:
    """Replace ``owner.attribute`` by ``make(original)`` while the context is open."""

    @contextmanager
    def inject(case: Case) -> Iterator[Case]:
        with mock.patch.object(owner, attribute, make(getattr(owner, attribute))):
            yield case

    return inject


def adapt(**changes: Callable[[Case], Any]) -> Inject:
    """A copy of the case with the named fields replaced by ``change(case)``."""

    @contextmanager
    def inject(case: Case) -> Iterator[Case]:
        yield vary(case, **{name: change(case) for name, change in changes.items()})

    return inject


def _draws(rows: int) -> Callable[[Any], list[int]]:
    """The neuron's schedule drawn with ``randint(rows - 1)``: the last sample is never drawn."""
    return lambda rng: [randint(rng, rows - 1) for _ in range(s_neuron.ITERATIONS)]


def _one_ahead(rows: int) -> Callable[[Any], list[int]]:
    """The 2-2-1's epochs, each starting at the second sample."""
    return lambda rng: [(i + 1) % rows for i in range(s221.EPOCHS * rows)]


def _scaled(factor: float) -> Callable[[Any], Any]:
    """A gradient method whose every returned gradient is multiplied by ``factor``."""

    def make(method: Any) -> Any:
        def scaled(self: Any, *args: Any) -> Any:
            grads = method(self, *args)
            if isinstance(grads, dict):
                return {k: v * factor for k, v in grads.items()}
            return tuple(g * factor for g in grads)

        return scaled

    return make


NEURON_GRADIENTS = (s_neuron.NeuralNetwork, "_compute_gradients")
GRADIENTS_221 = (s221.TrainableNeuralNetwork, "_partial_derivatives")
GRADIENTS_341 = (s341.NeuralNetwork, "_gradients")


# --- the bugs, network by network --------------------------------------------------------------------


def _neuron_update_without_bias(method: Any) -> Any:
    def update(self: s_neuron.NeuralNetwork, derror_dbias: Any, derror_dweights: Any) -> None:
        self.weights = self.weights - (derror_dweights * self.learning_rate)  # the bias line is missing

    return update


def _221_update_without_biases(method: Any) -> Any:
    def update(self: s221.TrainableNeuralNetwork, d_L_d: Mapping[str, Any], learn_rate: float) -> None:
        for name in ("w1", "w2", "w3", "w4", "w5", "w6"):  # b1, b2, b3 are never stepped
            setattr(self, name, getattr(self, name) - learn_rate * d_L_d[name])

    return update


def _221_without_output_prime(method: Any) -> Any:
    def partials(self: s221.TrainableNeuralNetwork, x: Any, y_true: Any) -> dict[str, Any]:
        # Every chain-rule product passes through o1's sigmoid' exactly once; divide it back out.
        o1 = self.feedforward(x)
        return {k: v / (o1 * (1 - o1)) for k, v in method(self, x, y_true).items()}

    return partials


def _341_without_output_prime(method: Any) -> Any:
    def gradients(self: s341.NeuralNetwork) -> tuple[Any, Any]:
        d_output = -2 * (self.y - self.output)  # "* sigmoid_derivative(self.output)" is missing
        d_weights2 = np.dot(self.layer1.T, d_output)
        d_weights1 = np.dot(self.input.T, np.dot(d_output, self.weights2.T) * s341.sigmoid_derivative(self.layer1))
        return d_weights1, d_weights2

    return gradients


def _221_transposed_hidden(method: Any) -> Any:
    def feedforward(self: s221.TrainableNeuralNetwork, x: Any) -> Any:
        # hidden.weight is [[w1, w2], [w3, w4]]; reading it by columns uses its transpose.
        h1 = s221.sigmoid(self.w1 * x[0] + self.w3 * x[1] + self.b1)
        h2 = s221.sigmoid(self.w2 * x[0] + self.w4 * x[1] + self.b2)
        return s221.sigmoid(self.w5 * h1 + self.w6 * h2 + self.b3)

    return feedforward


def _341_untransposed_layer1(method: Any) -> Any:
    def gradients(self: s341.NeuralNetwork) -> tuple[Any, Any]:
        d_output = -2 * (self.y - self.output) * s341.sigmoid_derivative(self.output)
        # layer1 is (samples, hidden) = (4, 4): without .T the product still has weights2's shape.
        d_weights2 = np.dot(self.layer1, d_output)
        d_weights1 = np.dot(self.input.T, np.dot(d_output, self.weights2.T) * s341.sigmoid_derivative(self.layer1))
        return d_weights1, d_weights2

    return gradients


def _341_stale_activations(method: Any) -> Any:
    def gradients(self: s341.NeuralNetwork) -> Any:
        fresh = (self.layer1, self.output)
        previous = self.__dict__.get("_previous_activations")
        self.__dict__["_previous_activations"] = fresh
        if previous is None:  # the first step has no earlier forward pass to read
            return method(self)
        self.layer1, self.output = previous
        try:
            return method(self)
        finally:
            self.layer1, self.output = fresh

    return gradients


def _341_aliased_weights2(method: Any) -> Any:
    def gradients(self: s341.NeuralNetwork) -> tuple[Any, Any]:
        d_output = -2 * (self.y - self.output) * s341.sigmoid_derivative(self.output)
        d_weights2 = np.dot(self.layer1.T, d_output)
        weights2 = self.weights2  # meant as the pre-step weights; a copy() is missing
        self.weights2 -= self.learning_rate * d_weights2  # in place: `weights2` moves with it
        d_weights1 = np.dot(self.input.T, np.dot(d_output, weights2.T) * s341.sigmoid_derivative(self.layer1))
        return d_weights1, d_weights2

    return gradients


def _341_update_weights1_only(method: Any) -> Any:
    def update(self: s341.NeuralNetwork, d_weights1: Any, d_weights2: Any) -> None:
        self.weights1 = self.weights1 - self.learning_rate * d_weights1  # weights2 stepped in backprop

    return update


@contextmanager
def _341_aliased(case: Case) -> Iterator[Case]:
    with (
        patch(*GRADIENTS_341, _341_aliased_weights2)(case),
        patch(s341.NeuralNetwork, "_update_weights", _341_update_weights1_only)(case),
    ):
        yield case


def _update_one_step_late(case: Case) -> Callable[[Any, Params, float], None]:
    """An update that runs before this step's gradient exists: it applies the previous step's."""
    pending: list[Params] = []

    def update(net: Any, grads: Params, learning_rate: float) -> None:
        if pending:
            assert case.calls.update is not None
            case.calls.update(net, pending.pop(), learning_rate)
        pending.append({k: np.array(v) for k, v in grads.items()})

    return update


def _first_draw_of_last_sample(clean: Sequence[Batch]) -> int:
    """the first step whose clean schedule draws the last sample"""
    return list(clean).index(len(SIGMOID_NEURON.data.X) - 1)


def _float32_after_update(method: Any) -> Any:
    def update(self: s_neuron.NeuralNetwork, derror_dbias: Any, derror_dweights: Any) -> None:
        method(self, derror_dbias, derror_dweights)
        self.weights = self.weights.astype(np.float32)  # e.g. a preallocated float32 buffer

    return update


def _float32_sigmoid(x: Any) -> Any:
    one = np.float32(1)  # not 1: NumPy 1.x computes a float32 scalar plus a Python number in float64
    return one / (one + np.exp(-np.asarray(x, dtype=np.float32)))


def _float32_gradients(method: Any) -> Any:
    def gradients(self: s341.NeuralNetwork) -> tuple[Any, ...]:
        return tuple(np.asarray(g, dtype=np.float32) for g in method(self))

    return gradients


NO_STORED_ACTIVATIONS = (
    "its gradient method recomputes the forward pass from the current parameters and stores no "
    "activation between calls, so none can go stale"
)

CATALOGUE: tuple[Bug, ...] = (
    Bug(
        "gradient_sign",
        "the gradient's sign is flipped: dL/dŷ written 2(y - ŷ), seed 004's convention, then subtracted",
        {
            NEURON: Variant(
                patch(*NEURON_GRADIENTS, _scaled(-1.0)), Expect("grad", "weights"), "2 * (target - prediction)"
            ),
            N221: Variant(patch(*GRADIENTS_221, _scaled(-1.0)), Expect("grad", "w1"), "2 * (y_true - y_pred)"),
            N341: Variant(
                patch(*GRADIENTS_341, _scaled(-1.0)), Expect("grad", "weights1"), "2 * (self.y - self.output)"
            ),
        },
    ),
    Bug(
        "missing_sigmoid_prime",
        "the output neuron's sigmoid' factor is missing from the chain rule",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_sigmoid_deriv", lambda m: lambda self, x: np.ones_like(x)),
                Expect("grad", "weights"),
                "dprediction_dlayer1 = 1",
            ),
            N221: Variant(
                patch(*GRADIENTS_221, _221_without_output_prime),
                Expect("grad", "w1"),
                "d_ypred_d_h1 = self.w5 (and likewise for every o1 partial)",
            ),
            N341: Variant(
                patch(*GRADIENTS_341, _341_without_output_prime),
                Expect("grad", "weights1"),
                "d_output = -2 * (self.y - self.output)",
            ),
        },
    ),
    Bug(
        "sigmoid_prime_argument",
        "sigmoid' evaluated on the wrong quantity: s(1 - s) given the pre-activation, or sigma(z)(1 - sigma(z)) "
        "given the activation",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_sigmoid_deriv", lambda m: lambda self, x: x * (1 - x)),
                Expect("grad", "weights"),
                "_sigmoid_deriv(x) = x * (1 - x), called with layer_1",
            ),
            N221: Variant(
                patch(s221, "deriv_sigmoid", lambda m: lambda x: x * (1 - x)),
                Expect("grad", "w1"),
                "deriv_sigmoid(x) = x * (1 - x), called with sum_o1",
            ),
            N341: Variant(
                patch(s341, "sigmoid_derivative", lambda m: lambda s: s341.sigmoid(s) * (1 - s341.sigmoid(s))),
                Expect("grad", "weights1"),
                "sigmoid_derivative(s) = sigmoid(s) * (1 - sigmoid(s)), called with self.output",
            ),
        },
    ),
    Bug(
        "transposed_weight",
        "a weight matrix used transposed where the shapes still fit",
        {
            N221: Variant(
                patch(s221.TrainableNeuralNetwork, "feedforward", _221_transposed_hidden),
                Expect("forward", step=None),
                "h1 = sigmoid(self.w1 * x[0] + self.w3 * x[1] + self.b1)",
            ),
            N341: Variant(
                patch(*GRADIENTS_341, _341_untransposed_layer1),
                Expect("grad", "weights2"),
                "d_weights2 = np.dot(self.layer1, d_output)",
            ),
        },
        {NEURON: "its weights are a vector (2,), whose transpose is itself: there is no layout to get wrong"},
    ),
    Bug(
        "bias_never_updated",
        "the update steps the weights but never the biases",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_update_parameters", _neuron_update_without_bias),
                Expect("param", "bias"),
                "the line self.bias = self.bias - ... is missing",
            ),
            N221: Variant(
                patch(s221.TrainableNeuralNetwork, "_update", _221_update_without_biases),
                Expect("param", "b1"),
                "the lines self.b1 -= ..., self.b2 -= ..., self.b3 -= ... are missing",
            ),
        },
        {N341: "it has no biases (the seed's 3-4-1 network is written without them)"},
    ),
    Bug(
        "wrong_learning_rate",
        "the scratch side trains with a learning rate ten times too small (a dropped zero)",
        {
            name: Variant(adapt(learning_rate=lambda c: c.data.learning_rate / 10), Expect("param", first), "lr / 10")
            for name, first in ((NEURON, "weights"), (N221, "w1"), (N341, "weights1"))
        },
    ),
    Bug(
        "update_before_gradient",
        "the update runs before the step's gradient is computed, so it applies the previous step's gradient",
        {
            name: Variant(adapt(update=_update_one_step_late), Expect("param", first), "update(); grads = gradients()")
            for name, first in ((NEURON, "weights"), (N221, "w1"), (N341, "weights1"))
        },
    ),
    Bug(
        "stale_activation",
        "backprop reads activations cached by the previous step's forward pass, made before the last update",
        {
            N341: Variant(
                patch(*GRADIENTS_341, _341_stale_activations),
                Expect("grad", "weights1", step=1),
                "_gradients() before feedforward() refreshes self.layer1 and self.output",
            ),
        },
        {NEURON: NO_STORED_ACTIVATIONS, N221: NO_STORED_ACTIVATIONS},
    ),
    Bug(
        "mean_instead_of_sum",
        "a sum over samples taken as a mean, or a mean as a sum",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_cumulative_error", lambda m: lambda self, X, t: m(self, X, t) / len(X)),
                Expect("curve", step=0),
                "the recorded cumulative error divided by the number of samples",
            ),
            N221: Variant(
                patch(s221, "mse_loss", lambda m: lambda y_true, y_pred: ((y_true - y_pred) ** 2).sum()),
                Expect("curve", step=NETWORK_2_2_1.data.curve_steps[0]),
                "mse_loss = ((y_true - y_pred) ** 2).sum()",
            ),
            N341: Variant(
                patch(*GRADIENTS_341, _scaled(1 / len(NETWORK_3_4_1.data.X))),
                Expect("grad", "weights1"),
                "the batch gradient divided by the batch size while the loss sums",
            ),
        },
    ),
    Bug(
        "schedule_off_by_one",
        "the sample schedule is off by one",
        {
            NEURON: Variant(
                adapt(batches=lambda c: _draws(len(c.data.X))),
                Expect("output", step=_first_draw_of_last_sample),
                "np.random.randint(len(input_vectors) - 1): the last sample is never drawn",
            ),
            N221: Variant(
                adapt(batches=lambda c: _one_ahead(len(c.data.X))),
                Expect("output", step=0),
                "every epoch starts at the second sample",
            ),
            N341: Variant(
                adapt(batches=lambda c: lambda rng: [slice(0, len(c.data.X) - 1)] * s341.ITERATIONS),
                Expect("output", problem="shape"),
                "self.input = x[: len(x) - 1]: the last sample is left out of the batch",
            ),
        },
    ),
    Bug(
        "aliased_weights",
        "a 'saved' copy of the weights is an alias, and an in-place update moves it before it is read",
        {
            N341: Variant(
                _341_aliased,
                Expect("grad", "weights1"),
                "weights2 = self.weights2; self.weights2 -= ...; then backprop through weights2",
            ),
        },
        {
            NEURON: "one layer: nothing reads a weight after the update within a step, and the update "
            "rebinds (self.weights = self.weights - ...), so an alias keeps the old values",
            N221: "its nine parameters are NumPy scalars, which are immutable: -= rebinds the attribute, "
            "so no alias can see an update",
        },
    ),
    Bug(
        "float32_downcast",
        "a value silently computed or stored in float32 in a float64 network",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_update_parameters", _float32_after_update),
                Expect("param", "weights", problem="dtype"),
                "self.weights = (...).astype(np.float32)",
            ),
            N221: Variant(
                patch(s221, "sigmoid", lambda m: _float32_sigmoid),
                Expect("forward", step=None, problem="dtype"),
                "sigmoid computed on np.float32(x)",
            ),
            N341: Variant(
                patch(*GRADIENTS_341, _float32_gradients),
                Expect("grad", "weights1", problem="dtype"),
                "the gradients written into float32 buffers",
            ),
        },
    ),
    Bug(
        "update_sign",
        "the update adds the gradient (ascent) instead of subtracting it",
        {
            NEURON: Variant(
                patch(s_neuron.NeuralNetwork, "_update_parameters", lambda m: lambda self, db, dw: m(self, -db, -dw)),
                Expect("param", "weights"),
                "self.weights = self.weights + (derror_dweights * self.learning_rate)",
            ),
            N221: Variant(
                patch(
                    s221.TrainableNeuralNetwork,
                    "_update",
                    lambda m: lambda self, d_L_d, lr: m(self, {k: -v for k, v in d_L_d.items()}, lr),
                ),
                Expect("param", "w1"),
                "self.w1 += learn_rate * d_L_d['w1']",
            ),
            N341: Variant(
                patch(s341.NeuralNetwork, "_update_weights", lambda m: lambda self, d1, d2: m(self, -d1, -d2)),
                Expect("param", "weights1"),
                "self.weights1 = self.weights1 + self.learning_rate * d_weights1",
            ),
        },
    ),
    Bug(
        "missing_factor_two",
        "dL/dŷ written (ŷ - y), the derivative of (ŷ - y)²/2, for the loss (ŷ - y)²",
        {
            NEURON: Variant(patch(*NEURON_GRADIENTS, _scaled(0.5)), Expect("grad", "weights"), "prediction - target"),
            N221: Variant(patch(*GRADIENTS_221, _scaled(0.5)), Expect("grad", "w1"), "-(y_true - y_pred)"),
            N341: Variant(patch(*GRADIENTS_341, _scaled(0.5)), Expect("grad", "weights1"), "-(self.y - self.output)"),
        },
    ),
)

MUTANTS: dict[str, Bug] = {m.name: m for m in CATALOGUE}
CASES: dict[str, Case] = {c.name: c for c in TUTORIAL_CASES}


def pairs() -> list[tuple[Bug, Case]]:
    """Every (mutant, network) pair the catalogue generates, in catalogue order."""
    return [(m, CASES[name]) for m in CATALOGUE for name in m.variants]


# --- running a mutant ------------------------------------------------------------------------------


def prefix(case: Case, trace: Trace, steps: int = PREFIX) -> Trace:
    """The part of a full-run trace that covers its first ``steps`` steps."""
    recorded = sum(1 for s in case.data.curve_steps if s < steps)
    return {
        k: (v[:steps] if k.split(".")[0] in STEPPED else v[:recorded] if k == "curve" else v) for k, v in trace.items()
    }


def short(case: Case, steps: int = PREFIX) -> Case:
    """The case with its recorded-curve steps cut to the first ``steps`` steps."""
    return vary(case, curve_steps=[s for s in case.data.curve_steps if s < steps])


@dataclass(frozen=True)
class Outcome:
    """The battery's verdicts on one mutant, and the failure that names where it first shows."""

    mutant: str
    network: str
    results: dict[str, Comparison]
    clean_batches: list[Batch]

    @property
    def caught(self) -> bool:
        return not all(r.passed for r in self.results.values())

    @property
    def first(self) -> Comparison | None:
        """The first failure along the run: before training, then the run's earliest stage and step."""
        order = ["initial_parameters", "forward", "training_run", *CHECKS]
        return next((self.results[c] for c in order if not self.results[c].passed), None)

    def shown(self) -> str:
        """Where the first failure is, in the words of the gate's message."""
        first = self.first
        if first is None:
            return "nowhere: every check passed"
        found = first.problem
        if found is not None:
            what = describe(found.quantity, found.parameter) if found.quantity else found.text
            return f"{what}: wrong {found.kind} ({first.check})"
        d = first.first_divergence
        assert d is not None
        return f"{d.where()} {at_step(d.step)} ({first.check})"


def run_pair(case: Case, inject: Inject, steps: int = PREFIX) -> tuple[Case, Trace, Trace, list[Batch]]:
    """(case, scratch trace with the bug, clean twin trace, clean schedule) over the first ``steps`` steps."""
    _, twin = traces(case)  # before any patch: the cache must only ever hold clean traces
    params, clean_batches = start(case)
    # A bug may drive the run to overflow within the prefix (s(1 - s) on the pre-activation
    # overflows np.exp at step 2 in the 2-2-1, a product at step 14 in the neuron); that is a
    # consequence of the bug, first shown at step 0, and where a bug first shows is the
    # comparison's to say, so NumPy's floating-point warnings are off in mutant runs.
    with inject(case) as mutated, np.errstate(all="ignore"):
        _, batches = start(mutated)
        scratch = scratch_trace(short(mutated, steps), params, batches[:steps])
    return short(case, steps), scratch, prefix(case, twin, steps), clean_batches


def gate(case: Case, inject: Inject, steps: int = PREFIX, label: str = "") -> Outcome:
    """The whole battery on ``case`` with ``inject`` in place, over the first ``steps`` steps."""
    try:
        cut, scratch, twin, clean_batches = run_pair(case, inject, steps)
    except StepError as exc:  # the run itself was refused at a step: every check fails with that message
        problem = Problem.from_step_error(exc, case.name)
        return Outcome(label, case.name, {name: failed(case, name, problem) for name in CHECKS}, start(case)[1])
    results = {name: run_check(cut, name, run=(scratch, twin)) for name in CHECKS}
    return Outcome(label, case.name, results, clean_batches)


def run(mutant: Bug, case: Case, steps: int = PREFIX) -> Outcome:
    """The whole battery on ``case`` with ``mutant`` injected, over the first ``steps`` steps."""
    if case.name not in mutant.variants:
        raise KeyError(
            f"{mutant.name} does not apply to {case.name}: {mutant.not_applicable.get(case.name, 'no variant')}"
        )
    return gate(case, mutant.variants[case.name].inject, steps, mutant.name)


# --- the catalogue's results, for the report ---------------------------------------------------------


def results() -> list[dict[str, Any]]:
    """Every mutant against every tutorial network: what the gate said, or why the pair is not generated."""
    rows: list[dict[str, Any]] = []
    for mutant in CATALOGUE:
        for name in CASES:
            row: dict[str, Any] = {"mutant": mutant.name, "network": name, "bug": mutant.bug}
            if name in mutant.not_applicable:
                rows.append(row | {"applies": False, "reason": mutant.not_applicable[name]})
                continue
            variant = mutant.variants[name]
            outcome = run(mutant, CASES[name])
            first = outcome.first
            row |= {
                "applies": True,
                "how": variant.how,
                "caught": outcome.caught,
                "failed_checks": [c for c, r in outcome.results.items() if not r.passed],
                "expected": variant.expect.describe(outcome.clean_batches),
                "shown": outcome.shown(),
                "as_expected": variant.expect.met_by(outcome),
                "message": first.message() if first else None,
            }
            rows.append(row)
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The catalogue as a Markdown table: one row per mutant and network."""
    lines = [
        "| mutant | network | gate | first shows | as expected | failing checks |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["applies"]:
            lines.append(f"| {r['mutant']} | {r['network']} | not generated: {r['reason']} | | | |")
            continue
        verdict = "fails" if r["caught"] else "**passes: bug missed**"
        expected = "yes" if r["as_expected"] else f"**no**: expected {r['expected']}"
        checks = ", ".join(r["failed_checks"])
        lines.append(f"| {r['mutant']} | {r['network']} | {verdict} | {r['shown']} | {expected} | {checks} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(results()))
