"""Both sides as they really stood entering a step: the scratch network object and the twin's module,
optimizer and scheduler, copied while the run steps.

The oracles that replay one step (finite differences, the layer localisation, the repro) start from these,
not from a network rebuilt from parameters: whatever a network keeps beyond its parameters (a hidden state
carried across batches, what ``forward`` cached for ``gradients``, a step counter) is then as the run had it.
A copy is taken at the start of a step, before the step touches anything; the run itself never sees it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch

from crosscheck.case import Case
from crosscheck.errors import StepError
from crosscheck.keys import at_step


def default_steps(n_steps: int) -> tuple[int, ...]:
    """The first, middle and last step of a run: where finite differences judge by default, and so the steps
    a run keeps its snapshots of."""
    return tuple(sorted({0, n_steps // 2, n_steps - 1}))


@dataclass(frozen=True)
class ScratchSnapshot:
    """The scratch network entering ``step``, deep-copied; or why it could not be."""

    step: int
    net: Any
    error: str | None = None


@dataclass(frozen=True)
class TwinSnapshot:
    """The twin entering ``step``: its module deep-copied (gradients dropped: a step starts without them), its
    optimizer's and scheduler's ``state_dict()`` deep-copied; or why they could not be (``error``: the module,
    which every replay needs; ``training_error``: the optimizer or scheduler, which only a replayed update
    needs)."""

    step: int
    module: torch.nn.Module | None
    optimizer: dict[str, Any] | None
    scheduler: dict[str, Any] | None
    error: str | None = None
    training_error: str | None = None


@dataclass(frozen=True)
class Entering:
    """Both sides entering one step."""

    scratch: ScratchSnapshot
    twin: TwinSnapshot


def _why(case: Case, step: int, side: str, exc: Exception) -> str:
    return (
        f"{case.name}: {at_step(step)} the {side} cannot be deep-copied ({type(exc).__name__}: {exc}); the oracles "
        f"that replay a step start from a copy of it as it stands, so make copy.deepcopy work on it (keep no open "
        f"file, lock, Python generator or non-leaf tensor as an attribute)"
    )


def capture_scratch(case: Case, step: int, net: Any) -> ScratchSnapshot:
    try:
        return ScratchSnapshot(step, copy.deepcopy(net))
    except Exception as exc:  # whatever the network holds: the run goes on, the oracle says why it cannot judge
        return ScratchSnapshot(step, None, _why(case, step, "scratch network", exc))


def capture_twin(
    case: Case, step: int, module: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> TwinSnapshot:
    try:
        kept = copy.deepcopy(module)
    except Exception as exc:  # as capture_scratch
        return TwinSnapshot(step, None, None, None, _why(case, step, "twin's module", exc))
    for p in kept.parameters():
        p.grad = None
    try:
        return TwinSnapshot(
            step,
            kept,
            copy.deepcopy(optimizer.state_dict()),
            copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
        )
    except Exception as exc:  # an optimizer or scheduler of the user's own, without a state_dict() say
        why = _why(case, step, "twin's optimizer or scheduler state", exc)
        return TwinSnapshot(step, kept, None, None, training_error=why)


def taken(snapshot: ScratchSnapshot | TwinSnapshot) -> None:
    """A StepError (naming the step and the side) where the snapshot could not be taken."""
    if snapshot.error is not None:
        side = "scratch" if isinstance(snapshot, ScratchSnapshot) else "twin"
        raise StepError(snapshot.error, step=snapshot.step, side=side)


def scratch_network(snapshot: ScratchSnapshot) -> Any:
    """A fresh copy of the snapshot's network, for one replay to change as it likes; a StepError where it could
    not be copied."""
    taken(snapshot)
    return copy.deepcopy(snapshot.net)


def twin_module(snapshot: TwinSnapshot) -> torch.nn.Module:
    """A fresh copy of the snapshot's module; a StepError where it could not be copied."""
    taken(snapshot)
    assert snapshot.module is not None
    return copy.deepcopy(snapshot.module)


def twin_training(case: Case, snapshot: TwinSnapshot) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    """A fresh copy of the twin's module with its optimizer and scheduler as they stood.  The scheduler is made
    before the optimizer's state is loaded: making one steps it to its first epoch, which resets the rate."""
    module = twin_module(snapshot)
    if snapshot.training_error is not None:
        raise StepError(snapshot.training_error, step=snapshot.step, side="twin")
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    scheduler = case.twin.scheduler(optimizer) if case.twin.scheduler is not None else None
    assert snapshot.optimizer is not None
    optimizer.load_state_dict(copy.deepcopy(snapshot.optimizer))
    if scheduler is not None and snapshot.scheduler is not None:
        scheduler.load_state_dict(copy.deepcopy(snapshot.scheduler))
    return module, optimizer, scheduler


class Capture:
    """The hooks that snapshot both sides entering each of ``steps`` as a run steps them (``record_steps``'s
    and ``twin_trace``'s ``before_step``)."""

    def __init__(self, case: Case, steps: Collection[int]) -> None:
        self.case, self.steps = case, frozenset(steps)
        self.scratch: dict[int, ScratchSnapshot] = {}
        self.twin: dict[int, TwinSnapshot] = {}

    def scratch_hook(self, step: int, net: Any) -> None:
        if step in self.steps:
            self.scratch[step] = capture_scratch(self.case, step, net)

    def twin_hook(self, step: int, module: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        if step in self.steps:
            self.twin[step] = capture_twin(self.case, step, module, optimizer, scheduler)

    def taken(self) -> dict[int, Entering]:
        return {s: Entering(self.scratch[s], self.twin[s]) for s in sorted(self.scratch) if s in self.twin}
