"""The registration protocol for real from-scratch code: paths into the network, the network's own step, the
twin's optimizer and scheduler, optimizer state and buffers, integer labels; and what is refused, word for word."""

import numpy as np
import pytest
import torch

from crosscheck import paths
from crosscheck.case import vary
from crosscheck.checks import run_check
from crosscheck.run.memo import traces
from crosscheck.validate import validation_problem
from examples import batchnorm_net, label_classifier, momentum_mlp


class Layer:
    def __init__(self):
        self.W = np.zeros((2, 2))


class Net:
    def __init__(self):
        self.layers = [Layer(), Layer()]
        self.weights = (np.ones(3), np.full(3, 2.0))
        self.p = {"W1": np.arange(4.0)}
        self.dense1 = Layer()


@pytest.mark.parametrize(
    "path, expected",
    [("layers[1].W", np.zeros((2, 2))), ("weights[1]", np.full(3, 2.0)), ('p["W1"]', np.arange(4.0))],
)
def test_a_path_reads_attributes_items_and_keys(path, expected):
    np.testing.assert_array_equal(paths.read(Net(), path), expected)
    assert paths.read(Net(), "p['W1']")[3] == 3.0 and paths.read(Net(), "dense1.W").shape == (2, 2)


def test_a_write_goes_into_the_array_there_so_other_references_see_it():
    net = Net()
    held = net.layers[0].W  # an optimizer's list of parameters, say
    paths.write(net, "layers[0].W", np.ones((2, 2)))
    assert net.layers[0].W is held and held.sum() == 4
    paths.write(net, 'p["W1"]', np.ones(2, np.float32))  # another shape and dtype: put in its place
    assert net.p["W1"].dtype == np.float32


@pytest.mark.parametrize(
    "path, message",
    [
        ("layers[0]W", "cannot read path 'layers[0]W' from character 9 ('W'); write attributes"),
        ("layers[2].W", "path 'layers[2].W': the network's list has no item [2]"),
        ('p["W2"]', "path 'p[\"W2\"]': the network's dict has no item ['W2']"),
        ("dense2.W", "path 'dense2.W': the network's Net has no attribute 'dense2'"),
    ],
)
def test_a_path_that_leads_nowhere_says_where(path, message):
    with pytest.raises(paths.PathError) as excinfo:
        paths.read(Net(), path)
    assert str(excinfo.value).startswith(message)


NET = momentum_mlp.NET
SGD = "torch.optim.SGD(lr=0.05, momentum=0.9, dampening=0, weight_decay=0.001, nesterov=False)"


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"optimizer": lambda params, lr: torch.optim.Adam(params, lr=lr), "options": {}},
            "Scratch(state=...) maps ['momentum_buffer'], but the twin runs torch.optim.Adam(lr=0.05, "
            "betas=(0.9, 0.999), eps=1e-08, weight_decay=0), which keeps ['exp_avg', 'exp_avg_sq', 'step']: give "
            "the twin the optimizer the network is meant to implement, e.g. Twin(optimizer=lambda params, lr: "
            "torch.optim.Adam(params, lr=lr)) (the twin is the reference: a copy of the network's own rule there "
            "would hide a bug in it)",
        ),
        (
            {"state": {}},
            f"the twin runs {SGD}, which keeps ['momentum_buffer'] for every parameter; map the network's own with "
            f"Scratch(state={{kind: {{param path: state path}}}})",
        ),
        (
            {"optimizer": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.8, weight_decay=1e-3)},
            "the network's momentum is 0.9 (momentum) but the twin runs torch.optim.SGD(lr=0.05, momentum=0.8, "
            "dampening=0, weight_decay=0.001, nesterov=False): give the twin the options the network is meant to have, "
            "or fix the network's (the twin is the reference: a copy of the network's own rule there would hide a bug "
            "in it)",
        ),
        (
            {"options": {"betas": "momentum"}},
            f"Scratch(options=...) names 'betas', which the twin's {SGD} does not have; its options are",
        ),
        ({"step": None}, "give the network's own training step, Scratch(step='train_step') or step(net, x, y, lr)"),
        (
            {
                "params": {**NET.scratch.params, "layers[0].V": NET.scratch.params["layers[0].W"]},
                "grads": {},
                "state": {},
            },
            "Scratch(params=...): path 'layers[0].V': the network's Dense has no attribute 'V'",
        ),
        (
            {"step": lambda net, x, y, lr: None},
            "at step 0 the scratch side's step() returned None; return the batch's loss (or (output, loss))",
        ),
        (
            {"state": {"momentum_buffer": {path: "momentum" for path in NET.scratch.params}}},
            "after step 0 the scratch side's momentum_buffer of layers[0].W (momentum) is float64 (); it must be "
            "float64 (2, 8)",
        ),
    ],
    ids=["kind", "unmapped-state", "options", "unknown-option", "no-step", "bad-path", "step-returns-none", "shape"],
)
def test_a_case_whose_optimizer_or_protocol_does_not_fit_is_refused_saying_what_the_twin_runs(changes, message):
    problem = validation_problem(vary(NET, name="refused", **changes))
    assert problem is not None and problem.startswith("case 'refused': ") and message in problem, problem


