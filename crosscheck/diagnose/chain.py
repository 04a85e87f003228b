"""Where it first grows: a network's differences placed in the chain of one training step.

``per_step`` gives, for each stage of the chain, the largest difference at each step (for the plots);
``first_divergence`` the earliest divergence over a network's checks; ``where_it_grows`` the first link of
that step's chain whose difference exceeds its tolerance and the link before it.  The chain follows
``compare.STAGE_ORDER``, the order the checks and the goldens name a failure in, so the stage a failure
"first grows at" and its first divergence never disagree on what came first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from crosscheck.compare import Comparison, Divergence, differences
from crosscheck.keys import QUANTITIES, STAGE_ORDER
from crosscheck.verdict import NetworkReport

# What each stage of a step is called in the chain; stages outside a step (init, forward, curve) have none.
_LINKS = {
    "output": "forward output",
    "buffer": "buffers (running statistics)",
    "loss": "loss",
    "dloss": "dL/doutput",
    "grad": "parameter gradient",
    "lr": "learning rate",
    "state": "optimizer state",
    "param": "update (parameters after the step)",
}
# The chain of one training step, in the order a fault travels through it.
CHAIN = {stage: _LINKS[stage] for stage in STAGE_ORDER if stage in _LINKS}


def stage_keys(trace: Mapping[str, Any], stage: str) -> list[str]:
    """The keys of one stage (``grad.W1``, ``grad.b1``, ... for ``grad``)."""
    return [k for k in trace if k.split(".")[0] == stage]


def differences_or_inf(a: Any, b: Any, atol: float, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """``compare.differences``' |a - b| and tolerance, in float64, with a NaN or Inf on either side an
    infinite difference: it is drawn and ranked as the largest, never as within tolerance."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff, tol, _ = differences(a64, b64, atol, rtol)
    return np.where(np.isfinite(a64) & np.isfinite(b64), diff, np.inf), tol


def per_step(net: NetworkReport) -> dict[str, dict[str, np.ndarray]]:
    """For each stage of the chain: the largest |scratch - twin| at each step (``abs``) and the
    largest |scratch - twin| / (atol + rtol |twin|) (``ratio``, > 1 where the check fails), from the largest of
    each quantity that the run kept as it stepped (``compare``'s ``maxima``)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    if net.run is None:
        return out
    maxima = net.run.maxima
    for stage in CHAIN:
        keys = stage_keys(maxima, stage)
        if keys:
            out[stage] = {
                "abs": np.max([maxima[k][0] for k in keys], axis=0),
                "ratio": np.max([maxima[k][1] for k in keys], axis=0),
            }
    return out


def first_divergence(net: NetworkReport) -> tuple[Comparison, Divergence] | None:
    """The earliest divergence over the network's checks: by step (before training first), then chain."""
    found = [(c, c.first_divergence) for c in net.comparisons if c.first_divergence is not None]
    if not found:
        return None
    return min(found, key=lambda f: (-1 if f[1].step is None else f[1].step, STAGE_ORDER.index(f[1].quantity)))


def where_it_grows(
    net: NetworkReport, steps: Mapping[str, Mapping[str, np.ndarray]] | None = None
) -> dict[str, Any] | None:
    """Where in the chain of the first divergent step the difference first grows.

    The chain starts from the parameters entering the step, then each stage of ``CHAIN``; each link
    gets its largest difference in units of its tolerance.  The stage named is the first whose
    difference exceeds its tolerance and the link before it, as CRADLE localises an inconsistency to
    the layer where it first grows.  ``steps`` is ``per_step(net)`` when the caller has it.  A divergence of the
    anchored steps is placed in the chain of the anchored step itself (``Run.anchored_chain``), which entered from
    the twin's state: in a chaotic run the free run's figures at that step hold the rounding the run amplified.
    """
    found = first_divergence(net)
    if found is None:
        return None
    check, d = found
    if d.step is None:
        return {"check": check.check, "step": None, "stage": QUANTITIES[d.quantity], "chain": []}
    s = d.step
    if check.check == "anchored_steps" and net.run is not None and net.run.anchored_chain:
        return {"check": check.check, "step": s, **_grows(_anchored_chain(net.run.anchored_chain), d)}
    steps = per_step(net) if steps is None else steps
    entering: list[float] = [0.0, 0.0]
    if s == 0 and net.run is not None:
        scratch, twin = net.run.first
        for key in stage_keys(scratch, "init"):
            a, b = scratch[key], twin[key]
            if np.shape(a) != np.shape(b) or not np.size(a):
                continue
            diff, tol = differences_or_inf(a, b, net.atol, net.rtol)
            entering = [max(entering[0], float(diff.max())), max(entering[1], float((diff / tol).max()))]
    elif "param" in steps and s - 1 < len(steps["param"]["abs"]):
        # The parameters entering the step are those after the step before.
        entering = [float(steps["param"]["abs"][s - 1]), float(steps["param"]["ratio"][s - 1])]
    chain: list[dict[str, Any]] = [
        {"stage": "parameters entering the step", "max_abs": entering[0], "over_tolerance": entering[1]}
    ]
    for stage, label in CHAIN.items():
        if stage in steps and s < len(steps[stage]["abs"]):
            chain.append(
                {
                    "stage": label,
                    "max_abs": float(steps[stage]["abs"][s]),
                    "over_tolerance": float(steps[stage]["ratio"][s]),
                }
            )
    return {"check": check.check, "step": s, **_grows(chain, d)}


def _anchored_chain(figures: Mapping[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """The chain of an anchored step at its first divergence (``Run.anchored_chain``): it entered from the twin's
    own state, so the parameters entering it differ by nothing."""
    chain: list[dict[str, Any]] = [
        {"stage": "parameters entering the step (the twin's, shared)", "max_abs": 0.0, "over_tolerance": 0.0}
    ]
    for stage, label in CHAIN.items():
        keys = stage_keys(figures, stage)
        if keys:
            largest = max(figures[k][0] for k in keys)
            ratio = max(figures[k][1] for k in keys)
            chain.append({"stage": label, "max_abs": largest, "over_tolerance": ratio})
    return chain


def _grows(chain: list[dict[str, Any]], d: Divergence) -> dict[str, Any]:
    """The first link of ``chain`` beyond its tolerance and beyond the link before it, and the chain."""
    grows = next(
        (
            link["stage"]
            for before, link in zip(chain, chain[1:], strict=False)
            if link["over_tolerance"] > 1 and link["over_tolerance"] > before["over_tolerance"]
        ),
        QUANTITIES[d.quantity],  # e.g. only the recorded curve parts: no link of the step exceeds its tolerance
    )
    return {"stage": grows, "chain": chain}
