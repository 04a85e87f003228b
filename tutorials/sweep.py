"""``python -m tutorials.sweep``: the battery over many random initialisations at once.

Seed ``s`` draws its initial parameters and batch schedule through ``trace.start(case, s)``, runs the
tutorial's full training run on both sides, and goes through every check of the battery
(``checks.run_check`` on that seed's pair of traces).  The result is the worst case over seeds: for
every check and every traced quantity, the largest absolute and relative difference and the seed
(and step) that produced it, and every seed whose check fails, named with the battery's message.

Running 256 seeds one by one costs about 5.5 s a seed (the twin's 10,000 neuron steps), so both sides
carry a leading seeds axis instead:

- the twin runs once per step under ``torch.func.vmap`` over parameters stacked per seed, through
  ``functional_call`` of the case's own module and loss; the update is ``torch.optim.SGD``'s own
  ``param.add_(grad, alpha=-lr)`` written functionally (plain SGD, no momentum);
- the scratch side runs the scratch network's own code on arrays with a seeds axis where that code
  broadcasts (the 2-2-1 network's methods, every update, the losses), and a line-by-line batched
  transcription where it does not (``np.dot`` of one sample, ``.T``, whole-array sums): see
  ``SEEDS_AXIS``.  ``tests/test_sweep.py`` holds each transcription to the per-seed
  ``scratch_trace`` bit for bit.  A case without an entry runs its scratch side seed by seed.

Each network's sweep runs on one core, so the networks go to ``--jobs`` processes (default 2): this
one takes the neuron, a worker the 2-2-1 then the 3-4-1.  ``bare_twin_step_s`` times the batched
twin's step alone, the floor the sweep's wall time is measured against (``tools/bench.py``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEEDS = 256
# The neuron's run takes about as long as the other two together: two processes share it evenly.
JOBS = min(2, os.cpu_count() or 1)
REPORT = Path(__file__).resolve().parent.parent / "reports" / "sweep.json"


def _start_workers(n: int) -> ProcessPoolExecutor:
    """A pool of ``n`` worker processes, started now.

    spawn, not fork: a process that runs a thread of torch's would hand a forked child the locks that
    thread holds without the thread (Python 3.12 warns about such forks). A spawned worker imports this
    module, and with it torch, as it starts."""
    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(n):  # a pool starts a process for each task it is given while none is idle
        pool.submit(os.getpid)
    return pool


# `python -m tutorials.sweep`: the worker starts before this process imports torch (below), so that the two
# imports, about 2 s each, overlap instead of coming one after the other on the sweep's critical path.
# main() gives it its networks, or lets it go. (A worker imports this module as __mp_main__.)
_EARLY = _start_workers(JOBS - 1) if __name__ == "__main__" and JOBS > 1 else None

import numpy as np
import torch
from torch.func import functional_call, vjp, vmap

from crosscheck import jsonfile
from crosscheck.case import Array, Batch, Case, Params
from crosscheck.checks import CHECKS, run_check, tolerance
from crosscheck.compare import Comparison, relative_differences
from crosscheck.environment import provenance
from crosscheck.keys import Trace, split_key
from crosscheck.layout import load_into_twin, twin_data, twin_to_scratch
from crosscheck.registration import registry
from crosscheck.run.scratch import record_steps, scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from scratch import network_3_4_1 as s341
from tutorials.networks import TUTORIAL_CASES

# A trace with a leading seeds axis: ``stack[key][s]`` is seed ``s``'s ``trace[key]``.
Stack = dict[str, np.ndarray]


# --- drawing the seeds ----------------------------------------------------------------------------


def draw(case: Case, seeds: Sequence[int], steps: int | None = None) -> tuple[Params, list[list[Batch]]]:
    """Every seed's initial parameters (stacked on a leading axis) and batch schedule, from ``start``.

    ``steps`` keeps the first ``steps`` batches of each schedule (a shortened run); None keeps all.
    """
    if not len(seeds):
        raise ValueError("a sweep needs at least one seed")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    starts = [start(case, int(s)) for s in seeds]
    params = {name: np.stack([p[name] for p, _ in starts]) for name in case.scratch.params}
    return params, [list(b[:steps]) for _, b in starts]


def shared_schedule(schedules: Sequence[Sequence[Batch]]) -> bool:
    """True when every seed visits the same batches in the same order (the 2-2-1 and 3-4-1 runs)."""
    first = schedules[0]
    if not any(isinstance(b, np.ndarray) for b in first):
        return all(s == first for s in schedules)  # ints and slices compare by value

    def same(a: Batch, b: Batch) -> bool:
        if isinstance(a, slice) or isinstance(b, slice):
            return a == b
        return bool(np.array_equal(a, b))

    return all(len(s) == len(first) and all(same(a, b) for a, b in zip(s, first, strict=True)) for s in schedules)


def per_seed_index(schedules: Sequence[Sequence[Batch]]) -> np.ndarray:
    """(steps, seeds, ...) indices when the seeds' schedules differ; a slice has no per-seed form."""

    def has_slice() -> bool:
        return any(isinstance(b, slice) for s in schedules for b in s)

    # One conversion checks it all (256 x 10,000 batches): a slice only turns up in an object array, or
    # in a ragged one that NumPy refuses.
    try:
        index = np.array(schedules)
    except ValueError as exc:
        if has_slice():
            raise ValueError(SLICES_PER_SEED) from None
        raise ValueError(f"per-seed batches must have one size at each step: {exc}") from None
    if index.dtype == object and has_slice():
        raise ValueError(SLICES_PER_SEED)
    return np.moveaxis(index, 0, 1)


