"""The scratch side's run: the network driven through its own functions step by step, each quantity read and
checked as the harness needs it (a ``StepError`` names the step and what to fix), kept as a trace.

A trace (``crosscheck.keys.Trace``) is a flat ``dict[str, ndarray]`` (the shape goldens are stored in):

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
- ``curve``      the tutorial's recorded metric after each step in ``case.data.curve_steps``
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import RETURNED, Batch, Case, Params, Step, batch_of_data
from crosscheck.errors import StepError, raised_text, refuses_write, writes_into_input
from crosscheck.keys import Trace, at_step
from crosscheck.run import capture
from crosscheck.run.start import in_case_dtype
from crosscheck.state_paths import load_state, state_paths


def _kept(value: Any) -> Any:
    """A value to keep for the trace: a copy of an array (the network may write into it later); a NumPy
    scalar as it is, since nothing can change it."""
    return value if isinstance(value, np.generic) else np.array(value)


def _scratch_failure(case: Case, step: int | None, stage: str, exc: Exception) -> StepError:
    """The harness's message for what the scratch side raised at ``step`` (None: before training) during
    ``stage``: what it means where the harness can tell, else the exception as it is, with where in the user's
    code it was raised (its traceback stays chained)."""
    where = f"{case.name}: {at_step(step)} the scratch side's {stage}"
    if isinstance(exc, RuntimeWarning):  # the caller's warning filters made NumPy's warning an error
        return StepError(
            f'{where} raised NumPy\'s floating-point warning "{exc}": the values leave the range of '
            f"{np.dtype(case.dtype).name} there (a learning rate too large, unscaled data, or a formula that "
            f"overflows, such as 1 / (1 + np.exp(-x)) for large negative x)"
        )
    if refuses_write(exc):
        return StepError(writes_into_input(where, exc))
    return StepError(f"{where} {raised_text(exc)}")


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
                f"(a {g.dtype} gradient must not pass as {dtype})",
                kind="dtype" if g.dtype != case.dtype else "shape",
                step=step,
                side="scratch",
                quantity="grad",
                parameter=name,
            )
        out[name] = np.asarray(g)
    return out


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
        return in_case_dtype(case, value)
    if value.dtype != case.dtype:
        raise StepError(
            f"{case.name}: after step {step} the scratch side's buffer {path} is {value.dtype}; it must be "
            f"{np.dtype(case.dtype).name}, as the parameters"
        )
    return value


def _step_result(case: Case, step: int, result: Any) -> tuple[Any, Any]:
    """(output or None, loss) from what the network's own step returned, as the case declares it (``Step.loss``):
    the loss or (output, loss) by default; the item of the tuple it returns that an int names; with None, the
    (output, loss) the harness computed before the step."""
    declared = case.scratch.step.loss if isinstance(case.scratch.step, Step) else RETURNED
    if declared is None:
        return result  # type: ignore[no-any-return]
    if isinstance(declared, int):
        if isinstance(result, tuple | list) and len(result) > declared:
            return None, result[declared]
        got = f"a {len(result)}-item {type(result).__name__}" if isinstance(result, tuple | list) else repr(result)
        raise StepError(
            f"{case.name}: at step {step} the scratch side's step() returned {got}; Step(loss={declared}) reads "
            f"item {declared} of the tuple it returns as the batch's loss (Step(loss=None): the harness computes it)"
        )
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if result is None:
        raise StepError(
            f"{case.name}: at step {step} the scratch side's step() returned None; return the batch's loss "
            f"(or (output, loss)) so that it can be compared with the twin's, or declare Step(..., loss=None): the "
            f"harness then computes the loss on the forward output before the step"
        )
    return None, result


def _checked_loss(case: Case, step: int, loss: Any) -> np.ndarray:
    value = np.array(loss)
    if value.shape != () or value.dtype != case.dtype:
        declared = case.scratch.step.loss if isinstance(case.scratch.step, Step) else RETURNED
        hint = (
            f"Step(loss={declared}) reads item {declared} of what the step returns"
            if isinstance(declared, int)
            else "a step returning a pair returns (output, loss), in that order, or says where its loss is: "
            "Step(..., loss=0) for (loss, accuracy)"
        )
        raise StepError(
            f"{case.name}: at step {step} the scratch side's loss is {value.dtype} {value.shape}; it must be a "
            f"{np.dtype(case.dtype).name} scalar (np.mean(...), not float(...); {hint})"
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
    before_step: Callable[[int, Any], None] | None = None,
    first: int = 0,
) -> dict[str, list[np.ndarray]]:
    """Train ``net`` on ``batches`` (anything ``X[b]`` takes) and collect every stepped quantity and the
        curve, one entry per step.  The forward runs once per step: the harness calls it and hands its output
        to the loss, or the network's own step does it all.  The keyword functions replace the case's own: the
        seed sweep passes forms that run all seeds at once (and, their gradients being per seed,
        ``check_gradients=False``).  ``before_step(step, net)`` runs as each step begins (the anchored replay
        writes the twin's state into the network there).  ``first``: the number of the first of ``batches``' steps,
    for a run recorded a chunk at a time on the same ``net``."""
    forward, loss = forward or case.calls.forward, loss or case.calls.loss
    gradients, evaluate = gradients or case.calls.gradients, evaluate or case.calls.evaluate
    s = case.scratch
    own_step, update, loss_gradient = case.calls.step, case.calls.update, case.scratch.loss_gradient
    X, y = case.data.X, case.data.y
    curve_at = set(case.data.curve_steps)
    shapes = {name: np.shape(paths.reader(name)(net)) for name in case.scratch.params}
    lr = case.data.learning_rate
    # The rows each step appends to, made once: this loop runs at every step of every run, and its own
    # cost is what tools/bench.py measures against the network's bare calls.
    rows: dict[str, list[np.ndarray]] = {"loss": [], "curve": []}
    outputs, losses, curve = rows.setdefault("output", []), rows["loss"], rows["curve"]
    dlosses = rows.setdefault("dloss", []) if own_step is None and loss_gradient is not None else None
    grad_rows = {name: rows.setdefault(f"grad.{name}", []) for name in shapes}
    lrs = rows.setdefault("lr", []) if s.lr is not None else None
    state_rows = [
        (kind, where, name, rows.setdefault(f"state.{kind}.{name}", [])) for kind, name, where in state_paths(case)
    ]
    param_rows = [(paths.reader(name), rows.setdefault(f"param.{name}", [])) for name in case.scratch.params]
    buffer_rows = [(path, rows.setdefault(f"buffer.{path}", [])) for path in s.buffers]
    watch = capture.watch(case)
    for step, b in enumerate(batches, start=first):
        xb, yb = batch_of_data(X, b), batch_of_data(y, b)
        stage = "forward"
        if before_step is not None:
            before_step(step, net)
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
                # Kept as gradients() returned them, before the update, which may write into them (g *= lr).
                for name, grad in grads.items():
                    grad_rows[name].append(_kept(grad))
            if own_step is None:
                stage = "update"
                assert update is not None and grads is not None
                update(net, grads, lr)
            else:
                stage = "step"
                if watch is None:
                    returned, captured = own_step(net, xb, yb, lr), capture.NONE
                else:  # gradients the step keeps to itself, copied as the methods named receive them
                    returned, captured = watch.run(net, step, own_step, xb, yb, lr)
                output, step_loss = _step_result(case, step, returned)
                if output is not None:
                    outputs.append(_kept(output))
                losses.append(_checked_loss(case, step, step_loss))
                if grads is None:
                    kept = {
                        name: _checked_array(
                            case,
                            step,
                            f"gradient of {name} ({path})",
                            _read(case, net, step, "gradient", path),
                            shapes[name],
                        )
                        for name, path in s.grads.items()
                    }
                    for name, (seen_at, g) in captured.items():
                        kept[name] = _checked_array(case, step, f"gradient of {name} ({seen_at})", g, shapes[name])
                    for name, grad in kept.items():
                        grad_rows[name].append(_kept(grad))
            if lrs is not None and s.lr is not None:
                lrs.append(in_case_dtype(case, _read(case, net, step, "learning rate", s.lr)))
            for kind, where, name, state_row in state_rows:
                if where.shared:
                    value = in_case_dtype(case, _read(case, net, step, kind, where.path))
                else:
                    what = f"{kind} of {name} ({where.path})"
                    value = _read(case, net, step, what, where.path)
                    value = (
                        in_case_dtype(case, value)
                        if kind == "step"
                        else _checked_array(case, step, what, value, shapes[name])
                    )
                state_row.append(where.to_twin(value, lr))  # _read's copy, or a scaled one
            for read_param, param_row in param_rows:
                param_row.append(_kept(read_param(net)))
            for path, buffer_row in buffer_rows:
                buffer_row.append(_buffer(case, _read(case, net, step, "buffer", path), step, path))
            if step in curve_at:
                stage = "evaluate"
                curve.append(np.array(evaluate(net, X, y)))
        except StepError as exc:  # its facts, where the function that raised it did not know them
            exc.step = step if exc.step is None else exc.step
            exc.side = exc.side or "scratch"
            raise
        except Exception as exc:  # the network's own, raised mid-run: named with its step, side and call
            failure = _scratch_failure(case, step, stage, exc)
            failure.step, failure.side = step, "scratch"
            raise failure from exc
    return {key: row for key, row in rows.items() if row or key in ("loss", "curve")}


def scratch_trace(
    case: Case,
    params: Params,
    batches: Sequence[Batch],
    entering: Trace | None = None,
    *,
    before_step: Callable[[int, Any], None] | None = None,
) -> Trace:
    """The scratch side's trace over ``batches`` from ``params``, whole; ``entering`` (a replay from a later step)
    holds the optimizer state and buffers to start from, as the twin's trace recorded them; ``before_step`` as
    ``record_steps``'s (the memo's snapshots are taken there)."""
    net = scratch_network(case, params, entering)
    trace = scratch_head(case, net, params)
    rows = record_steps(case, net, batches, before_step=before_step)
    return trace | as_trace(case, rows)


def scratch_network(case: Case, params: Params, entering: Trace | None = None) -> Any:
    """The network built from ``params`` (copies), with ``entering``'s optimizer state and buffers written in."""
    net = case.calls.build({k: v.copy() for k, v in params.items()}, case.data.learning_rate)
    if entering:
        load_scratch_state(case, net, entering)
    return net


