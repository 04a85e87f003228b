"""The tutorial networks as registered cases: how the harness drives each scratch net and twin.

Each block is the one place where a network's parameter names and layouts are
tied to its twin's tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crosscheck.case import Array, Case, Data, Layer, Link, Params, Rng, Scratch, Twin
from crosscheck.findings import Finding, register_findings
from crosscheck.registration import register
from reference import network_2_2_1 as ref221
from reference import network_3_4_1 as ref341
from reference import sigmoid_neuron as ref_neuron
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron
from scratch._rng import DEFAULT_SEED, randint

# --- sigmoid neuron (seeds 000, 001, 003) -------------------------------------------------


def _neuron_init(rng: Rng) -> Params:
    weights = np.array([rng.standard_normal(), rng.standard_normal()])
    bias = np.array(rng.standard_normal())
    return {"weights": weights, "bias": bias}


def _neuron_batches(rng: Rng) -> list[int]:
    n = len(s_neuron.INPUT_VECTORS)
    if isinstance(rng, np.random.RandomState):
        # One call draws what 10,000 calls of randint(n) draw, and leaves the stream in the same
        # state (checked on 200 seeds); it saves ~4 s in the 256-seed sweep.
        return rng.randint(n, size=s_neuron.ITERATIONS).tolist()
    return [randint(rng, n) for _ in range(s_neuron.ITERATIONS)]


def _neuron_build(params: Params, learning_rate: float) -> s_neuron.NeuralNetwork:
    return s_neuron.NeuralNetwork(learning_rate, weights=params["weights"], bias=params["bias"])


def _neuron_gradients(net: s_neuron.NeuralNetwork, x: Array, y: Array) -> Params:
    derror_dbias, derror_dweights = net._compute_gradients(x, y)
    return {"weights": derror_dweights, "bias": derror_dbias}


def _neuron_update(net: s_neuron.NeuralNetwork, grads: Params, learning_rate: float) -> None:
    net._update_parameters(grads["bias"], grads["weights"])


SIGMOID_NEURON = register(
    Case(
        name="sigmoid_neuron",
        source="001_ec51d214da5c9652.txt",
        description="one sigmoid neuron, 2 inputs and a bias; SGD on one random sample per step, lr 0.1",
        scratch=Scratch(
            params={"weights": Link("linear.weight", (0,)), "bias": Link("linear.bias", (0,))},
            init=_neuron_init,
            build=_neuron_build,
            forward=lambda net, x: np.asarray(net.predict(x)),
            loss=lambda out, y: np.square(out - y),
            # Constants of the output's dtype: NumPy 1.x takes a float32 scalar times a Python number to float64.
            loss_gradient=lambda out, y: out.dtype.type(2) * (out - y),
            gradients=_neuron_gradients,
            update=_neuron_update,
            evaluate=lambda net, X, y: net._cumulative_error(X, y),
        ),
        twin=Twin(
            module=lambda dtype: ref_neuron.SigmoidNeuron(dtype),
            loss=ref_neuron.squared_error,
            evaluate=lambda m, X, y: ref_neuron.cumulative_error(m(X), y),
        ),
        data=Data(
            X=s_neuron.INPUT_VECTORS.astype(np.float64),
            y=s_neuron.TARGETS.astype(np.float64),
            batches=_neuron_batches,
            learning_rate=s_neuron.LEARNING_RATE,
            curve_steps=range(0, s_neuron.ITERATIONS, s_neuron.RECORD_EVERY),
            seed=DEFAULT_SEED,
        ),
    )
)

# --- 2-2-1 network (seed 002) ---------------------------------------------------------------

_221_MAP = {
    "w1": Link("hidden.weight", (0, 0)),
    "w2": Link("hidden.weight", (0, 1)),
    "w3": Link("hidden.weight", (1, 0)),
    "w4": Link("hidden.weight", (1, 1)),
    "w5": Link("output.weight", (0, 0)),
    "w6": Link("output.weight", (0, 1)),
    "b1": Link("hidden.bias", (0,)),
    "b2": Link("hidden.bias", (1,)),
    "b3": Link("output.bias", (0,)),
}


def _221_init(rng: Rng) -> Params:
    return {name: np.array(rng.standard_normal()) for name in s221.PARAM_NAMES}


def _221_batches(rng: Rng) -> list[int]:
    # Fixed order: every epoch visits Alice, Bob, Charlie, Diana.
    n = len(s221.DATA)
    return [i % n for i in range(s221.EPOCHS * n)]


def _221_forward(net: s221.TrainableNeuralNetwork, x: Array) -> Array:
    # feedforward takes one sample; a batch goes row by row, as the tutorial's apply_along_axis (which,
    # for the one sample of each training step, would cost more than the step itself).
    if np.ndim(x) == 1:
        return np.asarray(net.feedforward(x))
    return np.asarray(np.apply_along_axis(net.feedforward, -1, x))


NETWORK_2_2_1 = register(
    Case(
        name="network_2_2_1",
        source="002_f715edb0a59ccac6.txt",
        description="2-2-1 sigmoid network, 9 parameters from N(0, 1); per-sample SGD in fixed order, lr 0.5",
        scratch=Scratch(
            params=_221_MAP,
            init=_221_init,
            build=lambda params, lr: s221.TrainableNeuralNetwork(params),
            forward=_221_forward,
            # Constants of the output's dtype, as the sigmoid neuron's (the same float64 bits).
            loss=lambda out, y: (y - out) ** out.dtype.type(2),
            loss_gradient=lambda out, y: out.dtype.type(-2) * (y - out),
            gradients=lambda net, x, y: net._partial_derivatives(x, y),
            update=lambda net, grads, lr: net._update(grads, lr),
            evaluate=lambda net, X, y: net.loss(X, y),
        ),
        twin=Twin(
            module=lambda dtype: ref221.Network221(dtype),
            loss=ref221.squared_error,
            evaluate=lambda m, X, y: ref221.mse_loss(m(X), y),
        ),
        data=Data(
            X=s221.DATA.astype(np.float64),
            y=s221.ALL_Y_TRUES.astype(np.float64),
            batches=_221_batches,
            learning_rate=s221.LEARN_RATE,
            # The tutorial records after the last sample of every 10th epoch.
            curve_steps=[e * len(s221.DATA) + len(s221.DATA) - 1 for e in range(0, s221.EPOCHS, s221.RECORD_EVERY)],
            seed=DEFAULT_SEED,
        ),
    )
)

# --- 3-4-1 network (seed 004) ---------------------------------------------------------------


def _341_init(rng: Rng) -> Params:
    # The seed's np.random.rand(3, 4) then np.random.rand(4, 1).
    draw = rng.random_sample if isinstance(rng, np.random.RandomState) else rng.random
    return {"weights1": draw((3, s341.HIDDEN)), "weights2": draw((s341.HIDDEN, 1))}


def _341_build(params: Params, learning_rate: float) -> s341.NeuralNetwork:
    dtype = params["weights1"].dtype
    return s341.NeuralNetwork(
        s341.X.astype(dtype),
        s341.Y.astype(dtype),
        params["weights1"],
        params["weights2"],
        learning_rate=learning_rate,
    )


def _341_forward(net: s341.NeuralNetwork, x: Array) -> Array:
    net.input = x
    net.feedforward()
    return np.asarray(net.output)


def _341_gradients(net: s341.NeuralNetwork, x: Array, y: Array) -> Params:
    net.input, net.y = x, y
    net.feedforward()
    d_weights1, d_weights2 = net._gradients()
    return {"weights1": d_weights1, "weights2": d_weights2}


def _341_update(net: s341.NeuralNetwork, grads: Params, learning_rate: float) -> None:
    # backprop() is _gradients() then _update_weights(); the harness calls the halves apart
    # so that it can record the gradients in between.
    net._update_weights(grads["weights1"], grads["weights2"])


def _341_evaluate(net: Any, X: Array, y: Array) -> Array:
    return np.sum((y - _341_forward(net, X)) ** 2)


NETWORK_3_4_1 = register(
    Case(
        name="network_3_4_1",
        source="004_dd19dcd3624d9b51.txt",
        description="3-4-1 sigmoid network without biases, U[0, 1) init; full-batch gradient descent on XOR, lr 1",
        # The hidden activation is the input of the twin's second layer; the output is the twin's own.
        layers=[Layer("hidden", scratch="layer1", twin="layer2", twin_io="input"), Layer("output", "output", "")],
        scratch=Scratch(
            params={
                "weights1": Link("layer1.weight", transpose=True),
                "weights2": Link("layer2.weight", transpose=True),
            },
            init=_341_init,
            build=_341_build,
            forward=_341_forward,
            loss=lambda out, y: np.sum((y - out) ** 2),
            loss_gradient=lambda out, y: -2 * (y - out),
            gradients=_341_gradients,
            update=_341_update,
            evaluate=_341_evaluate,
        ),
        twin=Twin(
            module=lambda dtype: ref341.Network341(dtype=dtype),
            loss=ref341.sum_of_squares,
            evaluate=lambda m, X, y: ref341.sum_of_squares(m(X), y),
        ),
        data=Data(
            X=s341.X.astype(np.float64),
            y=s341.Y.astype(np.float64),
            batches=lambda rng: [slice(None)] * s341.ITERATIONS,
            learning_rate=s341.LEARNING_RATE,
            curve_steps=range(0, s341.ITERATIONS, 10),
            seed=DEFAULT_SEED,
        ),
    )
)

TUTORIAL_CASES = (SIGMOID_NEURON, NETWORK_2_2_1, NETWORK_3_4_1)


def _tutorial_findings() -> list[Finding]:
    from tutorials.findings import findings  # torch-heavy numbers, computed only when a report is written

    return findings()


# The report's tutorial section, through the hook any project uses for its own findings.
register_findings("What the cross-check found in the tutorials", _tutorial_findings)

__all__ = ["NETWORK_2_2_1", "NETWORK_3_4_1", "SIGMOID_NEURON", "TUTORIAL_CASES"]
