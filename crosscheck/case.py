"""``Case``: everything the harness needs to know about one scratch network and its twin.

A case is plain data plus a few small functions.  The scratch side is reached
only through ``build``/``forward``/``loss``/``gradients``/``update``, so any
from-scratch network fits without changing its own method names; the twin is
any ``torch.nn.Module`` whose tensors ``param_map`` ties to the scratch names.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

Array = NDArray[Any]
Params = dict[str, Array]
Batch = int | slice | Array
Rng = np.random.RandomState | np.random.Generator

TORCH_DTYPES = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}


class RegistrationError(ValueError):
    """A case that cannot be cross-checked as written; the message says what to fix."""


@dataclass(frozen=True)
class Link:
    """Where one scratch parameter lives in the twin.

    The scratch array equals ``tensor.T[index]`` when ``transpose`` is set, else
    ``tensor[index]``: e.g. ``Link("linear.weight", (0,))`` for weights (2,) in
    an ``nn.Linear(2, 1)``, ``Link("layer1.weight", transpose=True)`` for an
    (in, out) matrix, ``Link("hidden.bias", (1,))`` for one scalar bias.
    """

    tensor: str
    index: tuple[int | slice, ...] = ()
    transpose: bool = False


@dataclass(frozen=True)
class Case:
    """One network pair.  Shapes: ``X`` (n, ...), ``y`` (n, ...); a batch is ``X[b]`` for each ``b``
    that ``batches`` yields (an int for one sample, a slice or an index array for several)."""

    name: str
    param_map: Mapping[str, Link]
    init: Callable[[Rng], Params]
    X: Array
    y: Array
    batches: Callable[[Rng], Sequence[Batch]]
    learning_rate: float
    build: Callable[[Params, float], Any]
    forward: Callable[[Any, Array], Array]
    loss: Callable[[Array, Array], Array]
    gradients: Callable[[Any, Array, Array], Params]
    update: Callable[[Any, Params, float], None]
    twin: Callable[[torch.dtype], torch.nn.Module]
    twin_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[Any, Array, Array], Array]
    twin_evaluate: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    curve_steps: Sequence[int]
    seed: int = 0
    seed_file: str | None = None
    # Optional dL/doutput of the scratch loss, recorded so a divergence can be placed between the
    # loss and the parameter gradients.
    loss_gradient: Callable[[Array, Array], Array] | None = None
    description: str = ""
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[np.dtype(self.dtype)]

    def read_params(self, net: Any) -> Params:
        """The scratch parameters: the attributes of ``net`` named in ``param_map``, copied."""
        return {name: np.array(getattr(net, name)) for name in self.param_map}


def twin_tensor(module: torch.nn.Module, link: Link) -> torch.Tensor:
    tensors = dict(module.named_parameters())
    t = tensors[link.tensor]
    return t.T if link.transpose else t


def twin_to_scratch(module: torch.nn.Module, case: Case, grads: bool = False) -> Params:
    """The twin's parameters (or their ``.grad``) under the scratch names and layouts."""
    out: Params = {}
    for name, link in case.param_map.items():
        t = twin_tensor(module, link)
        if grads:
            if t.grad is None:
                raise AssertionError(f"{case.name}: twin tensor {link.tensor!r} got no gradient")
            t = t.grad.T if link.transpose else t.grad
        out[name] = t.detach()[link.index].cpu().numpy().copy()
    return out


def load_into_twin(module: torch.nn.Module, case: Case, params: Params) -> None:
    with torch.no_grad():
        for name, link in case.param_map.items():
            view = twin_tensor(module, link)
            view[link.index] = torch.as_tensor(params[name], dtype=view.dtype)


_REGISTRY: dict[str, Case] = {}


def case_modules(pyproject: Path | None = None) -> list[str]:
    """Modules that register cases: the tutorial networks, then ``[tool.crosscheck] cases`` of the
    project's pyproject.toml (the current directory's, else this checkout's)."""
    modules = ["crosscheck.networks"]
    candidates = (
        [pyproject] if pyproject else [Path.cwd() / "pyproject.toml", Path(__file__).parent.parent / "pyproject.toml"]
    )
    for path in candidates:
        if path.is_file():
            config = tomllib.loads(path.read_text()).get("tool", {}).get("crosscheck", {})
            modules += [m for m in config.get("cases", []) if m not in modules]
            break
    return modules


