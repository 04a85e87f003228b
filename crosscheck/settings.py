"""What the pytest run in progress decides for the checks: where goldens and repros go, and whether goldens may
be rewritten.

The plugin fills a ``Settings`` when pytest configures and takes it back when pytest ends; the library reads
``current()`` and never looks the plugin up.  Runs nest (pytester starts one pytest inside another): the
innermost run's settings are the current ones.  Standard library only: the plugin imports this at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, eq=False)  # one run is one object: nested runs alike stay apart
class Settings:
    """One pytest run's settings, and what its checks found out once that another check of the run may need."""

    goldens: Path  # the folder of the golden files
    force_regen: bool
    regen_all: bool
    reports: Path  # where one-step repros go: --crosscheck-report, else <project>/reports
    root: Path  # the project's folder
    # A failing case's diagnosis, by case name, made by its first failing check and read by its others and by
    # the end-of-run summary: it lives as long as the run.
    diagnoses: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


_RUNS: list[Settings] = []


def push(settings: Settings) -> None:
    _RUNS.append(settings)


def pop(settings: Settings) -> None:
    if settings in _RUNS:
        _RUNS.remove(settings)


def current() -> Settings | None:
    """The settings of the innermost pytest run in progress in this process, or None outside pytest."""
    return _RUNS[-1] if _RUNS else None


def required() -> Settings:
    """``current()``, for the checks that only make sense inside pytest (the golden check)."""
    found = current()
    if found is None:
        raise RuntimeError(
            "the golden check runs inside pytest, with the crosscheck plugin that nn-crosscheck installs; "
            "it was called outside a pytest run (or with -p no:crosscheck)"
        )
    return found
