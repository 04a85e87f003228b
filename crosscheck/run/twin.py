"""The twin's run: the torch module trained by its own optimizer and scheduler, every quantity the scratch side
shows kept in the scratch side's layout (``Link``), and a replay from a later step's state."""

from __future__ import annotations

import contextlib
import functools
import gc
import operator
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import torch

from crosscheck.case import Batch, Case, Params
from crosscheck.errors import StepError, raised_text
from crosscheck.keys import Trace, at_step
from crosscheck.layout import assign, load_into_twin, stacked_as_scratch, twin_data, twin_to_scratch
from crosscheck.run.start import in_case_dtype


def batch_of(X: torch.Tensor, y: torch.Tensor, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``X[b]`` and ``y[b]`` of the twin's data: a NumPy index array becomes a tensor index, and a list of rows
    is gathered by ``index_select`` (advanced indexing starts torch's thread pool for a batch of rows, which
    costs milliseconds a step where the cores are busy, as under pytest-xdist)."""
    if not isinstance(b, np.ndarray):
        return X[b], y[b]
    index = torch.as_tensor(b)
    if b.ndim == 1 and b.size and np.issubdtype(b.dtype, np.integer) and b.min() >= 0 and X.ndim and y.ndim:
        return X.index_select(0, index), y.index_select(0, index)
    return X[index], y[index]


def backward_at(
    case: Case, params: Params | None, batch: Batch, module: torch.nn.Module | None = None, *, input_grad: bool = False
) -> torch.nn.Module:
    """The twin's step up to its gradients, from ``params`` on ``batch``: forward, loss, backward.  Returns the
    module (a new one unless one is given: a snapshot's copy, with hooks say) holding the gradients.  ``params``
    are written into it, nothing else (a snapshot keeps its other state); None: the module's own.
    ``input_grad``: the batch's input is a leaf that needs its gradient, so that backward hooks on the first
    layer fire.  The gradients are the loss's own, before the case's ``Twin(clip=...)``."""
    module = case.twin.module(case.torch_dtype) if module is None else module
    if params is not None:
        load_into_twin(module, case, params)
    module.zero_grad(set_to_none=True)  # a given module may hold the gradients of the step before
    xb, yb = batch_of(*twin_data(case), batch)
    if input_grad:
        xb = xb.clone().requires_grad_(True)
    case.twin.loss(module(xb), yb).backward()
    return module


def load_twin_state(
    case: Case, module: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, entering: Trace, step: int
) -> None:
    """The optimizer state and buffers entering ``step``, in the twin's layout; the scheduler moved to ``step``."""
    named = dict(module.named_parameters())
    kinds = {k.split(".")[1] for k in entering if k.startswith("state.")}
    for kind in kinds:
        for t_name, p in named.items():
            links = [(n, link) for n, link in case.scratch.params.items() if link.tensor == t_name]
            if not links:  # a frozen tensor of a sum Link, which the optimizer does not step
                continue
            if kind == "step":  # one count per tensor, as torch keeps it
                value = entering[f"state.step.{links[0][0]}"]
                optimizer.state[p]["step"] = torch.tensor(float(value), dtype=torch.get_default_dtype())
                continue
            full = torch.zeros_like(p.detach())
            for name, link in links:
                assign(full, link, entering[f"state.{kind}.{name}"])
            optimizer.state[p][kind] = full
    buffers = dict(module.named_buffers())
    with torch.no_grad():
        for path, link in case.scratch.buffers.items():
            assign(buffers[link.tensor], link, entering[f"buffer.{path}"])
    if scheduler is not None:
        with warnings.catch_warnings():  # stepped without optimizer steps, on purpose: to reach ``step``
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                scheduler.step()


def twin_trace(
    case: Case,
    params: Params,
    batches: Sequence[Batch],
    entering: Trace | None = None,
    step: int = 0,
    *,
    before_step: Callable[[int, torch.nn.Module, torch.optim.Optimizer, Any], None] | None = None,
    begin: tuple[torch.nn.Module, torch.optim.Optimizer, Any] | None = None,
) -> Trace:
    """The twin's trace over ``batches`` from ``params``, whole: ``TwinRecorder``'s start and its steps."""
    recorder = TwinRecorder(case, params, entering, step, before_step=before_step, begin=begin)
    return {**recorder.head(), **recorder.record(batches, 0)}


class TwinRecorder:
    """The twin's run, recorded a stretch of steps at a time: the module, optimizer and scheduler live on between
    ``record`` calls, so that a run is stepped in chunks and each chunk compared and dropped (``run.lockstep``).

    From ``params``; with ``entering``, a replay from ``step`` of the run, starting from that step's optimizer
    state, buffers and scheduled learning rate; with ``begin``, from that module, optimizer and scheduler as they
    stand (a snapshot's, which hold ``params`` and the rest).  ``before_step(step, module, optimizer,
    scheduler)`` runs as each step begins (the memo's snapshots are taken there)."""

    def __init__(
        self,
        case: Case,
        params: Params,
        entering: Trace | None = None,
        step: int = 0,
        *,
        before_step: Callable[[int, torch.nn.Module, torch.optim.Optimizer, Any], None] | None = None,
        begin: tuple[torch.nn.Module, torch.optim.Optimizer, Any] | None = None,
    ) -> None:
        if begin is not None:
            module, optimizer, scheduler = begin
        else:
            module = case.twin.module(case.torch_dtype)
            load_into_twin(module, case, params)
            optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
            scheduler = case.twin.scheduler(optimizer) if case.twin.scheduler is not None else None
            if entering:
                load_twin_state(case, module, optimizer, scheduler, entering, step)
        self.case, self.params, self.before_step = case, params, before_step
        self.module, self.optimizer, self.scheduler = module, optimizer, scheduler
        # Copies: the twin shares no memory with the case's data, and an in-place write into its input shows
        # in the tensors' version counters.
        self.X, self.y = twin_data(case)
        self.data_versions = (self.X._version, self.y._version)
        self.data_digest = _digest(self.X, self.y)
        self.unchecked = step  # the first step since the data was last found unchanged
        self.init = {f"init.{k}": v for k, v in twin_to_scratch(module, case).items()}
        module.train()
        # The recording costs little beside the step itself (tools/bench.py measures it against a plain
        # loop): the step's fresh tensors (output, loss, gradients) are kept as they are and stacked once
        # at the end of a chunk; what the optimizer updates in place (parameters, its state, buffers) is copied
        # through NumPy views, since a tensor's own clone costs several times more; a view is made again when its
        # tensor moves to new memory (p.data = ..., as a hand-written update may do).
        self.views: dict[str, tuple[int, np.ndarray]] = {}
        self.buffer_views: dict[str, tuple[int, np.ndarray]] = {}
        self.state_views: dict[tuple[str, str], tuple[int, np.ndarray]] = {}
        self.clone_grads = True  # until the first step shows that the optimizer leaves the gradients as they are
        self.detected: int | None = None  # the step at which it was
        self.previous: list[torch.Tensor] = []

    def check_data(self, last: int) -> None:
        """A StepError where the data changed since it was last verified, up to step ``last``: a write through
        ``.data`` (or ``.detach()``) moves no version counter, so the values tell, read whole (a checksum: a large
        dataset is not copied, but read, so a run in many chunks verifies it at its start and its end only)."""
        if _digest(self.X, self.y) != self.data_digest:
            raise StepError(
                f"{self.case.name}: between steps {self.unchecked} and {last} the twin writes into its input where "
                f"autograd does not see it (x.data -= ..., or through x.detach()); compute on a new tensor "
                f"(x = x - x.mean(0))",
                side="twin",
            )
        self.unchecked = last + 1

    def head(self) -> Trace:
        """The initial parameters as the twin holds them, and the forward output on the whole dataset (on a module
        of its own, as the scratch side's: a forward with side effects must not reach the run)."""
        probe = self.case.twin.module(self.case.torch_dtype)
        load_into_twin(probe, self.case, self.params)
        with torch.no_grad():
            return {**self.init, "forward": probe(self.X).numpy().copy()}

    def record(self, batches: Sequence[Batch], first: int, check_data: bool = True) -> Trace:
        """Steps ``first``, ``first + 1``, ... on ``batches``: every stepped quantity (a row per step) and the
        curve points among those steps.  ``check_data``: whether the data is verified unchanged at the end (a run
        recorded a chunk at a time verifies it less often: ``check_data``)."""
        case, module, optimizer, scheduler = self.case, self.module, self.optimizer, self.scheduler
        X, y = self.X, self.y
        trace: dict[str, Any] = {}
        curve_at = set(case.data.curve_steps)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]  # a frozen one: a sum Link's zeros
        keep_dloss = case.scratch.loss_gradient is not None
        views, buffer_views, state_views = self.views, self.buffer_views, self.state_views
        outputs, losses, dlosses, curve, lrs = [], [], [], [], []
        grads: dict[str, list[torch.Tensor]] = {n: [] for n, _ in named}
        grad_rows = list(grads.values())
        values: dict[str, list[np.ndarray]] = {n: [] for n, _ in named}
        states: dict[str, dict[str, list[np.ndarray]]] = {}
        kept: dict[str, list[np.ndarray]] = {}
        clone_grads, previous = self.clone_grads, self.previous
        clip = case.twin.clip
        step = first
        with _collection_paused(), _named(case, lambda: step):
            for step, b in enumerate(batches, start=first):
                if self.before_step is not None:
                    self.before_step(step, module, optimizer, scheduler)
                xb, yb = batch_of(X, y, b)
                optimizer.zero_grad()
                output = module(xb)
                if not output.requires_grad:
                    raise StepError(
                        f"{case.name}: at step {step} the twin's output does not depend on its parameters (it is "
                        f"detached); return the tensor computed from the parameters",
                        step=step,
                        side="twin",
                    )
                if keep_dloss:
                    output.retain_grad()
                loss = case.twin.loss(output, yb)
                loss.backward()
                if clip is not None:  # before the gradients are read: the recorded ones are those the update uses
                    clip(module)
                # A view (of a parameter, say: self.b.expand(n, 1)) would change with the update: kept as a copy.
                outputs.append(output.detach().clone() if output._is_view() else output.detach())
                losses.append(loss.detach())
                if keep_dloss and output.grad is not None:
                    dlosses.append(output.grad)
                gs = cast(list[torch.Tensor], [p.grad for _, p in named])  # a None fails just below
                try:
                    versions = [g._version for g in gs]
                except AttributeError:  # None: backward did not reach this parameter
                    missing = next(n for (n, _), g in zip(named, gs, strict=True) if g is None)
                    raise StepError(
                        f"{case.name}: at step {step} the twin's tensor {missing!r} got no gradient from backward",
                        step=step,
                        side="twin",
                    ) from None
                # A zero_grad that zeroes in place (set_to_none=False) hands backward the same tensors every step.
                if not clone_grads and any(map(operator.is_, gs, previous)):
                    clone_grads = True
                for kept_grads, g in zip(grad_rows, gs, strict=True):
                    kept_grads.append(g.clone() if clone_grads else g)
                lrs.append(float(optimizer.param_groups[0]["lr"]))  # the rate this step uses
                optimizer.step()
                written = versions != [g._version for g in gs]
                if self.detected is None:
                    # An optimizer that writes into the gradients (torch's own do not; a user's may clip them in
                    # place) keeps them copied. A write through .data leaves the version alone: the values tell,
                    # the rows of the first step being copies.
                    clone_grads = written or not all(
                        torch.equal(grads[n][-1], g) for (n, _), g in zip(named, gs, strict=True)
                    )
                    self.detected = step
                elif written and not clone_grads:
                    raise StepError(
                        f"{case.name}: at step {step} the twin's optimizer wrote into the gradients, which it left "
                        f"as they were at step {self.detected}; the gradients backward computed are lost for that step",
                        step=step,
                        side="twin",
                    )
                previous = gs
                if (X._version, y._version) != self.data_versions or xb._version or yb._version:
                    raise StepError(
                        f"{case.name}: at step {step} the twin writes into its input (an in-place operation such as "
                        f"x.sub_() or x -= ... on the batch); compute on a new tensor (x = x - x.mean(0))",
                        step=step,
                        side="twin",
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
                # Read again at every step: a module that replaces a buffer by assignment (self.h = h.detach())
                # holds a new tensor under the same name.
                for n, t in module.named_buffers():
                    kept.setdefault(n, []).append(_copy_through(buffer_views, n, t))
                if step in curve_at:
                    # Evaluation as a user runs it: BatchNorm on its running statistics, no dropout.
                    _set_mode(module, False)
                    with torch.no_grad():
                        curve.append(case.calls.twin_evaluate(module, X, y).clone())
                    _set_mode(module, True)
        self.clone_grads, self.previous = clone_grads, previous
        if batches and check_data:
            self.check_data(first + len(batches) - 1)
        # A chunk of one step after the first (a large network's) is compared before the twin steps again and kept
        # by no one: its fresh tensors and copies are taken as they are, not copied once more by a stack.
        one = len(batches) == 1 and first > 0

        def rows(ts: list[torch.Tensor], fresh: bool = True) -> np.ndarray:
            return (ts[0].unsqueeze(0) if one and fresh else torch.stack(ts)).numpy()

        def copies(vs: list[np.ndarray]) -> np.ndarray:
            return vs[0][None] if one else np.stack(vs)

        if outputs:
            trace["output"] = rows(outputs)
            trace["loss"] = rows(losses)
        else:
            trace["loss"] = np.zeros(0, case.dtype)
        if keep_dloss and dlosses:
            trace["dloss"] = rows(dlosses)
        trace["curve"] = torch.stack(curve).numpy() if curve else np.zeros(0, case.dtype)
        if case.scratch.lr is not None:
            trace["lr"] = np.array(lrs, dtype=np.float64).astype(case.dtype)
        if not outputs:
            return trace
        per_kind: list[tuple[str, dict[str, np.ndarray]]] = [
            ("grad", {n: rows(ts, fresh=clone_grads) for n, ts in grads.items()}),
            ("param", {n: copies(vs) for n, vs in values.items()}),
        ]
        per_kind += [
            (f"state.{kind}", {n: copies(vs) for n, vs in per_tensor.items()}) for kind, per_tensor in states.items()
        ]
        for kind, stacked in per_kind:
            for name, link in case.scratch.params.items():
                if link.tensor not in stacked:
                    continue
                a = stacked[link.tensor]
                if a.ndim == 1:  # a scalar per step (Adam's step count), whatever the parameter's layout
                    trace[f"{kind}.{name}"] = a.astype(np.float64).astype(case.dtype)
                    continue
                trace[f"{kind}.{name}"] = stacked_as_scratch(a, link)
        for path, link in case.scratch.buffers.items():
            held = stacked_as_scratch(copies(kept[link.tensor]), link)
            # A count (num_batches_tracked) in the case's dtype, as the scratch side's: exact in either.
            trace[f"buffer.{path}"] = in_case_dtype(case, held) if np.issubdtype(held.dtype, np.integer) else held
        return trace


@contextlib.contextmanager
def _named(case: Case, step: Callable[[], int]) -> Iterator[None]:
    """An exception the twin's own code raises mid-run (its module, loss, optimizer or scheduler) as a StepError
    naming the case, the step and the side; its traceback stays chained."""
    try:
        yield
    except StepError:
        raise
    except Exception as exc:
        raise StepError(
            f"{case.name}: {at_step(step())} the twin side {raised_text(exc)}",
            step=step(),
            side="twin",
        ) from exc


def checksum(value: np.ndarray | torch.Tensor, start: int = 0) -> int:
    """A checksum of an array's or a tensor's bytes, read in place (no copy of a large one), continuing ``start``
    (the checksum of what came before)."""
    array = value.detach().numpy() if isinstance(value, torch.Tensor) else value
    return zlib.crc32(cast(Any, np.ascontiguousarray(array)), start)


def _digest(*tensors: torch.Tensor) -> tuple[int, ...]:
    """A checksum of each tensor's bytes."""
    return tuple(checksum(t) for t in tensors)


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
