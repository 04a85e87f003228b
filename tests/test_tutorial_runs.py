"""The clean scratch networks are the tutorials' runs: same draws, same training, same outcome.

The seeds' own code (``scratch.quirks``) is run after ``np.random.seed`` with the
default seed and must give the clean network's run exactly; the tutorials'
``train`` methods must give exactly the trace the harness records; and the
trained networks must do what the tutorials say they do.
"""

import numpy as np

from crosscheck.run.memo import traces
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import quirks
from scratch import sigmoid_neuron as s_neuron
from scratch._rng import DEFAULT_SEED
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON


def test_neuron_replays_seed_001_draws_and_training():
    np.random.seed(DEFAULT_SEED)
    seed_net = quirks.Seed001NeuralNetwork(s_neuron.LEARNING_RATE)
    seed_errors = seed_net.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, s_neuron.ITERATIONS)

    net = s_neuron.NeuralNetwork(s_neuron.LEARNING_RATE)
    errors = net.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, s_neuron.ITERATIONS)

    np.testing.assert_array_equal(errors, np.ravel(seed_errors))
    np.testing.assert_array_equal(net.weights, seed_net.weights)
    assert net.bias == seed_net.bias


def test_neuron_train_is_the_harness_trace():
    scratch, _ = traces(SIGMOID_NEURON)
    net = s_neuron.NeuralNetwork(s_neuron.LEARNING_RATE)
    errors = net.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, s_neuron.ITERATIONS)
    np.testing.assert_array_equal(errors, scratch["curve"])
    np.testing.assert_array_equal(net.weights, scratch["param.weights"][-1])


def test_network_2_2_1_replays_seed_002():
    np.random.seed(DEFAULT_SEED)
    seed_params, seed_losses = quirks.seed_002_train(s221.DATA, s221.ALL_Y_TRUES)
    net = s221.TrainableNeuralNetwork()
    losses = net.train(s221.DATA, s221.ALL_Y_TRUES)
    np.testing.assert_array_equal(losses, seed_losses)
    for name in s221.PARAM_NAMES:
        assert getattr(net, name) == seed_params[name], name

    scratch, _ = traces(NETWORK_2_2_1)
    np.testing.assert_array_equal(losses, scratch["curve"])


def test_network_3_4_1_replays_seed_004():
    np.random.seed(DEFAULT_SEED)
    seed_net = quirks.Seed004NeuralNetwork(s341.X, s341.Y)
    net = s341.NeuralNetwork(s341.X, s341.Y)
    np.testing.assert_array_equal(net.weights1, seed_net.weights1)
    np.testing.assert_array_equal(net.weights2, seed_net.weights2)
    for _ in range(s341.ITERATIONS):
        seed_net.feedforward()
        seed_net.backprop()
    losses = net.train()
    # The seed's += of 2(y - output) and the clean -= 1 * gradient differ only by negations,
    # which are exact in floating point: the runs are bit-identical.
    np.testing.assert_array_equal(net.weights1, seed_net.weights1)
    np.testing.assert_array_equal(net.weights2, seed_net.weights2)

    scratch, _ = traces(NETWORK_3_4_1)
    np.testing.assert_array_equal(losses, scratch["loss"])


def test_trained_3_4_1_fits_xor():
    scratch, twin = traces(NETWORK_3_4_1)
    X, Y = NETWORK_3_4_1.data.X, NETWORK_3_4_1.data.y
    for side, trace in (("scratch", scratch), ("twin", twin)):
        net = s341.NeuralNetwork(X, Y, trace["param.weights1"][-1], trace["param.weights2"][-1])
        net.feedforward()
        miss = np.abs(net.output - Y)
        assert np.all(miss < 0.1), f"{side}: outputs {net.output.ravel()} not within 0.1 of {Y.ravel()}"


def test_trained_2_2_1_separates_the_four_people():
    scratch, twin = traces(NETWORK_2_2_1)
    for side, trace in (("scratch", scratch), ("twin", twin)):
        params = {n: trace[f"param.{n}"][-1] for n in s221.PARAM_NAMES}
        net = s221.TrainableNeuralNetwork(params)
        predictions = np.array([net.feedforward(x) for x in s221.DATA])
        assert np.array_equal(predictions > 0.5, s221.ALL_Y_TRUES == 1), f"{side}: {predictions}"


def test_neuron_cumulative_error_falls():
    scratch, twin = traces(SIGMOID_NEURON)
    for side, trace in (("scratch", scratch), ("twin", twin)):
        curve = trace["curve"]
        # SGD on single samples is noisy: compare the first and last tenth of the curve.
        first, last = curve[: len(curve) // 10].mean(), curve[-len(curve) // 10 :].mean()
        assert last < first, f"{side}: cumulative error rose from {first} to {last}"
