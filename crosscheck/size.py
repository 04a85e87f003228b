"""How large a run is, said before it starts: its steps times its parameters.  A run of that size or more is
announced where a run's progress shows, and a case may set a bound (``Case(max_size=...)``) above which it is
refused with the figure."""

from __future__ import annotations

import sys
from typing import TextIO

import numpy as np

from crosscheck import settings
from crosscheck.case import Batch, Case, Params
from crosscheck.errors import RegistrationError
from crosscheck.run.start import start
from crosscheck.schedule import is_int

# Parameter-steps from which a run is announced: at the scale grid's rates (README, "The scale grid") 1e7 of them
# take tens of seconds of CPU, both sides and the anchored network stepped.
LARGE = 10_000_000
# The figure of a validated case, kept on the case object as validation_problem keeps its verdict.
_SIZE = "_run_size"
_ANNOUNCED = "_run_size_announced"


def size_text(steps: int, parameters: int) -> str:
    """``1,500 steps x 17 parameters = 25,500 parameter-steps``."""
    return f"{steps:,} steps x {parameters:,} parameters = {steps * parameters:,} parameter-steps"


def check_size(case: Case, where: str, params: Params, batches: list[Batch]) -> None:
    """Keep the run's size on ``case``; a size above the case's ``max_size`` raises ``RegistrationError`` with
    the figure, before any step is taken."""
    steps, parameters = len(batches), sum(int(np.size(v)) for v in params.values())
    object.__setattr__(case, _SIZE, (steps, parameters))
    bound = case.max_size
    if bound is None:
        return
    if not is_int(bound) or bound <= 0:
        raise RegistrationError(f"{where}: max_size must be a positive int (steps x parameters), got {bound!r}")
    if steps * parameters > bound:
        raise RegistrationError(
            f"{where}: the run is {size_text(steps, parameters)}, above the case's max_size of {bound:,}; "
            f"shorten the schedule (Data(batches=...)) or raise max_size"
        )


def large_run(case: Case) -> str | None:
    """One line saying how large ``case``'s run is, when it is large (``LARGE``): the figure validation kept,
    else drawn as a run starts (None where that fails: validation says why)."""
    size = vars(case).get(_SIZE)
    if size is None:
        try:
            params, batches = start(case)
        except Exception:
            return None
        size = len(batches), sum(int(np.size(v)) for v in params.values())
    if size[0] * size[1] < LARGE:
        return None
    return f"{case.name}: a large run, {size_text(*size)}"


def announce(case: Case, stream: TextIO | None = None) -> None:
    """Say ``large_run(case)`` on ``stream`` (default: the pytest run's terminal where there is one, else
    standard error), once per case object."""
    line = large_run(case)
    if line is None or vars(case).get(_ANNOUNCED):
        return
    object.__setattr__(case, _ANNOUNCED, True)
    run = settings.current()
    if stream is None and run is not None and run.say is not None:
        run.say(line)
        return
    print(line, file=sys.stderr if stream is None else stream, flush=True)
