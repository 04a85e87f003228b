"""``Case``: everything the harness needs to know about one scratch network and its twin.

A case is plain data plus a few small functions.  The scratch side is reached
only through ``build``/``forward``/``loss``/``gradients``/``update``, so any
from-scratch network fits without changing its own method names; the twin is
any ``torch.nn.Module`` whose tensors ``param_map`` ties to the scratch names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
import torch
from numpy.typing import NDArray

from crosscheck.errors import RegistrationError, StepError, writes_into_input

Array = NDArray[Any]
Params = dict[str, Array]
Batch = int | slice | Array
Rng = np.random.RandomState | np.random.Generator

TORCH_DTYPES = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
# A schedule or curve longer than this is refused before it is materialised: a run of a million steps
# is far beyond what a cross-check replays, and an endless generator (itertools.repeat) would otherwise
# take memory until MemoryError.
MAX_STEPS = 1_000_000
# Golden files are named after cases: a name must fit a file name on every file system.
MAX_NAME_LENGTH = 100
# How many first steps the twin runs twice to prove it deterministic (dropout, unseeded randomness).
TWIN_REPEAT_STEPS = 3


def bounded_list(items: Iterable[Any], what: str, where: str) -> list[Any]:
    """``items`` as a list, read once; more than ``MAX_STEPS`` is refused before they are all read."""
    out = list(itertools.islice(iter(items), MAX_STEPS + 1))
    if len(out) > MAX_STEPS:
        raise RegistrationError(
            f"{where}: {what} gives more than {MAX_STEPS:,} items (an endless iterator such as itertools.repeat?); "
            f"give a finite schedule of at most {MAX_STEPS:,} steps"
        )
    return out


def read_only(a: Any) -> Any:
    """A read-only, C-ordered copy of an array (anything else is left for ``validate`` to judge): both sides
    get the same data, and a network that writes into its input fails where it writes."""
    if not isinstance(a, np.ndarray):
        return a
    out = np.array(a, order="C", copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Link:
    """Where one scratch parameter lives in the twin.

    The scratch array equals ``tensor.T[index]`` when ``transpose`` is set, else
    ``tensor[index]``: e.g. ``Link("linear.weight", (0,))`` for weights (2,) in
    an ``nn.Linear(2, 1)``, ``Link("layer1.weight", transpose=True)`` for an
    (in, out) matrix, ``Link("hidden.bias", (1,))`` for one scalar bias.
    """

    tensor: str
    index: tuple[int | slice, ...] = ()
    transpose: bool = False


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


@dataclass(frozen=True)
class Case:
    """One network pair.  Shapes: ``X`` (n, ...), ``y`` (n, ...); a batch is ``X[b]`` for each ``b``
    that ``batches`` yields (an int for one sample, a slice or an index array for several)."""

    name: str
    param_map: Mapping[str, Link]
    init: Callable[[Rng], Params]
    X: Array
    y: Array
    batches: Callable[[Rng], Sequence[Batch]]
    learning_rate: float
    build: Callable[[Params, float], Any]
    forward: Callable[[Any, Array], Array]
    loss: Callable[[Array, Array], Array]
    gradients: Callable[[Any, Array, Array], Params]
    update: Callable[[Any, Params, float], None]
    twin: Callable[[torch.dtype], torch.nn.Module]
    twin_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[Any, Array, Array], Array]
    twin_evaluate: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    curve_steps: Sequence[int]
    seed: int = 0
    seed_file: str | None = None
    # Optional dL/doutput of the scratch loss, recorded so a divergence can be placed between the
    # loss and the parameter gradients.
    loss_gradient: Callable[[Array, Array], Array] | None = None
    description: str = ""
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    # The network's layers, input to output, for naming the layer where a divergence starts (optional).
    layers: Sequence[Layer] = ()

    def __post_init__(self) -> None:
        # The data is the case's own, read-only: a network writing into its input cannot change what the
        # other side or a later check sees.  A one-shot iterable of curve steps is read here, once.
        object.__setattr__(self, "X", read_only(self.X))
        object.__setattr__(self, "y", read_only(self.y))
        if not isinstance(self.curve_steps, Sequence):
            steps = self.curve_steps
            where = f"case {self.name!r}"
            if not isinstance(steps, Iterable):
                raise RegistrationError(f"{where}: curve_steps must be step numbers, got {type(steps).__name__}")
            object.__setattr__(self, "curve_steps", tuple(bounded_list(steps, "curve_steps", where)))

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[np.dtype(self.dtype)]

    def read_params(self, net: Any) -> Params:
        """The scratch parameters: the attributes of ``net`` named in ``param_map``, copied."""
        return {name: np.array(getattr(net, name)) for name in self.param_map}


def twin_data(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """X and y for the twin: copies, sharing no memory with the case's read-only arrays."""
    return torch.tensor(case.X), torch.tensor(case.y)


