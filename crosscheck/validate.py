"""``validate(case)``: build both sides from the initial parameters and take a first step on each, so that a
case that cannot be checked is refused with what to fix before any check runs; ``validation_problem``, its
message, once per case.  The steps run on the rows the first batches take (``crosscheck.rows``): a registration
costs a few steps on a few rows, whatever the size of the data."""

from __future__ import annotations

import functools
import itertools
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from crosscheck import paths
from crosscheck.case import (
    TORCH_DTYPES,
    Array,
    Batch,
    Case,
    Data,
    Layer,
    Link,
    Params,
    Rng,
    Scaled,
    Scratch,
    Step,
    Twin,
    batch_of_data,
)
from crosscheck.declarations import check_same_build, check_static, check_step_signature
from crosscheck.errors import CallError, RegistrationError, StepError, call_user, raised_text
from crosscheck.keys import STEPPED, Trace, describe, split_key
from crosscheck.layer_values import scratch_layer_values, twin_layer_values
from crosscheck.layout import load_into_twin, twin_data
from crosscheck.optimizer_text import describe_optimizer
from crosscheck.rows import first_rows
from crosscheck.run.capture import check_capture
from crosscheck.run.scratch import scratch_trace

# Golden files are named after cases: a name must fit a file name on every file system.
from crosscheck.run.twin import TwinRecorder, batch_of, checksum
from crosscheck.schedule import checked_schedule, is_int
from crosscheck.size import check_size
from crosscheck.validate_maps import (
    check_layer_layouts,
    check_map,
    check_options,
    check_state_fields,
    check_state_kinds,
)
from crosscheck.validate_modes import check_eval_mode, gradients_leaving_buffers

# Golden files are named after cases: a name must fit a file name on every file system.
MAX_NAME_LENGTH = 100
# How many first steps the twin runs twice to prove it deterministic (dropout, unseeded randomness).
TWIN_REPEAT_STEPS = 3
# The calls that take X itself: where one of them raises on integer data, the message adds the dtype hint.
_FORWARDS = ("twin(X[batch 0])", "forward(net, X)", "forward(net, X[batch 0])")


def _check_path(where: str, what: str, path: Any) -> None:
    try:
        paths.parse(path)
    except paths.PathError as exc:
        raise RegistrationError(f"{where}: {what}: {exc}") from None


def _check_callable(where: str, what: str, value: Any, *, method: bool = False, optional: bool = False) -> None:
    if value is None and optional:
        return
    if callable(value) or (method and isinstance(value, str) and value.isidentifier()):
        return
    kind = "a function or the name of the network's method" if method else "a function"
    raise RegistrationError(f"{where}: {what} must be {kind}, got {value!r}")