SLICES_PER_SEED = "seeds with different schedules must give their batches as indices, not slices"


def seed_pair(scratch: Stack, twin: Stack, s: int) -> tuple[Trace, Trace]:
    """Seed ``s``'s two traces, as ``trace.traces`` would give them."""
    return {k: v[s] for k, v in scratch.items()}, {k: v[s] for k, v in twin.items()}


# --- the scratch side with a seeds axis -----------------------------------------------------------


@dataclass(frozen=True)
class SeedsAxis:
    """How one network's scratch code runs with a leading seeds axis on every parameter.

    ``forward``, ``loss``, ``gradients`` and ``evaluate`` take and return arrays with that axis; None
    means the case's own function broadcasts as written.  The update is always the case's own.
    ``per_seed_batches``: whether ``forward``/``gradients`` accept a different sample per seed.
    """

    forward: Callable[[Any, Array], Array] | None
    loss: Callable[[Array, Array], Array] | None
    gradients: Callable[[Any, Array, Array], Params] | None
    evaluate: Callable[[Any, Array, Array], Array]
    per_seed_batches: bool


def _rowdot(a: Array, b: Array) -> Array:
    """``np.dot(a[s], b[s])`` for vectors, for every seed ``s``: a (1, k) @ (k, 1) product per seed.

    That takes NumPy's own dot kernel, bitwise equal to ``np.dot`` of the two vectors (measured: 0 of
    20,000 random pairs differ); ``(a * b).sum(-1)`` and ``einsum`` round differently in the last bit
    (4,881 of the same 20,000).
    """
    return np.matmul(a[..., None, :], b[..., :, None])[..., 0, 0]


def _swap(a: Array) -> Array:
    """``.T`` of each seed's matrix."""
    return np.swapaxes(a, -1, -2)


# sigmoid neuron: ``predict`` and ``_compute_gradients`` call np.dot on one sample, which does not
# broadcast over seeds; ``_update_parameters`` and the loss do.  Each seed draws its own sample.


def _neuron_forward(net: Any, x: Array) -> Array:
    # NeuralNetwork.predict
    layer_1 = _rowdot(x, net.weights) + net.bias
    layer_2 = net._sigmoid(layer_1)
    prediction = layer_2
    return prediction


def _neuron_gradients(net: Any, x: Array, target: Array) -> Params:
    # NeuralNetwork._compute_gradients
    layer_1 = _rowdot(x, net.weights) + net.bias
    layer_2 = net._sigmoid(layer_1)
    prediction = layer_2

    derror_dprediction = 2 * (prediction - target)
    dprediction_dlayer1 = net._sigmoid_deriv(layer_1)
    dlayer1_dbias = 1
    dlayer1_dweights = (0 * net.weights) + (1 * x)

    derror_dbias = derror_dprediction * dprediction_dlayer1 * dlayer1_dbias
    # (a * b) * v, as the tutorial's left-to-right product, with (a * b) per seed against (seeds, 2).
    derror_dweights = (derror_dprediction * dprediction_dlayer1)[..., None] * dlayer1_dweights
    return {"weights": derror_dweights, "bias": derror_dbias}


def _neuron_evaluate(net: Any, X: Array, y: Array) -> Array:
    # NeuralNetwork._cumulative_error
    cumulative_error: Any = 0
    for data_instance_index in range(len(X)):
        data_point = X[data_instance_index]
        target = y[data_instance_index]
        prediction = _neuron_forward(net, data_point)
        error = np.square(prediction - target)
        cumulative_error = cumulative_error + error
    return np.asarray(cumulative_error)