def twin_tensor(module: torch.nn.Module, link: Link) -> torch.Tensor:
    tensors = dict(module.named_parameters())
    t = tensors[link.tensor]
    return t.T if link.transpose else t


def twin_to_scratch(module: torch.nn.Module, case: Case, grads: bool = False) -> Params:
    """The twin's parameters (or their ``.grad``) under the scratch names and layouts."""
    out: Params = {}
    tensors = dict(module.named_parameters())
    for name, link in case.param_map.items():
        t: torch.Tensor = tensors[link.tensor]
        if grads:
            # .grad lives on the leaf tensor, not on a transposed view of it.
            if t.grad is None:
                raise AssertionError(f"{case.name}: twin tensor {link.tensor!r} got no gradient")
            t = t.grad
        t = t.T if link.transpose else t
        out[name] = t.detach()[link.index].cpu().numpy().copy()
    return out


def load_into_twin(module: torch.nn.Module, case: Case, params: Params) -> None:
    with torch.no_grad():
        for name, link in case.param_map.items():
            view = twin_tensor(module, link)
            view[link.index] = torch.as_tensor(params[name], dtype=view.dtype)


def _call(where: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call one of the case's functions; an exception becomes a RegistrationError saying which call."""
    try:
        return fn(*args)
    except RegistrationError:
        raise
    except ValueError as exc:
        if "read-only" in str(exc):
            raise RegistrationError(writes_into_input(f"{where}: {what}")) from exc
        raise RegistrationError(f"{where}: {what} raised {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise RegistrationError(f"{where}: {what} raised {type(exc).__name__}: {exc}") from exc


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_fields(case: Case, where: str) -> None:
    if not isinstance(case.name, str) or not case.name or not all(c.isalnum() or c in "_-." for c in case.name):
        raise RegistrationError(f"{where}: name must be non-empty letters, digits, '_', '-' or '.'")
    if len(case.name) > MAX_NAME_LENGTH:
        raise RegistrationError(
            f"case {case.name[:20]!r}...: the name has {len(case.name)} characters; at most {MAX_NAME_LENGTH}, "
            f"since it names the case's golden file"
        )
    try:
        known = np.dtype(case.dtype) in TORCH_DTYPES  # np.float32, "float32" and np.dtype("float32") alike
    except TypeError:
        known = False
    if not known:
        raise RegistrationError(f"{where}: dtype must be float32 or float64, got {case.dtype}")
    lr = case.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.integer | np.floating):
        raise RegistrationError(f"{where}: learning_rate must be a real number, got {lr!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise RegistrationError(f"{where}: learning_rate must be positive and finite, got {lr}")
    if not _is_int(case.seed) or not 0 <= case.seed < 2**32:
        raise RegistrationError(f"{where}: seed must be an int in [0, 2**32), got {case.seed!r}")
    if not isinstance(case.param_map, Mapping) or not case.param_map:
        raise RegistrationError(f"{where}: param_map must map each scratch parameter name to a Link; it is empty")
    for name, link in case.param_map.items():
        if not isinstance(link, Link):
            raise RegistrationError(
                f"{where}: param_map[{name!r}] must be a Link(tensor, index, transpose), got {type(link).__name__}"
            )
    for method in (
        *("init", "batches", "build", "forward", "loss", "gradients", "update"),
        *("twin", "twin_loss", "evaluate", "twin_evaluate"),
    ):
        if not callable(getattr(case, method)):
            raise RegistrationError(f"{where}: {method} must be callable")
    if case.loss_gradient is not None and not callable(case.loss_gradient):
        raise RegistrationError(f"{where}: loss_gradient must be callable or None")


def _check_data(case: Case, where: str) -> None:
    dtype = np.dtype(case.dtype)
    for label, a in (("X", case.X), ("y", case.y)):
        if not isinstance(a, np.ndarray):
            raise RegistrationError(
                f"{where}: {label} must be a NumPy array, got {type(a).__name__}; "
                f"use np.asarray({label}, dtype=np.{dtype.name})"
            )
        if a.dtype != dtype:
            raise RegistrationError(
                f"{where}: {label} has dtype {a.dtype} but the case is {dtype}; "
                f"convert it with .astype(np.{dtype.name})"
            )
        if a.ndim == 0 or a.size == 0:
            raise RegistrationError(f"{where}: {label} is empty (shape {a.shape}); give at least one sample")
        if not np.all(np.isfinite(a)):
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise RegistrationError(f"{where}: {label} contains {a[at]} at index {at}; the data must be finite")
    if len(case.X) != len(case.y):
        raise RegistrationError(
            f"{where}: X has {len(case.X)} rows but y has {len(case.y)}; give one target row per sample"
        )


def _initial_params(case: Case, where: str, rng: Rng) -> Params:
    """init()'s parameters, cast to the case dtype exactly as ``crosscheck.trace.start`` does."""
    raw = _call(where, "init(rng)", case.init, rng)
    if not isinstance(raw, Mapping):
        raise RegistrationError(f"{where}: init(rng) must return a dict of arrays, got {type(raw).__name__}")
    if set(raw) != set(case.param_map):
        raise RegistrationError(
            f"{where}: init() returns parameters {sorted(raw)} but param_map names {sorted(case.param_map)}"
        )
    params: Params = {}
    for name, value in raw.items():
        a = np.asarray(value)
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise RegistrationError(f"{where}: init() parameter {name!r} must be a real array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise RegistrationError(f"{where}: init() parameter {name!r} contains NaN or Inf")
        params[name] = a.astype(case.dtype)
    return params


def schedule(case: Case, rng: Rng, where: str | None = None) -> list[Batch]:
    """The batch schedule ``case.batches(rng)``, read once and bounded by ``MAX_STEPS``."""
    where = where or f"case {case.name!r}"
    return bounded_list(_call(where, "batches(rng)", case.batches, rng), "batches(rng)", where)


def _schedule(case: Case, where: str, rng: Rng) -> list[Batch]:
    """The batch schedule (drawn after init, from the same stream), checked batch by batch."""
    batches = schedule(case, rng, where)
    if not batches:
        raise RegistrationError(f"{where}: batches(rng) gives no batch: a run needs at least one step")
    n = len(case.X)
    for step, b in enumerate(batches):
        if _is_int(b):
            ok = -n <= int(b) < n
        elif isinstance(b, slice):
            ok = len(range(*b.indices(n))) > 0
        elif isinstance(b, np.ndarray) and b.ndim == 1 and np.issubdtype(b.dtype, np.integer):
            ok = b.size > 0 and bool(np.all((b >= -n) & (b < n)))
        else:
            raise RegistrationError(
                f"{where}: batch {step} is {b!r}; a batch is an int, a slice or a 1-D integer index array"
            )
        if not ok:
            raise RegistrationError(f"{where}: batch {step} ({b!r}) selects no row of X, which has {n} rows")
    # Each step's output, loss and gradients are stacked along the step axis: one batch shape for all.
    sizes = [None if _is_int(b) else len(case.X[b]) for b in batches]
    odd = next((i for i, size in enumerate(sizes) if size != sizes[0]), None)
    if odd is not None:

        def rows(size: int | None) -> str:
            return "one sample" if size is None else f"{size} row{'' if size == 1 else 's'}"

        raise RegistrationError(
            f"{where}: batch {odd} has {rows(sizes[odd])} but batch 0 has {rows(sizes[0])}: every batch "
            f"must be the same size; drop or refill the short last batch"
        )
    steps = list(case.curve_steps)
    if not all(_is_int(s) for s in steps) or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise RegistrationError(f"{where}: curve_steps must be increasing step numbers, got {steps[:10]}")
    if steps and not 0 <= steps[0] <= steps[-1] < len(batches):
        raise RegistrationError(
            f"{where}: curve_steps run from {steps[0]} to {steps[-1]} but the run has steps 0 to {len(batches) - 1}"
        )
    return batches


def _check_map(case: Case, where: str, net: Any, module: torch.nn.Module) -> None:
    """Every scratch parameter exists, has the case dtype and the shape of the twin element it maps to,
    and every element of every twin tensor is mapped exactly once."""
    missing = [n for n in case.param_map if not hasattr(net, n)]
    if missing:
        raise RegistrationError(
            f"{where}: the scratch network has no attribute {missing[0]!r}; param_map keys must "
            f"be the names of the network's parameter attributes"
        )
    scratch = case.read_params(net)
    tensors = dict(module.named_parameters())
    if not tensors:
        raise RegistrationError(f"{where}: the twin has no parameters")
    for t_name, t in tensors.items():
        if t.dtype != case.torch_dtype:
            raise RegistrationError(f"{where}: twin tensor {t_name!r} is {t.dtype} but the case is {case.dtype}")
    covered = {t_name: torch.zeros_like(t, dtype=torch.int64) for t_name, t in tensors.items()}
    for name, link in case.param_map.items():
        if link.tensor not in tensors:
            raise RegistrationError(
                f"{where}: param_map[{name!r}] points at twin tensor {link.tensor!r}, "
                f"which the twin does not have; it has {sorted(tensors)}"
            )
        view = twin_tensor(module, link)
        try:
            target_shape = tuple(view[link.index].shape)
        except IndexError as exc:
            raise RegistrationError(f"{where}: param_map[{name!r}] index {link.index} is out of range: {exc}") from None
        if scratch[name].dtype != case.dtype:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} is {scratch[name].dtype} but the case is {case.dtype}"
            )
        if target_shape != scratch[name].shape:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} has shape {scratch[name].shape} but "
                f"twin tensor {link.tensor!r}{'.T' if link.transpose else ''}{list(link.index) if link.index else ''} "
                f"has shape {target_shape}"
            )
        cov = covered[link.tensor].T if link.transpose else covered[link.tensor]
        cov[link.index] += 1
    for t_name, cov in covered.items():
        if not torch.all(cov == 1):
            raise RegistrationError(
                f"{where}: every element of twin tensor {t_name!r} must be mapped exactly once; "
                f"counts are {cov.tolist()}"
            )