def registry() -> dict[str, Case]:
    """Every registered case by name, the tutorial networks first.

    Importing a module listed by ``case_modules`` runs its ``register(...)`` calls; a user adds
    their own network by listing their module there, without touching the harness.
    """
    for module in case_modules():
        importlib.import_module(module)
    return dict(_REGISTRY)


def register(case: Case) -> Case:
    """Validate ``case`` and add it to the battery; a bad case raises ``RegistrationError`` now."""
    validate(case)
    if case.name in _REGISTRY and _REGISTRY[case.name] is not case:
        raise RegistrationError(f"a case named {case.name!r} is already registered")
    _REGISTRY[case.name] = case
    return case


def validate(case: Case) -> None:
    """Build both sides once from the initial parameters and check that they fit together."""
    where = f"case {case.name!r}"
    if not case.name or not all(c.isalnum() or c in "_-." for c in case.name):
        raise RegistrationError(f"{where}: name must be non-empty letters, digits, '_', '-' or '.'")
    if np.dtype(case.dtype) not in TORCH_DTYPES:
        raise RegistrationError(f"{where}: dtype must be float32 or float64, got {case.dtype}")
    for label, arr in (("X", case.X), ("y", case.y)):
        a = np.asarray(arr)
        if a.dtype != case.dtype:
            raise RegistrationError(
                f"{where}: {label} has dtype {a.dtype} but the case is {case.dtype}; "
                f"convert it with .astype(np.{np.dtype(case.dtype).name})"
            )
        if a.size == 0:
            raise RegistrationError(f"{where}: {label} is empty")
        if not np.all(np.isfinite(a)):
            raise RegistrationError(f"{where}: {label} contains NaN or Inf")
    if len(case.X) != len(case.y):
        raise RegistrationError(f"{where}: X has {len(case.X)} rows but y has {len(case.y)}")
    if not (np.isfinite(case.learning_rate) and case.learning_rate > 0):
        raise RegistrationError(f"{where}: learning_rate must be positive and finite, got {case.learning_rate}")

    params = case.init(np.random.RandomState(case.seed))
    if set(params) != set(case.param_map):
        raise RegistrationError(
            f"{where}: init() returns parameters {sorted(params)} but param_map names {sorted(case.param_map)}"
        )
    net = case.build(params, case.learning_rate)
    for method in ("forward", "loss", "gradients", "update", "evaluate"):
        if not callable(getattr(case, method)):
            raise RegistrationError(f"{where}: {method} must be callable")
    missing = [n for n in case.param_map if not hasattr(net, n)]
    if missing:
        raise RegistrationError(
            f"{where}: the scratch network has no attribute {missing[0]!r}; param_map keys must "
            f"be the names of the network's parameter attributes"
        )
    scratch = case.read_params(net)

    module = case.twin(case.torch_dtype)
    tensors = dict(module.named_parameters())
    for t_name, t in tensors.items():
        if t.dtype != case.torch_dtype:
            raise RegistrationError(f"{where}: twin tensor {t_name!r} is {t.dtype} but the case is {case.dtype}")
    covered = {t_name: torch.zeros_like(t, dtype=torch.int64) for t_name, t in tensors.items()}
    for name, link in case.param_map.items():
        if link.tensor not in tensors:
            raise RegistrationError(
                f"{where}: param_map[{name!r}] points at twin tensor {link.tensor!r}, "
                f"which the twin does not have; it has {sorted(tensors)}"
            )
        view = twin_tensor(module, link)
        try:
            target_shape = tuple(view[link.index].shape)
        except IndexError as exc:
            raise RegistrationError(f"{where}: param_map[{name!r}] index {link.index} is out of range: {exc}") from None
        if scratch[name].dtype != case.dtype:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} is {scratch[name].dtype} but the case is {case.dtype}"
            )
        if target_shape != scratch[name].shape:
            raise RegistrationError(
                f"{where}: scratch parameter {name!r} has shape {scratch[name].shape} but "
                f"twin tensor {link.tensor!r}{'.T' if link.transpose else ''}{list(link.index) if link.index else ''} "
                f"has shape {target_shape}"
            )
        cov = covered[link.tensor].T if link.transpose else covered[link.tensor]
        cov[link.index] += 1
    for t_name, cov in covered.items():
        if not torch.all(cov == 1):
            raise RegistrationError(
                f"{where}: every element of twin tensor {t_name!r} must be mapped exactly once; "
                f"counts are {cov.tolist()}"
            )
