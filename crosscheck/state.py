"""The state entering a step of a case's run: where every replay of one step starts from.

The one-step repro, the layer localisation and the finite-difference oracle each rerun one step of a
recorded run; they start it here, from the parameters the run held entering the step (recorded after
the step before, or the initial ones at step 0), the optimizer state and buffers held with them, and
the rows of that step's batch.  What a network keeps beyond those (a hidden state, a cache, a step count)
is not in a trace: the replays take each side's network as it stood from ``RUNS.entering``
(``crosscheck.run.snapshot``) and write this state into the scratch copy where both sides must share it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from crosscheck.case import Case, Params
from crosscheck.keys import Pair, Trace
from crosscheck.lockstep import ENTERING, Run, chunks, row
from crosscheck.run.start import start


class State(NamedTuple):
    params: Params
    held: dict[str, np.ndarray]  # optimizer state and buffers, keyed as in the trace (``state.*``, ``buffer.*``)
    rows: np.ndarray  # the batch's row indices into ``case.data.X``
    sample: bool  # the batch is one sample (an int index, no batch axis) rather than rows

    @property
    def batch(self) -> int | np.ndarray:
        """The batch as an index into ``case.data.X``: an int for a one-sample batch, else the rows."""
        return int(self.rows[0]) if self.sample else self.rows


def recorded_at(run: Run | Pair | None, step: int, side: Literal["scratch", "twin"]) -> Trace | None:
    """``side``'s stepped quantities at ``step`` of ``run`` (a case's ``Run``, which keeps the steps its readers
    replay, or both sides' whole traces), or None where the run did not keep them."""
    if run is None:
        return None
    if isinstance(run, Run):
        kept = run.values_at(step)
        return None if kept is None else kept[0 if side == "scratch" else 1]
    return row(run[0 if side == "scratch" else 1], step)


def state_entering(case: Case, step: int, run: Run | Pair | None, side: Literal["scratch", "twin"] = "twin") -> State:
    """The state entering ``step`` as ``side`` recorded it in ``run`` (the twin's by default: the reference).
    Step 0 needs no run: a failure at step 0 may come from a one-step pair."""
    initial, batches = start(case)
    if step == 0:
        params = {k: np.array(v) for k, v in initial.items()}
        held: dict[str, np.ndarray] = {}
    else:
        recorded = recorded_at(run, step - 1, side)
        if recorded is None and isinstance(run, Run):
            # A step the run kept nothing of (a free-run divergence beyond the rounding growth, judged on a second
            # pass): the run stepped again to it, deterministic, as it was.
            recorded = _stepped_again(case, step - 1, side)
        if recorded is None:
            raise ValueError(f"{case.name}: the state entering step {step} is read from the run that recorded it")
        params = {k: np.array(recorded[f"param.{k}"]) for k in case.scratch.params}
        held = {k: np.array(v) for k, v in recorded.items() if k.startswith(("state.", "buffer."))}
    rows = np.arange(len(case.data.X))[batches[step]]
    return State(params, held, np.atleast_1d(rows), np.ndim(rows) == 0)


def _stepped_again(case: Case, step: int, side: Literal["scratch", "twin"]) -> Trace:
    """``side``'s parameters, optimizer state and buffers after ``step`` of the case's run, stepped again to it a
    chunk at a time (nothing of it kept but that row)."""
    params, batches = start(case)
    last = None
    for chunk in chunks(case, params, batches[: step + 1], anchored=False):
        last = chunk
    assert last is not None
    return row(last.scratch if side == "scratch" else last.twin, step - last.first, ENTERING)
