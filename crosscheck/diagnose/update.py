"""An update divergence on a network that keeps its gradients to itself: the gradient or the update rule.

Where the scratch side's gradients cannot be seen, a parameter that parts after a step may owe it to either; the
twin's optimizer is no more suspect than the network's backward.  For a twin trained by plain SGD (no momentum,
no weight decay, a constant learning rate) the scratch step's own gradient can be read back from it,
``(before - after) / lr``, and compared with the twin's: the parameters whose step follows the twin's gradient
clear the shared update rule, those whose step does not name their gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from crosscheck.case import Case
from crosscheck.checks import exposed_gradients
from crosscheck.compare import Divergence
from crosscheck.keys import Trace, index_text
from crosscheck.lockstep import Run, tolerance

UPDATE = ("param", "state")


def plain_sgd_rate(case: Case) -> float | None:
    """The twin's learning rate where it trains by plain SGD at a constant rate, else None."""
    if case.twin.scheduler is not None:
        return None
    module = case.twin.module(case.torch_dtype)
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    if type(optimizer) is not torch.optim.SGD:
        return None
    for group in optimizer.param_groups:
        if group["momentum"] or group["weight_decay"] or group.get("maximize"):
            return None
    return float(optimizer.param_groups[0]["lr"])


def hidden_update(case: Case, d: Divergence | None) -> bool:
    """Whether ``d`` parts in the update of a parameter whose scratch gradient cannot be seen."""
    return d is not None and d.quantity in UPDATE and bool(set(case.scratch.params) - exposed_gradients(case))


def candidates_text(case: Case, d: Divergence, run: Run | None) -> str:
    """Both candidates in words, and for plain SGD which one the scratch step's implied gradient points at."""
    hidden = sorted(set(case.scratch.params) - exposed_gradients(case))
    head = (
        f"the network keeps the gradients of {', '.join(hidden)} to itself, so either a gradient or the update rule "
        f"differs from the twin's"
    )
    implied = _implied(case, d, run) if run is not None else None
    return head + (f"; {implied}" if implied else "")


def _implied(case: Case, d: Divergence, run: Run) -> str | None:
    lr = plain_sgd_rate(case)
    step = d.step
    if lr is None or step is None:
        return None
    now, previous = run.values_at(step), run.values_at(step - 1) if step > 0 else run.first
    if now is None or previous is None:
        return None
    before: Trace = previous[0]  # the scratch side's own parameters entering the step
    scratch, twin = now
    prefix = "init." if step == 0 else "param."
    atol, rtol = tolerance(case, step + 1)
    follows: list[str] = []
    parts: list[str] = []
    for name in case.scratch.params:
        grad = twin.get(f"grad.{name}")
        if grad is None or f"{prefix}{name}" not in before or f"param.{name}" not in scratch:
            return None
        start, after = before[f"{prefix}{name}"], scratch[f"param.{name}"]
        # Judged in the parameters' terms, at the bound their own check uses: dividing by lr would magnify the
        # rounding of a small step beyond any gradient bound.
        ok = np.all(np.abs(start - lr * grad - after) <= atol + rtol * np.abs(twin[f"param.{name}"]))
        (follows if ok else parts).append(name)
    if not parts:
        return "the scratch step follows plain SGD on the twin's gradients: the parameters entering it differ"
    name = d.parameter if d.parameter in parts and d.parameter is not None else parts[0]
    at = d.index if d.quantity == "param" and d.parameter == name and d.index is not None else ()
    start, after = before[f"{prefix}{name}"], scratch[f"param.{name}"]
    implied = float(((start - after) / lr)[at] if at else ((start - after) / lr).flat[0])
    twin_grad = float(twin[f"grad.{name}"][at] if at else twin[f"grad.{name}"].flat[0])
    figures = (
        f"at step {step} the gradient the scratch step implies, (before - after) / lr, is {implied!r} at "
        f"{name}{index_text(at) if at else ''}, the twin's gradient {twin_grad!r}"
    )
    if follows:
        return (
            f"{figures}: the gradient of {', '.join(parts)} differs (the steps of {', '.join(follows)} follow "
            f"plain SGD on the twin's gradients)"
        )
    scale = _common_scale(case, before, prefix, scratch, twin, lr)
    if scale is not None:
        # One factor for every parameter is the rule's (a rate, a batch size) or every gradient's alike (a sign or a
        # factor in the loss's derivative): the step alone cannot tell the two apart.
        return (
            f"{figures}: every step is {scale:.6g} x lr x the twin's gradient, for every parameter alike: the update "
            f"rule differs (its rate or a batch size), or every gradient by the same factor (a sign or a factor in "
            f"the loss's derivative)"
        )
    return (
        f"{figures}: no parameter's step follows plain SGD on the twin's gradient: the update rule, or every gradient"
    )


def _common_scale(case: Case, before: Trace, prefix: str, scratch: Trace, twin: Trace, lr: float) -> float | None:
    """The one factor c of every step ``after = before - c * lr * grad`` (a learning rate or a sign the network applies
    otherwise), where there is one."""
    steps = np.concatenate([(before[f"{prefix}{n}"] - scratch[f"param.{n}"]).ravel() for n in case.scratch.params])
    grads = np.concatenate([twin[f"grad.{n}"].ravel() for n in case.scratch.params]) * lr
    seen = np.abs(grads) > 1e-8 * np.abs(grads).max(initial=0.0)
    if not seen.any():
        return None
    ratios = steps[seen] / grads[seen]
    # 1e-6: far above the rounding of one step's difference on these ratios, far below any learning rate set otherwise
    return float(ratios[0]) if np.allclose(ratios, ratios[0], rtol=1e-6, atol=0.0) else None
