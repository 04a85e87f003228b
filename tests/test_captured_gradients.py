"""Gradients a network keeps to itself: captured where its own step hands them over (``Scratch(capture=...)``), and
where they are not, the checks left out said in every output, and an update divergence blamed on both candidates."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Capture, Case, Data, Link, RegistrationError, Scratch, Twin
from crosscheck.__main__ import main, table
from crosscheck.case import vary
from crosscheck.checks import battery, not_run, run_check
from crosscheck.diagnose import diagnose
from crosscheck.report.text import case_left_out
from crosscheck.run.memo import traces
from crosscheck.testing import optimizer_line
from crosscheck.validate import validate
from crosscheck.verdict import collect
from examples import small_cnn
from tests.test_plugin import _nothing_outlives_the_nested_runs, project, summary  # noqa: F401  (fixtures)

X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.0]])
Y = X @ np.array([[0.5, 1.0], [-1.0, 0.0]]) + 0.25


class SGD:
    """Each layer's own copy, as a from-scratch library gives every layer one: it receives the gradient."""

    def __init__(self, lr):
        self.lr = lr

    def update(self, w, dw):
        w -= self.lr * dw


class Dense:
    def __init__(self, n_in, n_out, rng, lr, halve=False):
        self.W, self.b = rng.normal(size=(n_in, n_out)) / n_in, np.zeros(n_out)
        self.opt, self.halve = SGD(lr), halve

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, d):
        dW = self.x.T @ d * (0.5 if self.halve else 1.0)  # halve: a learner's bug in the weights' gradient
        d_in = d @ self.W.T
        self.opt.update(self.W, dW)
        self.opt.update(self.b, d.sum(0))
        return d_in


