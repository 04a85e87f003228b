"""This repository's accounting of full runs: a gate that computes one registered case's full run twice pays for
the same steps twice, so ``tests/conftest.py`` counts them (through ``RUNS.on_full_run``, the library's event)
and fails the run on a repeat.  The library itself keeps no count.

A run is known by (case name, seed, dtype, variant): ``variant`` is a digest of everything that defines the case,
so that two case objects built alike (a float32 variant made twice) count as one run, and a variant that changes
anything, keeping the name, as another.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections import Counter
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

# Full runs of the registered cases and of their float32 variants computed in this process, and where each was
# computed: the test running then (pytest names it in PYTEST_CURRENT_TEST).
FULL_RUNS: Counter[tuple[str, int, str, str]] = Counter()
FULL_RUN_SITES: dict[tuple[str, int, str, str], list[str]] = {}


def registered(name: str) -> bool:
    """A registered case's name, or its float32 variant's."""
    from crosscheck.registration import _REGISTRY as names  # every case registered in this process

    return name in names or (name.endswith("_float32") and name.removesuffix("_float32") in names)


def count(case: Any) -> None:
    """``RUNS.on_full_run``'s observer: count a registered case's full run, and say where it was computed."""
    if not registered(case.name):
        return
    run = (case.name, case.data.seed, np.dtype(case.dtype).name, variant(case))
    FULL_RUNS[run] += 1
    FULL_RUN_SITES.setdefault(run, []).append(os.environ.get("PYTEST_CURRENT_TEST", "").split(" (")[0])


def _fingerprint(value: Any, digest: Any, depth: int = 0) -> None:
    """Feed what defines ``value`` to ``digest``, the same in every process: arrays by their bytes,
    functions by where they are defined and what they capture, containers and dataclasses item by item."""
    if depth > 8:  # deep enough for a case's parts; beyond it, only the type is told
        digest.update(type(value).__qualname__.encode())
        return
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            digest.update(f.name.encode())
            _fingerprint(getattr(value, f.name), digest, depth + 1)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            digest.update(repr(k).encode())
            _fingerprint(v, digest, depth + 1)
    elif isinstance(value, list | tuple | range):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            _fingerprint(v, digest, depth + 1)
    elif isinstance(value, functools.partial):
        digest.update(b"partial")
        for part in (value.func, value.args, value.keywords):
            _fingerprint(part, digest, depth + 1)
    elif callable(value) and hasattr(value, "__self__") and not isinstance(value.__self__, type | ModuleType):
        _fingerprint(value.__func__ if hasattr(value, "__func__") else type(value), digest, depth + 1)  # a bound method
        _fingerprint(value.__self__, digest, depth + 1)
    elif callable(value) and not isinstance(value, type) and not hasattr(value, "__code__"):
        digest.update(type(value).__qualname__.encode())  # a callable object (nn.MSELoss()): its settings
        _fingerprint(dict(getattr(value, "__dict__", {})), digest, depth + 1)
    elif callable(value):
        code = getattr(value, "__code__", None)
        where = f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}"
        digest.update(f"{where}:{code.co_firstlineno if code else ''}".encode())
        for cell in getattr(value, "__closure__", None) or ():  # two lambdas of one line, closing over different values
            try:
                _fingerprint(cell.cell_contents, digest, depth + 1)
            except ValueError:  # an empty cell
                pass
        for default in getattr(value, "__defaults__", None) or ():
            _fingerprint(default, digest, depth + 1)
    else:
        digest.update(repr(value).encode())


def variant(case: Any) -> str:
    """A digest of everything that defines the case's run: two case objects built alike (a float32 variant
    made twice) share it, a variant that changes anything, keeping the name, does not."""
    digest = hashlib.sha1(usedforsecurity=False)
    _fingerprint(case, digest)
    return digest.hexdigest()[:12]