def _check_pairing(where: str, output: tuple[int, ...], target: tuple[int, ...], what: str) -> None:
    """Output and target must pair up: a target shape that broadcasts the output to a larger array
    (the classic (4,) targets against (4, 1) outputs, which give (4, 4)) is refused."""
    if output == target:
        return
    try:
        spread = np.broadcast_shapes(output, target)
    except ValueError:
        return  # not element-wise (class labels, say): the loss pairs them its own way
    if spread != output:
        raise RegistrationError(
            f"{where}: {what} has shape {output} but its targets have shape {target}; "
            f"output - target would broadcast to {spread}, pairing every output with every target: "
            f"give y rows of the output's shape"
        )


def _check_first_step(case: Case, where: str, net: Any, module: torch.nn.Module, params: Params, b: Batch) -> None:
    """One forward, loss, gradient and update on each side: shapes and dtypes must agree."""
    out = np.asarray(_call(where, "forward(net, X)", case.forward, net, case.X))
    _check_pairing(where, out.shape, case.y.shape, "forward(net, X)")
    xb, yb = case.X[b], case.y[b]
    out = np.asarray(_call(where, "forward(net, X[batch 0])", case.forward, net, xb))
    _check_pairing(where, out.shape, yb.shape, "forward(net, X[batch 0])")
    if out.dtype != case.dtype:
        raise RegistrationError(f"{where}: forward() returns {out.dtype} but the case is {case.dtype}")
    loss = np.asarray(_call(where, "loss(output, y[batch 0])", case.loss, out, yb))
    if loss.shape != ():
        raise RegistrationError(f"{where}: loss(output, y[batch 0]) must be a scalar, got shape {loss.shape}")
    if loss.dtype != case.dtype:
        raise RegistrationError(
            f"{where}: loss(output, y[batch 0]) returns {loss.dtype} ({type(loss.item()).__name__}) but the case is "
            f"{np.dtype(case.dtype).name}; return a NumPy value of the case's dtype (np.mean(...), not float(...))"
        )
    grads = _call(where, "gradients(net, X[batch 0], y[batch 0])", case.gradients, net, xb, yb)
    if not isinstance(grads, Mapping) or set(grads) != set(case.param_map):
        names = sorted(grads) if isinstance(grads, Mapping) else type(grads).__name__
        raise RegistrationError(
            f"{where}: gradients() must return a dict with the keys {sorted(case.param_map)}, got {names}"
        )
    for name, g in grads.items():
        g = np.asarray(g)
        if g.shape != params[name].shape or g.dtype != case.dtype:
            raise RegistrationError(
                f"{where}: gradient of {name!r} is {g.dtype} {g.shape} but the parameter is "
                f"{np.dtype(case.dtype)} {params[name].shape}"
            )
    _call(where, "update(net, grads, learning_rate)", case.update, net, grads, case.learning_rate)
    for name, value in case.read_params(net).items():
        if value.shape != params[name].shape or value.dtype != case.dtype:
            raise RegistrationError(
                f"{where}: after update() parameter {name!r} is {value.dtype} {value.shape}, "
                f"not {np.dtype(case.dtype)} {params[name].shape}: something broadcast"
            )

    load_into_twin(module, case, params)
    index = torch.as_tensor(b) if isinstance(b, np.ndarray) else b
    X_t, y_t = twin_data(case)
    xt, yt = X_t[index], y_t[index]
    out_t = _call(where, "twin(X[batch 0])", module, xt)
    if tuple(out_t.shape) != out.shape or out_t.dtype != case.torch_dtype:
        raise RegistrationError(
            f"{where}: the twin's output is {out_t.dtype} {tuple(out_t.shape)} but the scratch forward() gives "
            f"{out.dtype} {out.shape}"
        )
    if not out_t.requires_grad:
        raise RegistrationError(
            f"{where}: the twin's output does not depend on its parameters through autograd (it is detached: "
            f".detach(), .numpy(), .item() or torch.no_grad() inside forward); return the tensor computed from "
            f"the parameters"
        )
    loss_t = _call(where, "twin_loss(output, y[batch 0])", case.twin_loss, out_t, yt)
    if not isinstance(loss_t, torch.Tensor):
        raise RegistrationError(
            f"{where}: twin_loss(output, y) must return a torch tensor, got {type(loss_t).__name__} "
            f"(.item() or float() leaves autograd)"
        )
    if not loss_t.requires_grad:
        raise RegistrationError(
            f"{where}: twin_loss(output, y) does not depend on the output through autograd (it is detached); "
            f"compute it with torch operations on the output"
        )
    if loss_t.shape != ():
        raise RegistrationError(f"{where}: twin_loss must return a scalar, got shape {tuple(loss_t.shape)}")
    loss_t.backward()
    tensors = dict(module.named_parameters())
    for name, link in case.param_map.items():
        if tensors[link.tensor].grad is None:
            raise RegistrationError(
                f"{where}: twin tensor {link.tensor!r} (parameter {name!r}) gets no gradient from twin_loss"
            )


