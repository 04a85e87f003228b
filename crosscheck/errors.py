"""The harness's own errors and their messages; kept apart so that reading a project's settings (the pytest
plugin does it in every run) and a gate's end-of-run check do not import torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class RegistrationError(ValueError):
    """A case that cannot be cross-checked as written; the message says what to fix."""


class StepError(AssertionError):
    """Something at one step of a run that the harness cannot compare: the message names the case, the
    step, the side and the function, and says what to do."""


def writes_into_input(where: str) -> str:
    """The message for a scratch network that writes into the batch it is given."""
    return (
        f"{where} writes into its input: the harness hands X and y over read-only, so that both sides and "
        f"every later step see the same data; compute on a copy (x = x - x.mean(0), not x -= x.mean(0))"
    )


def repeated_full_runs(
    counts: Mapping[tuple[str, int, str, str], int], sites: Mapping[tuple[str, int, str, str], Sequence[str]] = {}
) -> list[str]:
    """One line for each full run computed more than once, saying how often, where, and how to avoid it."""
    return [
        f"{name} (seed {seed}, {dtype}, variant {tag}): its full run was computed {n} times"
        + (f" (in {', '.join(s or 'no test' for s in sites[key])})" if sites.get(key) else "")
        + "; build the case once (at import, as a registered case), get its traces from crosscheck.run.memo.traces, "
        "and run the tests that read them in one process"
        for key, n in sorted(counts.items())
        for name, seed, dtype, tag in [key]
        if n > 1
    ]
