"""Where the network keeps each kind of optimizer state, and on what scale: ``Scratch(state=...)`` read into
torch's terms (every path, ``Scaled`` ones multiplied into torch's scale, ``Absent`` kinds left out) and
written back from them; ``Scratch(options=...)`` read as the twin optimizer's options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from crosscheck import paths
from crosscheck.case import Absent, Case, Scaled


class StatePath(NamedTuple):
    """One parameter's state of one kind: the path that holds it, the factor from the network's scale to torch's
    (None: the same scale), and whether the path is one value every parameter shares (a step count)."""

    path: str
    by: Any
    shared: bool

    def factor(self, learning_rate: float) -> float:
        return float(self.by(learning_rate) if callable(self.by) else self.by)

    def to_twin(self, value: np.ndarray, learning_rate: float) -> np.ndarray:
        """The network's value in torch's scale (the value itself where the scale is the same)."""
        if self.by is None:
            return value
        return np.asarray(value * np.asarray(value).dtype.type(self.factor(learning_rate)))

    def to_scratch(self, value: np.ndarray, learning_rate: float) -> np.ndarray:
        """Torch's value in the network's scale, to write into it."""
        if self.by is None:
            return value
        return np.asarray(value / np.asarray(value).dtype.type(self.factor(learning_rate)))


def _state_path(spec: str | Scaled, shared: bool) -> StatePath:
    if isinstance(spec, Scaled):
        return StatePath(spec.path, spec.by, shared)
    return StatePath(spec, None, shared)


def state_paths(case: Case) -> list[tuple[str, str, StatePath]]:
    """(kind, parameter, where it is kept) for every state kind the network keeps (not ``Absent``), for every
    parameter, in the order the case declares them."""
    out = []
    for kind, per_param in case.scratch.state.items():
        if isinstance(per_param, Absent):
            continue
        for name in case.scratch.params:
            if isinstance(per_param, Mapping):
                out.append((kind, name, _state_path(per_param[name], False)))
            else:
                out.append((kind, name, _state_path(per_param, True)))
    return out


def load_state(case: Case, net: Any, entering: Mapping[str, np.ndarray]) -> None:
    """The optimizer state in ``entering`` (keyed as a trace keys it, in torch's scale) written into ``net``."""
    for kind, name, where in state_paths(case):
        paths.write(net, where.path, where.to_scratch(entering[f"state.{kind}.{name}"], case.data.learning_rate))


def absent_kinds(case: Case) -> dict[str, str]:
    """The state kinds declared ``Absent``, each with its reason."""
    return {kind: spec.why for kind, spec in case.scratch.state.items() if isinstance(spec, Absent)}


def not_compared(case: Case) -> list[str]:
    """One sentence per state kind the twin keeps and the network does not, for the reports."""
    return [
        f"the twin optimizer's {kind} is not compared: the network keeps none"
        + (f" ({why})" if why else "")
        + "; the parameters after each update carry the check"
        for kind, why in absent_kinds(case).items()
    ]


def option_value(net: Any, spec: Any, learning_rate: float) -> Any:
    """The network's value of one option: read at a path, at several (a tuple option such as ``betas`` from
    ``("beta_1", "beta_2")``), scaled (``Scaled``), or given as it is (a number the network was constructed with)."""
    if isinstance(spec, tuple):
        return tuple(option_value(net, part, learning_rate) for part in spec)
    if isinstance(spec, Scaled):
        return StatePath(spec.path, spec.by, True).factor(learning_rate) * np.asarray(paths.read(net, spec.path))
    if isinstance(spec, str):
        return paths.read(net, spec)
    return spec


def option_text(spec: Any) -> str:
    """Where the network's option comes from, as a message names it."""
    if isinstance(spec, tuple):
        return f"({', '.join(option_text(part) for part in spec)})"
    if isinstance(spec, Scaled):
        return f"{spec.path} scaled"
    return spec if isinstance(spec, str) else "as given"