def validate(case: Case) -> None:
    """Build both sides from the initial parameters, take the first step on each, and check that they
    fit together; anything that does not raises ``RegistrationError`` saying what to fix."""
    where = f"case {getattr(case, 'name', '?')!r}"
    _check_fields(case, where)
    _check_data(case, where)
    if not isinstance(case, Case):
        raise RegistrationError(f"expected a crosscheck.Case, got {type(case).__name__}")
    rng = np.random.RandomState(case.seed)  # init, then the batches, from one stream: as trace.start
    params = _initial_params(case, where, rng)
    batches = _schedule(case, where, rng)
    net = _call(
        where, "build(params, learning_rate)", case.build, {k: v.copy() for k, v in params.items()}, case.learning_rate
    )
    module = _call(where, "twin(dtype)", case.twin, case.torch_dtype)
    if not isinstance(module, torch.nn.Module):
        raise RegistrationError(f"{where}: twin(dtype) must return a torch.nn.Module, got {type(module).__name__}")
    _check_map(case, where, net, module)
    _check_first_step(case, where, net, module, params, batches[0])
    _check_twin_repeats(case, where, params, batches[:TWIN_REPEAT_STEPS])
    _check_layers(case, where, params, batches[0])


def _check_layers(case: Case, where: str, params: Params, batch: Batch) -> None:
    """Each named layer can be read on both sides, with one shape."""
    if not case.layers:
        return
    from crosscheck import localise

    for layer in case.layers:
        if not isinstance(layer, Layer) or layer.twin_io not in ("input", "output"):
            raise RegistrationError(f"{where}: layers must be Layer(name, scratch, twin, twin_io='output'|'input')")
    module = case.twin(case.torch_dtype)
    known = dict(module.named_modules())
    for layer in case.layers:
        if layer.twin not in known:
            raise RegistrationError(
                f"{where}: layer {layer.name!r} names twin submodule {layer.twin!r}, which the twin does not have; "
                f"it has {sorted(n for n in known if n)}"
            )
    try:
        s_values, s_grads = localise._scratch_layers(case, params, batch)
    except AttributeError as exc:
        raise RegistrationError(
            f"{where}: a layer names a scratch attribute the network does not have after forward/gradients: {exc}"
        ) from None
    except Exception as exc:
        raise RegistrationError(f"{where}: the scratch layers could not be read: {type(exc).__name__}: {exc}") from exc
    t_values, t_grads = _call(where, "the twin with hooks on its layers", localise._twin_layers, case, params, batch)
    for layer, a, b in zip(case.layers, s_values, t_values, strict=True):
        if b is None or np.size(a) != np.size(b):
            raise RegistrationError(
                f"{where}: layer {layer.name!r} is {np.shape(a)} on the scratch side but the twin's "
                f"{layer.twin or 'module'} {layer.twin_io} is {None if b is None else np.shape(b)}"
            )


