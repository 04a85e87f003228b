"""The 3-4-1 sigmoid network of seed 004: no biases, U[0, 1) weights, full-batch updates on XOR.

The seed writes ``self.weights += d`` with ``d`` built from ``2 * (y - output)``:
that is a gradient-descent step with learning rate 1 on the summed squared
error.  Here ``_gradients`` returns the true gradients and ``backprop`` subtracts
them, so the gradients can be compared with autograd; ``scratch.quirks`` keeps
the seed's own sign convention.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scratch import _checks
from scratch._rng import Rng, default_rng

Array = NDArray[np.floating]

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
Y = np.array([[0], [1], [1], [0]])
LEARNING_RATE = 1.0
ITERATIONS = 1500
HIDDEN = 4


def sigmoid(x: ArrayLike) -> Array:
    return 1.0 / (1 + np.exp(-np.asarray(x)))


def sigmoid_derivative(x: ArrayLike) -> Array:
    # Takes the sigmoid's *output* s and returns s(1 - s); the seed always passes activations.
    x = np.asarray(x)
    return x * (1.0 - x)


class NeuralNetwork:
    def __init__(
        self,
        x: ArrayLike,
        y: ArrayLike,
        weights1: ArrayLike | None = None,
        weights2: ArrayLike | None = None,
        rng: Rng | None = None,
        learning_rate: float = LEARNING_RATE,
    ) -> None:
        x_arr = np.asarray(x)
        if x_arr.ndim != 2:
            raise ValueError(
                f"x must be a 2-D array (samples, features), got shape {x_arr.shape}; "
                "one sample is x.reshape(1, -1), one feature is x.reshape(-1, 1)"
            )
        n_in = x_arr.shape[1]
        if weights1 is None or weights2 is None:
            # The seed's np.random.rand(n_in, 4) then np.random.rand(4, 1), from one stream.
            rng = default_rng(rng)
            draw = rng.random_sample if isinstance(rng, np.random.RandomState) else rng.random
            weights1 = draw((n_in, HIDDEN)) if weights1 is None else weights1
            weights2 = draw((HIDDEN, 1)) if weights2 is None else weights2
        self.weights1 = _checks.float_param("weights1", weights1, (n_in, HIDDEN))
        self.weights2 = _checks.float_param("weights2", weights2, (HIDDEN, 1))
        if self.weights1.dtype != self.weights2.dtype:
            raise TypeError(
                f"weights1 is {self.weights1.dtype} but weights2 is {self.weights2.dtype}; "
                "give both the same float dtype"
            )
        dtype = self.weights1.dtype
        self.input = _checks.data("x", x, (None, n_in), dtype)
        # (n, 1), not (n,): (n,) targets against (n, 1) outputs would broadcast to (n, n).
        self.y = _checks.data("y", y, (len(self.input), 1), dtype)
        self.learning_rate = _checks.positive("learning_rate", learning_rate)
        self.output = np.zeros(self.y.shape, dtype=dtype)

    def feedforward(self) -> None:
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def loss(self) -> Array:
        """Sum-of-squares error of the last feedforward."""
        return np.sum((self.y - self.output) ** 2)

    def _gradients(self) -> tuple[Array, Array]:
        """dL/dweights1, dL/dweights2 of the summed squared error, at the last feedforward."""
        d_output = -2 * (self.y - self.output) * sigmoid_derivative(self.output)
        d_weights2 = np.dot(self.layer1.T, d_output)
        d_weights1 = np.dot(self.input.T, np.dot(d_output, self.weights2.T) * sigmoid_derivative(self.layer1))
        return d_weights1, d_weights2

    def _update_weights(self, d_weights1: Array, d_weights2: Array) -> None:
        self.weights1 = self.weights1 - self.learning_rate * d_weights1
        self.weights2 = self.weights2 - self.learning_rate * d_weights2

    def backprop(self) -> None:
        self._update_weights(*self._gradients())

    def train(self, iterations: int = ITERATIONS) -> list[float]:
        """Feedforward then backprop, ``iterations`` times; the loss measured before each update."""
        iterations = _checks.positive_int("iterations", iterations)
        losses = []
        for _ in range(iterations):
            self.feedforward()
            losses.append(float(self.loss()))
            self.backprop()
        return losses
