"""A pytest plugin for ``tools.bench``: one bug of the mutation catalogue in a tutorial network, as a
learner would have typed it, in place for the whole pytest run.

``CROSSCHECK_LEARNER_BUG=<mutant>:<network>`` (``gradient_sign:sigmoid_neuron``) names it; the bench runs
``python -m pytest -x -p tools.learner_bug`` and times the run to its failure message.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any

import pytest

_ACTIVE: list[AbstractContextManager[Any]] = []


def pytest_configure(config: pytest.Config) -> None:
    spec = os.environ.get("CROSSCHECK_LEARNER_BUG")
    if not spec:
        raise pytest.UsageError("tools.learner_bug: set CROSSCHECK_LEARNER_BUG=<mutant>:<network>")
    from tutorials.mutations import CASES, CATALOGUE

    mutant_name, _, network = spec.partition(":")
    mutants = {m.name: m for m in CATALOGUE}
    if mutant_name not in mutants or network not in mutants[mutant_name].variants:
        known = ", ".join(f"{m.name}:{n}" for m in CATALOGUE for n in m.variants)
        raise pytest.UsageError(f"tools.learner_bug: no catalogue bug {spec!r}; one of {known}")
    context = mutants[mutant_name].variants[network].inject(CASES[network])
    if context.__enter__() is not CASES[network]:  # a bug made as a changed copy of the case (adapt)
        context.__exit__(None, None, None)
        raise pytest.UsageError(
            f"tools.learner_bug: {spec} changes a copy of the case, which no test of this run reads; choose a "
            f"bug the catalogue puts into the network's own code"
        )
    _ACTIVE.append(context)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _ACTIVE:
        _ACTIVE.pop().__exit__(None, None, None)
