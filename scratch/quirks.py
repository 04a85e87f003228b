"""The tutorials' own code paths, kept verbatim where they differ from the clean networks.

Nothing here is used by the clean networks.  The tests and the report run these
beside the clean code and the twin to show what each quirk does, with numbers.
They draw from the global ``np.random`` exactly as the seeds do.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def make_prediction(input_vector: Any, weights: Any, bias: Any) -> Any:
    layer_1 = np.dot(input_vector, weights) + bias
    return sigmoid(layer_1)


def seed_000_update(weights_1: Any, derivative_of_mse: Any) -> Any:
    """Seed 000's update: subtract the derivative w.r.t. the *prediction* when it is >= 0, else add it.

    Adding a negative derivative moves the weights the same way as subtracting
    a positive one, so for a target above the prediction the step goes the wrong way.
    """
    return weights_1 - derivative_of_mse if derivative_of_mse >= 0 else weights_1 + derivative_of_mse


class Seed001NeuralNetwork:
    """Seed 001's class and train(), verbatim: global np.random draws."""

    def __init__(self, learning_rate: float) -> None:
        self.weights = np.array([np.random.randn(), np.random.randn()])
        self.bias = np.random.randn()
        self.learning_rate = learning_rate

    def _sigmoid(self, x: Any) -> Any:
        return 1 / (1 + np.exp(-x))

    def _sigmoid_deriv(self, x: Any) -> Any:
        return self._sigmoid(x) * (1 - self._sigmoid(x))

    def predict(self, input_vector: Any) -> Any:
        layer_1 = np.dot(input_vector, self.weights) + self.bias
        layer_2 = self._sigmoid(layer_1)
        prediction = layer_2
        return prediction

    def _compute_gradients(self, input_vector: Any, target: Any) -> tuple[Any, Any]:
        layer_1 = np.dot(input_vector, self.weights) + self.bias
        layer_2 = self._sigmoid(layer_1)
        prediction = layer_2
        derror_dprediction = 2 * (prediction - target)
        dprediction_dlayer1 = self._sigmoid_deriv(layer_1)
        dlayer1_dbias = 1
        dlayer1_dweights = (0 * self.weights) + (1 * input_vector)
        derror_dbias = derror_dprediction * dprediction_dlayer1 * dlayer1_dbias
        derror_dweights = derror_dprediction * dprediction_dlayer1 * dlayer1_dweights
        return derror_dbias, derror_dweights

    def _update_parameters(self, derror_dbias: Any, derror_dweights: Any) -> None:
        self.bias = self.bias - (derror_dbias * self.learning_rate)
        self.weights = self.weights - (derror_dweights * self.learning_rate)

    def train(self, input_vectors: Any, targets: Any, iterations: int) -> list[Any]:
        cumulative_errors = []
        for current_iteration in range(iterations):
            random_data_index = np.random.randint(len(input_vectors))
            input_vector = input_vectors[random_data_index]
            target = targets[random_data_index]
            derror_dbias, derror_dweights = self._compute_gradients(input_vector, target)
            self._update_parameters(derror_dbias, derror_dweights)
            if current_iteration % 100 == 0:
                cumulative_error = 0
                for data_instance_index in range(len(input_vectors)):
                    data_point = input_vectors[data_instance_index]
                    target = targets[data_instance_index]
                    prediction = self.predict(data_point)
                    error = np.square(prediction - target)
                    cumulative_error = cumulative_error + error
                cumulative_errors.append(cumulative_error)
        return cumulative_errors


