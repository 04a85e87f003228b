"""Run one side of a case step by step and record everything the checks compare.

A trace is a flat ``dict[str, ndarray]`` (the shape goldens are stored in):

- ``init.<p>``   initial parameter ``p``, as the side holds it before training
- ``forward``    output on the whole dataset at the initial parameters
- ``output``     (steps, ...) output on each step's batch, before the update
- ``loss``       (steps,) that batch's loss
- ``dloss``      (steps, ...) dL/doutput, when the case gives the scratch side's ``loss_gradient``
- ``grad.<p>``   (steps, ...) dL/dp at each step
- ``lr``         (steps,) the learning rate each step used (scratch: when the case names its path)
- ``state.<kind>.<p>`` (steps, ...) the optimizer's state for ``p`` after each step (``momentum_buffer``,
  ``exp_avg``, ``exp_avg_sq``, ``step``...; torch's names)
- ``param.<p>``  (steps, ...) p after each step's update
- ``buffer.<b>`` (steps, ...) a buffer (BatchNorm's running statistics) after each step
- ``curve``      the tutorial's recorded metric after each step in ``case.curve_steps``
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import operator
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar, cast

import numpy as np
import torch

from crosscheck import paths
from crosscheck.case import Batch, Case, Params
from crosscheck.errors import StepError, writes_into_input
from crosscheck.layout import load_into_twin, twin_data, twin_to_scratch
from crosscheck.schedule import schedule

Trace = dict[str, np.ndarray]


def start(case: Case, seed: int | None = None) -> tuple[Params, list[Batch]]:
    """Initial parameters and the batch schedule, drawn from one stream as the tutorial does."""
    rng = np.random.RandomState(case.seed if seed is None else seed)
    params = {k: np.asarray(v).astype(case.dtype) for k, v in case.init(rng).items()}
    return params, schedule(case, rng)


def _kept(value: Any) -> Any:
    """A value to keep for the trace: a copy of an array (the network may write into it later); a NumPy
    scalar as it is, since nothing can change it."""
    return value if isinstance(value, np.generic) else np.array(value)


def _batch(a: np.ndarray, b: Any) -> Any:
    """``a[b]``, read-only: an index array makes a copy, which must not be writable either."""
    out = a[b]
    if isinstance(out, np.ndarray) and out.flags.writeable:
        out.flags.writeable = False
    return out


def _scratch_failure(case: Case, step: int | None, stage: str, exc: Exception) -> StepError | None:
    """The harness's message for what the scratch side raised at ``step`` (None: before training) during
    ``stage``, or None for an exception of the network's own that is best shown as it is."""
    at = "before training" if step is None else f"at step {step}"
    where = f"{case.name}: {at} the scratch side's {stage}"
    if isinstance(exc, RuntimeWarning):  # the caller's warning filters made NumPy's warning an error
        return StepError(
            f'{where} raised NumPy\'s floating-point warning "{exc}": the values leave the range of '
            f"{np.dtype(case.dtype).name} there (a learning rate too large, unscaled data, or a formula that "
            f"overflows, such as 1 / (1 + np.exp(-x)) for large negative x)"
        )
    if isinstance(exc, ValueError) and "read-only" in str(exc):
        return StepError(writes_into_input(where))
    return None


def _checked_gradients(case: Case, step: int, grads: Any, shapes: dict[str, tuple[int, ...]]) -> Params:
    """The gradients of one step, as ``validate`` required them at step 0: a dict of the case's parameters,
    each an array of the parameter's shape and the case's dtype."""
    if type(grads) is dict and grads.keys() == shapes.keys():
        want = case.dtype
        # The usual case, checked without building any message: a dict of arrays of the right dtype and shape.
        for n, g in grads.items():
            if not (isinstance(g, np.ndarray | np.generic) and g.dtype == want and g.shape == shapes[n]):
                break
        else:
            return grads
    where = f"{case.name}: at step {step} the scratch side's gradients()"
    if not isinstance(grads, Mapping):
        raise StepError(f"{where} returned a {type(grads).__name__}, not a dict of gradients by parameter name")
    if grads.keys() != shapes.keys():
        missing, extra = sorted(set(shapes) - set(grads)), sorted(set(grads) - set(shapes))
        raise StepError(
            f"{where} returned the keys {sorted(grads)}: "
            + "; ".join(
                text
                for text in (f"missing {missing}" if missing else "", f"not parameters {extra}" if extra else "")
                if text
            )
            + f" (the parameters are {sorted(shapes)})"
        )
    out: Params = {}
    for name, shape in shapes.items():
        g = grads[name]
        if not isinstance(g, np.ndarray | np.generic):
            raise StepError(f"{where} gave the gradient of {name!r} as a {type(g).__name__}, not a NumPy array")
        if g.dtype != case.dtype or g.shape != shape:
            dtype = np.dtype(case.dtype).name
            raise StepError(
                f"{where} gave the gradient of {name!r} as {g.dtype} {g.shape}; the parameter is {dtype} {shape} "
                f"(a {g.dtype} gradient must not pass as {dtype})"
            )
        out[name] = np.asarray(g)
    return out


