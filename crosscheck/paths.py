"""Paths into a scratch network: where a parameter, an optimizer state or a buffer lives.

A path is what one would write after ``net``: attributes, list or tuple items and dict keys, nested
(``W1``, ``layers[0].W``, ``weights[1]``, ``p["W1"]``, ``dense1.weights``).  The harness reads and
writes through paths, so a network needs no adapter exposing its arrays as attributes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

# One step of a path: ``.name``, ``[3]``, ``["key"]`` or ``['key']``.
_STEP = re.compile(r"""\.?([A-Za-z_][A-Za-z_0-9]*)|\[\s*(-?\d+)\s*\]|\[\s*"([^"]*)"\s*\]|\[\s*'([^']*)'\s*\]""")

Step = tuple[str, str | int]  # ("attr", name) or ("item", index or key)


class PathError(ValueError):
    """A path that cannot be parsed, or that does not lead to a value in the network."""


@lru_cache(maxsize=4096)
def parse(path: str) -> tuple[Step, ...]:
    """The steps of ``path``; a malformed path raises ``PathError`` saying where it stops making sense."""
    if not isinstance(path, str) or not path:
        raise PathError(f"a path must be a non-empty string such as 'W1', 'layers[0].W' or 'p[\"W1\"]', got {path!r}")
    steps: list[Step] = []
    at = 0
    while at < len(path):
        m = _STEP.match(path, at)
        if m is None or (at == 0 and path[0] == ".") or (at > 0 and m.group(1) and path[at] != "."):
            raise PathError(
                f"cannot read path {path!r} from character {at} ({path[at:]!r}); write attributes, "
                f"list items and dict keys as in Python: 'layers[0].W', 'weights[1]', 'p[\"W1\"]'"
            )
        attr, index, key2, key1 = m.groups()
        if attr is not None:
            steps.append(("attr", attr))
        elif index is not None:
            steps.append(("item", int(index)))
        else:
            steps.append(("item", key2 if key2 is not None else key1))
        at = m.end()
    return tuple(steps)


def _get(obj: Any, step: Step, path: str) -> Any:
    kind, name = step
    try:
        return getattr(obj, str(name)) if kind == "attr" else obj[name]
    except (AttributeError, KeyError, IndexError, TypeError) as exc:
        what = f"attribute {name!r}" if kind == "attr" else f"item [{name!r}]"
        raise PathError(f"path {path!r}: the network's {type(obj).__name__} has no {what} ({exc})") from None


def read(net: Any, path: str) -> Any:
    """The value at ``path`` in ``net`` (the object itself, not a copy)."""
    obj = net
    for step in parse(path):
        obj = _get(obj, step, path)
    return obj


@lru_cache(maxsize=4096)
def reader(path: str) -> Callable[[Any], Any]:
    """``read`` made once for ``path``: a path of attributes only (the common case, read at every step of
    every run) becomes one ``operator.attrgetter``; a failure is ``read``'s, saying where the path stops."""
    steps = parse(path)
    if any(kind != "attr" for kind, _ in steps):
        return lambda net: read(net, path)
    get = operator.attrgetter(".".join(str(name) for _, name in steps))

    def read_attrs(net: Any) -> Any:
        try:
            return get(net)
        except AttributeError:
            return read(net, path)  # raises PathError, naming the attribute that is missing

    return read_attrs


def write(net: Any, path: str, value: np.ndarray) -> None:
    """Put ``value`` at ``path``: into the array already there when it has the same shape and dtype (so any
    other reference the network keeps to it, an optimizer's list of parameters say, sees the new value),
    else in its place."""
    steps = parse(path)
    owner = net
    for step in steps[:-1]:
        owner = _get(owner, step, path)
    kind, name = steps[-1]
    current = _get(owner, steps[-1], path)
    if (
        isinstance(current, np.ndarray)
        and current.flags.writeable
        and current.shape == np.shape(value)
        and current.dtype == np.asarray(value).dtype
    ):
        current[...] = value
        return
    if isinstance(current, int | float) and not isinstance(current, bool) and np.ndim(value) == 0:
        new: Any = type(current)(np.asarray(value).item())  # a count stays an int, a rate a float
    else:
        new = np.array(value, copy=True)
    try:
        if kind == "attr":
            setattr(owner, name, new)  # type: ignore[arg-type]
        else:
            owner[name] = new
    except (AttributeError, TypeError) as exc:
        raise PathError(f"path {path!r}: cannot write into the network's {type(owner).__name__} ({exc})") from None
