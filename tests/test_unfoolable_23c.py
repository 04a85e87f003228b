"""Issue 23's weak messages (class 11), each as a user meets it: the refusal of ``register`` (or of the check that
validates an unregistered case), the ``crosscheck`` command's table, and ``crosscheck --reports``' summary.md;
each names the step, the side and what to do."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixture_net import Net, TwinNet, make_case

from crosscheck import RegistrationError, register, vary
from crosscheck.__main__ import main, run_all, table
from examples import batchnorm_net as bn

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _registry_restored(monkeypatch):
    """Cases registered here stay here: later tests see the project's registry as it was."""
    from crosscheck import registration

    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))
    monkeypatch.setattr(registration, "_REGISTERED_IN", dict(registration._REGISTERED_IN))


def refusal(case):
    with pytest.raises(RegistrationError) as excinfo:
        register(case)
    return str(excinfo.value)


# --- BatchNorm: what a network with running statistics must declare ---------------------------------------


def bn_gradients(net, x, y):
    """Gradients by a forward of its own: right for a network without buffers, a second training forward here."""
    out = net.forward(x)
    d = net.fc2.backward(2 * (out - y) / y.size)
    net.fc1.backward(net.bn.backward(d * (1 - net.h**2)))
    return {
        "fc1.W": net.fc1.dW,
        "bn.gamma": net.bn.dgamma,
        "bn.beta": net.bn.dbeta,
        "fc2.W": net.fc2.dW,
        "fc2.b": net.fc2.db,
    }


def bn_update(net, grads, lr):
    for path, g in grads.items():
        layer, name = path.split(".")
        setattr(getattr(net, layer), name, getattr(getattr(net, layer), name) - lr * g)


def test_a_batchnorm_gradients_that_runs_its_own_forward_is_told_to_declare_its_step():
    case = vary(bn.NET, name="bn_second_forward", step=None, grads={}, gradients=bn_gradients, update=bn_update)
    assert refusal(case) == (
        "case 'bn_second_forward': at step 0 the scratch side's gradients(net, X[batch 0], y[batch 0]) changes buffer "
        "'bn.running_mean': it runs a training forward of its own after the harness's forward(net, x), so each step "
        "moves the running statistics twice and the twin's once; declare the network's training step with "
        "Scratch(step=...) (one forward, backward and update), or compute the gradients from what forward kept, "
        "without calling forward again"
    )


def test_a_batchnorm_case_without_its_own_evaluate_is_told_the_curve_is_taken_in_eval_mode():
    assert refusal(vary(bn.NET, name="bn_no_evaluate", scratch_evaluate=None)) == (
        "case 'bn_no_evaluate': the twin computes otherwise in eval mode than in training (BatchNorm's running "
        "statistics, say), and the loss curve is recorded with the twin in eval mode, as a training loop evaluates; "
        "the scratch side has no Scratch(evaluate=...), so its curve would be loss(forward(net, X), y), the training "
        "forward: give Scratch(evaluate=lambda net, X, y: ...) that computes the loss as the network evaluates (on "
        "its running statistics)"
    )


def test_a_case_without_a_curve_needs_no_evaluate():
    assert register(vary(bn.NET, name="bn_no_curve", scratch_evaluate=None, curve_steps=())).name == "bn_no_curve"


# --- the twin ------------------------------------------------------------------------------------------


class DataWritingTwin(TwinNet):
    def forward(self, x):
        x.data -= x.data.mean(0)  # through .data: autograd's version counter does not see it
        return super().forward(x)


def test_a_twin_that_writes_its_input_through_data_is_named_not_blamed_on_the_output():
    assert refusal(make_case(name="data_writing_twin", module=DataWritingTwin)) == (
        "case 'data_writing_twin': at step 0 the twin writes into its input where autograd does not see it "
        "(x.data -= ..., x.detach().sub_(...), x.numpy()[...] = ...), so the twin's later steps see other data than "
        "the scratch side's; compute on a new tensor (x = x - x.mean(0))"
    )


class FrozenBiasTwin(TwinNet):
    def __init__(self, dtype):
        super().__init__(dtype)
        self.out.bias.requires_grad_(False)