class Seed003NeuralNetwork:
    """Seed 003's class, verbatim: ``compute_gradients`` computes both gradients and returns None."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self.weights = np.array([np.random.randn(), np.random.randn()])
        self.bias = np.random.randn()

    def sigmoid(self, x: Any) -> Any:
        return 1 / (1 + np.exp(-x))

    def predict(self, input: Any) -> Any:
        layer1 = np.dot(input, self.weights) + self.bias
        return self.sigmoid(layer1)

    def sigmoid_derivative(self, x: Any) -> Any:
        return self.sigmoid(x) * (1 - self.sigmoid(x))

    def compute_gradients(self, input: Any, target: Any) -> None:
        layer1 = np.dot(input, self.weights) + self.bias
        layer2 = self.sigmoid(layer1)
        prediction = layer2
        d_error_wrt_prediction = 2 * (prediction - target)
        d_prediction_wrt_layer1 = self.sigmoid_derivative(layer1)
        d_layer1_wrt_bias = 1
        d_error_wrt_bias = d_layer1_wrt_bias * d_prediction_wrt_layer1 * d_error_wrt_prediction  # noqa: F841
        d_layer1_wrt_weights = (input * 1) + (self.weights * 0)
        d_error_wrt_weights = d_layer1_wrt_weights * d_prediction_wrt_layer1 * d_error_wrt_prediction  # noqa: F841

    def update_params(self, d_error_wrt_weights: Any, d_error_wrt_bias: Any) -> None:
        self.bias = self.bias - (d_error_wrt_bias * self.learning_rate)
        self.weights = self.weights - (d_error_wrt_weights * self.learning_rate)


def seed_002_train(
    data: Any, all_y_trues: Any, learn_rate: float = 0.5, epochs: int = 1000
) -> tuple[dict[str, float], list[float]]:
    """Seed 002's OurNeuralNetwork.__init__ and train(), verbatim but for returning instead of printing."""
    p = {n: np.random.normal() for n in ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")}

    def deriv_sigmoid(x: Any) -> Any:
        fx = sigmoid(x)
        return fx * (1 - fx)

    def feedforward(x: Any) -> Any:
        h1 = sigmoid(p["w1"] * x[0] + p["w2"] * x[1] + p["b1"])
        h2 = sigmoid(p["w3"] * x[0] + p["w4"] * x[1] + p["b2"])
        return sigmoid(p["w5"] * h1 + p["w6"] * h2 + p["b3"])

    losses = []
    for epoch in range(epochs):
        for x, y_true in zip(data, all_y_trues):  # noqa: B905  (verbatim)
            sum_h1 = p["w1"] * x[0] + p["w2"] * x[1] + p["b1"]
            h1 = sigmoid(sum_h1)
            sum_h2 = p["w3"] * x[0] + p["w4"] * x[1] + p["b2"]
            h2 = sigmoid(sum_h2)
            sum_o1 = p["w5"] * h1 + p["w6"] * h2 + p["b3"]
            o1 = sigmoid(sum_o1)
            y_pred = o1
            d_L_d_ypred = -2 * (y_true - y_pred)
            d_ypred_d_w5 = h1 * deriv_sigmoid(sum_o1)
            d_ypred_d_w6 = h2 * deriv_sigmoid(sum_o1)
            d_ypred_d_b3 = deriv_sigmoid(sum_o1)
            d_ypred_d_h1 = p["w5"] * deriv_sigmoid(sum_o1)
            d_ypred_d_h2 = p["w6"] * deriv_sigmoid(sum_o1)
            d_h1_d_w1 = x[0] * deriv_sigmoid(sum_h1)
            d_h1_d_w2 = x[1] * deriv_sigmoid(sum_h1)
            d_h1_d_b1 = deriv_sigmoid(sum_h1)
            d_h2_d_w3 = x[0] * deriv_sigmoid(sum_h2)
            d_h2_d_w4 = x[1] * deriv_sigmoid(sum_h2)
            d_h2_d_b2 = deriv_sigmoid(sum_h2)
            p["w1"] -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1
            p["w2"] -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w2
            p["b1"] -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_b1
            p["w3"] -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w3
            p["w4"] -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w4
            p["b2"] -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_b2
            p["w5"] -= learn_rate * d_L_d_ypred * d_ypred_d_w5
            p["w6"] -= learn_rate * d_L_d_ypred * d_ypred_d_w6
            p["b3"] -= learn_rate * d_L_d_ypred * d_ypred_d_b3
        if epoch % 10 == 0:
            y_preds = np.apply_along_axis(feedforward, 1, data)
            losses.append(((all_y_trues - y_preds) ** 2).mean())
    return p, losses


def sigmoid_derivative_004(x: Any) -> Any:
    """Seed 004's derivative: s * (1 - s).  Right only when given the activation s, not the pre-activation."""
    return x * (1.0 - x)


class Seed004NeuralNetwork:
    """Seed 004's class, verbatim: ``+=`` with ``2 * (y - output)``."""

    def __init__(self, x: Any, y: Any) -> None:
        self.input = x
        self.weights1 = np.random.rand(self.input.shape[1], 4)
        self.weights2 = np.random.rand(4, 1)
        self.y = y
        self.output = np.zeros(self.y.shape)

    def feedforward(self) -> None:
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def backprop(self) -> None:
        d_weights2 = np.dot(self.layer1.T, (2 * (self.y - self.output) * sigmoid_derivative_004(self.output)))
        d_weights1 = np.dot(
            self.input.T,
            np.dot(2 * (self.y - self.output) * sigmoid_derivative_004(self.output), self.weights2.T)
            * sigmoid_derivative_004(self.layer1),
        )
        self.weights1 += d_weights1
        self.weights2 += d_weights2


def seed_001_printed_lines() -> dict[str, str]:
    """Seed 001's cells that print the second dot product and the first error, verbatim but for
    returning the f-strings: what its own code prints (the seed shows other text)."""
    input_vector: Any = [1.72, 1.23]
    weights_2 = [2.17, 0.32]
    dot_product_2 = np.dot(input_vector, weights_2)
    dot_line = f"The dot product is: {dot_product_2}"

    input_vector = np.array([2, 1.5])
    weights_1 = np.array([1.45, -0.66])
    bias = np.array([0.0])
    prediction = make_prediction(input_vector, weights_1, bias)
    target = 0
    mse = np.square(prediction - target)
    error_line = f"Prediction: {prediction}; Error: {mse}"
    return {"dot": dot_line, "error": error_line}


def seed_003_cells(input: Any, weights: Any, bias: Any, target: float = 0) -> dict[str, Any]:
    """Seed 003's cells [6] to [8], verbatim: the bias gradient of cell [8] is taken after cell [7]
    has already replaced ``weights`` by ``weights - derivative``."""
    prediction = make_prediction(input, weights, bias)
    first_prediction = prediction
    derivative = 2 * (prediction - target)
    weights = weights - derivative
    prediction = make_prediction(input, weights, bias)
    d_error_wrt_prediction = 2 * (prediction - target)
    layer1_result = np.dot(input, weights) + bias
    d_prediction_wrt_layer1 = sigmoid(layer1_result) * (1 - sigmoid(layer1_result))
    d_layer1_wrt_bias = 1
    d_error_wrt_bias = d_layer1_wrt_bias * d_prediction_wrt_layer1 * d_error_wrt_prediction
    return {
        "prediction": first_prediction,
        "derivative": derivative,
        "weights": weights,
        "new_prediction": prediction,
        "d_error_wrt_bias": d_error_wrt_bias,
    }