# 2-2-1: nine scalar parameters, so feedforward, _partial_derivatives and _update broadcast over a
# seeds axis as written (every seed sees the same sample); only mse_loss's whole-array mean does not.


def _221_evaluate(net: Any, X: Array, y: Array) -> Array:
    # TrainableNeuralNetwork.loss: apply_along_axis(feedforward) gives (samples, seeds); mse_loss per seed.
    y_preds = np.apply_along_axis(net.feedforward, 1, X)
    return ((y[:, None] - y_preds) ** 2).mean(axis=0)


# 3-4-1: np.dot of 2-D matrices and .T do not broadcast over a seeds axis; np.matmul and a swap of the
# last two axes are the same products per seed (bitwise: the same BLAS call per seed); the update does.


def _341_forward(net: Any, x: Array) -> Array:
    # tutorials.networks._341_forward, then NeuralNetwork.feedforward
    net.input = x
    net.layer1 = s341.sigmoid(np.matmul(net.input, net.weights1))
    net.output = s341.sigmoid(np.matmul(net.layer1, net.weights2))
    return np.asarray(net.output)


def _341_gradients(net: Any, x: Array, y: Array) -> Params:
    # tutorials.networks._341_gradients, then NeuralNetwork._gradients; input is shared by all seeds.
    net.y = y
    _341_forward(net, x)
    d_output = -2 * (net.y - net.output) * s341.sigmoid_derivative(net.output)
    d_weights2 = np.matmul(_swap(net.layer1), d_output)
    d_weights1 = np.matmul(net.input.T, np.matmul(d_output, _swap(net.weights2)) * s341.sigmoid_derivative(net.layer1))
    return {"weights1": d_weights1, "weights2": d_weights2}


def _341_loss(out: Array, y: Array) -> Array:
    # np.sum((y - out) ** 2) over each seed's (samples, 1) output
    return np.sum((y - out) ** 2, axis=(-2, -1))


def _341_evaluate(net: Any, X: Array, y: Array) -> Array:
    return _341_loss(_341_forward(net, X), y)


SEEDS_AXIS: dict[str, SeedsAxis] = {
    "sigmoid_neuron": SeedsAxis(
        forward=_neuron_forward,
        loss=None,
        gradients=_neuron_gradients,
        evaluate=_neuron_evaluate,
        per_seed_batches=True,
    ),
    "network_2_2_1": SeedsAxis(forward=None, loss=None, gradients=None, evaluate=_221_evaluate, per_seed_batches=False),
    "network_3_4_1": SeedsAxis(
        forward=_341_forward,
        loss=_341_loss,
        gradients=_341_gradients,
        evaluate=_341_evaluate,
        per_seed_batches=False,
    ),
}


def _stack_traces(traces: Sequence[Trace]) -> Stack:
    return {k: np.stack([t[k] for t in traces]) for k in traces[0]}


def scratch_stack(case: Case, params: Params, schedules: Sequence[Sequence[Batch]]) -> Stack:
    """Every seed's scratch trace, stacked; one pass with a seeds axis where ``SEEDS_AXIS`` knows how."""
    n = len(schedules)
    # Only the registered tutorial cases themselves: a variant under the same name (another build, a
    # mutated network) runs its own code seed by seed.
    ops = SEEDS_AXIS.get(case.name) if any(case is c for c in TUTORIAL_CASES) else None
    shared = shared_schedule(schedules)
    if ops is None or not (shared or ops.per_seed_batches):
        # No batched form: the scratch side seed by seed, exactly as the battery runs it.
        return _stack_traces(
            [scratch_trace(case, {k: v[s] for k, v in params.items()}, schedules[s]) for s in range(n)]
        )
    X = case.data.X
    # Each seed's own network, built by the scratch class (its checks run on every seed's parameters),
    # gives the initial parameters and the forward pass on the dataset, as scratch_trace records them.
    nets = [case.calls.build({k: v[s].copy() for k, v in params.items()}, case.data.learning_rate) for s in range(n)]
    initial = [case.read_params(net) for net in nets]
    stack: dict[str, Any] = {f"init.{k}": np.stack([p[k] for p in initial]) for k in case.scratch.params}
    stack["forward"] = np.stack([np.array(case.calls.forward(net, X)) for net in nets])
    # One network whose parameter attributes carry the seeds axis.
    net = nets[0]
    for name, value in params.items():
        setattr(net, name, value.copy())
    index = None if shared else per_seed_index(schedules)
    batches = schedules[0] if index is None else [index[step] for step in range(len(schedules[0]))]
    rows = record_steps(
        case,
        net,
        batches,
        forward=ops.forward,
        loss=ops.loss,
        gradients=ops.gradients,
        evaluate=ops.evaluate,
        check_gradients=False,  # one array per parameter holds every seed's gradient
    )
    for key, values in rows.items():
        stack[key] = _seeds_first(values) if values else np.zeros((n, 0), case.dtype)
    return stack