def _check_fields(case: Case, where: str) -> None:
    if not isinstance(case, Case):
        raise RegistrationError(f"expected a crosscheck.Case, got {type(case).__name__}")
    if not isinstance(case.name, str) or not case.name or not all(c.isalnum() or c in "_-." for c in case.name):
        raise RegistrationError(f"{where}: name must be non-empty letters, digits, '_', '-' or '.'")
    if len(case.name) > MAX_NAME_LENGTH:
        raise RegistrationError(
            f"case {case.name[:20]!r}...: the name has {len(case.name)} characters; at most {MAX_NAME_LENGTH}, "
            f"since it names the case's golden file"
        )
    for part, cls in (("scratch", Scratch), ("twin", Twin), ("data", Data)):
        if not isinstance(getattr(case, part), cls):
            raise RegistrationError(
                f"{where}: {part} must be a crosscheck.{cls.__name__}(...), got {type(getattr(case, part)).__name__}"
            )
    try:
        known = np.dtype(case.dtype) in TORCH_DTYPES  # np.float32, "float32" and np.dtype("float32") alike
    except TypeError:
        known = False
    if not known:
        raise RegistrationError(f"{where}: dtype must be float32 or float64, got {case.dtype}")
    lr = case.data.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.integer | np.floating):
        raise RegistrationError(f"{where}: learning_rate must be a real number, got {lr!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise RegistrationError(f"{where}: learning_rate must be positive and finite, got {lr}")
    if not is_int(case.data.seed) or not 0 <= case.data.seed < 2**32:
        raise RegistrationError(f"{where}: seed must be an int in [0, 2**32), got {case.data.seed!r}")
    _check_callable(where, "Data(batches=...)", case.data.batches)
    _check_scratch(case.scratch, where)
    t = case.twin
    _check_callable(where, "Twin(module=...)", t.module)
    _check_callable(where, "Twin(loss=...)", t.loss)
    _check_callable(where, "Twin(optimizer=...)", t.optimizer)
    _check_callable(where, "Twin(scheduler=...)", t.scheduler, optional=True)
    _check_callable(where, "Twin(evaluate=...)", t.evaluate, optional=True)
    _check_callable(where, "Twin(clip=...)", t.clip, optional=True)


def _check_scratch(s: Scratch, where: str) -> None:
    if not isinstance(s.params, Mapping) or not s.params:
        raise RegistrationError(
            f"{where}: Scratch(params=...) must map each parameter's path in the network to a Link; it is empty"
        )
    for name, link in s.params.items():
        _check_path(where, "Scratch(params=...)", name)
        if not isinstance(link, Link):
            raise RegistrationError(
                f"{where}: params[{name!r}] must be a Link(tensor, index, transpose), got {type(link).__name__}"
            )
    if s.network is not None and (s.init is not None or s.build is not None):
        raise RegistrationError(
            f"{where}: give Scratch either network(rng) or init(rng) with build(params, lr), not both"
        )
    if s.network is None and (s.init is None or s.build is None):
        raise RegistrationError(
            f"{where}: give Scratch(network=lambda rng: MyNet(..., rng)), a network that draws its own initial "
            f"weights from rng, or both init(rng) (its initial parameters by path) and build(params, lr)"
        )
    for what in ("network", "init", "build"):
        _check_callable(where, f"Scratch({what}=...)", getattr(s, what), optional=True)
    _check_callable(where, "Scratch(forward=...)", s.forward, method=True)
    _check_callable(where, "Scratch(loss=...)", s.loss)
    if s.step is None and (s.gradients is None or s.update is None):
        raise RegistrationError(
            f"{where}: give the network's own training step, Scratch(step='train_step') or step(net, x, y, lr), "
            f"or both gradients(net, x, y) and update(net, grads, lr)"
        )
    if s.step is not None and s.update is not None:
        raise RegistrationError(
            f"{where}: give Scratch(step=...) or update=..., not both: with step the network updates itself"
        )
    if s.step is not None and s.loss_gradient is not None:
        raise RegistrationError(
            f"{where}: Scratch(loss_gradient=...) is compared between the loss and the gradients the harness asks "
            f"for; with step the network computes them itself: leave loss_gradient out"
        )
    if s.step is not None and s.gradients is not None and (s.grads or s.buffers):
        raise RegistrationError(
            f"{where}: with Scratch(step=...), give gradients=... or grads=..., not both, and not with buffers: "
            f"gradients() runs a forward of its own before the step, which would move the running statistics twice"
        )
    if s.step is None and s.grads:
        raise RegistrationError(
            f"{where}: Scratch(grads=...) names the gradients a step leaves behind; without step, gradients() "
            f"returns them"
        )
    for what in ("step", "gradients", "update"):
        value = getattr(s, what)
        value = value.fn if isinstance(value, Step) else value  # a Step's own fields: crosscheck.declarations
        _check_callable(where, f"Scratch({what}=...)", value, method=True, optional=True)
    _check_callable(where, "Scratch(evaluate=...)", s.evaluate, optional=True)
    _check_callable(where, "Scratch(loss_gradient=...)", s.loss_gradient, optional=True)
    for what, mapping in (("grads", s.grads), ("options", s.options), ("buffers", s.buffers), ("state", s.state)):
        if not isinstance(mapping, Mapping):
            raise RegistrationError(f"{where}: Scratch({what}=...) must be a dict, got {type(mapping).__name__}")
    for param, path in s.grads.items():
        _check_path(where, "Scratch(grads=...)", path)
        if param not in s.params:
            raise RegistrationError(f"{where}: grads names {param!r}, which is not a parameter ({sorted(s.params)})")
    check_state_fields(s, where)
    check_capture(s, where)
    if s.lr is not None:
        _check_path(where, "Scratch(lr=...)", s.lr)
    for path in s.buffers:
        _check_path(where, "Scratch(buffers=...)", path)
    for path, link in s.buffers.items():
        if not isinstance(link, Link):
            raise RegistrationError(f"{where}: buffers[{path!r}] must be a Link to a twin buffer, got {link!r}")


def _check_data(case: Case, where: str) -> None:
    dtype = np.dtype(case.dtype)
    for label, a in (("X", case.data.X), ("y", case.data.y)):
        if not isinstance(a, np.ndarray):
            raise RegistrationError(
                f"{where}: {label} must be a NumPy array, got {type(a).__name__}; "
                f"use np.asarray({label}, dtype=np.{dtype.name})"
            )
        # Integers are what the network takes as they are (class labels, token ids); floats are the case's.
        integer = np.issubdtype(a.dtype, np.integer)
        if a.ndim == 0:
            raise RegistrationError(
                f"{where}: {label} is a single number (a 0-d array, shape ()); give one row per sample, "
                f"{label} of shape (n_samples, ...): np.reshape({label}, (1, -1)) for one sample of one value"
            )
        if a.dtype == np.bool_:
            raise RegistrationError(
                f"{where}: {label} is boolean; neither side computes on bool: for class labels convert it with "
                f".astype(np.int64), for 0/1 targets of a loss with .astype(np.{dtype.name})"
            )
        if a.dtype != dtype and not integer:
            raise RegistrationError(
                f"{where}: {label} has dtype {a.dtype} but the case is {dtype}; convert it with "
                f".astype(np.{dtype.name}) (integer arrays, such as class labels, are taken as they are)"
            )
        if a.size == 0:
            raise RegistrationError(f"{where}: {label} is empty (shape {a.shape}); give at least one sample")
        if not integer and not np.all(np.isfinite(a)):
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise RegistrationError(f"{where}: {label} contains {a[at]} at index {at}; the data must be finite")
    if len(case.data.X) != len(case.data.y):
        raise RegistrationError(
            f"{where}: X has {len(case.data.X)} rows but y has {len(case.data.y)}; give one target row per sample"
        )


def _initial_params(case: Case, where: str, rng: Rng) -> Params:
    """init()'s parameters, cast to the case dtype exactly as ``crosscheck.run.start.start`` does."""
    what = "network(rng)" if case.scratch.network is not None else "init(rng)"
    try:
        raw = call_user(where, what, case.calls.init, rng)
    except RegistrationError as exc:
        if isinstance(exc.__cause__, paths.PathError):  # network(rng) built, but a path leads nowhere
            raise RegistrationError(f"{where}: Scratch(params=...): {exc.__cause__}") from None
        raise
    if not isinstance(raw, Mapping):
        raise RegistrationError(f"{where}: init(rng) must return a dict of arrays, got {type(raw).__name__}")
    if set(raw) != set(case.scratch.params):
        raise RegistrationError(
            f"{where}: init() returns parameters {sorted(raw)} but Scratch(params=...) names "
            f"{sorted(case.scratch.params)}"
        )
    params: Params = {}
    for name, value in raw.items():
        a = np.asarray(value)
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise RegistrationError(f"{where}: initial parameter {name!r} must be a real array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise RegistrationError(f"{where}: initial parameter {name!r} contains NaN or Inf")
        params[name] = a.astype(case.dtype)
    return params


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
    out = np.asarray(call_user(where, "forward(net, X)", case.calls.forward, net, case.data.X))
    _check_pairing(where, out.shape, case.data.y.shape, "forward(net, X)")
    xb, yb = batch_of_data(case.data.X, b), batch_of_data(case.data.y, b)
    if case.calls.step is not None:
        # The network's own step is run (and its results checked step by step) in _check_short_run; here its
        # forward and loss, which the forward check and the finite-difference oracle use.
        net = case.calls.build({k: v.copy() for k, v in params.items()}, case.data.learning_rate)
    out = np.asarray(call_user(where, "forward(net, X[batch 0])", case.calls.forward, net, xb))
    _check_pairing(where, out.shape, yb.shape, "forward(net, X[batch 0])")
    if out.dtype != case.dtype:
        raise RegistrationError(f"{where}: forward() returns {out.dtype} but the case is {case.dtype}")
    loss = np.asarray(call_user(where, "loss(output, y[batch 0])", case.calls.loss, out, yb))
    if loss.shape != ():
        raise RegistrationError(f"{where}: loss(output, y[batch 0]) must be a scalar, got shape {loss.shape}")
    if loss.dtype != case.dtype:
        raise RegistrationError(
            f"{where}: loss(output, y[batch 0]) returns {loss.dtype} ({type(loss.item()).__name__}) but the case is "
            f"{np.dtype(case.dtype).name}; return a NumPy value of the case's dtype (np.mean(...), not float(...))"
        )
    if case.calls.step is None:
        _check_scratch_update(case, where, net, params, xb, yb)
    _check_twin_step(case, where, module, params, b, out)


def _check_scratch_update(case: Case, where: str, net: Any, params: Params, xb: Array, yb: Array) -> None:
    assert case.calls.gradients is not None and case.calls.update is not None
    grads = gradients_leaving_buffers(case, where, net, "gradients(net, X[batch 0], y[batch 0])", xb, yb)
    if not isinstance(grads, Mapping) or set(grads) != set(case.scratch.params):
        names = sorted(grads) if isinstance(grads, Mapping) else type(grads).__name__
        raise RegistrationError(
            f"{where}: gradients() must return a dict with the keys {sorted(case.scratch.params)}, got {names}"
        )
    for name, g in grads.items():
        g = np.asarray(g)
        if g.shape != params[name].shape or g.dtype != case.dtype:
            raise RegistrationError(
                f"{where}: gradient of {name!r} is {g.dtype} {g.shape} but the parameter is "
                f"{np.dtype(case.dtype)} {params[name].shape}"
            )
    call_user(where, "update(net, grads, learning_rate)", case.calls.update, net, grads, case.data.learning_rate)
    for name, value in case.read_params(net).items():
        if value.shape != params[name].shape or value.dtype != case.dtype:
            raise RegistrationError(
                f"{where}: after update() parameter {name!r} is {value.dtype} {value.shape}, "
                f"not {np.dtype(case.dtype)} {params[name].shape}: something broadcast"
            )


def _check_twin_step(case: Case, where: str, module: torch.nn.Module, params: Params, b: Batch, out: Array) -> None:
    load_into_twin(module, case, params)
    xt, yt = batch_of(*twin_data(case), b)
    before, version = xt.clone(), xt._version
    out_t = call_user(where, "twin(X[batch 0])", module, xt)
    if xt._version == version and not torch.equal(xt, before):  # an in-place write autograd counts is named later
        raise RegistrationError(
            f"{where}: at step 0 the twin writes into its input where autograd does not see it (x.data -= ..., "
            f"x.detach().sub_(...), x.numpy()[...] = ...), so the twin's later steps see other data than the "
            f"scratch side's; compute on a new tensor (x = x - x.mean(0))"
        )
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
    loss_t = call_user(where, "twin_loss(output, y[batch 0])", case.twin.loss, out_t, yt)
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
    for name, link in case.scratch.params.items():
        if not tensors[link.tensor].requires_grad:
            raise RegistrationError(
                f"{where}: twin tensor {link.tensor!r} (parameter {name!r}) is frozen (requires_grad=False): the "
                f"twin's optimizer never moves it while the scratch side updates {name!r}; unfreeze it in the twin "
                f"(requires_grad_(True)), or, if the scratch network keeps it fixed too, leave it out of "
                f"Scratch(params=...)"
            )
        if tensors[link.tensor].grad is None:
            raise RegistrationError(
                f"{where}: twin tensor {link.tensor!r} (parameter {name!r}) gets no gradient from twin_loss"
            )


def validate(case: Case) -> None:
    """Build both sides from the initial parameters, take the first step on each, and check that they
    fit together; anything that does not raises ``RegistrationError`` saying what to fix."""
    where = f"case {getattr(case, 'name', '?')!r}"
    _check_fields(case, where)
    check_static(case, where)
    _check_data(case, where)
    # init, then the batches, from one stream: as run.start.start
    rng = np.random.RandomState(case.data.seed)
    params = _initial_params(case, where, rng)
    check_same_build(case, where, params)
    batches = checked_schedule(case, where, rng)
    check_size(case, where, params, batches)
    case, batches = first_rows(case, batches[:TWIN_REPEAT_STEPS])
    net = call_user(
        where,
        "build(params, learning_rate)",
        case.calls.build,
        {k: v.copy() for k, v in params.items()},
        case.data.learning_rate,
    )
    module = call_user(where, "Twin(module=...)(dtype)", case.twin.module, case.torch_dtype)
    if not isinstance(module, torch.nn.Module):
        raise RegistrationError(f"{where}: twin(dtype) must return a torch.nn.Module, got {type(module).__name__}")
    check_map(case, where, net, module)
    check_step_signature(case, where, net)
    _check_buffers(case, where, module)
    _check_optimizer(case, where, net)
    try:
        _check_first_step(case, where, net, module, params, batches[0])
    except CallError as exc:
        # Only where the integer input itself was refused: the forward of either side raised.
        if not np.issubdtype(case.data.X.dtype, np.integer) or exc.what not in _FORWARDS:
            raise
        raise RegistrationError(
            f"{exc}; X is {case.data.X.dtype}, and integer data reaches both sides as it is (token ids, class labels): "
            f"if the network takes floating-point inputs, convert it with .astype(np.{np.dtype(case.dtype).name})"
        ) from exc
    _check_short_run(case, where, params, batches[:TWIN_REPEAT_STEPS])
    check_eval_mode(case, where, module)
    _check_layers(case, where, params, batches[0])


def _check_layers(case: Case, where: str, params: Params, batch: Batch) -> None:
    """Each named layer can be read on both sides, with one shape."""
    if not case.layers:
        return
    for layer in case.layers:
        if not isinstance(layer, Layer) or layer.twin_io not in ("input", "output"):
            raise RegistrationError(f"{where}: layers must be Layer(name, scratch, twin, twin_io='output'|'input')")
    module = case.twin.module(case.torch_dtype)
    known = dict(module.named_modules())
    for layer in case.layers:
        if layer.twin not in known:
            raise RegistrationError(
                f"{where}: layer {layer.name!r} names twin submodule {layer.twin!r}, which the twin does not have; "
                f"it has {sorted(n for n in known if n)}"
            )
    try:
        s_values, s_grads = scratch_layer_values(case, params, batch)
    except AttributeError as exc:
        raise RegistrationError(
            f"{where}: a layer names a scratch attribute the network does not have after forward/gradients: {exc}"
        ) from None
    except Exception as exc:
        raise RegistrationError(f"{where}: the scratch layers could not be read: {type(exc).__name__}: {exc}") from exc
    hooked = call_user(
        where,
        "the twin with hooks on its layers",
        functools.partial(twin_layer_values, layout=False),
        case,
        params,
        batch,
    )
    check_layer_layouts(case, where, s_values, hooked[0])


def _check_short_run(case: Case, where: str, params: Params, batches: list[Batch]) -> None:
    """Both sides over the first steps: every quantity the scratch side records must have its twin of the same
    shape (optimizer state of the same kinds, buffers), and the twin run twice from the same parameters must
    give the same bits: a twin with dropout or unseeded randomness would fail the cross-check with other
    values on every run."""
    try:
        first, differs = _twin_twice(case, params, batches)
        scratch = scratch_trace(case, params, batches[:1])  # the battery names a problem at a later step
    except StepError as exc:
        raise RegistrationError(f"{where}: {str(exc).removeprefix(case.name + ': ')}") from exc
    except RegistrationError:
        raise
    except Exception as exc:
        raise RegistrationError(f"{where}: the first {len(batches)} steps {raised_text(exc)}") from exc
    check_state_kinds(case, where, {k.split(".")[1] for k in first if k.startswith("state.")})
    for key, value in scratch.items():
        if key not in first:
            raise RegistrationError(
                f"{where}: the scratch side records the {describe(*split_key(key))}, which the twin's "
                f"{describe_optimizer(case)} does not keep for that tensor (a param group with other options?): map "
                f"only what the twin keeps"
            )
        per_step = key.split(".")[0] in STEPPED  # shapes as one step has them
        if key in first and np.shape(value)[per_step:] != np.shape(first[key])[per_step:]:
            mine, theirs = (np.shape(v)[1:] if per_step else np.shape(v) for v in (value, first[key]))
            shared = " (one path is one value shared by every parameter; map an array per parameter)"
            one_path = key.startswith("state.") and isinstance(case.scratch.state.get(key.split(".")[1]), str | Scaled)
            raise RegistrationError(
                f"{where}: the {describe(*split_key(key))} has shape {mine} on the scratch side but {theirs} on the "
                f"twin side{shared if one_path else ''}"
            )
    if differs:
        raise RegistrationError(
            f"{where}: the twin is not deterministic: run twice from the same parameters over its first "
            f"{len(batches)} steps, it gives different {differs[0]}. Dropout, or randomness drawn in forward, makes "
            f"every run differ; remove it from the twin (and the scratch network), or use the module's eval "
            f"behaviour for the cross-check"
        )


def _twin_twice(case: Case, params: Params, batches: list[Batch]) -> tuple[Trace, list[str]]:
    """The twin run twice from ``params`` over ``batches``, one run after the other (a factory may hand both the
    same module, ``MODEL.to(dtype)``: each run starts by loading ``params`` into it), each recorded a step at a time
    and kept as a checksum of every quantity (a large network's two whole runs would be held at once): the first
    run's start and first step with every quantity the steps record (the first value seen of each), and the
    quantities, in the order of a trace, where the two runs differ."""
    first: Trace = {}
    digests = []
    for run in range(2):
        twin = TwinRecorder(case, params)
        seen: dict[str, int] = {}
        records = itertools.chain(
            [twin.head()], (twin.record([b], i, check_data=i == len(batches) - 1) for i, b in enumerate(batches))
        )
        for i, record in enumerate(records):
            for key, value in record.items():
                if run == 0:
                    first.setdefault(key, value)
                value = np.asarray(value)
                header = zlib.crc32(f"{i} {value.dtype} {value.shape}".encode(), seen.get(key, 0))
                seen[key] = checksum(value, header)
        digests.append(seen)
    again = [key for key in digests[1] if key not in digests[0]]
    return first, [key for key in first if digests[0][key] != digests[1].get(key)] + again


def _check_optimizer(case: Case, where: str, net: Any) -> None:
    """The twin's optimizer and scheduler can be made; the network's own options, where the case names them,
    are the twin optimizer's."""
    module = case.twin.module(case.torch_dtype)
    optimizer = call_user(
        where, "Twin(optimizer=...)(params, lr)", case.twin.optimizer, module.parameters(), case.data.learning_rate
    )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise RegistrationError(
            f"{where}: Twin(optimizer=...) must return a torch.optim optimizer, got {type(optimizer).__name__}"
        )
    if case.twin.scheduler is not None:
        scheduler = call_user(where, "Twin(scheduler=...)(optimizer)", case.twin.scheduler, optimizer)
        if not callable(getattr(scheduler, "step", None)):
            raise RegistrationError(
                f"{where}: Twin(scheduler=...) must return a torch.optim.lr_scheduler scheduler, got "
                f"{type(scheduler).__name__}"
            )
    check_options(case, where, net, optimizer)


def _check_buffers(case: Case, where: str, module: torch.nn.Module) -> None:
    """Every floating-point buffer of the twin (BatchNorm's running statistics) is mapped to the scratch state
    that holds it, so that it is compared at every step."""
    buffers = dict(module.named_buffers())
    for path, link in case.scratch.buffers.items():
        if link.tensor not in buffers:
            raise RegistrationError(
                f"{where}: buffers[{path!r}] points at twin buffer {link.tensor!r}, which the twin does not have; "
                f"it has {sorted(buffers)}"
            )
    mapped = {link.tensor for link in case.scratch.buffers.values()}
    # An integer buffer (BatchNorm's num_batches_tracked) counts steps; it changes the arithmetic only with
    # momentum=None, where the running statistics, which are mapped, would part.
    missing = sorted(n for n, b in buffers.items() if b.is_floating_point() and n not in mapped)
    if missing:
        raise RegistrationError(
            f"{where}: the twin keeps the buffers {missing}, which the scratch side does not map; map the network's "
            f"own with Scratch(buffers={{path: Link({missing[0]!r})}}) so they are compared at every step"
        )


# The memo of validation_problem: the verdict is kept on the case object itself, in this private attribute
# (set through object.__setattr__, as the frozen dataclass refuses attributes): it lives exactly as long as
# the case, and a copy with parts changed (vary, dataclasses.replace) is a new object, validated afresh.
_VERDICT = "_validation_verdict"


def validation_problem(case: Case) -> str | None:
    """``validate(case)``'s message, or None when the case can be checked; each case object is validated
    once, whichever entry point (register, run_check, parametrize_with_checks, the CLI) meets it first."""
    known: tuple[str | None] | None = vars(case).get(_VERDICT) if isinstance(case, Case) else None
    if known is not None:
        return known[0]
    try:
        validate(case)
        problem = None
    except RegistrationError as exc:
        problem = str(exc)
    if isinstance(case, Case):  # anything else is refused at once, by its type: nothing to keep
        object.__setattr__(case, _VERDICT, (problem,))
    return problem