def _check_twin_repeats(case: Case, where: str, params: Params, batches: list[Batch]) -> None:
    """The twin run twice over its first steps from the same parameters must give the same bits: a twin with
    dropout or unseeded randomness would fail the cross-check with other values on every run."""
    from crosscheck.trace import twin_trace

    try:
        first, again = twin_trace(case, params, batches), twin_trace(case, params, batches)
    except StepError as exc:
        raise RegistrationError(f"{where}: {str(exc).removeprefix(case.name + ': ')}") from exc
    for key in first:
        if not np.array_equal(first[key], again[key], equal_nan=True):
            raise RegistrationError(
                f"{where}: the twin is not deterministic: run twice from the same parameters over its first "
                f"{len(batches)} steps, it gives different {key}. Dropout, or randomness drawn in forward, makes "
                f"every run differ; remove it from the twin (and the scratch network), or use the module's eval "
                f"behaviour for the cross-check"
            )


_VALID: dict[int, tuple[Case, str | None]] = {}


def validation_problem(case: Case) -> str | None:
    """``validate(case)``'s message, or None when the case can be checked; each case object is validated
    once, whichever entry point (register, run_check, parametrize_with_checks, the CLI) meets it first."""
    known = _VALID.get(id(case))
    if known is not None and known[0] is case:
        return known[1]
    try:
        validate(case)
        problem = None
    except RegistrationError as exc:
        problem = str(exc)
    _VALID[id(case)] = (case, problem)  # holding the case keeps its id from being reused
    return problem
