"""The 2-2-1 sigmoid network of seed 002: ``Neuron``, the fixed-weight demo, and the trainable net.

Parameters keep the tutorial's names: w1..w4 and b1, b2 feed the hidden
neurons h1 and h2, w5, w6 and b3 the output o1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scratch import _checks
from scratch._rng import Rng, default_rng

Array = NDArray[np.floating]

PARAM_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")

# Alice, Bob, Charlie, Diana: weight minus 135 lb, height minus 66 in; 1 = female.
DATA = np.array([[-2, -1], [25, 6], [17, 4], [-15, -6]])
ALL_Y_TRUES = np.array([1, 0, 0, 1])
LEARN_RATE = 0.5
EPOCHS = 1000
RECORD_EVERY = 10


# The tutorial's Python-number constants are written as NumPy scalars of the parameters' dtype: every
# value here is a single sample's scalar, and NumPy 1.x computes a float32 scalar combined with a Python
# number in float64 (NumPy 2 keeps float32, NEP 50). In float64 they are the same numbers, so the float64
# results do not change.


def sigmoid(x: ArrayLike) -> Array:
    # Our activation function: f(x) = 1 / (1 + e^(-x))
    x = np.asarray(x)
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


def deriv_sigmoid(x: ArrayLike) -> Array:
    # Derivative of sigmoid: f'(x) = f(x) * (1 - f(x))
    fx = sigmoid(x)
    return fx * (fx.dtype.type(1) - fx)


def mse_loss(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
            "they would broadcast instead of pairing up: give both the same shape"
        )
    return ((y_true - y_pred) ** 2).mean()


class Neuron:
    def __init__(self, weights: ArrayLike, bias: float) -> None:
        self.weights = np.asarray(weights)
        self.bias = bias

    def feedforward(self, inputs: ArrayLike) -> Array:
        # Weight inputs, add bias, then use the activation function
        total = np.dot(self.weights, inputs) + self.bias
        return sigmoid(total)


class OurNeuralNetwork:
    """The fixed-weight demo: h1, h2 and o1 all with weights [0, 1] and bias 0."""

    def __init__(self) -> None:
        weights = np.array([0, 1])
        bias = 0
        self.h1 = Neuron(weights, bias)
        self.h2 = Neuron(weights, bias)
        self.o1 = Neuron(weights, bias)

    def feedforward(self, x: ArrayLike) -> Array:
        out_h1 = self.h1.feedforward(x)
        out_h2 = self.h2.feedforward(x)
        # The inputs for o1 are the outputs from h1 and h2
        return self.o1.feedforward(np.array([out_h1, out_h2]))


class TrainableNeuralNetwork:
    """The tutorial's second ``OurNeuralNetwork``: 9 parameters, per-sample SGD."""

    # NumPy scalars of one float dtype, so that the tutorial's ``-=`` rebinds rather than mutates.
    w1: Any
    w2: Any
    w3: Any
    w4: Any
    w5: Any
    w6: Any
    b1: Any
    b2: Any
    b3: Any

    def __init__(self, params: Mapping[str, ArrayLike] | None = None, rng: Rng | None = None) -> None:
        if params is None:
            # The tutorial's nine np.random.normal() calls, in this order.
            rng = default_rng(rng)
            params = {name: rng.standard_normal() for name in PARAM_NAMES}
        if set(params) != set(PARAM_NAMES):
            raise ValueError(
                f"params must have exactly the keys {list(PARAM_NAMES)}; "
                f"missing {sorted(set(PARAM_NAMES) - set(params))}, unexpected {sorted(set(params) - set(PARAM_NAMES))}"
            )
        dtypes = set()
        for name in PARAM_NAMES:
            value = _checks.float_param(name, params[name], ())[()]  # a NumPy scalar: -= rebinds
            dtypes.add(value.dtype)
            setattr(self, name, value)
        if len(dtypes) != 1:
            raise TypeError(
                f"all nine parameters must share one float dtype, got {sorted(map(str, dtypes))}; "
                "convert them all with .astype(np.float64)"
            )
        self.dtype = dtypes.pop()

    def feedforward(self, x: Any) -> Any:
        # x is a numpy array with 2 elements.
        _checks.sample("x", x, 2)  # a third feature would be ignored without a word
        h1 = sigmoid(self.w1 * x[0] + self.w2 * x[1] + self.b1)
        h2 = sigmoid(self.w3 * x[0] + self.w4 * x[1] + self.b2)
        o1 = sigmoid(self.w5 * h1 + self.w6 * h2 + self.b3)
        return o1

    def _partial_derivatives(self, x: Array, y_true: Array) -> dict[str, Array]:
        """dL/dp for every parameter p, L = (y_true - y_pred)**2 on one sample."""
        # --- Do a feedforward (we'll need these values later)
        sum_h1 = self.w1 * x[0] + self.w2 * x[1] + self.b1
        h1 = sigmoid(sum_h1)
        sum_h2 = self.w3 * x[0] + self.w4 * x[1] + self.b2
        h2 = sigmoid(sum_h2)
        sum_o1 = self.w5 * h1 + self.w6 * h2 + self.b3
        o1 = sigmoid(sum_o1)
        y_pred = o1

        d_L_d_ypred = self.dtype.type(-2) * (y_true - y_pred)

        # Neuron o1
        d_ypred_d_w5 = h1 * deriv_sigmoid(sum_o1)
        d_ypred_d_w6 = h2 * deriv_sigmoid(sum_o1)
        d_ypred_d_b3 = deriv_sigmoid(sum_o1)
        d_ypred_d_h1 = self.w5 * deriv_sigmoid(sum_o1)
        d_ypred_d_h2 = self.w6 * deriv_sigmoid(sum_o1)

        # Neuron h1
        d_h1_d_w1 = x[0] * deriv_sigmoid(sum_h1)
        d_h1_d_w2 = x[1] * deriv_sigmoid(sum_h1)
        d_h1_d_b1 = deriv_sigmoid(sum_h1)

        # Neuron h2
        d_h2_d_w3 = x[0] * deriv_sigmoid(sum_h2)
        d_h2_d_w4 = x[1] * deriv_sigmoid(sum_h2)
        d_h2_d_b2 = deriv_sigmoid(sum_h2)

        return {
            "w1": d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1,
            "w2": d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w2,
            "w3": d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w3,
            "w4": d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w4,
            "w5": d_L_d_ypred * d_ypred_d_w5,
            "w6": d_L_d_ypred * d_ypred_d_w6,
            "b1": d_L_d_ypred * d_ypred_d_h1 * d_h1_d_b1,
            "b2": d_L_d_ypred * d_ypred_d_h2 * d_h2_d_b2,
            "b3": d_L_d_ypred * d_ypred_d_b3,
        }

    def _update(self, d_L_d: Mapping[str, Array], learn_rate: float) -> None:
        # --- Update weights and biases
        lr = self.dtype.type(learn_rate)
        self.w1 -= lr * d_L_d["w1"]
        self.w2 -= lr * d_L_d["w2"]
        self.b1 -= lr * d_L_d["b1"]
        self.w3 -= lr * d_L_d["w3"]
        self.w4 -= lr * d_L_d["w4"]
        self.b2 -= lr * d_L_d["b2"]
        self.w5 -= lr * d_L_d["w5"]
        self.w6 -= lr * d_L_d["w6"]
        self.b3 -= lr * d_L_d["b3"]

    def loss(self, data: Array, all_y_trues: Array) -> Array:
        y_preds = np.apply_along_axis(self.feedforward, 1, data)
        return mse_loss(all_y_trues, y_preds)

    def train(
        self,
        data: ArrayLike,
        all_y_trues: ArrayLike,
        learn_rate: float = LEARN_RATE,
        epochs: int = EPOCHS,
        verbose: bool = False,
    ) -> list[float]:
        """Per-sample SGD in the data's order; the MSE after every 10th epoch, as the tutorial prints."""
        data = _checks.data("data", data, (None, 2), self.dtype)
        all_y_trues = _checks.data("all_y_trues", all_y_trues, (None,), self.dtype)
        if len(all_y_trues) != len(data):
            raise ValueError(
                f"all_y_trues has {len(all_y_trues)} rows but data has {len(data)}; give one target per sample"
            )
        learn_rate = _checks.positive("learn_rate", learn_rate)
        epochs = _checks.positive_int("epochs", epochs)

        losses = []
        for epoch in range(epochs):
            for x, y_true in zip(data, all_y_trues, strict=True):
                self._update(self._partial_derivatives(x, y_true), learn_rate)
            # --- Calculate total loss at the end of each epoch
            if epoch % RECORD_EVERY == 0:
                loss = self.loss(data, all_y_trues)
                losses.append(float(loss))
                if verbose:
                    print("Epoch %d loss: %.3f" % (epoch, loss))  # noqa: UP031  (the tutorial's line)
        return losses
