"""``Case``: everything the harness needs to know about one scratch network and its twin.

A case groups the scratch side (``Scratch``: the network, reached through its own methods and
paths into it), the twin side (``Twin``: a ``torch.nn.Module``, its loss, its ``torch.optim``
optimizer and scheduler) and the data and schedule (``Data``); every optional part has a default.
``vary`` copies a case with parts changed. Whether a case can be checked is ``crosscheck.validate``'s
job; the schedule is ``crosscheck.schedule``'s, the twin's tensors in the scratch layout ``crosscheck.layout``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import random
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from crosscheck import paths
from crosscheck.errors import RegistrationError

Array = NDArray[Any]
Params = dict[str, Array]
Batch = int | slice | Array
Rng = np.random.RandomState | np.random.Generator

# The dtypes a case may have, and the twin's dtype for each.
TORCH_DTYPES = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
# A schedule or curve longer than this is refused before it is materialised: a run of a million steps
# is far beyond what a cross-check replays, and an endless generator (itertools.repeat) would otherwise
# take memory until MemoryError.
MAX_STEPS = 1_000_000


def bounded_list(items: Iterable[Any], what: str, where: str) -> list[Any]:
    """``items`` as a list, read once; more than ``MAX_STEPS`` is refused before they are all read."""
    out = list(itertools.islice(iter(items), MAX_STEPS + 1))
    if len(out) > MAX_STEPS:
        raise RegistrationError(
            f"{where}: {what} gives more than {MAX_STEPS:,} items (an endless iterator such as itertools.repeat?); "
            f"give a finite schedule of at most {MAX_STEPS:,} steps"
        )
    return out


def locked(a: np.ndarray) -> np.ndarray:
    """A read-only copy of ``a`` (C-ordered) whose memory is immutable ``bytes``: no ``setflags(write=True)``
    on it, on a view of it or on its ``.base`` can make it writable, so no call the data is handed to can
    change it.  An object array, which has no bytes of its own, is a plain read-only copy (``validate``
    refuses it)."""
    if a.dtype.hasobject:
        out = np.array(a, order="C", copy=True)
        out.flags.writeable = False
        return out
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), a.dtype).reshape(a.shape)


def read_only(a: Any) -> Any:
    """The case's own copy of an array, ``locked`` (anything else is left for ``validate`` to judge): both sides
    get the same data, and a network that writes into its input fails where it writes."""
    return locked(a) if isinstance(a, np.ndarray) else a


def batch_of_data(a: np.ndarray, b: Any) -> Any:
    """``a[b]`` as a scratch call receives it: a slice or an int is a view of the locked data; an index array
    makes a copy, locked too, so that every batch is refused a write alike."""
    out = a[b]
    if isinstance(out, np.ndarray) and not np.may_share_memory(out, a):
        return locked(out)
    return out


@dataclass(frozen=True)
class Link:
    """Where one scratch parameter lives in the twin.

    The scratch array equals ``tensor.T[index]`` when ``transpose`` is set, else
    ``tensor[index]``: e.g. ``Link("linear.weight", (0,))`` for weights (2,) in
    an ``nn.Linear(2, 1)``, ``Link("layer1.weight", transpose=True)`` for an
    (in, out) matrix, ``Link("hidden.bias", (1,))`` for one scalar bias,
    ``Link("fc.bias", (None, slice(None)))`` for a bias kept as a (1, n) row and ``Link("fc.bias", (slice(None),
    None))`` for an (n, 1) column.
    """

    tensor: str
    index: tuple[int | slice, ...] = ()
    transpose: bool = False
    # More layouts, applied in this order: the sum of ``tensor`` and the tensors in ``plus`` (nn.RNN's
    # bias_ih + bias_hh as one scratch bias), ``transpose`` or ``permute`` (the twin's axes in the scratch
    # order: (h, w, in, out) from a Conv2d's (out, in, h, w) is ``permute=(2, 3, 1, 0)``), ``index``, then
    # ``shape`` (a reshape, row-major: a (4, 8, 8) per-activation scale from a (256,) tensor).  A sum is
    # written with the whole scratch value in ``tensor`` and zeros in the others, which must be frozen
    # (``requires_grad_(False)``): two trained tensors would each take the whole update, so the sum would move
    # twice as far as the scratch parameter.  Its gradient and optimizer state are ``tensor``'s.
    plus: tuple[str, ...] = ()
    permute: tuple[int, ...] | None = None
    shape: tuple[int, ...] | None = None

    @property
    def tensors(self) -> tuple[str, ...]:
        """Every twin tensor the scratch parameter is made of: ``tensor``, then ``plus``."""
        return (self.tensor, *self.plus)


@dataclass(frozen=True)
class Layer:
    """A layer's value on both sides, so that a divergence can be placed at the layer where it starts.

    ``scratch``: the attribute (a dotted path) of the scratch network that holds the value after
    ``forward``; ``twin``: the twin submodule (its name in ``named_modules()``, ``""`` for the whole
    twin) whose output, or input with ``twin_io="input"``, is that value; ``grad``: optionally the scratch
    attribute that holds dL/d(value) after ``gradients``, compared with the twin's backward hook.
    E.g. ``Layer("hidden", scratch="h", twin="act")`` for ``self.h = np.tanh(...)`` and ``self.act = nn.Tanh()``,
    or ``Layer("hidden", scratch="h", twin="out", twin_io="input")`` when the twin applies tanh as a function.
    """

    name: str
    scratch: str
    twin: str
    twin_io: str = "output"
    grad: str | None = None
    # The twin's value in the scratch layout: its axes reordered (``permute=(0, 2, 3, 1)`` for a scratch
    # (n, h, w, f) against the twin's (n, f, h, w)), then reshaped row-major (``shape``); the two must then
    # have one shape, so that no value is compared with another element of the same size.
    permute: tuple[int, ...] | None = None
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Scaled:
    """A state path (``Scratch(state=...)``) or option (``Scratch(options=...)``) the network keeps on another
    scale than torch: the twin's value is ``by * value``, ``by`` a number or a function of the case's learning
    rate (``Data.learning_rate``).  A book's momentum ``v = mu*v - lr*g; w += v`` keeps ``-lr`` times torch's
    buffer: ``Scaled("layers[0].v", by=lambda lr: -1 / lr)``.  Written back (a replay from the twin's state) as
    ``value / by``."""

    path: str
    by: float | Callable[[float], float]


@dataclass(frozen=True)
class Absent:
    """A state kind (``Scratch(state={kind: Absent("why")})``) that the twin's optimizer keeps and the network
    does not (an Adam without a step count, whose missing bias correction is the bug): it is not compared, the
    parameters after each update carry the check, and the reports say what was left out and why."""

    why: str = ""


@dataclass(frozen=True)
class Capture:
    """A method of the network that receives gradients during its own step (``Scratch(capture=...)``), for a network
    that keeps them to itself: the harness watches that method's calls while the step runs and records the gradient
    of each parameter.  ``method`` is its path (``[*]`` for every item of a list: ``"layers[*].optimizer.update"``).
    Either ``grad`` names the gradient in the method (an argument, read as the call begins, or a local variable,
    read as it returns) and ``param`` the argument that is the parameter itself (matched to the case's parameters by
    identity): ``Capture("layers[*].optimizer.update", grad="dw", param="w")``; or ``grad`` maps attributes of the
    method's object to their gradients' names in it, for a layer whose backward steps its own weights
    (``self.W -= lr * dW``): ``Capture("conv.backward", grad={"filters": "d_filters"})``."""

    method: str
    grad: str | Mapping[str, str]
    param: str | None = None


def _default_sgd(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


def _as_function(spec: Any) -> Any:
    """A method name becomes a function calling that method on the network; a function stays as it is."""
    if not isinstance(spec, str):
        return spec

    def call(net: Any, *args: Any) -> Any:
        return getattr(net, spec)(*args)

    call.__name__ = call.__qualname__ = spec
    return call


# What a declared step may take after the network, in the order it takes them: the batch as ``x`` and ``y``, or as
# ``pairs`` (a list of (x, y) samples, as Nielsen's ``update_mini_batch(mini_batch, eta)``), and ``lr``.
STEP_INPUTS = ("x", "y", "pairs", "lr")
# Step(loss=...)'s default: the step returns the loss, or (output, loss).
RETURNED = "returned"


@dataclass(frozen=True)
class Step:
    """The network's own training step as it is written: ``fn`` (a method name or a function of the network), what
    it takes after the network (``takes``, in its order: ``("x", "y", "lr")`` by default; ``("x", "y")`` without the
    learning rate; ``("pairs", "lr")`` for a list of (x, y) samples) and where its loss is: ``loss="returned"`` (the
    default: it returns the loss, or (output, loss)), an int (the item of the tuple it returns, e.g. 0 for
    ``train_on_batch(X, y)`` returning ``(loss, accuracy)``) or None (it returns nothing the harness reads: the
    harness computes the case's scratch loss on ``forward(net, x)`` before the step)."""

    fn: Callable[..., Any] | str
    takes: Sequence[str] = ("x", "y", "lr")
    loss: int | str | None = RETURNED


@dataclass(frozen=True)
class Tolerance:
    """A case's own float64 bound (``|scratch - twin| <= atol + rtol * |twin|``) in place of the fixed one, with the
    reason it needs it (a measured figure), shown beside the case's figures in every report."""

    atol: float
    rtol: float
    reason: str = ""


@dataclass(frozen=True)
class Scratch:
    """The from-scratch network, reached through its own methods and paths.

    ``params`` maps a path into the network (``W1``, ``layers[0].W``, ``p["W1"]``) to the twin tensor it
    equals.  The network comes from ``network(rng)``, which draws its own initial weights, or from the
    pair ``init(rng)`` (a dict of initial parameters by path) and ``build(params, lr)``.

    Training: ``step`` (the network's own training step, a method name or ``step(net, x, y, lr)``, returning
    the loss or ``(output, loss)``; or a ``Step`` declaring what it takes and where its loss is) runs the network's
    own update code; ``gradients`` (``(net, x, y) -> {path: gradient}``) with ``update`` (``(net, grads, lr)``)
    is for networks written that way.  With ``step``, ``grads`` names the gradients the step leaves behind
    (``{param path: gradient path}``), and ``gradients``, when given as well, is called before the step;
    ``capture`` names the method that receives them where the step keeps them to itself (``Capture``).

    Optimizer state: ``state`` maps each state kind the twin's optimizer keeps (torch's names:
    ``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``step``, ...) to ``{param path: state path}``, or to
    one path holding a scalar for every parameter (a step count ``t``); a path may be ``Scaled`` (kept on
    another scale), a kind ``Absent`` (not kept by the network); ``lr`` is the path of the learning
    rate the step used; ``options`` maps the twin optimizer's options (``momentum``, ``betas``, ...) to the
    paths of the network's own (a tuple of them for a tuple option: ``("beta_1", "beta_2")``), or to the
    value the network was given (a number passed to its constructor), compared at registration; ``buffers``
    maps paths to twin buffers (``Link("bn.running_mean")``), compared every step.
    """

    params: Mapping[str, Link]
    loss: Callable[[Array, Array], Array]
    network: Callable[[Any], Any] | None = None
    init: Callable[[Rng], Params] | None = None
    build: Callable[[Params, float], Any] | None = None
    forward: Callable[[Any, Array], Array] | str = "forward"
    step: Callable[[Any, Array, Array, float], Any] | str | Step | None = None
    gradients: Callable[[Any, Array, Array], Params] | str | None = None
    update: Callable[[Any, Params, float], None] | str | None = None
    grads: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Mapping[str, str | Scaled] | str | Scaled | Absent] = field(default_factory=dict)
    lr: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    buffers: Mapping[str, Link] = field(default_factory=dict)
    evaluate: Callable[[Any, Array, Array], Array] | None = None
    # Optional dL/doutput of the scratch loss, recorded so a divergence can be placed between the loss and
    # the parameter gradients.
    loss_gradient: Callable[[Array, Array], Array] | None = None
    # The methods that receive the gradients a step keeps to itself (``Capture``), with ``step``.
    capture: Capture | Sequence[Capture] = ()


@dataclass(frozen=True)
class Twin:
    """The PyTorch twin: ``module(dtype)`` builds it, ``loss(output, target)`` is its loss, ``optimizer(params,
    lr)`` its optimizer (default plain SGD), ``scheduler(optimizer)`` an optional learning-rate scheduler
    stepped after every optimizer step, ``evaluate(module, X, y)`` the recorded metric (default: the loss on
    the whole data), run with the module in eval mode.  ``clip(module)``: what the network does to its gradients
    between backward and the update (``lambda m: torch.nn.utils.clip_grad_value_(m.parameters(), 5)``), called
    after every backward and before the optimizer's step; the twin's recorded gradient is the clipped one, the
    one its update uses, so the network's ``grads`` must be its gradients after its own clip."""

    module: Callable[[torch.dtype], torch.nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: Callable[[Iterable[torch.nn.Parameter], float], torch.optim.Optimizer] = _default_sgd
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None
    evaluate: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    clip: Callable[[torch.nn.Module], Any] | None = None


@dataclass(frozen=True)
class Data:
    """The data and the schedule.  Shapes: ``X`` (n, ...), ``y`` (n, ...): regression values, one-hot rows or
    integer class labels (which reach the twin as torch.int64).  A batch is ``X[b]`` for each ``b`` that
    ``batches(rng)`` yields (an int for one sample, a slice or an index array for several), drawn after the
    initial weights from the same stream; ``curve_steps`` are the steps after which the metric is
    recorded; ``learning_rate`` goes to the scratch step and to the twin's optimizer."""

    X: Array
    y: Array
    batches: Callable[[Rng], Sequence[Batch]]
    learning_rate: float
    curve_steps: Sequence[int] = ()
    seed: int = 0


@dataclass(frozen=True)
class Calls:
    """The case's functions as the harness calls them, resolved once: the scratch side's method names turned
    into functions of the network, ``network(rng)`` turned into ``init``/``build`` (one way to start a run and
    to rebuild a network at any step), and the defaults filled in: ``evaluate`` (the scratch loss on the
    whole data) and ``twin_evaluate`` (the twin's loss on the whole data)."""

    init: Callable[[Rng], Params]
    build: Callable[[Params, float], Any]
    forward: Callable[[Any, Array], Array]
    loss: Callable[[Array, Array], Array]
    step: Callable[[Any, Array, Array, float], Any] | None
    gradients: Callable[[Any, Array, Array], Params] | None
    update: Callable[[Any, Params, float], None] | None
    evaluate: Callable[[Any, Array, Array], Array]
    twin_evaluate: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One network pair: the scratch side, the twin side, the data and schedule, and how to name it.
    ``calls`` holds its functions as the harness calls them."""

    name: str
    scratch: Scratch
    twin: Twin
    data: Data
    description: str = ""
    source: str | None = None  # where the network was written from (a file, a page): shown in the reports
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    # The network's layers, input to output, for naming the layer where a divergence starts (optional).
    layers: Sequence[Layer] = ()
    # The case's own float64 bound and why (default: crosscheck.tolerance's fixed bound).
    tolerance: Tolerance | None = None
    # {check: reason} of the checks this case is known to fail (a bug catalogue's case): strict xfails under
    # parametrize_with_checks, "expected failure" in the command's table and the reports.
    expected_failures: Mapping[str, str] = field(default_factory=dict)
    # The largest run (steps x parameters) the case may start; a larger one is refused with its figure.
    max_size: int | None = None

    def __post_init__(self) -> None:
        # The data is the case's own, read-only: a network writing into its input cannot change what the
        # other side or a later check sees.  A one-shot iterable of curve steps is read here, once.
        data = self.data
        if isinstance(data, Data):
            steps = data.curve_steps
            if not isinstance(steps, Sequence):
                where = f"case {self.name!r}"
                if not isinstance(steps, Iterable):
                    raise RegistrationError(f"{where}: curve_steps must be step numbers, got {type(steps).__name__}")
                steps = tuple(bounded_list(steps, "curve_steps", where))
            data = Data(read_only(data.X), read_only(data.y), data.batches, data.learning_rate, steps, data.seed)
            object.__setattr__(self, "data", data)
        # Not a field: derived from the fields, so it is neither compared nor fingerprinted, and a copy made
        # with dataclasses.replace resolves its own.
        if isinstance(self.scratch, Scratch):
            object.__setattr__(self, "_calls", _resolve(self.scratch, self.twin, self.data))

    @property
    def calls(self) -> Calls:
        return self._calls  # type: ignore[attr-defined,no-any-return]

    @property
    def origin(self) -> Any:
        """The user's function that makes the network: its module is where the case is defined."""
        return self.scratch.network or self.scratch.build

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[np.dtype(self.dtype)]

    def read_params(self, net: Any) -> Params:
        """The scratch parameters, read from ``net`` by path, copied."""
        return {name: np.array(paths.reader(name)(net)) for name in self.scratch.params}


def _twin_evaluate(twin: Twin) -> Any:
    if not isinstance(twin, Twin):
        return None  # refused by validate, which says what a twin is
    if twin.evaluate is not None:
        return twin.evaluate
    loss = twin.loss
    return lambda module, X, y: loss(module(X), y)


@contextlib.contextmanager
def _seeded_globals(rng: Rng) -> Iterator[None]:
    """np.random and random seeded from ``rng``'s stream (without drawing from it) while the network is built,
    the caller's own states put back after: a network drawing its initial weights from the global np.random,
    as most books do, starts alike on every run, and the user's global streams are not disturbed."""
    saved_np, saved_py = np.random.get_state(), random.getstate()
    if isinstance(rng, np.random.RandomState):
        state = rng.get_state()
        np.random.set_state(state)  # np.random.randn(...) draws what rng.randn(...) would
        random.seed(state[1].tobytes())  # type: ignore[index]
    else:
        seed = repr(rng.bit_generator.state).encode()
        np.random.seed(zlib.crc32(seed))  # not hash(): a str's hash differs from one process to the next
        random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved_np)
        random.setstate(saved_py)


def _declared_step(
    s: Scratch, data: Any, forward: Callable[[Any, Array], Array], loss: Callable[[Array, Array], Array]
) -> Any:
    """The network's own step as the harness calls it, ``(net, x, y, lr) -> result``, whatever it takes as the case
    declares it (``Step``); with ``Step(loss=None)`` the result is ``(output, loss)`` of the forward before the step."""
    if not isinstance(s.step, Step):
        return _as_function(s.step)
    fn, takes, own_loss = _as_function(s.step.fn), tuple(s.step.takes), s.step.loss
    sample_ndim = np.ndim(getattr(data, "X", ())) - 1

    def inputs(x: Any, y: Any, lr: float) -> list[Any]:
        got = {"x": x, "y": y, "lr": lr}
        if "pairs" in takes:
            # One sample (an int batch) is one pair; a batch of rows, one pair per row.
            got["pairs"] = [(x, y)] if np.ndim(x) == sample_ndim else list(zip(x, y, strict=True))
        return [got[name] for name in takes]

    if own_loss is None:

        def step(net: Any, x: Any, y: Any, lr: float) -> Any:
            output = forward(net, x)
            before = loss(output, y)
            fn(net, *inputs(x, y, lr))
            return output, before

    else:

        def step(net: Any, x: Any, y: Any, lr: float) -> Any:
            return fn(net, *inputs(x, y, lr))

    step.__name__ = step.__qualname__ = getattr(fn, "__name__", "step")
    return step


def _resolve(s: Scratch, twin: Twin, data: Any = None) -> Calls:
    """The case's ``Calls``: see there."""
    forward, loss = _as_function(s.forward), s.loss
    out: dict[str, Any] = {
        "forward": forward,
        "loss": loss,
        "step": _declared_step(s, data, forward, loss),
        "gradients": _as_function(s.gradients),
        "update": _as_function(s.update),
        "init": s.init,
        "build": s.build,
        "twin_evaluate": _twin_evaluate(twin),
    }
    out["evaluate"] = s.evaluate if s.evaluate is not None else (lambda net, X, y: loss(forward(net, X), y))
    network, names = s.network, list(s.params) if isinstance(s.params, Mapping) else []
    held = [
        p.path if isinstance(p, Scaled) else p
        for kind in s.state.values()
        if isinstance(kind, Mapping)
        for p in kind.values()
    ]
    held += list(s.buffers) if isinstance(s.buffers, Mapping) else []
    if network is not None:

        def init(rng: Rng) -> Params:
            with _seeded_globals(rng):
                net = network(rng)
            return {name: np.array(paths.read(net, name)) for name in names}

        def build(params: Params, learning_rate: float) -> Any:
            # The network's own constructor, then the given parameters written in by path: any other
            # attribute it derives at construction (an optimizer's state, buffers) starts as it would.
            rng = np.random.RandomState(0)
            with _seeded_globals(rng):
                net = network(rng)
            for name, value in params.items():
                paths.write(net, name, value)
            # What the constructor made beside the parameters (optimizer state, running statistics) in their
            # dtype too: a float32 variant must not keep float64 state.
            dtype = np.asarray(next(iter(params.values()))).dtype
            for path in held:
                try:
                    value = paths.read(net, path)
                except paths.PathError:
                    continue  # made at the first step, from the parameters
                if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.dtype != dtype:
                    paths.write(net, path, value.astype(dtype))
            return net

        out["init"], out["build"] = init, build
    elif callable(s.init):
        own_init = s.init

        def seeded_init(rng: Rng) -> Params:
            with _seeded_globals(rng):
                return own_init(rng)

        out["init"] = seeded_init
    return Calls(**out)


def vary(case: Case, **changes: Any) -> Case:
    """A copy of ``case`` with some parts changed, each named as its class declares it: the case's own
    ``name``, ``description``, ``source``, ``dtype``, ``layers``; a field of ``Scratch``, ``Twin`` or
    ``Data`` by its bare name (``params``, ``network``, ``step``..., ``module``, ``optimizer``, ``scheduler``,
    ``X``, ``y``, ``batches``, ``learning_rate``, ``curve_steps``, ``seed``...) or prefixed by its part
    (``scratch_loss``, ``twin_loss``, ``data_seed``); ``loss`` and ``evaluate``, which both ``Scratch`` and
    ``Twin`` declare, only prefixed.  A variant checked beside its case under pytest needs a ``name`` of its
    own: a case's name names its golden file and its repro, and a second case under one name is refused."""
    parts = {"scratch": Scratch, "twin": Twin, "data": Data}
    owners: dict[str, list[str]] = {}
    for part, cls in parts.items():
        for f in dataclasses.fields(cls):
            owners.setdefault(f.name, []).append(part)
    case_fields = {f.name for f in dataclasses.fields(Case)} - set(parts)
    changed: dict[str, dict[str, Any]] = {part: {} for part in (*parts, "case")}
    for key, value in changes.items():
        part, _, name = key.partition("_")
        if part in parts and name in owners and part in owners[name]:
            changed[part][name] = value
        elif key in case_fields:
            changed["case"][key] = value
        elif len(owners.get(key, ())) == 1:
            changed[owners[key][0]][key] = value
        elif key in owners:
            qualified = " or ".join(f"{part}_{key}" for part in owners[key])
            raise TypeError(f"vary(): {' and '.join(owners[key])} both have {key!r}: say {qualified}")
        else:
            raise TypeError(f"vary(): a case has no part {key!r}")
    return dataclasses.replace(
        case,
        scratch=dataclasses.replace(case.scratch, **changed["scratch"]),
        twin=dataclasses.replace(case.twin, **changed["twin"]),
        data=dataclasses.replace(case.data, **changed["data"]),
        **changed["case"],
    )


FLOAT32 = np.dtype(np.float32)


def _float32(a: np.ndarray) -> np.ndarray:
    """Floating-point data in float32; integers (class labels) as they are."""
    return a if np.issubdtype(a.dtype, np.integer) else np.asarray(a).astype(np.float32)


def float32_case(case: Case) -> Case:
    """The float32 variant of a float64 case, named ``<name>_float32``.

    The same variant object is returned for the same case, so that its run is computed once (``RUNS`` keeps a
    run by case object): it is kept on the case itself, and lives as long as the case.
    """
    if np.dtype(case.dtype) != np.float64:
        raise ValueError(f"{case.name}: float32_case takes a float64 case, this one is {np.dtype(case.dtype).name}")
    known = getattr(case, "_float32_variant", None)
    if known is not None:
        return known
    variant = vary(
        case,
        name=f"{case.name}_float32",
        dtype=FLOAT32,
        X=_float32(case.data.X),
        y=_float32(case.data.y),
        description=f"{case.description} (float32)" if case.description else "float32",
    )
    object.__setattr__(case, "_float32_variant", variant)  # a frozen dataclass: the memo is not one of its fields
    return variant