def _seeds_first(rows: Sequence[np.ndarray]) -> np.ndarray:
    """``np.stack(rows, axis=1)``: per-step arrays with a seeds axis, stacked to (seeds, steps, ...).

    One conversion in C and one transposing copy: np.stack's Python work per array made it 0.19 s
    against 0.11 s for 10,000 rows of (256, 2).
    """
    return np.ascontiguousarray(np.moveaxis(np.array(rows), 0, 1))


# --- the twin under vmap --------------------------------------------------------------------------


@contextmanager
def _one_thread() -> Iterator[None]:
    """One intra-op thread while the twin steps.

    The tensors are tiny (seeds x a few parameters): a second thread only adds hand-offs, and on a busy
    2-core machine it tripled the 3-4-1 twin's step (measured 9.0 vs 2.8 ms). Results do not depend on
    it: no tensor here is large enough for torch to split an operation across threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


VMAP_BRANCH = (
    "the twin's forward or loss branches on a tensor's value (e.g. `if bool(torch.isfinite(t).all())`), "
    "which torch.func.vmap cannot run for a batch of seeds; skip such value checks for tensors that "
    "torch.func is transforming (`if torch._C._functorch.is_functorch_wrapped_tensor(t): return`)"
)


class _Evaluate(torch.nn.Module):
    """``case.calls.twin_evaluate(twin, X, y)`` as a module, so ``functional_call`` can give it each seed's
    parameters."""

    def __init__(self, twin: torch.nn.Module, evaluate: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.twin = twin
        self.evaluate = evaluate

    def forward(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.evaluate(self.twin, X, y)


def _per_seed_T(t: torch.Tensor, steps_axis: bool) -> torch.Tensor:
    """``.T`` of each seed's tensor (all its axes reversed) behind the seeds (and steps) axes."""
    lead = 2 if steps_axis else 1
    return t.permute(*range(lead), *reversed(range(lead, t.ndim)))


def _to_scratch(case: Case, tensors: dict[str, torch.Tensor], steps_axis: bool) -> dict[str, np.ndarray]:
    """The stacked twin tensors under the scratch names and layouts (``case.twin_to_scratch`` per seed)."""
    out = {}
    lead = (slice(None),) * (2 if steps_axis else 1)
    for name, link in case.scratch.params.items():
        t = tensors[link.tensor]
        if link.transpose:
            t = _per_seed_T(t, steps_axis)
        out[name] = t[(*lead, *link.index)].detach().numpy().copy()
    return out


def _twin_modules(case: Case, params: Params) -> list[torch.nn.Module]:
    """Each seed's own twin, loaded through the harness's map."""
    n = len(next(iter(params.values())))
    modules = []
    for s in range(n):
        module = case.twin.module(case.torch_dtype)
        load_into_twin(module, case, {k: v[s] for k, v in params.items()})
        modules.append(module)
    return modules


