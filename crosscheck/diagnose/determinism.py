"""Whether a side computes one step the same way twice: a divergence first seen on one side may be that side's
own randomness (dropout from torch's global generator, a draw that depends on the time), which no fix to the
other side's arithmetic would remove.

``nondeterminism(case, step)`` takes the step twice on each side from the state the side entered it with (the
snapshots ``RUNS.entering`` keeps or steps the run to again), and names the side whose two results differ.
"""

from __future__ import annotations

import numpy as np

from crosscheck.case import Case
from crosscheck.errors import StepError
from crosscheck.keys import STAGE_ORDER, Trace, describe, split_key
from crosscheck.run.memo import RUNS
from crosscheck.run.scratch import as_trace, record_steps
from crosscheck.run.snapshot import scratch_network, twin_training
from crosscheck.run.start import start
from crosscheck.run.twin import TwinRecorder


def _first_differing(a: Trace, b: Trace) -> str | None:
    keys = sorted(set(a) & set(b), key=lambda k: STAGE_ORDER.index(split_key(k)[0]))
    return next((k for k in keys if not np.array_equal(a[k], b[k], equal_nan=True)), None)


def nondeterminism(case: Case, step: int) -> str | None:
    """A sentence naming the side whose step ``step``, taken twice from the same state, gives two results; None
    where both sides repeat themselves (or a side cannot be stepped again: the other lines of the diagnosis say
    why)."""
    try:
        entering = RUNS.entering(case, [step])[step]
        batch = start(case)[1][step]
        twin = [
            TwinRecorder(case, {}, begin=twin_training(case, entering.twin)).record([batch], step) for _ in range(2)
        ]
        scratch = [
            as_trace(case, record_steps(case, scratch_network(entering.scratch), [batch], first=step)) for _ in range(2)
        ]
    except StepError:
        return None
    for side, (a, b) in (("twin", twin), ("scratch", scratch)):
        key = _first_differing(a, b)
        if key is not None:
            return (
                f"the {side} is not deterministic at step {step}: the step taken twice from the same state "
                f"gives two different values of its {describe(*split_key(key))}; draw its randomness from a "
                f"generator of its own, seeded (or torch.use_deterministic_algorithms(True)), so that both sides "
                f"can be compared"
            )
    return None
