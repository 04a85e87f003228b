"""The case's maps between the two sides, refused at registration where they do not fit or could be read two
ways: parameter ``Link``s (sums, permutations, reshapes), ``Layer`` layouts, optimizer state kinds (``Scaled``,
``Absent``) and options.  ``crosscheck.validate`` calls these in its order."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from crosscheck import paths
from crosscheck.case import Absent, Case, Link, Scaled, Scratch
from crosscheck.errors import RegistrationError
from crosscheck.layout import arranged, layer_as_scratch
from crosscheck.optimizer_text import QUIET_OPTIONS, describe_optimizer
from crosscheck.state_paths import option_text, option_value

# Said wherever a refusal points at the twin's optimizer: the twin is the reference, so the network's own rule
# copied into it would make both sides agree on the bug.
NOT_A_COPY = "the twin is the reference: a copy of the network's own rule there would hide a bug in it"


def describe_link(link: Link) -> str:
    """The twin side of a link as a message names it: ``twin tensor 'fc.weight'.T[0]``."""
    text = "twin tensor " + " + ".join(repr(t) for t in link.tensors)
    text = f"({text})" if link.plus else text
    text += f".permute{tuple(link.permute)}" if link.permute is not None else ".T" if link.transpose else ""
    text += str(list(link.index)) if link.index else ""
    return text + (f".reshape{tuple(link.shape)}" if link.shape is not None else "")


def _link_shape(where: str, what: str, link: Link, tensors: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """The shape of the twin side of ``link`` in the scratch layout; a link that does not fit its tensors, or
    that says one thing two ways, is refused."""
    for name in link.tensors:
        if name not in tensors:
            raise RegistrationError(
                f"{where}: {what} points at twin tensor {name!r}, which the twin does not have; "
                f"it has {sorted(tensors)}"
            )
    first = tensors[link.tensor]
    if link.permute is not None and link.transpose:
        raise RegistrationError(
            f"{where}: {what} gives both transpose=True and permute={tuple(link.permute)}; give one (transpose=True "
            f"is permute=(1, 0))"
        )
    if link.permute is not None and sorted(link.permute) != list(range(first.ndim)):
        raise RegistrationError(
            f"{where}: {what} permute={tuple(link.permute)} is not an order of the {first.ndim} axes of twin tensor "
            f"{link.tensor!r} {tuple(first.shape)}: give each of {tuple(range(first.ndim))} once"
        )
    others = [(name, tuple(tensors[name].shape)) for name in link.plus]
    if len(set(link.tensors)) != len(link.tensors) or any(shape != tuple(first.shape) for _, shape in others):
        shapes = ", ".join(f"{name!r} {tuple(tensors[name].shape)}" for name in link.tensors)
        raise RegistrationError(
            f"{where}: {what} is a sum of twin tensors {shapes}: a sum adds distinct tensors of one shape"
        )
    try:
        shape = tuple(arranged(first.detach(), link)[link.index].shape)
    except IndexError as exc:
        raise RegistrationError(f"{where}: {what} index {link.index} is out of range: {exc}") from None
    if link.shape is not None:
        if math.prod(link.shape) != math.prod(shape) or any(n < 0 for n in link.shape):
            raise RegistrationError(
                f"{where}: {what} shape={tuple(link.shape)} cannot hold the {math.prod(shape)} elements of "
                f"{describe_link(Link(link.tensor, link.index, link.transpose, link.plus, link.permute))} {shape}"
            )
        shape = tuple(link.shape)
    return shape


def check_map(case: Case, where: str, net: Any, module: torch.nn.Module) -> None:
    """Every scratch parameter exists, has the case dtype and the shape of the twin element it maps to,
    every element of every twin tensor is mapped exactly once, and the other tensors of a sum are frozen."""
    try:
        scratch = case.read_params(net)
    except paths.PathError as exc:
        raise RegistrationError(
            f"{where}: Scratch(params=...): {exc}; its keys are the paths of the network's parameters"
        ) from None
    tensors = dict(module.named_parameters())
    if not tensors:
        raise RegistrationError(f"{where}: the twin has no parameters")
    for t_name, t in tensors.items():
        if t.dtype != case.torch_dtype:
            raise RegistrationError(f"{where}: twin tensor {t_name!r} is {t.dtype} but the case is {case.dtype}")
    covered = {t_name: torch.zeros_like(t, dtype=torch.int64) for t_name, t in tensors.items()}
    for name, link in case.scratch.params.items():
        target_shape = _link_shape(where, f"params[{name!r}]", link, tensors)
        if scratch[name].dtype != case.dtype:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} is {scratch[name].dtype} but the case is {case.dtype}"
            )
        if target_shape != scratch[name].shape:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} has shape {scratch[name].shape} but {describe_link(link)} "
                f"has shape {target_shape}"
            )
        trained = [t for t in link.plus if tensors[t].requires_grad]
        if trained:
            raise RegistrationError(
                f"{where}: params[{name!r}] is the sum of twin tensors {list(link.tensors)}, and {trained} trains too: "
                f"each step would move the sum by the updates of every tensor, farther than the network's one "
                f"parameter; freeze the others in the twin (its {trained[0]}.requires_grad_(False)): they hold "
                f"zeros, {link.tensor!r} the whole value"
            )
        for t_name in link.tensors:
            arranged(covered[t_name], link)[link.index] += 1
    for t_name, cov in covered.items():
        if not torch.all(cov == 1):
            raise RegistrationError(
                f"{where}: every element of twin tensor {t_name!r} must be mapped exactly once; "
                f"counts are {cov.tolist()}"
            )


def check_state_fields(s: Scratch, where: str) -> None:
    """``Scratch(state=...)``, ``Scratch(options=...)`` and the buffers' links are made of what they may hold, each
    path readable."""

    def check_path(what: str, spec: Any) -> None:
        path = spec.path if isinstance(spec, Scaled) else spec
        if isinstance(spec, Scaled) and not (callable(spec.by) or isinstance(spec.by, int | float)):
            raise RegistrationError(
                f"{where}: {what}: Scaled({path!r}, by=...) takes a number or a function of the learning rate, "
                f"got {spec.by!r}"
            )
        try:
            paths.parse(path)
        except paths.PathError as exc:
            raise RegistrationError(f"{where}: {what}: {exc}") from None

    for kind, per_param in s.state.items():
        what = f"Scratch(state={{{kind!r}: ...}})"
        if isinstance(per_param, Absent):
            continue
        if isinstance(per_param, str | Scaled):
            check_path(what, per_param)
            continue
        if not isinstance(per_param, Mapping) or set(per_param) != set(s.params):
            got = sorted(per_param) if isinstance(per_param, Mapping) else repr(per_param)
            raise RegistrationError(
                f"{where}: state[{kind!r}] must map every parameter {sorted(s.params)} to the path of its {kind}, "
                f"or be one path for a value all parameters share, or Absent(why) where the network keeps none; "
                f"got {got}"
            )
        for path in per_param.values():
            check_path(what, path)
    for path, link in s.buffers.items():
        if isinstance(link, Link) and link.plus:
            raise RegistrationError(
                f"{where}: buffers[{path!r}] is a sum of twin buffers {list(link.tensors)}; a buffer maps to one "
                f"twin buffer (a sum is for parameters)"
            )
    for option, spec in s.options.items():
        for part in spec if isinstance(spec, tuple) else (spec,):
            if isinstance(part, str | Scaled):
                check_path(f"Scratch(options={{{option!r}: ...}})", part)
            elif not isinstance(part, int | float | bool):
                raise RegistrationError(
                    f"{where}: Scratch(options={{{option!r}: ...}}) takes a path, a tuple of paths, a Scaled path or "
                    f"the value the network was given (a number), got {part!r}"
                )


def check_state_kinds(case: Case, where: str, twin_kinds: set[str]) -> None:
    """The state kinds the network maps (or declares ``Absent``) are the ones the twin's optimizer keeps."""
    mapped = set(case.scratch.state)
    if mapped - twin_kinds:
        raise RegistrationError(
            f"{where}: Scratch(state=...) maps {sorted(mapped - twin_kinds)}, but the twin runs "
            f"{describe_optimizer(case)}, which keeps {sorted(twin_kinds) or 'no state'}: give the twin the "
            f"optimizer the network is meant to implement, e.g. Twin(optimizer=lambda params, lr: "
            f"torch.optim.Adam(params, lr=lr)) ({NOT_A_COPY})"
        )
    if twin_kinds - mapped:
        missing = sorted(twin_kinds - mapped)
        raise RegistrationError(
            f"{where}: the twin runs {describe_optimizer(case)}, which keeps {missing} for every parameter; map the "
            f"network's own with Scratch(state={{kind: {{param path: state path}}}}) so they are compared at every "
            f"step (Scaled(path, by=...) where it keeps them on another scale, such as v = mu*v - lr*g), or declare "
            f"Scratch(state={{{missing[0]!r}: Absent('why')}}) where it keeps none (the parameters then carry the "
            f"check); change the twin's optimizer only to the one the network is meant to implement ({NOT_A_COPY})"
        )


