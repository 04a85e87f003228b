"""What the battery does not reach in the scratch networks' own API: random streams passed by the
caller, float32 networks kept in float32, partial initial weights, a one-step run, the tutorial's
verbose printing, and data that is not real numbers.

The battery builds every network from explicit float64 parameters; these checks cover the other ways
a person builds and trains one.
"""

import numpy as np
import pytest

from scratch import _rng
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import sigmoid_neuron as s_neuron

F32 = np.float32


# --- random streams -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RandomState", "Generator"])
def test_the_neuron_draws_from_the_stream_it_is_given(kind):
    make = np.random.RandomState if kind == "RandomState" else np.random.default_rng
    net = s_neuron.NeuralNetwork(0.1, rng=make(7))
    expected = make(7)
    w0, w1, b = expected.standard_normal(), expected.standard_normal(), expected.standard_normal()
    np.testing.assert_array_equal(net.weights, [w0, w1])
    assert net.bias == b


@pytest.mark.parametrize("kind", ["RandomState", "Generator"])
def test_the_2_2_1_draws_from_the_stream_it_is_given(kind):
    make = np.random.RandomState if kind == "RandomState" else np.random.default_rng
    net = s221.TrainableNeuralNetwork(rng=make(7))
    expected = make(7)
    for name in s221.PARAM_NAMES:
        assert getattr(net, name) == expected.standard_normal(), name


@pytest.mark.parametrize("kind", ["RandomState", "Generator"])
def test_the_3_4_1_draws_from_the_stream_it_is_given(kind):
    make = np.random.RandomState if kind == "RandomState" else np.random.default_rng
    net = s341.NeuralNetwork(s341.X, s341.Y, rng=make(7))
    expected = make(7)
    draw = expected.random_sample if kind == "RandomState" else expected.random
    np.testing.assert_array_equal(net.weights1, draw((3, 4)))
    np.testing.assert_array_equal(net.weights2, draw((4, 1)))


def test_the_3_4_1_draws_only_the_weights_it_is_not_given():
    given = np.full((3, 4), 0.5)
    net = s341.NeuralNetwork(s341.X, s341.Y, weights1=given, rng=np.random.RandomState(3))
    np.testing.assert_array_equal(net.weights1, given)
    np.testing.assert_array_equal(net.weights2, np.random.RandomState(3).random_sample((4, 1)))

    given2 = np.full((4, 1), 0.25)
    net = s341.NeuralNetwork(s341.X, s341.Y, weights2=given2, rng=np.random.RandomState(3))
    np.testing.assert_array_equal(net.weights1, np.random.RandomState(3).random_sample((3, 4)))
    np.testing.assert_array_equal(net.weights2, given2)


def test_randint_on_a_generator_is_its_integers():
    g, expected = np.random.default_rng(11), np.random.default_rng(11)
    draws = [_rng.randint(g, 8) for _ in range(50)]
    assert draws == [int(expected.integers(8)) for _ in range(50)]
    assert all(isinstance(d, int) for d in draws)


def test_an_rng_that_is_not_a_numpy_random_source_is_refused():
    with pytest.raises(TypeError) as excinfo:
        s_neuron.NeuralNetwork(0.1, rng=0)
    assert str(excinfo.value) == "rng must be a np.random.RandomState or np.random.Generator, got int"


# --- float32 networks stay float32 ------------------------------------------------------------------


def test_a_float32_neuron_trains_in_float32():
    net = s_neuron.NeuralNetwork(0.1, weights=np.array([0.5, -0.5], F32), bias=np.array(0.1, F32))
    net.train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, 20)
    assert (net.weights.dtype, net.bias.dtype) == (np.dtype(F32), np.dtype(F32))


def test_a_float32_2_2_1_trains_in_float32():
    net = s221.TrainableNeuralNetwork({name: np.array(0.5, F32) for name in s221.PARAM_NAMES})
    assert net.dtype == np.dtype(F32)
    net.train(s221.DATA, s221.ALL_Y_TRUES, epochs=2)
    assert {getattr(net, name).dtype for name in s221.PARAM_NAMES} == {np.dtype(F32)}


def test_a_float32_3_4_1_holds_everything_in_float32():
    net = s341.NeuralNetwork(s341.X, s341.Y, np.full((3, 4), 0.5, F32), np.full((4, 1), 0.5, F32))
    assert {a.dtype for a in (net.input, net.y, net.output)} == {np.dtype(F32)}
    net.train(2)
    assert {a.dtype for a in (net.weights1, net.weights2, net.output)} == {np.dtype(F32)}


def test_the_3_4_1_starts_with_zero_output_like_the_seed():
    # Seed 004: ``self.output = np.zeros(self.y.shape)``; loss() before any feedforward is sum(y**2).
    net = s341.NeuralNetwork(s341.X, s341.Y)
    np.testing.assert_array_equal(net.output, np.zeros((4, 1)))
    assert net.loss() == 2.0


# --- one-step runs and printing ------------------------------------------------------------------


def test_a_single_iteration_is_a_valid_run():
    errors = s_neuron.NeuralNetwork(0.1).train(s_neuron.INPUT_VECTORS, s_neuron.TARGETS, 1)
    assert len(errors) == 1
    assert len(s341.NeuralNetwork(s341.X, s341.Y).train(1)) == 1


def test_the_2_2_1_prints_only_when_asked(capsys):
    s221.TrainableNeuralNetwork().train(s221.DATA, s221.ALL_Y_TRUES, epochs=11)
    assert capsys.readouterr().out == ""

    losses = s221.TrainableNeuralNetwork().train(s221.DATA, s221.ALL_Y_TRUES, epochs=11, verbose=True)
    # The tutorial's line, every 10th epoch: print("Epoch %d loss: %.3f" % (epoch, loss)).
    expected = "".join(f"Epoch {epoch} loss: {loss:.3f}\n" for epoch, loss in zip((0, 10), losses, strict=True))
    assert capsys.readouterr().out == expected


# --- data that is not real numbers ---------------------------------------------------------------


def test_text_data_is_refused():
    with pytest.raises(TypeError) as excinfo:
        s_neuron.NeuralNetwork(0.1).train(s_neuron.INPUT_VECTORS.astype(str), s_neuron.TARGETS, 5)
    assert str(excinfo.value) == "input_vectors must be numeric, got dtype <U32; pass a float or integer array"


def test_complex_data_is_refused():
    with pytest.raises(TypeError) as excinfo:
        s_neuron.NeuralNetwork(0.1).train(s_neuron.INPUT_VECTORS.astype(complex), s_neuron.TARGETS, 5)
    assert str(excinfo.value) == "input_vectors must be real, got dtype complex128"