def test_a_frozen_twin_parameter_is_named_as_frozen():
    assert refusal(make_case(name="frozen_twin", module=FrozenBiasTwin)) == (
        "case 'frozen_twin': twin tensor 'out.bias' (parameter 'b2') is frozen (requires_grad=False): the twin's "
        "optimizer never moves it while the scratch side updates 'b2'; unfreeze it in the twin "
        "(requires_grad_(True)), or, if the scratch network keeps it fixed too, leave it out of Scratch(params=...)"
    )


# --- the data ------------------------------------------------------------------------------------------


def test_a_0d_x_is_told_to_give_rows_not_that_it_is_empty():
    assert refusal(make_case(name="zero_d", X=np.array(1.0))) == (
        "case 'zero_d': X is a single number (a 0-d array, shape ()); give one row per sample, X of shape "
        "(n_samples, ...): np.reshape(X, (1, -1)) for one sample of one value"
    )


def test_boolean_labels_are_told_to_become_integers_or_floats():
    assert refusal(make_case(name="bool_labels", y=np.array([[True], [False]] * 3))) == (
        "case 'bool_labels': y is boolean; neither side computes on bool: for class labels convert it with "
        ".astype(np.int64), for 0/1 targets of a loss with .astype(np.float64)"
    )


def test_torch_from_numpy_on_the_read_only_data_is_named_under_filterwarnings_error():
    # In a fresh process: torch gives this warning once per process.
    code = (
        "import warnings, torch\n"
        "from fixture_net import Net, make_case\n"
        "from crosscheck.validate import validation_problem\n"
        "warnings.simplefilter('error', UserWarning)\n"
        "print(validation_problem(make_case(name='from_numpy', forward=lambda net, x: Net.forward(net, "
        "torch.from_numpy(x).numpy()))))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "case 'from_numpy': forward(net, X) converts its read-only input with torch.from_numpy, and torch's warning "
        "that it does not support non-writable arrays is an error under the warning filters of this run: the "
        "harness hands X and y over read-only, so that both sides and every later step see the same data; convert "
        "a copy (torch.tensor(x), or torch.from_numpy(x.copy()))"
    )


# --- names ---------------------------------------------------------------------------------------------


def test_a_taken_name_says_which_module_took_it():
    from crosscheck import registration

    register(make_case(name="taken_23c"))
    assert refusal(make_case(name="taken_23c")) == (
        f"a case named 'taken_23c' is already registered by module {__name__!r} ({__file__}); give this one another "
        f"name (registered: {sorted(registration._REGISTRY)})"
    )


# --- the command ---------------------------------------------------------------------------------------


def gains_a_key(net, x, y):
    grads = Net.gradients(net, x, y)
    net.calls = getattr(net, "calls", 0) + 1
    return {**grads, "extra": grads["b2"]} if net.calls > 2 else grads


def test_the_command_row_of_a_check_stopped_at_a_step_says_not_compared_and_why():
    # The table as the command prints it (what the command does after it, the diagnosis, is not this test's).
    case = make_case(name="gains_a_key", gradients=gains_a_key)
    lines = table(run_all({case.name: case})).splitlines()
    assert [line.split() for line in lines if line.startswith("gains_a_key  training_run")] == [
        ["gains_a_key", "training_run", "step", "2", "-", "-", "not", "compared", "FAIL"]
    ]
    assert (
        "FAIL gains_a_key / training_run, anchored_steps, finite_differences: at step 2 the scratch side's "
        "gradients() returned the keys ['W1', 'W2', 'b1', 'b2', 'extra']: not parameters ['extra'] (the parameters "
        "are ['W1', 'W2', 'b1', 'b2'])"
    ) in lines


def test_the_command_summary_counts_the_float32_rows_it_prints(tmp_path, monkeypatch, capsys):
    case = make_case(name="fixture_cli32")
    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\nfloat32 = ["fixture_cli32"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("crosscheck.__main__.registry", lambda: {case.name: case})
    monkeypatch.setattr("crosscheck.registration.registry", lambda start=None: {case.name: case})
    assert main(["--reports", "out"]) == 0
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("fixture_cli32")]
    summary = (tmp_path / "out" / "summary.md").read_text()
    rows = [line.split("|")[1].strip() for line in summary.splitlines() if line.startswith("| fixture_cli32")]
    assert printed.count("fixture_cli32_float32") > 0
    assert rows == printed
    assert f"**{len(printed)} checks on 2 networks: {len(printed)} passed, 0 failed.**" in summary