def test_a_case_object_is_validated_once_and_a_varied_copy_afresh():
    made = []

    def module(dtype):
        made.append(dtype)
        return NET.twin.module(dtype)

    case = vary(NET, name="validated_once", module=module)
    assert validation_problem(case) is None
    once = len(made)
    assert once > 0 and validation_problem(case) is None and len(made) == once
    refused = vary(case, buffers={"b": NET.scratch.params[next(iter(NET.scratch.params))]})
    assert validation_problem(refused) is not None and len(made) > once  # the copy's own verdict


def test_vary_takes_the_declared_names_and_asks_which_side_for_a_name_both_declare():
    def loss(out, y):
        return 2 * NET.twin.loss(out, y)

    params = dict(NET.scratch.params)
    changed = vary(NET, params=params, module=NET.twin.module, twin_loss=loss, learning_rate=0.5, source="x")
    assert (changed.scratch.params, changed.twin.loss, changed.data.learning_rate) == (params, loss, 0.5)
    assert changed.scratch.loss is NET.scratch.loss and changed.source == "x"
    assert vary(NET, scratch_loss=loss).scratch.loss is vary(NET, scratch_loss=loss).calls.loss is loss
    with pytest.raises(TypeError, match=r"vary\(\): scratch and twin both have 'loss': say scratch_loss or twin_loss"):
        vary(NET, loss=loss)
    with pytest.raises(TypeError, match="a case has no part 'param_map'"):
        vary(NET, param_map=params)


def test_twin_buffers_must_be_mapped_to_the_networks_state():
    problem = validation_problem(vary(batchnorm_net.NET, name="refused", buffers={}))
    assert problem == (
        "case 'refused': the twin keeps the buffers ['bn.running_mean', 'bn.running_var'], which the scratch side "
        "does not map; map the network's own with Scratch(buffers={path: Link('bn.running_mean')}) so they are "
        "compared at every step"
    )


def test_the_running_statistics_are_traced_every_step_and_the_scratch_forward_runs_once_per_step():
    scratch, twin = traces(batchnorm_net.NET)
    steps = len(scratch["loss"])
    assert scratch["buffer.bn.running_mean"].shape == (steps, 8) == twin["buffer.bn.running_mean"].shape
    # A second forward per step would move the running mean twice as far from its start as torch's.
    assert not np.allclose(scratch["buffer.bn.running_mean"][0], 0)
    np.testing.assert_allclose(scratch["buffer.bn.running_mean"], twin["buffer.bn.running_mean"], rtol=0, atol=1e-12)


