"""One bug, one answer: the facts of a failing case in one block.

``diagnose(case, reports)`` runs the case's battery once (``verdict.collect``), takes the earliest
divergence over all checks, asks the finite-difference oracle about that element when it is a
gradient, places the divergence in the chain of its step, writes the one-step repro into
``<reports>/repro/<case>/``, and returns the facts; ``Diagnosis.block()`` is what the end of a pytest
run, the command line and the report print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosscheck.case import Case
from crosscheck.compare import Divergence, Problem
from crosscheck.diagnose.chain import first_divergence, where_it_grows
from crosscheck.diagnose.update import candidates_text, hidden_update
from crosscheck.errors import StepError
from crosscheck.keys import exceeds_text, step_text
from crosscheck.lockstep import Run
from crosscheck.verdict import NetworkReport, collect


@dataclass(frozen=True)
class Diagnosis:
    case: str
    check: str
    failed_checks: tuple[str, ...]
    divergence: Divergence | None  # None: the failure is a problem (dtype, shape, a step's error), not a value
    problem: Problem | None
    odd_one_out: str | None  # scratch, twin or finite differences, where the oracle could tell
    stage: str | None  # where in the chain of the step the difference first grows
    layer: str | None  # the first layer where the sides part, for a case that names its layers
    repro: Path | None
    optimizer: str | None = None  # what the twin trains with, for a divergence in the update
    # for a divergence in the update of a network that keeps its gradients to itself: the gradient or the rule
    update: str | None = None
    nondeterministic: str | None = None  # a side that takes the diverging step two ways from one state

    def block(self) -> list[str]:
        lines = [f"{self.case}: {len(self.failed_checks)} check(s) failed ({', '.join(self.failed_checks)})"]
        d = self.divergence
        if d is None:
            lines.append(f"  first failure ({self.check}): {self.problem}")
        else:
            lines += [
                f"  first divergence: {step_text(d.step)}, {d.where()} ({self.check} check)",
                f"  scratch = {d.scratch!r}, twin = {d.reference!r}, {exceeds_text(d.difference, d.tolerance)}",
            ]
        if self.nondeterministic is not None:
            lines.append(f"  {self.nondeterministic}")
        if self.stage is not None:
            lines.append(f"  the difference first grows at: {self.stage}")
        if self.layer is not None:
            lines.append(f"  layer: {self.layer}")
        if self.optimizer is not None:
            lines.append(f"  the twin trains with {self.optimizer}")
        if self.update is not None:
            lines.append(f"  {self.update}")
        if self.odd_one_out is not None:
            lines.append(f"  finite differences: {self.odd_one_out}")
        if self.repro is not None:
            lines.append(f"  one-step repro: python {self.repro}")
        return lines


def _oracle(case: Case, d: Divergence, run: Run | None) -> str | None:
    """What the finite-difference oracle says about the diverging gradient element, in words."""
    if d.quantity != "grad" or d.step is None or np.dtype(case.dtype) != np.float64:
        return None
    from crosscheck.finite_diff import vote_at

    try:
        vote = vote_at(case, run, d.step, d.parameter or "", d.index)
    except StepError as exc:  # a side that cannot be copied as it stood: no state to judge from
        return f"cannot judge: {exc}"
    if vote.agree:
        return "scratch, twin and finite differences agree on this element (the divergence is elsewhere)"
    return vote.verdict


def diagnose(
    case: Case, reports: Path | None = None, root: Path | None = None, net: NetworkReport | None = None
) -> Diagnosis | None:
    """The facts of ``case``'s first failure, or None when its battery passes.  ``net`` is the case's
    battery already run (``verdict.collect``), when the caller has it."""
    net = collect(case) if net is None else net
    failed = [c for c in net.comparisons if not c.passed]
    if not failed:
        return None
    found = first_divergence(net)  # the earliest divergence by step, then stage of the chain
    first = found[0] if found is not None else failed[0]
    d = first.first_divergence
    stage = odd = layer = random = None
    repro = None
    if d is not None:
        from crosscheck.diagnose.determinism import nondeterminism
        from crosscheck.diagnose.repro import repro_for

        random = nondeterminism(case, d.step) if d.step is not None else None

        stage = (where_it_grows(net) or {}).get("stage")
        run = net.run
        odd = _oracle(case, d, run)
        # The recorded curve is evaluated after the step's update: its layers are those of the next step.
        after = d.quantity == "curve" and d.step is not None and d.step + 1 < first.steps
        layer = layer_text(case, d.step + 1 if after and d.step is not None else d.step, run)
        if reports is not None:
            repro = repro_for(case, d.step, run, reports, root)
    optimizer = None
    if d is not None and d.quantity in ("lr", "state", "param"):
        from crosscheck.optimizer_text import describe_optimizer

        optimizer = describe_optimizer(case)
    update = candidates_text(case, d, net.run) if d is not None and hidden_update(case, d) else None
    failed_checks = tuple(c.check for c in failed)
    return Diagnosis(
        case.name, first.check, failed_checks, d, first.problem, odd, stage, layer, repro, optimizer, update, random
    )


def layer_text(case: Case, step: int | None, run: Run | None) -> str | None:
    """Where, layer by layer, the sides part at ``step``, for a case that names its layers."""
    if not case.layers:
        return None
    from crosscheck.diagnose.layers import localise_layers

    try:
        found = localise_layers(case, 0 if step is None else step, run)
    except StepError as exc:  # as _oracle
        return f"cannot place: {exc}"
    if found is not None:
        return found.text()
    if any(layer.grad for layer in case.layers):
        return "every named layer agrees, forward and backward: the parameter gradients or the update part"
    return (
        "every named layer agrees forward: the error is in the backward pass or the update (name the layers' "
        "backward signals, Layer(..., grad=...), to place it)"
    )
