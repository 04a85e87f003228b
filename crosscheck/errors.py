"""The harness's own errors and their messages; kept apart so that reading a project's settings (the pytest
plugin does it in every run) and a gate's end-of-run check do not import torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class RegistrationError(ValueError):
    """A case that cannot be cross-checked as written; the message says what to fix."""


class StepError(AssertionError):
    """Something at one step of a run that the harness cannot compare: the message names the case, the
    step, the side and the function, and says what to do; the facts it can name are kept as data too."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "step",
        step: int | None = None,
        side: str | None = None,
        quantity: str | None = None,
        parameter: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.step, self.side, self.quantity, self.parameter = kind, step, side, quantity, parameter


def writes_into_input(where: str, exc: BaseException | None = None) -> str:
    """The message for a scratch network that writes into the batch it is given (``exc``: NumPy's refusal,
    which tells a write from an attempt to unlock the data first)."""
    if exc is not None and "WRITEABLE" in str(exc):
        return (
            f"{where} unlocks its input to write into it (setflags(write=True)): the harness hands X and y over "
            f"read-only, in memory no flag unlocks, so that both sides and every later step see the same data; "
            f"compute on a copy (x = x - x.mean(0), not x -= x.mean(0))"
        )
    return (
        f"{where} writes into its input: the harness hands X and y over read-only, so that both sides and "
        f"every later step see the same data; compute on a copy (x = x - x.mean(0), not x -= x.mean(0))"
    )


def converts_read_only(where: str, exc: BaseException) -> str | None:
    """The message for ``torch.from_numpy`` on the read-only data, where the caller's warning filters made torch's
    warning about it an error; None for any other exception."""
    if not (isinstance(exc, UserWarning) and "NumPy array is not writable" in str(exc)):
        return None
    return (
        f"{where} converts its read-only input with torch.from_numpy, and torch's warning that it does not support "
        f"non-writable arrays is an error under the warning filters of this run: the harness hands X and y over "
        f"read-only, so that both sides and every later step see the same data; convert a copy (torch.tensor(x), "
        f"or torch.from_numpy(x.copy()))"
    )


def refuses_write(exc: BaseException) -> bool:
    """Whether ``exc`` is NumPy refusing a write into read-only data, or refusing to make it writable."""
    return isinstance(exc, ValueError) and ("read-only" in str(exc) or "cannot set WRITEABLE flag" in str(exc))


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


class CallError(RegistrationError):
    """One of the case's functions raised while the case was checked; ``what`` is the call as the message
    names it (``forward(net, X)``), kept as data for whoever picks a hint by the call."""

    def __init__(self, message: str, what: str = "") -> None:
        super().__init__(message)
        self.what = what


def raised_at(exc: BaseException) -> str:
    """`` (at file:line, in function)``: the innermost place in the user's own code that ``exc`` passed through
    (not this library, an installed package or Python's own), so that a refusal quoting a NumPy error says
    where the network made it; ``""`` where no frame is the user's."""
    import sys
    import traceback
    from pathlib import Path

    library = Path(__file__).resolve().parent
    python = Path(sys.base_prefix).resolve()
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if frame.filename.startswith("<") or "site-packages" in path.parts:
            continue
        if library == path.parent or library in path.parents or python in path.parents:
            continue
        found = frame
    return f" (at {found.filename}:{found.lineno}, in {found.name})" if found is not None else ""


def raised_text(exc: BaseException) -> str:
    """``raised ValueError: <its message> (at file:line, in function)``: what a refusal says of an exception."""
    return f"raised {type(exc).__name__}: {str(exc).rstrip()}{raised_at(exc)}"


def call_user(where: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call one of the case's functions; an exception becomes a RegistrationError saying which call."""
    try:
        return fn(*args)
    except RegistrationError:
        raise
    except ValueError as exc:
        if refuses_write(exc):
            raise RegistrationError(writes_into_input(f"{where}: {what}", exc)) from exc
        raise CallError(f"{where}: {what} raised {type(exc).__name__}: {exc}", what) from exc
    except Exception as exc:
        text = converts_read_only(f"{where}: {what}", exc) or f"{where}: {what} raised {type(exc).__name__}: {exc}"
        raise CallError(text, what) from exc