def test_optimizer_state_is_its_own_quantity_between_the_gradient_and_the_parameter():
    scratch, twin = traces(momentum_mlp.NET)
    assert {k for k in scratch if k.startswith("state.")} == {f"state.momentum_buffer.{p}" for p in NET.scratch.params}
    assert set(scratch) <= set(twin)
    # A buffer one step off (the catalogue's order bug moves it too) is named as the optimizer state.
    lagging = {k: (np.roll(v, 1, axis=0) if k.startswith("state.") else v) for k, v in scratch.items()}
    result = run_check(NET, "training_run", (lagging, twin))
    assert result.message().startswith(
        "momentum_mlp / training_run: scratch and twin part at step 0, momentum buffer of layers[0].W["
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_integer_class_labels_reach_both_sides_as_labels(dtype):
    case = vary(
        label_classifier.NET, name=f"labels_{np.dtype(dtype).name}", y=label_classifier.NET.data.y.astype(dtype)
    )
    assert validation_problem(case) is None
    assert case.data.y.dtype == dtype
    assert run_check(case, "training_run").passed


class RowBiasNet:
    """Biases as (1, n) rows, as many from-scratch networks keep them."""

    def __init__(self, rng):
        self.W, self.b = rng.normal(size=(2, 3)), np.zeros((1, 3))

    def forward(self, x):
        return x @ self.W + self.b

    def gradients(self, x, y):
        d = 2 * (self.forward(x) - y) / y.size
        return {"W": x.T @ d, "b": d.sum(0, keepdims=True)}

    def update(self, grads, lr):
        self.W, self.b = self.W - lr * grads["W"], self.b - lr * grads["b"]


def test_a_row_bias_maps_with_an_index_that_adds_the_axis():
    from crosscheck import Case, Data, Link, Scratch, Twin

    X = np.linspace(-1, 1, 12).reshape(6, 2)
    case = Case(
        name="row_bias",
        scratch=Scratch(
            network=RowBiasNet,
            params={"W": Link("weight", transpose=True), "b": Link("bias", (None, slice(None)))},  # (1, 3)
            loss=lambda out, y: np.mean((out - y) ** 2),
            gradients="gradients",
            update="update",
        ),
        twin=Twin(lambda dtype: torch.nn.Linear(2, 3, dtype=dtype), loss=torch.nn.functional.mse_loss),
        data=Data(X, np.tile(X[:, :1], (1, 3)), batches=lambda rng: [slice(None)] * 5, learning_rate=0.1),
    )
    assert validation_problem(case) is None
    assert run_check(case, "training_run").passed


@pytest.mark.parametrize("example, step", [("adam_schedule", 50), ("momentum_mlp", 17), ("batchnorm_net", 30)])
def test_a_replay_from_a_later_step_starts_from_that_steps_optimizer_state_buffers_and_schedule(example, step):
    from crosscheck.diagnose.repro import one_step
    from crosscheck.run.scratch import scratch_trace
    from crosscheck.run.start import start
    from crosscheck.run.twin import twin_trace
    from crosscheck.state import state_entering
    from examples.bugs import BUGS

    case = BUGS[example].case.__globals__["NET"]
    scratch, twin = traces(case)
    params, held, rows, _ = state_entering(case, step, (scratch, twin))
    assert held or example == "label_classifier"
    batch = start(case)[1][step]
    replayed = twin_trace(case, params, [batch], held, step)
    for key in scratch:
        if key.split(".")[0] in ("loss", "grad", "lr", "state", "param", "buffer"):  # bit for bit: the same step
            np.testing.assert_array_equal(replayed[key][0], twin[key][step], err_msg=key)
    mine = scratch_trace(case, params, [batch], held)
    np.testing.assert_allclose(
        mine["param." + next(iter(case.scratch.params))][0],
        scratch[f"param.{next(iter(case.scratch.params))}"][step],
        rtol=0,
        atol=1e-12,
    )
    assert one_step(case, params, batch, held, step) == []


class CountingBatchNormNet(batchnorm_net.BatchNormNet):
    """Counts its training batches, as torch's num_batches_tracked does."""

    def __init__(self, rng):
        super().__init__(rng)
        self.count = 0

    def train_step(self, x, y, lr):
        self.count += 1
        return super().train_step(x, y, lr)


def test_an_integer_buffer_maps_to_a_count_and_is_compared_every_step():
    from crosscheck import Link

    buffers = {**batchnorm_net.NET.scratch.buffers, "count": Link("bn.num_batches_tracked")}
    case = vary(batchnorm_net.NET, name="counting", network=CountingBatchNormNet, buffers=buffers)
    assert validation_problem(case) is None
    assert run_check(case, "training_run").passed
    scratch, twin = traces(case)
    np.testing.assert_array_equal(scratch["buffer.count"], np.arange(1, len(scratch["loss"]) + 1))


@pytest.mark.parametrize("example", [momentum_mlp, batchnorm_net])
def test_a_float32_variant_keeps_its_state_and_buffers_in_float32(example):
    from crosscheck.precision import float32_case

    case = float32_case(example.NET)
    assert validation_problem(case) is None
    scratch, _ = traces(case)
    assert {scratch[k].dtype for k in scratch if k.startswith(("state.", "buffer."))} == {np.dtype(np.float32)}
    assert run_check(case, "training_run").passed


def two_groups(params, lr):
    weights, biases = (list(params)[i::2] for i in (0, 1))
    return torch.optim.SGD(
        [{"params": weights}, {"params": biases, "momentum": 0.0}], lr=lr, momentum=0.9, weight_decay=1e-3
    )


@pytest.mark.parametrize(
    "case, message",
    [
        (
            lambda: vary(NET, optimizer=two_groups, options={}),
            "the scratch side records the momentum buffer of layers[0].b, which the twin's torch.optim.SGD(lr=0.05, "
            "momentum=0.9, dampening=0, weight_decay=0.001, nesterov=False) (the first of 2 param groups) does not "
            "keep for that tensor",
        ),
        (
            lambda: vary(batchnorm_net.NET, gradients=lambda net, x, y: {}),
            "with Scratch(step=...), give gradients=... or grads=..., not both, and not with buffers",
        ),
        (
            lambda: vary(NET, loss_gradient=lambda out, y: out - y),
            "Scratch(loss_gradient=...) is compared between the loss and the gradients the harness asks for",
        ),
    ],
    ids=["param-groups", "gradients-and-step", "loss-gradient-and-step"],
)
def test_what_would_pass_unseen_is_refused(case, message):
    problem = validation_problem(case())
    assert problem is not None and message in problem, problem


def test_shuffled_batches_cut_a_fresh_permutation_per_epoch_and_refuse_a_ragged_last_batch():
    from crosscheck import RegistrationError, shuffled_batches

    batches = shuffled_batches(6, 3, 2)(np.random.RandomState(0))
    rng = np.random.RandomState(0)
    first, second = rng.permutation(6), rng.permutation(6)
    assert [b.tolist() for b in batches] == [
        first[:3].tolist(),
        first[3:].tolist(),
        second[:3].tolist(),
        second[3:].tolist(),
    ]
    with pytest.raises(RegistrationError) as excinfo:
        shuffled_batches(10, 4, 1)
    assert str(excinfo.value) == (
        "shuffled_batches: batch_size 4 does not divide the 10 rows, and every batch must have one size; drop 2 rows "
        "or pick a divisor"
    )
