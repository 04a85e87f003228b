"""One sigmoid neuron with two inputs and a bias (seeds 000, 001 and 003).

The functions replay the single worked step the tutorials walk through; the
``NeuralNetwork`` class is the tutorials' trainable version (seed 001's method
names; seed 003's variant, which forgets to return its gradients, lives in
``scratch.quirks``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scratch import _checks
from scratch._rng import Rng, default_rng, randint

Array = NDArray[np.floating]

# The 8-point dataset of seed 001's training section.
INPUT_VECTORS = np.array([[3, 1.5], [2, 1], [4, 1.5], [3, 4], [3.5, 0.5], [2, 0.5], [5.5, 1], [1, 1]])
TARGETS = np.array([0, 1, 0, 1, 0, 1, 1, 0])
LEARNING_RATE = 0.1
ITERATIONS = 10_000
RECORD_EVERY = 100

# The tutorials' Python-number constants (1 - s, 2 * error, the learning rate) are written as NumPy
# scalars of the operands' dtype where they meet a single sample's values: NumPy 1.x computes a float32
# *scalar* combined with a Python number in float64 (NumPy 2 keeps float32, NEP 50). In float64 they are
# the same numbers, so the float64 results do not change.


def sigmoid(x: ArrayLike) -> Array:
    x = np.asarray(x)
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


def sigmoid_deriv(x: ArrayLike) -> Array:
    s = sigmoid(x)
    return s * (s.dtype.type(1) - s)


def make_prediction(input_vector: ArrayLike, weights: ArrayLike, bias: ArrayLike) -> Array:
    layer_1 = np.dot(input_vector, weights) + bias
    layer_2 = sigmoid(layer_1)
    return layer_2


def predict_class(prediction: ArrayLike) -> int:
    return 1 if np.asarray(prediction).item() > 0.5 else 0


def worked_step(input_vector: ArrayLike, weights: ArrayLike, bias: ArrayLike, target: float) -> dict[str, Array]:
    """The tutorials' hand-worked step, every intermediate they print.

    The update ``weights - derivative`` is the tutorials' own: it subtracts the
    derivative with respect to the *prediction* from every weight, which is not a
    gradient step (see ``scratch.quirks``).  The chain-rule gradients are then
    taken at the updated weights, where seed 003 prints its bias gradient.
    """
    input_vector = np.asarray(input_vector, dtype=float)
    weights = np.asarray(weights, dtype=float)
    prediction = make_prediction(input_vector, weights, bias)
    mse = np.square(prediction - target)
    derivative = 2 * (prediction - target)
    new_weights = weights - derivative
    new_prediction = make_prediction(input_vector, new_weights, bias)
    new_error = (new_prediction - target) ** 2

    derror_dprediction = 2 * (new_prediction - target)
    layer_1 = np.dot(input_vector, new_weights) + bias
    dprediction_dlayer1 = sigmoid_deriv(layer_1)
    dlayer1_dbias = 1
    dlayer1_dweights = input_vector
    return {
        "prediction": prediction,
        "mse": mse,
        "derivative": derivative,
        "new_weights": new_weights,
        "new_prediction": new_prediction,
        "new_error": new_error,
        "derror_dbias": derror_dprediction * dprediction_dlayer1 * dlayer1_dbias,
        "derror_dweights": derror_dprediction * dprediction_dlayer1 * dlayer1_dweights,
    }


class NeuralNetwork:
    """Seed 001's class: ``predict``, ``_compute_gradients``, ``_update_parameters``, ``train``."""

    def __init__(
        self,
        learning_rate: float,
        weights: ArrayLike | None = None,
        bias: ArrayLike | None = None,
        rng: Rng | None = None,
    ) -> None:
        self.rng = default_rng(rng)
        # The tutorial draws the two weights, then the bias, from the same stream.
        if weights is None:
            weights = np.array([self.rng.standard_normal(), self.rng.standard_normal()])
        if bias is None:
            bias = self.rng.standard_normal()
        self.weights = _checks.float_param("weights", weights, (2,))
        self.bias = _checks.float_param("bias", bias, ())
        if self.bias.dtype != self.weights.dtype:
            raise TypeError(
                f"bias is {self.bias.dtype} but weights are {self.weights.dtype}; give both the same float dtype"
            )
        self.learning_rate = _checks.positive("learning_rate", learning_rate)

    def _sigmoid(self, x: ArrayLike) -> Array:
        x = np.asarray(x)
        one = x.dtype.type(1)
        return one / (one + np.exp(-x))

    def _sigmoid_deriv(self, x: ArrayLike) -> Array:
        return self._sigmoid(x) * (self.weights.dtype.type(1) - self._sigmoid(x))

    def predict(self, input_vector: ArrayLike) -> Array:
        _checks.sample("input_vector", input_vector, len(self.weights), batch=True)
        layer_1 = np.dot(input_vector, self.weights) + self.bias
        layer_2 = self._sigmoid(layer_1)
        prediction = layer_2
        return prediction

    def _compute_gradients(self, input_vector: Array, target: Array) -> tuple[Array, Array]:
        layer_1 = np.dot(input_vector, self.weights) + self.bias
        layer_2 = self._sigmoid(layer_1)
        prediction = layer_2

        derror_dprediction = self.weights.dtype.type(2) * (prediction - target)
        dprediction_dlayer1 = self._sigmoid_deriv(layer_1)
        dlayer1_dbias = self.weights.dtype.type(1)
        dlayer1_dweights = (0 * self.weights) + (1 * input_vector)

        derror_dbias = derror_dprediction * dprediction_dlayer1 * dlayer1_dbias
        derror_dweights = derror_dprediction * dprediction_dlayer1 * dlayer1_dweights
        return derror_dbias, derror_dweights

    def _update_parameters(self, derror_dbias: Array, derror_dweights: Array) -> None:
        self.bias = self.bias - (derror_dbias * self.bias.dtype.type(self.learning_rate))
        self.weights = self.weights - (derror_dweights * self.learning_rate)

    def _cumulative_error(self, input_vectors: Array, targets: Array) -> Array:
        cumulative_error = self.weights.dtype.type(0)
        for data_instance_index in range(len(input_vectors)):
            data_point = input_vectors[data_instance_index]
            target = targets[data_instance_index]
            prediction = self.predict(data_point)
            error = np.square(prediction - target)
            cumulative_error = cumulative_error + error
        return np.asarray(cumulative_error)

    def train(self, input_vectors: ArrayLike, targets: ArrayLike, iterations: int) -> list[float]:
        """SGD on one randomly drawn sample per iteration; the summed squared error every 100."""
        dtype = self.weights.dtype
        input_vectors = _checks.data("input_vectors", input_vectors, (None, 2), dtype)
        targets = _checks.data("targets", targets, (None,), dtype)
        if len(targets) != len(input_vectors):
            raise ValueError(
                f"targets has {len(targets)} rows but input_vectors has {len(input_vectors)}; "
                "give one target per input vector"
            )
        iterations = _checks.positive_int("iterations", iterations)

        cumulative_errors = []
        for current_iteration in range(iterations):
            random_data_index = randint(self.rng, len(input_vectors))
            input_vector = input_vectors[random_data_index]
            target = targets[random_data_index]

            derror_dbias, derror_dweights = self._compute_gradients(input_vector, target)
            self._update_parameters(derror_dbias, derror_dweights)

            if current_iteration % RECORD_EVERY == 0:
                cumulative_errors.append(float(self._cumulative_error(input_vectors, targets)))
        return cumulative_errors