def _scalar(case: Case, value: Any) -> np.ndarray:
    """A count or a learning rate in the case's dtype: torch keeps Adam's step as a float tensor, a network
    as an int; both are exact in either float type."""
    return np.asarray(value, dtype=np.float64).astype(case.dtype)


def _read(case: Case, net: Any, step: int, what: str, path: str) -> np.ndarray:
    try:
        return np.array(paths.read(net, path))
    except paths.PathError as exc:
        raise StepError(f"{case.name}: after step {step} the scratch side's {what}: {exc}") from None


def _checked_array(case: Case, step: int, what: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if value.dtype != case.dtype or value.shape != shape:
        dtype = np.dtype(case.dtype).name
        why = f" (a {value.dtype} value must not pass as {dtype})" if value.dtype != case.dtype else ""
        raise StepError(
            f"{case.name}: after step {step} the scratch side's {what} is {value.dtype} {value.shape}; it must be "
            f"{dtype} {shape}, as the parameter{why}"
        )
    return value


def _buffer(case: Case, value: np.ndarray, step: int, path: str) -> np.ndarray:
    """A buffer as compared: a count (BatchNorm's num_batches_tracked) in the case's dtype, where it is exact;
    floating-point values in the case's dtype, or a StepError."""
    if np.issubdtype(value.dtype, np.integer):
        return _scalar(case, value)
    if value.dtype != case.dtype:
        raise StepError(
            f"{case.name}: after step {step} the scratch side's buffer {path} is {value.dtype}; it must be "
            f"{np.dtype(case.dtype).name}, as the parameters"
        )
    return value


def _step_result(case: Case, step: int, result: Any) -> tuple[Any, Any]:
    """(output or None, loss) from what the network's own step returned: the loss, or (output, loss)."""
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if result is None:
        raise StepError(
            f"{case.name}: at step {step} the scratch side's step() returned None; return the batch's loss "
            f"(or (output, loss)) so that it can be compared with the twin's"
        )
    return None, result


def _checked_loss(case: Case, step: int, loss: Any) -> np.ndarray:
    value = np.array(loss)
    if value.shape != () or value.dtype != case.dtype:
        raise StepError(
            f"{case.name}: at step {step} the scratch side's loss is {value.dtype} {value.shape}; it must be a "
            f"{np.dtype(case.dtype).name} scalar (np.mean(...), not float(...); a step returning a pair returns "
            f"(output, loss), in that order)"
        )
    return value


def record_steps(
    case: Case,
    net: Any,
    batches: Sequence[Any],
    *,
    forward: Callable[[Any, Any], Any] | None = None,
    loss: Callable[[Any, Any], Any] | None = None,
    gradients: Callable[[Any, Any, Any], Params] | None = None,
    evaluate: Callable[[Any, Any, Any], Any] | None = None,
    check_gradients: bool = True,
) -> dict[str, list[np.ndarray]]:
    """Train ``net`` on ``batches`` (anything ``X[b]`` takes) and collect every stepped quantity and the
    curve, one entry per step.  The forward runs once per step: the harness calls it and hands its output
    to the loss, or the network's own step does it all.  The keyword functions replace the case's own: the
    seed sweep passes forms that run all seeds at once (and, their gradients being per seed,
    ``check_gradients=False``)."""
    forward, loss = forward or case.forward, loss or case.loss
    gradients, evaluate = gradients or case.gradients, evaluate or case.evaluate
    s = case.scratch
    own_step, update, loss_gradient = case.step, case.update, case.loss_gradient
    X, y = case.X, case.y
    curve_at = set(case.curve_steps)
    shapes = {name: np.shape(value) for name, value in case.read_params(net).items()}
    lr = case.learning_rate
    # The rows each step appends to, made once: this loop runs at every step of every run, and its own
    # cost is what tools/bench.py measures against the network's bare calls.
    rows: dict[str, list[np.ndarray]] = {"loss": [], "curve": []}
    outputs, losses, curve = rows.setdefault("output", []), rows["loss"], rows["curve"]
    dlosses = rows.setdefault("dloss", []) if own_step is None and loss_gradient is not None else None
    grad_rows = {name: rows.setdefault(f"grad.{name}", []) for name in shapes}
    lrs = rows.setdefault("lr", []) if s.lr is not None else None
    state_rows = [
        (kind, per_param, name, rows.setdefault(f"state.{kind}.{name}", []))
        for kind, per_param in s.state.items()
        for name in case.param_map
    ]
    param_rows = [(paths.reader(name), rows.setdefault(f"param.{name}", [])) for name in case.param_map]
    buffer_rows = [(path, rows.setdefault(f"buffer.{path}", [])) for path in s.buffers]
    for step, b in enumerate(batches):
        xb, yb = _batch(X, b), _batch(y, b)
        stage = "forward"
        try:
            if own_step is None:
                output = forward(net, xb)
                outputs.append(_kept(output))
                stage = "loss"
                losses.append(_kept(loss(output, yb)))
                if dlosses is not None and loss_gradient is not None:
                    stage = "loss_gradient"
                    dlosses.append(_kept(loss_gradient(output, yb)))
            grads = None
            if gradients is not None:
                stage = "gradients"
                grads = gradients(net, xb, yb)
                if check_gradients:
                    grads = _checked_gradients(case, step, grads, shapes)
            if own_step is None:
                stage = "update"
                assert update is not None and grads is not None
                update(net, grads, lr)
            else:
                stage = "step"
                output, step_loss = _step_result(case, step, own_step(net, xb, yb, lr))
                if output is not None:
                    outputs.append(_kept(output))
                losses.append(_checked_loss(case, step, step_loss))
                if grads is None:
                    grads = {
                        name: _checked_array(
                            case,
                            step,
                            f"gradient of {name} ({path})",
                            _read(case, net, step, "gradient", path),
                            shapes[name],
                        )
                        for name, path in s.grads.items()
                    }
            if grads:
                for name, grad in grads.items():
                    grad_rows[name].append(_kept(grad))
            if lrs is not None and s.lr is not None:
                lrs.append(_scalar(case, _read(case, net, step, "learning rate", s.lr)))
            for kind, per_param, name, state_row in state_rows:
                if isinstance(per_param, str):
                    value = _scalar(case, _read(case, net, step, kind, per_param))
                else:
                    what = f"{kind} of {name} ({per_param[name]})"
                    value = _read(case, net, step, what, per_param[name])
                    value = (
                        _scalar(case, value)
                        if kind == "step"
                        else _checked_array(case, step, what, value, shapes[name])
                    )
                state_row.append(value)
            for read_param, param_row in param_rows:
                param_row.append(_kept(read_param(net)))
            for path, buffer_row in buffer_rows:
                buffer_row.append(_buffer(case, _read(case, net, step, "buffer", path), step, path))
            if step in curve_at:
                stage = "evaluate"
                curve.append(np.array(evaluate(net, X, y)))
        except (RuntimeWarning, ValueError) as exc:
            failure = _scratch_failure(case, step, stage, exc)
            if failure is None:
                raise
            raise failure from exc
    return {key: row for key, row in rows.items() if row or key in ("loss", "curve")}


def scratch_trace(case: Case, params: Params, batches: Sequence[Batch], entering: Trace | None = None) -> Trace:
    """The scratch side's trace over ``batches`` from ``params``; ``entering`` (a replay from a later step)
    holds the optimizer state and buffers to start from, as the twin's trace recorded them."""
    X = case.X
    net = case.build({k: v.copy() for k, v in params.items()}, case.learning_rate)
    if entering:
        _load_scratch_state(case, net, entering)
    trace: dict[str, Any] = {f"init.{k}": v for k, v in case.read_params(net).items()}
    try:
        # On a network of its own: a forward with side effects (BatchNorm's running statistics in training
        # mode) must not reach the training run.
        probe = case.build({k: v.copy() for k, v in params.items()}, case.learning_rate)
        trace["forward"] = np.array(case.forward(probe, X))
    except (RuntimeWarning, ValueError) as exc:
        failure = _scratch_failure(case, None, "forward on the whole dataset", exc)
        if failure is None:
            raise
        raise failure from exc
    rows = record_steps(case, net, batches)
    trace.update({k: np.array(v) for k, v in rows.items()})
    if not rows["curve"]:
        trace["curve"] = np.zeros(0, case.dtype)  # as the twin side: an empty curve keeps the case dtype
    return trace


def _load_scratch_state(case: Case, net: Any, entering: Trace) -> None:
    for kind, per_param in case.scratch.state.items():
        for name in case.param_map:
            value = entering[f"state.{kind}.{name}"]
            paths.write(net, per_param if isinstance(per_param, str) else per_param[name], value)
    for path in case.scratch.buffers:
        paths.write(net, path, entering[f"buffer.{path}"])


def _load_twin_state(
    case: Case, module: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, entering: Trace, step: int
) -> None:
    """The optimizer state and buffers entering ``step``, in the twin's layout; the scheduler moved to ``step``."""
    named = dict(module.named_parameters())
    kinds = {k.split(".")[1] for k in entering if k.startswith("state.")}
    for kind in kinds:
        for t_name, p in named.items():
            links = [(n, link) for n, link in case.param_map.items() if link.tensor == t_name]
            if kind == "step":  # one count per tensor, as torch keeps it
                value = entering[f"state.step.{links[0][0]}"]
                optimizer.state[p]["step"] = torch.tensor(float(value), dtype=torch.get_default_dtype())
                continue
            full = torch.zeros_like(p.detach())
            for name, link in links:
                (full.T if link.transpose else full)[link.index] = torch.as_tensor(entering[f"state.{kind}.{name}"])
            optimizer.state[p][kind] = full
    buffers = dict(module.named_buffers())
    with torch.no_grad():
        for path, link in case.scratch.buffers.items():
            b = buffers[link.tensor]
            (b.T if link.transpose else b)[link.index] = torch.as_tensor(entering[f"buffer.{path}"])
    if scheduler is not None:
        with warnings.catch_warnings():  # stepped without optimizer steps, on purpose: to reach ``step``
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                scheduler.step()


def twin_trace(
    case: Case, params: Params, batches: Sequence[Batch], entering: Trace | None = None, step: int = 0
) -> Trace:
    """The twin's trace over ``batches`` from ``params``; with ``entering``, a replay from ``step`` of the run,
    starting from that step's optimizer state, buffers and scheduled learning rate."""
    module = case.twin.module(case.torch_dtype)
    load_into_twin(module, case, params)
    optimizer = case.twin.optimizer(module.parameters(), case.learning_rate)
    scheduler = case.twin.scheduler(optimizer) if case.twin.scheduler is not None else None
    if entering:
        _load_twin_state(case, module, optimizer, scheduler, entering, step)
    # Copies: the twin shares no memory with the case's data, and an in-place write into its input shows
    # in the tensors' version counters.
    X, y = twin_data(case)
    data_versions = (X._version, y._version)
    trace: dict[str, Any] = {f"init.{k}": v for k, v in twin_to_scratch(module, case).items()}
    probe = case.twin.module(case.torch_dtype)  # as the scratch side: the forward check runs on its own module
    load_into_twin(probe, case, params)
    with torch.no_grad():
        trace["forward"] = probe(X).numpy().copy()
    module.train()
    curve_at = set(case.curve_steps)
    named = list(module.named_parameters())
    buffers = list(module.named_buffers())
    keep_dloss = case.loss_gradient is not None
    # The recording costs little beside the step itself (tools/bench.py measures it against a plain
    # loop): the step's fresh tensors (output, loss, gradients) are kept as they are and stacked once
    # at the end; what the optimizer updates in place (parameters, its state, buffers) is copied through
    # NumPy views, since a tensor's own clone costs several times more; a view is made again when its tensor
    # moves to new memory (p.data = ..., as a hand-written update may do).
    views = {n: _view(p) for n, p in named}
    buffer_views = {n: _view(t) for n, t in buffers}
    state_views: dict[tuple[str, str], tuple[int, np.ndarray]] = {}
    outputs, losses, dlosses, curve, lrs = [], [], [], [], []
    grads: dict[str, list[torch.Tensor]] = {n: [] for n, _ in named}
    grad_rows = list(grads.values())
    values: dict[str, list[np.ndarray]] = {n: [] for n, _ in named}
    states: dict[str, dict[str, list[np.ndarray]]] = {}
    kept: dict[str, list[np.ndarray]] = {n: [] for n, _ in buffers}
    clone_grads = True  # until step 0 shows that the optimizer leaves the gradients as backward made them
    previous: list[torch.Tensor] = []
    with _collection_paused():
        for step, b in enumerate(batches):
            index = torch.as_tensor(b) if isinstance(b, np.ndarray) else b
            xb, yb = X[index], y[index]
            optimizer.zero_grad()
            output = module(xb)
            if not output.requires_grad:
                raise StepError(
                    f"{case.name}: at step {step} the twin's output does not depend on its parameters (it is "
                    f"detached); return the tensor computed from the parameters"
                )
            if keep_dloss:
                output.retain_grad()
            loss = case.twin_loss(output, yb)
            loss.backward()
            outputs.append(output.detach())
            losses.append(loss.detach())
            if keep_dloss and output.grad is not None:
                dlosses.append(output.grad)
            gs = cast(list[torch.Tensor], [p.grad for _, p in named])  # a None fails just below
            try:
                versions = [g._version for g in gs]
            except AttributeError:  # None: backward did not reach this parameter
                missing = next(n for (n, _), g in zip(named, gs, strict=True) if g is None)
                raise AssertionError(f"{case.name}: twin tensor {missing!r} got no gradient") from None
            # A zero_grad that zeroes in place (set_to_none=False) hands backward the same tensors every step.
            if not clone_grads and any(map(operator.is_, gs, previous)):
                clone_grads = True
            for kept_grads, g in zip(grad_rows, gs, strict=True):
                kept_grads.append(g.clone() if clone_grads else g)
            lrs.append(float(optimizer.param_groups[0]["lr"]))  # the rate this step uses
            optimizer.step()
            written = versions != [g._version for g in gs]
            if step == 0:
                # An optimizer that writes into the gradients (torch's own do not; a user's may clip them in
                # place) keeps them copied. A write through .data leaves the version alone: the values tell,
                # the rows of step 0 being copies.
                clone_grads = written or not all(
                    torch.equal(grads[n][0], g) for (n, _), g in zip(named, gs, strict=True)
                )
            elif written and not clone_grads:
                raise StepError(
                    f"{case.name}: at step {step} the twin's optimizer wrote into the gradients, which it left "
                    f"as they were at step 0; the gradients backward computed are lost for that step"
                )
            previous = gs
            if (X._version, y._version) != data_versions or xb._version or yb._version:
                raise StepError(
                    f"{case.name}: at step {step} the twin writes into its input (an in-place operation such as "
                    f"x.sub_() or x -= ... on the batch); compute on a new tensor (x = x - x.mean(0))"
                )
            for n, p in named:
                values[n].append(_copy_through(views, n, p))
                for kind, value in optimizer.state.get(p, {}).items():
                    if isinstance(value, torch.Tensor):
                        states.setdefault(kind, {}).setdefault(n, []).append(
                            _copy_through(state_views, (n, kind), value)
                        )
            if scheduler is not None:
                scheduler.step()
            for n, t in buffers:
                kept[n].append(_copy_through(buffer_views, n, t))
            if step in curve_at:
                # Evaluation as a user runs it: BatchNorm on its running statistics, no dropout.
                _set_mode(module, False)
                with torch.no_grad():
                    curve.append(case.twin_evaluate(module, X, y).clone())
                _set_mode(module, True)
    trace["output"] = torch.stack(outputs).numpy()
    trace["loss"] = torch.stack(losses).numpy()
    if keep_dloss:
        trace["dloss"] = torch.stack(dlosses).numpy()
    trace["curve"] = torch.stack(curve).numpy() if curve else np.zeros(0, case.dtype)
    if case.scratch.lr is not None:
        trace["lr"] = np.array(lrs, dtype=np.float64).astype(case.dtype)
    per_kind: list[tuple[str, dict[str, np.ndarray]]] = [
        ("grad", {n: torch.stack(ts).numpy() for n, ts in grads.items()}),
        ("param", {n: np.stack(vs) for n, vs in values.items()}),
    ]
    per_kind += [
        (f"state.{kind}", {n: np.stack(vs) for n, vs in per_tensor.items()}) for kind, per_tensor in states.items()
    ]
    for kind, stacked in per_kind:
        for name, link in case.param_map.items():
            if link.tensor not in stacked:
                continue
            a = stacked[link.tensor]
            if a.ndim == 1:  # a scalar per step (Adam's step count), whatever the parameter's layout
                trace[f"{kind}.{name}"] = a.astype(np.float64).astype(case.dtype)
                continue
            if link.transpose:
                a = a.swapaxes(-1, -2)
            trace[f"{kind}.{name}"] = a[(slice(None), *link.index)].copy()
    for path, link in case.scratch.buffers.items():
        a = np.stack(kept[link.tensor])
        if link.transpose:
            a = a.swapaxes(-1, -2)
        held = a[(slice(None), *link.index)].copy()
        # A count (num_batches_tracked) in the case's dtype, as the scratch side's: exact in either.
        trace[f"buffer.{path}"] = _scalar(case, held) if np.issubdtype(held.dtype, np.integer) else held
    return trace


def _set_mode(module: torch.nn.Module, mode: bool) -> None:
    """``module.train()`` or ``module.eval()`` for the curve's evaluations, by setting the tree's ``training``
    flags where that is all they do: ``nn.Module.train`` walks the tree through ``nn.Module.__setattr__``,
    20-25 µs a call on the 3-4-1's twin, measured (two a curve point, a point every 10 steps). The tree is
    walked at each call, so that a module added during training is switched too."""
    modules = list(module.modules())
    if any(map(_own_mode, map(type, modules))):
        module.train() if mode else module.eval()  # as the loop would call them
        return
    for m in modules:
        m.__dict__["training"] = mode  # where nn.Module.__setattr__ puts it


@functools.cache
def _own_mode(cls: type[torch.nn.Module]) -> bool:
    """Whether a module class switches modes its own way: its own train() or eval(), its own __setattr__
    (a TorchScript module keeps the flag in the compiled module), or a class-level ``training`` (a property,
    say) that a flag in the instance would not reach."""
    Module = torch.nn.Module
    return (
        cls.train is not Module.train
        or cls.eval is not Module.eval
        or cls.__setattr__ is not Module.__setattr__
        or hasattr(cls, "training")
    )


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's automatic garbage collection held off for the block, then as it was.

    The twin's recording keeps a few tensors a step, and tensors are objects the collector tracks: as they
    pile up they set off full collections, each of which walks every object of the process (84 ms over the
    ~280,000 that torch and the harness make, once in the neuron's 10,000 steps: 9 µs a step, measured).
    Reference counting still frees whatever a step drops; only cyclic garbage waits for the end of the run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


K = TypeVar("K", str, tuple[str, str])


def _view(t: torch.Tensor) -> tuple[int, np.ndarray]:
    """Where ``t``'s memory starts, and a NumPy view of it."""
    return t.data_ptr(), t.detach().numpy()


def _copy_through(views: dict[K, tuple[int, np.ndarray]], key: K, t: torch.Tensor) -> np.ndarray:
    """A copy of ``t``'s values through its view in ``views``, made first or again where ``t`` is new or moved
    to new memory (a state tensor the optimizer makes anew, or ``buf.data = ...``). The view holds the memory
    it reads, so no other tensor can start where it starts."""
    view = views.get(key)
    if view is None or t.data_ptr() != view[0]:
        view = views[key] = _view(t)
    return view[1].copy()


_CACHE: dict[tuple[str, int, str], tuple[Case, Trace, Trace]] = {}
# Full runs of the registered cases and of their float32 variants (the runs a gate checks) computed in this
# process, by (case name, seed, dtype, variant): a gate that computes one of them twice pays for the same
# steps twice.  tests/conftest.py sums them over the run (and its xdist workers) and fails the run on a
# repeat.  A test's own cases are not counted: building one twice costs its few steps twice.
FULL_RUNS: Counter[tuple[str, int, str, str]] = Counter()
# Where each was computed: the test running then (pytest names it in PYTEST_CURRENT_TEST), or None.
FULL_RUN_SITES: dict[tuple[str, int, str, str], list[str]] = {}


def traces(case: Case, seed: int | None = None) -> tuple[Trace, Trace]:
    """(scratch, twin) traces of the case's whole run, computed once per process.

    An entry is reused only for the very same case object: a ``dataclasses.replace`` variant that
    keeps the name gets its own run rather than the original's traces.
    """
    key = _key(case, seed)
    entry = _CACHE.get(key)
    if entry is None or entry[0] is not case:
        params, batches = start(case, seed)
        entry = (case, scratch_trace(case, params, batches), twin_trace(case, params, batches))
        _CACHE[key] = entry
        if _registered(case.name):
            run = (*key, variant(case))
            FULL_RUNS[run] += 1
            FULL_RUN_SITES.setdefault(run, []).append(os.environ.get("PYTEST_CURRENT_TEST", "").split(" (")[0])
    return entry[1], entry[2]


def _key(case: Case, seed: int | None = None) -> tuple[str, int, str]:
    """The caches' key of a case's run: name, seed and dtype (the entry keeps the case, which must be the same
    object)."""
    return case.name, case.seed if seed is None else seed, np.dtype(case.dtype).name


def _registered(name: str) -> bool:
    """A registered case's name, or its float32 variant's."""
    from crosscheck.registration import _REGISTRY

    return name in _REGISTRY or (name.endswith("_float32") and name.removesuffix("_float32") in _REGISTRY)


_FIRST: dict[tuple[str, int, str], tuple[Case, Trace, Trace]] = {}


def first_step_traces(case: Case) -> tuple[Trace, Trace]:
    """(scratch, twin) traces of the run's first step: what the checks of the first step and before training
    compare, equal to the full run's step 0.  The full run's when it is already computed; else one step, so
    that a network broken at step 0 fails in milliseconds rather than after its whole run."""
    key = _key(case)
    full = _CACHE.get(key)
    if full is not None and full[0] is case:
        return full[1], full[2]
    entry = _FIRST.get(key)
    if entry is None or entry[0] is not case:
        params, batches = start(case)
        entry = (case, scratch_trace(case, params, batches[:1]), twin_trace(case, params, batches[:1]))
        _FIRST[key] = entry
    return entry[1], entry[2]


def _fingerprint(value: Any, digest: Any, depth: int = 0) -> None:
    """Feed what defines ``value`` to ``digest``, the same in every process: arrays by their bytes,
    functions by where they are defined and what they capture, containers and dataclasses item by item."""
    if depth > 8:  # deep enough for a case's parts; beyond it, only the type is told
        digest.update(type(value).__qualname__.encode())
        return
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            digest.update(f.name.encode())
            _fingerprint(getattr(value, f.name), digest, depth + 1)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            digest.update(repr(k).encode())
            _fingerprint(v, digest, depth + 1)
    elif isinstance(value, list | tuple | range):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            _fingerprint(v, digest, depth + 1)
    elif isinstance(value, functools.partial):
        digest.update(b"partial")
        for part in (value.func, value.args, value.keywords):
            _fingerprint(part, digest, depth + 1)
    elif callable(value) and hasattr(value, "__self__") and not isinstance(value.__self__, type | ModuleType):
        _fingerprint(value.__func__ if hasattr(value, "__func__") else type(value), digest, depth + 1)  # a bound method
        _fingerprint(value.__self__, digest, depth + 1)
    elif callable(value) and not isinstance(value, type) and not hasattr(value, "__code__"):
        digest.update(type(value).__qualname__.encode())  # a callable object (nn.MSELoss()): its settings
        _fingerprint(dict(getattr(value, "__dict__", {})), digest, depth + 1)
    elif callable(value):
        code = getattr(value, "__code__", None)
        where = f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}"
        digest.update(f"{where}:{code.co_firstlineno if code else ''}".encode())
        for cell in getattr(value, "__closure__", None) or ():  # two lambdas of one line, closing over different values
            try:
                _fingerprint(cell.cell_contents, digest, depth + 1)
            except ValueError:  # an empty cell
                pass
        for default in getattr(value, "__defaults__", None) or ():
            _fingerprint(default, digest, depth + 1)
    else:
        digest.update(repr(value).encode())


def variant(case: Case) -> str:
    """A digest of everything that defines the case's run: two case objects built alike (a float32 variant
    made twice) share it, a variant that changes anything, keeping the name, does not."""
    digest = hashlib.sha1(usedforsecurity=False)
    _fingerprint(case, digest)
    return digest.hexdigest()[:12]