@dataclass(frozen=True)
class BatchedTwin:
    """One vmapped training step for all seeds, and what it steps through.

    ``step(p, xb, yb)`` is ``twin_trace``'s step for every seed at once: forward, loss, backward
    (dL/doutput first, as ``output.retain_grad()`` records it), then SGD's ``param.add_(grad,
    alpha=-lr)`` as a new tensor; it returns (output, loss, dL/doutput, gradients, new parameters).
    ``twin_stack`` records what it returns; ``bare_twin_step_s`` times it with nothing recorded.
    """

    case: Case
    module: torch.nn.Module  # seed 0's twin: functional_call gives it every seed's parameters
    params: dict[str, torch.Tensor]  # the initial parameters, stacked on a leading seeds axis
    batches: list[tuple[torch.Tensor, torch.Tensor]]  # (xb, yb) of each step, a seeds axis when per seed
    vmapped: Callable[..., tuple[Any, ...]]

    def step(self, p: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> tuple[Any, ...]:
        try:
            return self.vmapped(p, xb, yb)
        except RuntimeError as exc:
            if "data-dependent control flow" not in str(exc):
                raise
            raise RuntimeError(f"{self.case.name}: {VMAP_BRANCH}") from exc


def batched_twin(case: Case, modules: Sequence[torch.nn.Module], schedules: Sequence[Sequence[Batch]]) -> BatchedTwin:
    """The batched step over the seeds' ``modules`` (one per seed, loaded) and schedules."""
    if len(modules) != len(schedules):
        raise ValueError(f"one twin per seed: {len(modules)} twins for {len(schedules)} schedules")
    module = modules[0]
    names = [n for n, _ in module.named_parameters()]
    per_module = [dict(m.named_parameters()) for m in modules]
    params = {n: torch.stack([named[n].detach() for named in per_module]) for n in names}
    lr = case.data.learning_rate

    def one_step(p: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> tuple[Any, ...]:
        output, pullback, *_ = vjp(lambda q: functional_call(module, q, (xb,)), p)
        # vjp seeded with ones is loss.backward(); torch.func.grad would do the same but its first call
        # imports sympy and dynamo (measured: 823 modules, 1.1-1.3 s).
        loss, loss_pullback, *_ = vjp(lambda o: case.twin.loss(o, yb), output)
        (dloss,) = loss_pullback(torch.ones_like(loss))
        (grads,) = pullback(dloss)
        new = {k: torch.add(p[k], grads[k], alpha=-lr) for k in p}
        return output, loss, dloss, grads, new

    X, y = twin_data(case)
    if shared_schedule(schedules):
        ats = [torch.as_tensor(b) if isinstance(b, np.ndarray) else b for b in schedules[0]]
        batches = [(X[at], y[at]) for at in ats]
        vmapped = vmap(one_step, in_dims=(0, None, None))
    else:
        # The batches of every step in one gather, (steps, seeds, ...), made before the loop: the same
        # values as a gather per step, which the loop would otherwise pay for at every step.
        at = torch.as_tensor(per_seed_index(schedules))
        batches = list(zip(X[at].unbind(0), y[at].unbind(0), strict=True))
        vmapped = vmap(one_step, in_dims=(0, 0, 0))
    return BatchedTwin(case, module, params, batches, vmapped)


def twin_stack(case: Case, params: Params, schedules: Sequence[Sequence[Batch]]) -> Stack:
    """Every seed's twin trace, stacked: one vmapped step per training step for all seeds."""
    n = len(schedules)
    # Each seed's own twin gives the stacked initial tensors, the initial parameters read back and the
    # forward pass on the dataset, as twin_trace records them.
    modules = _twin_modules(case, params)
    X, y = twin_data(case)
    stack: dict[str, Any] = {}
    initial = [twin_to_scratch(m, case) for m in modules]
    for k in case.scratch.params:
        stack[f"init.{k}"] = np.stack([p[k] for p in initial])
    with torch.no_grad():
        stack["forward"] = np.stack([m(X).numpy().copy() for m in modules])
    run = batched_twin(case, modules, schedules)
    evaluator = _Evaluate(run.module, case.calls.twin_evaluate)
    evaluate_all = vmap(lambda q: functional_call(evaluator, {f"twin.{k}": v for k, v in q.items()}, (X, y)))
    curve_at = set(case.data.curve_steps)
    p = run.params
    # The step's results are new tensors, kept as they come and stacked once at the end.
    outputs, losses, dlosses, curve = [], [], [], []
    grads: dict[str, list[torch.Tensor]] = {k: [] for k in p}
    values: dict[str, list[torch.Tensor]] = {k: [] for k in p}
    with torch.no_grad(), _one_thread():  # vjp differentiates on its own; nothing else needs a graph
        for step, (xb, yb) in enumerate(run.batches):
            output, loss, dloss, g, p = run.step(p, xb, yb)
            outputs.append(output)
            losses.append(loss)
            dlosses.append(dloss)
            for k in p:
                grads[k].append(g[k])
                values[k].append(p[k])
            if step in curve_at:
                curve.append(evaluate_all(p))
    stack["output"] = torch.stack(outputs, dim=1).numpy()
    stack["loss"] = torch.stack(losses, dim=1).numpy()
    if case.scratch.loss_gradient is not None:
        stack["dloss"] = torch.stack(dlosses, dim=1).numpy()
    stack["curve"] = torch.stack(curve, dim=1).numpy() if curve else np.zeros((n, 0), case.dtype)
    for kind, per_tensor in (("grad", grads), ("param", values)):
        stacked = {k: torch.stack(ts, dim=1) for k, ts in per_tensor.items()}
        for name, value in _to_scratch(case, stacked, steps_axis=True).items():
            stack[f"{kind}.{name}"] = value
    return stack


def bare_twin_step_s(case: Case, seeds: Sequence[int], steps: int, repeats: int) -> float:
    """Seconds per step of the batched twin alone, over the first ``steps`` steps of ``seeds``' runs:
    ``twin_stack``'s vmapped step (forward, loss, gradient, SGD update) in a plain loop, recording
    nothing; the median of ``repeats`` timed runs after one untimed run that warms caches."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    params, schedules = draw(case, seeds, steps)
    steps = len(schedules[0])  # a run shorter than ``steps`` is timed over its own length
    run = batched_twin(case, _twin_modules(case, params), schedules)

    def bare() -> None:
        p = run.params
        for xb, yb in run.batches:
            p = run.step(p, xb, yb)[-1]

    times = []
    with torch.no_grad(), _one_thread():
        bare()
        for _ in range(repeats):
            t0 = time.perf_counter()
            bare()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) / steps


# --- the battery on every seed, reduced to the worst case -----------------------------------------


def _argmax(values: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """The largest value (NaN counts as infinite: it never passes) and where it is."""
    largest = np.max(values)  # NaN if there is one
    v = np.where(np.isnan(values), np.inf, values) if np.isnan(largest) else values
    at = np.unravel_index(int(np.argmax(v)), v.shape)
    return float(v[at]), tuple(int(i) for i in at)


def worst_by_quantity(case: Case, seeds: Sequence[int], scratch: Stack, twin: Stack) -> list[dict[str, Any]]:
    """For every traced quantity, the largest |scratch - twin| and |.| / |twin| over all seeds and steps,
    with the seed and step that produced it (the same differences ``compare`` takes)."""
    rows = []
    curve_steps = list(case.data.curve_steps)
    for key in scratch:
        # No copy that is not needed: these are the sweep's largest arrays (20 MB a quantity on the neuron);
        # with a float64 copy of each side and a new array per operation this took 1.4x as long.
        a, b = np.asarray(scratch[key], dtype=np.float64), np.asarray(twin[key], dtype=np.float64)
        if a.shape != b.shape or a.size == 0:
            continue  # a shape mismatch fails the battery with its own message
        diff = np.subtract(a, b)
        np.abs(diff, out=diff)
        rel = relative_differences(diff, b)
        row: dict[str, Any] = {"key": key}
        for label, values in (("abs", diff), ("rel", rel)):
            value, at = _argmax(values)
            step: int | None = None
            quantity = split_key(key)[0]
            if quantity == "curve":
                step = curve_steps[at[1]] if at[1] < len(curve_steps) else at[1]
            elif len(at) > 1 and not key.startswith(("init", "forward")):
                step = at[1]
            row |= {f"max_{label}": value, f"max_{label}_seed": int(seeds[at[0]]), f"max_{label}_step": step}
        rows.append(row)
    return rows


Results = list[dict[str, Comparison]]  # per seed (in order), the battery's result of every check

# The batched twin computes the same float64 operations in another order (a batched matrix product
# sums differently), so on a sensitive seed it parts from twin_trace about as far as twin_trace parts
# from the scratch side: measured up to 2.1e-13 on the 3-4-1 (seed 129, where XOR's learning
# transition near step 270 amplifies rounding), 4.4e-16 on the neuron. A seed whose batched result
# fails or comes within a tenth of atol is therefore run again seed by seed (scratch_trace and
# twin_trace, as the battery runs it) and reported with those figures. Below a tenth of atol the
# verdict cannot change: that would take a deviation of 9e-13, four times the largest measured.
CONFIRM_FRACTION = 0.1
CONFIRM_LIMIT = 8  # seeds re-run per network, largest difference first (a neuron seed costs ~5 s)


def run_battery(case: Case, scratch: Stack, twin: Stack) -> Results:
    """Every check of the battery on every seed's pair of traces."""
    n = len(next(iter(scratch.values())))
    return [{name: run_check(case, name, seed_pair(scratch, twin, i)) for name in CHECKS} for i in range(n)]


def _largest(results: dict[str, Comparison]) -> float:
    value = max(r.max_abs for r in results.values())
    return float(np.inf if np.isnan(value) else value)


def confirm_near_the_bound(
    case: Case,
    seeds: Sequence[int],
    params: Params,
    schedules: Sequence[Sequence[Batch]],
    scratch: Stack,
    twin: Stack,
    results: Results,
) -> list[dict[str, Any]]:
    """Run the seeds that fail or come near the tolerance again one by one, as the battery does.

    Their per-seed traces replace theirs in ``scratch`` and ``twin`` and their results in ``results``,
    so every figure of the report comes from the per-seed run for them.
    """
    atol, _ = tolerance(case)
    near = [
        i
        for i, r in enumerate(results)
        if not all(c.passed for c in r.values()) or _largest(r) >= CONFIRM_FRACTION * atol
    ]
    near.sort(key=lambda i: -_largest(results[i]))
    confirmed: list[dict[str, Any]] = []
    for i in near[:CONFIRM_LIMIT]:
        p = {k: v[i] for k, v in params.items()}
        pair = (scratch_trace(case, p, schedules[i]), twin_trace(case, p, schedules[i]))
        again = {name: run_check(case, name, pair) for name in CHECKS}
        confirmed.append(
            {
                "seed": int(seeds[i]),
                "batched_max_abs": _largest(results[i]),
                "per_seed_max_abs": _largest(again),
                "per_seed_passed": all(c.passed for c in again.values()),
            }
        )
        results[i] = again
        for stack, trace in zip((scratch, twin), pair, strict=True):
            for key, value in trace.items():
                stack[key][i] = value
    if len(near) > CONFIRM_LIMIT:
        confirmed.append({"not_rerun": [int(seeds[i]) for i in near[CONFIRM_LIMIT:]]})
    return confirmed


def summarise(seeds: Sequence[int], results: Results) -> dict[str, Any]:
    """The worst case per check over the seeds, with its seed, and every failing seed with the
    battery's message."""
    checks: dict[str, dict[str, Any]] = {}
    failures = []
    for seed, per_check in zip(seeds, results, strict=True):
        for name, result in per_check.items():
            row = checks.setdefault(
                name,
                {
                    "check": name,
                    "failed_seeds": [],
                    "max_abs": -1.0,
                    "max_abs_seed": None,
                    "max_rel": -1.0,
                    "max_rel_seed": None,
                },
            )
            for label in ("abs", "rel"):
                value = getattr(result, f"max_{label}")
                value = np.inf if np.isnan(value) else value
                if value > row[f"max_{label}"]:
                    row[f"max_{label}"], row[f"max_{label}_seed"] = float(value), int(seed)
            if not result.passed:
                row["failed_seeds"].append(int(seed))
                failures.append({"seed": int(seed), "check": name, "message": result.message()})
    return {"checks": list(checks.values()), "failures": failures}


def seed_summary(case: Case, seeds: Sequence[int], scratch: Stack, twin: Stack) -> dict[str, Any]:
    """The battery on every seed of the batched traces, summarised (no per-seed confirmation)."""
    return summarise(seeds, run_battery(case, scratch, twin))


def sweep_case(case: Case, seeds: Sequence[int], steps: int | None = None) -> dict[str, Any]:
    """One network over ``seeds``: both sides batched, the battery per seed, seeds near the bound
    confirmed one by one, the worst cases."""
    times = {}
    t0 = time.perf_counter()
    params, schedules = draw(case, seeds, steps)
    times["draw"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scratch = scratch_stack(case, params, schedules)
    times["scratch"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    twin = twin_stack(case, params, schedules)
    times["twin"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = run_battery(case, scratch, twin)
    times["battery"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    confirmed = confirm_near_the_bound(case, seeds, params, schedules, scratch, twin, results)
    times["confirm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = summarise(seeds, results)
    quantities = worst_by_quantity(case, seeds, scratch, twin)
    times["summary"] = time.perf_counter() - t0
    return {
        "name": case.name,
        "steps": len(schedules[0]),
        "seeds": len(seeds),
        "passed": not summary["failures"],
        "time_s": {k: round(v, 3) for k, v in times.items()},
        "checks": summary["checks"],
        "quantities": quantities,
        "confirmed_per_seed": confirmed,
        "failures": summary["failures"],
    }


def registered(names: Sequence[str]) -> dict[str, Case]:
    """The registered networks by name: the tutorial networks, or every registered one when ``names``
    asks for another."""
    cases: dict[str, Case] = {c.name: c for c in TUTORIAL_CASES}
    if set(names) - set(cases):
        # Only then the other registered modules: the digits example needs scikit-learn, which the
        # sweep session does not install.
        cases = registry()
    return cases


def _sweep_registered(name: str, seeds: Sequence[int], steps: int | None) -> dict[str, Any]:
    """``sweep_case`` of the registered network ``name``: what a worker process runs."""
    return sweep_case(registered([name])[name], seeds, steps)


def _take_early(workers: int) -> ProcessPoolExecutor | None:
    """The pool started at import (``python -m tutorials.sweep``) where it has ``workers`` processes, once;
    otherwise it is let go."""
    global _EARLY
    pool, _EARLY = _EARLY, None
    if pool is not None and workers != JOBS - 1:
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    return pool


def _sweep_cases(cases: Sequence[Case], seeds: Sequence[int], steps: int | None, jobs: int) -> list[dict[str, Any]]:
    """``sweep_case`` of every case, in order; up to ``jobs`` at a time when every case is registered.

    Each network's sweep is one single-threaded process (the twin steps on one thread: see
    ``_one_thread``), so on a 2-core machine the second core would idle: this process takes the longest
    run and worker processes the others, longest first.  A worker finds its network by name, which is
    why a case that is not the registered one (a variant under the same name) runs here.  The results
    are the same either way: no figure depends on the process that computes it.
    """
    by_name = registered([c.name for c in cases])
    if jobs == 1 or len(cases) < 2 or any(by_name.get(c.name) is not c for c in cases):
        _take_early(0)
        return [sweep_case(case, seeds, steps) for case in cases]
    length = [len(start(c)[1]) for c in cases]
    here, *others = sorted(range(len(cases)), key=lambda i: -min(length[i], steps or length[i]))
    results: dict[int, dict[str, Any]] = {}
    workers = min(jobs - 1, len(others))
    with _take_early(workers) or _start_workers(workers) as pool:
        futures = {i: pool.submit(_sweep_registered, cases[i].name, list(seeds), steps) for i in others}
        results[here] = sweep_case(cases[here], seeds, steps)
        results |= {i: f.result() for i, f in futures.items()}
    return [results[i] for i in range(len(cases))]


def sweep(cases: Sequence[Case], seeds: Sequence[int], steps: int | None = None, jobs: int = 1) -> dict[str, Any]:
    """The sweep report: every case over every seed, ``jobs`` networks at a time (see ``_sweep_cases``)."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    t0 = time.perf_counter()
    networks = _sweep_cases(cases, seeds, steps, jobs)
    atol, rtol = tolerance(cases[0]) if cases else (None, None)
    return {
        "seeds": len(seeds),
        "seed_range": [int(min(seeds)), int(max(seeds))],
        "steps": "full" if steps is None else steps,
        "atol": atol,
        "rtol": rtol,
        "passed": all(n["passed"] for n in networks),
        "runtime_s": round(time.perf_counter() - t0, 3),
        "networks": networks,
    }


def table(report: dict[str, Any]) -> str:
    header = ("network", "check", "worst abs diff", "seed", "worst rel diff", "seed", "failed seeds")
    rows = []
    for net in report["networks"]:
        for c in net["checks"]:
            failed = c["failed_seeds"]
            rows.append(
                (
                    net["name"],
                    c["check"],
                    f"{c['max_abs']:.2e}",
                    str(c["max_abs_seed"]),
                    f"{c['max_rel']:.2e}",
                    str(c["max_rel_seed"]),
                    "none" if not failed else f"{len(failed)}: {failed[:8]}{' ...' if len(failed) > 8 else ''}",
                )
            )
    widths = (
        [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)] if rows else [len(h) for h in header]
    )
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutorials.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("networks", nargs="*", help="registered networks (default: the three tutorial networks)")
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"how many seeds (default {SEEDS})")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="shorten every run to its first STEPS steps")
    parser.add_argument("--out", type=Path, default=REPORT, help=f"where to write the JSON (default {REPORT})")
    parser.add_argument(
        "--jobs", type=int, default=JOBS, help=f"networks swept at a time, each in a process (default {JOBS})"
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    names = args.networks or [c.name for c in TUTORIAL_CASES]
    cases = registered(names)
    unknown = sorted(set(names) - set(cases))
    if unknown:
        parser.error(f"unknown network(s) {unknown}; registered: {sorted(cases)}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    report = sweep([cases[n] for n in names], seeds, args.steps, args.jobs)
    print(table(report))
    for net in report["networks"]:
        for f in net["failures"]:
            print(f"\nseed {f['seed']}: {f['message']}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        jsonfile.dumps({"title": "Random initialisations (sweep)", "provenance": provenance(), **report})
    )
    times = ", ".join(f"{n['name']} {sum(n['time_s'].values()):.1f} s" for n in report["networks"])
    print(f"\n{len(seeds)} seeds x {len(names)} networks in {report['runtime_s']:.1f} s ({times}); wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