def scratch_head(case: Case, net: Any, params: Params) -> Trace:
    """What the scratch side shows before training: its initial parameters as ``net`` holds them, and the output
    on the whole dataset, computed on a network of its own: a forward with side effects (BatchNorm's running
    statistics in training mode) must not reach the training run."""
    trace: dict[str, Any] = {f"init.{k}": v for k, v in case.read_params(net).items()}
    try:
        probe = case.calls.build({k: v.copy() for k, v in params.items()}, case.data.learning_rate)
        trace["forward"] = np.array(case.calls.forward(probe, case.data.X))
    except StepError:
        raise
    except Exception as exc:  # as record_steps: named, its traceback chained
        failure = _scratch_failure(case, None, "forward on the whole dataset", exc)
        failure.side = "scratch"
        raise failure from exc
    return trace


def stacked(rows: list[Any]) -> np.ndarray:
    """Rows of one quantity (each the run's own copy), one per step, as one array: a single row as it is, not
    copied again (a large network's chunk is a step, and a copy of each of its arrays costs as much as comparing
    it)."""
    if len(rows) == 1 and isinstance(rows[0], np.ndarray | np.generic):
        return np.asarray(rows[0])[None]
    return np.array(rows)


def as_trace(case: Case, rows: dict[str, list[np.ndarray]]) -> Trace:
    """``record_steps``' rows stacked, a row per step; an empty curve in the case's dtype, as the twin's."""
    trace = {k: stacked(v) for k, v in rows.items()}
    if not rows["curve"]:
        trace["curve"] = np.zeros(0, case.dtype)
    return trace