class TwoLayers:
    def __init__(self, rng, lr=0.1, halve=False):
        self.layers = [Dense(2, 2, rng, lr, halve), Dense(2, 2, rng, lr)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def train(self, x, y, lr):
        out = self.forward(x)
        d = 2 * (out - y) / y.size
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return mse(out, y)


def mse(out, y):
    return np.mean((out - y) ** 2)


class Twin2(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.l0, self.l1 = nn.Linear(2, 2, dtype=dtype), nn.Linear(2, 2, dtype=dtype)

    def forward(self, x):
        return self.l1(self.l0(x))


PARAMS = {
    f"layers[{i}].{p}": Link(f"l{i}.{t}", transpose=p == "W")
    for i in (0, 1)
    for p, t in (("W", "weight"), ("b", "bias"))
}
RECEIVED = Capture("layers[*].opt.update", grad="dw", param="w")
CASE = Case(
    name="two_layers",
    scratch=Scratch(PARAMS, mse, network=TwoLayers, step="train", capture=RECEIVED),
    twin=Twin(Twin2, F.mse_loss),
    data=Data(X, Y, lambda rng: [slice(None)] * 6, 0.1),
)
HIDDEN = vary(CASE, capture=(), name="two_layers_hidden")
WHY = (
    "the network's own step keeps its gradients to itself: name where the step leaves them (Scratch(grads=...)) or "
    "the method that receives them (Scratch(capture=Capture(...)))"
)


def test_what_an_optimizer_receives_is_recorded_and_put_through_every_check():
    assert not_run(CASE) == {}
    assert battery(CASE) == [
        "initial_parameters", "forward", "loss", "gradients", "one_step", "training_run", "anchored_steps",
        "finite_differences",
    ]  # fmt: skip
    assert [c for c in battery(CASE) if not run_check(CASE, c).passed] == []
    scratch, twin = traces(CASE)
    for name in PARAMS:  # the very array the optimizer received, not one read back from the update
        np.testing.assert_allclose(scratch[f"grad.{name}"], twin[f"grad.{name}"], rtol=0, atol=1e-15)


def test_a_captured_gradient_bug_fails_the_gradient_check_at_its_parameter():
    bug = vary(CASE, network=lambda rng: TwoLayers(rng, halve=True), name="two_layers_bug")
    d = run_check(bug, "gradients").first_divergence
    assert (d.step, d.quantity, d.parameter) == (0, "grad", "layers[0].W")
    assert not run_check(bug, "finite_differences").passed


def test_a_layer_that_steps_its_own_weights_is_read_inside_its_backward():
    # examples/small_cnn.py: `self.filters -= lr * d_filters` inside backward; the local is what is recorded.
    scratch, twin = traces(small_cnn.NET)
    assert "gradients" in battery(small_cnn.NET) and "finite_differences" in battery(small_cnn.NET)
    for name in small_cnn.PARAMS:
        np.testing.assert_allclose(scratch[f"grad.{name}"], twin[f"grad.{name}"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        (
            Capture("layers[*].opt.update", grad="dw"),
            "case 'c': Capture('layers[*].opt.update', grad='dw') names the gradient; name the argument that is its "
            "parameter too (param='w'), or map the method's object's attributes to their gradients: grad={'W': 'dW'}",
        ),
        (
            Capture("layers[*].backward", grad={"V": "dV"}),
            "case 'c': Capture('layers[*].backward') maps 'V', which names no parameter of the method's object "
            "(['layers[0].W', 'layers[0].b', 'layers[1].W', 'layers[1].b'])",
        ),
    ],
)
def test_a_capture_that_cannot_work_is_refused_at_registration(capture, message):
    with pytest.raises(RegistrationError) as info:
        validate(vary(CASE, capture=capture, name="c"))
    assert str(info.value) == message


def test_a_capture_without_the_networks_own_step_is_refused():
    c = vary(HIDDEN, step=None, gradients=lambda net, x, y: {}, update=lambda net, g, lr: None, capture=RECEIVED)
    with pytest.raises(RegistrationError, match=r"Scratch\(capture=...\) records the gradients the network's own"):
        validate(vary(c, name="c"))


def test_a_method_the_step_never_calls_fails_naming_the_gradients_it_did_not_see():
    c = vary(CASE, capture=Capture("layers[*].forward", grad="x", param="self"), name="c")
    problem = run_check(c, "loss").problem
    assert str(problem).endswith(
        "at step 0 Scratch(capture=...): layers[0].forward's argument 'self' is not one of the case's parameters; "
        "layers[1].forward's argument 'self' is not one of the case's parameters; no gradient of ['layers[0].W', "
        "'layers[0].b', 'layers[1].W', 'layers[1].b'] reached layers[*].forward (is it called in every step?)"
    )


def test_without_visible_gradients_the_checks_left_out_are_named_with_the_reason():
    assert not_run(HIDDEN) == {"gradients": WHY, "finite_differences": WHY}
    assert "gradients" not in battery(HIDDEN) and "finite_differences" not in battery(HIDDEN)
    lines = [f"gradients not run: {WHY}", f"finite_differences not run: {WHY}"]
    assert case_left_out(HIDDEN) == lines
    net = collect(HIDDEN)
    assert dict(net.not_run) == not_run(HIDDEN)
    results = [run_check(HIDDEN, c) for c in battery(HIDDEN)]
    assert table(results, {}, {HIDDEN.name: lines}).splitlines()[-2:] == [
        f"- two_layers_hidden: {line}" for line in lines
    ]


def test_the_crosscheck_command_says_what_was_not_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.crosscheck]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("crosscheck.__main__.registry", lambda: {HIDDEN.name: HIDDEN})
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    table_end = out.index("") if "" in out else len(out)
    assert out[table_end - 2 : table_end] == [
        f"- two_layers_hidden: gradients not run: {WHY}",
        f"- two_layers_hidden: finite_differences not run: {WHY}",
    ]


def test_the_reports_say_what_was_not_run(tmp_path):
    from crosscheck import report

    made = {"commit": "abc", "generated_at": "now"}
    report.write_reports([collect(CASE), collect(HIDDEN)], [], {}, made, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["networks"][1]["not_run"] == {"gradients": WHY, "finite_differences": WHY}
    assert data["networks"][1]["not_compared"] == []
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert f"## Not run, not compared\n\n- **two_layers_hidden**: gradients not run: {WHY}" in md.replace("\\", "")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "gradients not run: the network&#x27;s own step keeps its gradients to itself" in html
    assert '">not run</td>' in html


def test_an_update_divergence_without_visible_gradients_names_the_gradient_it_implies():
    bug = vary(HIDDEN, network=lambda rng: TwoLayers(rng, halve=True), name="two_layers_hidden_bug")
    result = run_check(bug, "one_step")
    d = result.first_divergence
    assert (d.quantity, d.parameter) == ("param", "layers[0].W")
    _, twin = traces(bug)
    g = twin["grad.layers[0].W"][0][d.index]
    line = optimizer_line(result, bug).splitlines()[1]
    assert line.startswith(
        "the twin trains with torch.optim.SGD(lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False); the "
        "network keeps the gradients of layers[0].W, layers[0].b, layers[1].W, layers[1].b to itself, so either a "
        "gradient or the update rule differs from the twin's; at step 0 the gradient the scratch step implies, "
        "(before - after) / lr, is "
    )
    assert line.endswith(
        f", the twin's gradient {float(g)!r}: the gradient of layers[0].W differs (the steps of layers[0].b, layers[1].W, "
        f"layers[1].b follow plain SGD on the twin's gradients)"
    )
    assert diagnose(bug).block()[-1] == "  " + line.split("; ", 1)[1]


def test_an_update_rule_that_differs_for_every_parameter_is_named_as_the_rule():
    slow = vary(HIDDEN, network=lambda rng: TwoLayers(rng, lr=0.05), name="two_layers_slow")
    line = optimizer_line(run_check(slow, "one_step"), slow)
    assert line.endswith(
        ": every step is 0.5 x lr x the twin's gradient, for every parameter alike: the update rule differs (its "
        "rate or a batch size), or every gradient by the same factor (a sign or a factor in the loss's derivative)"
    )


OWN_STEP = """
def train(self, x, y, lr):
        d = 2 * (self.forward(x) - y) / y.size
        loss = np.mean((self.forward(x) - y) ** 2)
        self.w, self.b = self.w - lr * (x.T @ d), self.b - lr * d.sum(0)
        return loss
"""


def test_the_pytest_summary_names_the_checks_not_run(project):  # noqa: F811
    from tools.user_project import NETWORK

    network = NETWORK.replace(
        "    def update(self, grads, lr):", "    " + OWN_STEP.strip() + "\n\n    def update(self, grads, lr):"
    )
    network = network.replace('gradients="gradients",\n        update="update",', 'step="train",')
    project.makepyfile(line=network)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=6)  # the golden is written on the first run
    assert summary(result)[1:3] == [f"line: gradients not run: {WHY}", f"line: finite_differences not run: {WHY}"]


def test_a_twin_trained_otherwise_than_plain_sgd_gets_both_candidates_without_figures():
    decayed = vary(HIDDEN, optimizer=lambda p, lr: torch.optim.SGD(p, lr=lr, weight_decay=0.01), name="decayed")
    line = optimizer_line(run_check(decayed, "one_step"), decayed)
    assert line.endswith("so either a gradient or the update rule differs from the twin's")
