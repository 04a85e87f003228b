"""Every JSON file the project writes goes through ``dumps``: strict JSON, numbers stay numbers.

JSON has no Inf or NaN (Python's ``json`` writes ``Infinity``/``NaN``, which strict parsers refuse),
and a string such as ``"inf"`` where a number stands breaks every reader that does arithmetic on the
field.  So a non-finite number becomes ``null``, and a sibling field ``<key>_nonfinite`` says which
way it is non-finite: ``"inf"``, ``"-inf"`` or ``"nan"`` for a scalar, ``{"<index>": ...}`` for the
positions in a list (nested positions joined by ``.``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

SUFFIX = "_nonfinite"


def _kind(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _plain(value: Any, where: str, found: dict[str, str]) -> Any:
    """``value`` as plain JSON types; each non-finite float is recorded in ``found`` under its position."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isfinite(v):
            return v
        found[where] = _kind(v)
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where, found)
    if isinstance(value, Mapping):
        return strict(value)
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}.{i}" if where else str(i), found) for i, v in enumerate(value)]
    return value


def strict(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every non-finite number replaced by ``null`` and described beside it."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        found: dict[str, str] = {}
        out[str(key)] = _plain(value, "", found)
        if found:
            out[f"{key}{SUFFIX}"] = found[""] if "" in found else found
    return out


def dumps(data: Mapping[str, Any]) -> str:
    """Strict JSON text of ``data`` (see the module docstring), indented, with a final newline."""
    return json.dumps(strict(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Parse as a strict parser does: ``NaN``, ``Infinity`` and ``-Infinity`` are refused."""
    return json.loads(text, parse_constant=_refuse)