def anchored_record(
    case: Case, net: Any, batches: Sequence[Batch], first: int, twin: Trace, entering: Mapping[str, np.ndarray]
) -> Trace:
    """The scratch side's steps ``first``, ``first + 1``, ... each taken from the state the twin entered it with:
    before each step the twin's parameters, optimizer state and buffers (``entering``, as the twin held them
    entering step ``first``: ``param.<p>`` and its ``state.*``/``buffer.*``; then ``twin``, its record of these
    steps, row by row) are written into the network through the case's paths.  What the network keeps beyond them
    (a hidden state carried across batches, a step counter of its own) stays its own, as in its free run."""
    held = [key for key in twin if key.startswith(("state.", "buffer."))]
    names = list(case.scratch.params)

    def anchor(step: int, net: Any) -> None:
        i = step - first
        values = entering if i == 0 else {key: twin[key][i - 1] for key in (*(f"param.{n}" for n in names), *held)}
        # Written, never held: paths.write copies into the network's own arrays (or a copy in their place).
        for name in names:
            paths.write(net, name, values[f"param.{name}"])
        state = {key: values[key] for key in held if key in values}
        if state:
            load_scratch_state(case, net, state)

    rows = record_steps(case, net, batches, before_step=anchor, first=first)
    return {k: stacked(v) for k, v in rows.items() if k != "curve"}


def load_scratch_state(case: Case, net: Any, entering: Trace) -> None:
    load_state(case, net, entering)
    for path in case.scratch.buffers:
        paths.write(net, path, entering[f"buffer.{path}"])
