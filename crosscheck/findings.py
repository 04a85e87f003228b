"""Findings: what a project learned by cross-checking its networks, shown as sections of its reports.

A project contributes a section with ``register_findings(title, produce)``: ``produce()`` is called
when a report is written and returns ``Finding`` objects, each a few sentences with the numbers in
them, the numbers themselves, and optionally a small table.  The library itself registers none, so a
project's reports hold only the findings that project registered (this repository's tutorial quirks
are registered by ``tutorials/networks.py``, the way any project would register its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    id: str
    sources: tuple[str, ...]  # where the finding comes from (files, papers, seeds), shown under its title
    title: str
    finding: str  # the text; `backticked` spans are shown as code
    numbers: dict[str, Any] = field(default_factory=dict)
    # An optional table of the same numbers, formatted: (column headings, rows of cells).
    table: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sources": list(self.sources),
            "title": self.title,
            "finding": self.finding,
            "numbers": self.numbers,
            "table": None if self.table is None else {"columns": list(self.table[0]), "rows": self.table[1]},
        }


@dataclass(frozen=True)
class Section:
    title: str
    findings: tuple[Finding, ...]


_PRODUCERS: dict[str, Callable[[], Sequence[Finding]]] = {}


def register_findings(title: str, produce: Callable[[], Sequence[Finding]]) -> None:
    """Add a findings section to this project's reports; ``produce()`` runs when a report is written.

    Registering the same title again replaces the producer (a module imported twice does no harm)."""
    if not isinstance(title, str) or not title.strip():
        raise ValueError("register_findings: the section title must be non-empty text")
    if not callable(produce):
        raise TypeError(f"register_findings({title!r}, ...): produce must be callable, got {type(produce).__name__}")
    _PRODUCERS[title] = produce


def sections() -> list[Section]:
    """Every registered section, its findings computed now; a producer that returns something other
    than ``Finding`` objects raises ``TypeError`` naming the section."""
    out = []
    for title, produce in _PRODUCERS.items():
        found = tuple(produce())
        wrong = [type(f).__name__ for f in found if not isinstance(f, Finding)]
        if wrong:
            raise TypeError(f"findings section {title!r}: produce() must return Finding objects, got {wrong[0]}")
        out.append(Section(title, found))
    return out