def check_options(case: Case, where: str, net: Any, optimizer: torch.optim.Optimizer) -> None:
    """The network's own options, where the case names them, are the twin optimizer's."""
    group = optimizer.param_groups[0]
    for option, spec in case.scratch.options.items():
        if option not in group or option in QUIET_OPTIONS:
            raise RegistrationError(
                f"{where}: Scratch(options=...) names {option!r}, which the twin's {describe_optimizer(case)} "
                f"does not have; its options are {sorted(k for k in group if k not in QUIET_OPTIONS)}"
            )
        try:
            value = option_value(net, spec, case.data.learning_rate)
        except paths.PathError as exc:
            raise RegistrationError(f"{where}: Scratch(options=...): {exc}") from None
        twins = [g[option] for g in optimizer.param_groups]
        same = all(np.shape(value) == np.shape(t) and bool(np.all(np.asarray(value) == np.asarray(t))) for t in twins)
        if not same:
            raise RegistrationError(
                f"{where}: the network's {option} is {value!r} ({option_text(spec)}) but the twin runs "
                f"{describe_optimizer(case)}: give the twin the options the network is meant to have, or fix the "
                f"network's ({NOT_A_COPY})"
            )


def check_layer_layouts(case: Case, where: str, scratch: list[Any], twin: list[Any]) -> None:
    """Each named layer's twin value (as the hook saw it) has, in the layout the layer declares, the scratch
    value's shape: a value of the same size in another layout is refused rather than compared element by
    wrong element (with the permutation that would fit, where only one does)."""
    for layer, a, b in zip(case.layers, scratch, twin, strict=True):
        side = f"the twin's {layer.twin or 'module'} {layer.twin_io}"
        if b is None:
            raise RegistrationError(
                f"{where}: layer {layer.name!r} is {np.shape(a)} on the scratch side but {side} is None"
            )
        shape_a, shape_b = np.shape(a), np.shape(b)
        if layer.permute is not None and sorted(layer.permute) != list(range(len(shape_b))):
            raise RegistrationError(
                f"{where}: layer {layer.name!r}: permute={tuple(layer.permute)} is not an order of the "
                f"{len(shape_b)} axes of {side} {shape_b}"
            )
        try:
            got = np.shape(layer_as_scratch(layer, np.empty(shape_b)))
        except ValueError:
            raise RegistrationError(
                f"{where}: layer {layer.name!r}: shape={tuple(layer.shape or ())} cannot hold the {np.size(b)} "
                f"elements of {side} {shape_b}"
            ) from None
        if got == shape_a:
            continue
        declared = " in the declared layout" if layer.permute is not None or layer.shape is not None else ""
        hint = ""
        if np.size(a) == np.size(b) and layer.permute is None and layer.shape is None:
            fits = [p for p in itertools.permutations(range(len(shape_b))) if tuple(shape_b[i] for i in p) == shape_a]
            hint = (
                f": the same {np.size(a)} values in another layout; give Layer(..., permute={fits[0]}) if the "
                f"scratch side keeps the twin's axes in that order, or shape=... for a reshape"
                if len(fits) == 1
                else f": the same {np.size(a)} values in another layout; say which with Layer(..., permute=...) "
                f"(the order of the twin's axes in the scratch value) and/or shape=... (a row-major reshape)"
            )
        raise RegistrationError(
            f"{where}: layer {layer.name!r} is {shape_a} on the scratch side but {side} is {got}{declared}{hint}"
        )
