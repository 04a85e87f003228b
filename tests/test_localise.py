"""Which layer: a case that names its layers gets the first layer and direction where the sides part,
and whether the error starts there or is carried from the layer before (the fixture network)."""

import numpy as np
import pytest
from fixture_net import LAYERS, Net, make_case

from crosscheck import Layer, RegistrationError, register, run_check
from crosscheck.diagnose import diagnose
from crosscheck.diagnose.layers import first_parting, localise_layers
from crosscheck.run.memo import traces


@pytest.fixture(autouse=True)
def _registry_restored(monkeypatch):
    from crosscheck import registration

    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))


def test_a_correct_network_parts_at_no_layer():
    case = make_case(layers=LAYERS)
    assert run_check(case, "training_run").passed
    assert localise_layers(case, 0, None) is None and localise_layers(case, 5, traces(case)) is None


class WrongActivation(Net):
    def forward(self, x):
        self.h = np.tanh(1.001 * (x @ self.W1 + self.b1))  # a slope that is not tanh's
        self.output = self.h @ self.W2 + self.b2
        return self.output


class WrongOutput(Net):
    def forward(self, x):
        self.h = np.tanh(x @ self.W1 + self.b1)
        self.output = self.h @ self.W2 + 2 * self.b2  # the bias added twice
        return self.output


class WrongBackward(Net):
    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.d_h = d_out @ self.W2.T * 0.5  # the signal into the hidden layer halved
        d_h = self.d_h * (1 - self.h**2)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}


@pytest.mark.parametrize(
    "net, step, first, text",
    [
        (WrongActivation, 0, None, "forward, layer 'hidden': introduced there (its input is the data)"),
        # b2 starts at zero: the doubled bias shows first in the curve recorded after step 0's update, and in
        # the layers of step 1, where the hidden layer agrees to rounding.
        (WrongOutput, 1, 0, "forward, layer 'output': introduced there (its input, 'hidden', agrees to "),
        # d_h is computed by the output layer's backward (d_out @ W2.T): there, not in the hidden layer's own.
        (
            WrongBackward,
            0,
            0,
            "backward, layer 'hidden': its backward signal parts first, introduced by the backward of what follows "
            "it up to the loss (the forward pass agrees)",
        ),
    ],
    ids=["hidden forward", "output forward", "hidden backward"],
)
def test_the_first_layer_where_the_sides_part_is_named(net, step, first, text):
    case = make_case(
        layers=LAYERS, build=lambda params, lr: net(**params), forward=net.forward, gradients=net.gradients
    )
    found = localise_layers(case, step, traces(case))
    assert found is not None and found.text().startswith(text) and found.introduced
    assert found.before_ratio < 0.01
    d = diagnose(case)  # before training, a forward bug shows on the whole dataset: replayed at step 0
    assert d is not None and d.divergence is not None and d.divergence.step == first
    assert f"  layer: {found.text()}" in d.block()


def test_an_error_below_tolerance_amplified_by_the_next_layer_is_carried_not_introduced():
    found = first_parting(["hidden", "output"], [0.3, 40.0], [float("nan"), float("nan")])
    assert found == ("output", "forward", False, 40.0, "hidden", 0.3)
    assert first_parting(["hidden", "output"], [0.0, 40.0], [float("nan")] * 2)[2] is True
    assert first_parting(["hidden", "output"], [0.0, 0.0], [5.0, 0.0]) == (
        "hidden",
        "backward",
        True,
        5.0,
        "output",
        0.0,
    )
    assert first_parting(["hidden", "output"], [0.0, 0.0], [0.0, 0.0]) is None


def test_a_layer_the_twin_does_not_have_is_refused():
    case = make_case(name="no_such_layer", layers=[Layer("hidden", scratch="h", twin="tanh")])
    with pytest.raises(RegistrationError) as excinfo:
        register(case)
    assert str(excinfo.value) == (
        "case 'no_such_layer': layer 'hidden' names twin submodule 'tanh', which the twin does not have; "
        "it has ['act', 'hidden', 'out']"
    )


def test_a_layer_of_another_size_is_refused():
    case = make_case(name="wrong_size", layers=[Layer("hidden", scratch="h", twin="hidden", twin_io="input")])
    with pytest.raises(RegistrationError) as excinfo:
        register(case)
    assert str(excinfo.value) == (
        "case 'wrong_size': layer 'hidden' is (6, 3) on the scratch side but the twin's hidden input is (6, 2)"
    )
