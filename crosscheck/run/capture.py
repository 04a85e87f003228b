"""Gradients a network keeps to itself, captured while its own step runs (``Scratch(capture=...)``).

A layer that computes its gradients and steps its own weights inside ``backward``, or hands each gradient straight
to its optimizer, leaves nothing to read after the step.  ``Capture`` names the method that sees them; while the
step runs, the harness watches that method's calls (``sys.setprofile``: the network's code runs unchanged, its
methods are not replaced) and copies the named argument as the call begins, or the named local as it returns.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import Capture, Case, Scratch
from crosscheck.errors import RegistrationError, StepError

EVERY = "[*]"  # in a method's path: every item of the list there
Captured = dict[str, tuple[str, np.ndarray]]  # {parameter: (where it was seen, its gradient)}
NONE: Captured = {}


def captures(s: Scratch) -> tuple[Capture, ...]:
    return (s.capture,) if isinstance(s.capture, Capture) else tuple(s.capture)


def _split(method: str) -> tuple[str, str]:
    """(the path of the method's object, "" for the network itself; the method's name)."""
    owner, _, name = method.rpartition(".")
    return owner, name


def _pattern(capture: Capture, attr: str) -> re.Pattern[str]:
    """The parameter paths ``attr`` of the method's object stands for, every ``[*]`` an index."""
    owner = _split(capture.method)[0]
    path = f"{owner}.{attr}" if owner else attr
    return re.compile(re.escape(path).replace(re.escape(EVERY), r"\[\d+\]"))


def captured_params(s: Scratch) -> set[str]:
    """The parameters whose gradient ``s.capture`` records: all, for a method that receives the parameter itself
    (which one it gets is seen only as it runs: a step that leaves one out fails, naming it); those the
    attributes name, for a layer's method."""
    out: set[str] = set()
    for capture in captures(s):
        if isinstance(capture.grad, str):
            return set(s.params)
        for attr in capture.grad:
            out |= {p for p in s.params if _pattern(capture, attr).fullmatch(p)}
    return out


def check_capture(s: Scratch, where: str) -> None:
    """``Scratch(capture=...)`` as declared, before anything runs; a ``RegistrationError`` says what to change."""
    if not captures(s):
        return
    what = "Scratch(capture=...)"
    if s.step is None or s.gradients is not None:
        raise RegistrationError(
            f"{where}: {what} records the gradients the network's own step keeps to itself: give it with "
            f"Scratch(step=...), without gradients=..."
        )
    for capture in captures(s):
        if not isinstance(capture, Capture):
            raise RegistrationError(f"{where}: {what} takes Capture(method, grad, param), got {type(capture).__name__}")
        owner, name = _split(capture.method)
        try:
            if owner:
                paths.parse(owner.replace(EVERY, "[0]"))
            paths.parse(name)
        except (paths.PathError, TypeError) as exc:
            raise RegistrationError(f"{where}: {what} method {capture.method!r}: {exc}") from None
        if isinstance(capture.grad, str):
            if not isinstance(capture.param, str):
                raise RegistrationError(
                    f"{where}: Capture({capture.method!r}, grad={capture.grad!r}) names the gradient; name the "
                    f"argument that is its parameter too (param='w'), or map the method's object's attributes to "
                    f"their gradients: grad={{'W': 'dW'}}"
                )
            continue
        if capture.param is not None:
            raise RegistrationError(
                f"{where}: Capture({capture.method!r}) maps attributes to gradients; param= is for a method that "
                f"receives the parameter itself: leave it out"
            )
        for attr in capture.grad:
            if not any(_pattern(capture, attr).fullmatch(p) for p in s.params):
                raise RegistrationError(
                    f"{where}: Capture({capture.method!r}) maps {attr!r}, which names no parameter of the method's "
                    f"object ({sorted(s.params)})"
                )
    both = sorted(captured_params(s) & set(s.grads))
    if both:
        raise RegistrationError(f"{where}: the gradients of {both} are named by both grads= and capture=; give one")


class _Target:
    """One method to watch in one step: where its object is, and what to copy from its frames."""

    def __init__(self, capture: Capture, owner_path: str, owner: Any) -> None:
        self.capture, self.owner_path, self.owner = capture, owner_path, owner


def _owners(net: Any, path: str) -> list[tuple[str, Any]]:
    """(path, object) for every object ``path`` names, each ``[*]`` expanded over the list it stands in."""
    if not path:
        return [("", net)]
    head, star, rest = path.partition(EVERY)
    if not star:
        return [(path, paths.read(net, path))]
    items = paths.read(net, head)
    out = []
    for i in range(len(items)):
        out += _owners(net, f"{head}[{i}]{rest}")
    return out


def _code(method: Any) -> tuple[CodeType, bool]:
    """The code a method runs and whether its first argument is the object it is bound to."""
    if hasattr(method, "__func__") and hasattr(method.__func__, "__code__"):
        return method.__func__.__code__, True
    if hasattr(method, "__code__"):
        return method.__code__, False
    raise TypeError(f"a {type(method).__name__}, not a Python function or method")


class Watch:
    """The case's captures, watched over one step at a time: ``run`` calls the step and returns what it returned
    and {parameter: (where it was captured, gradient)}."""

    def __init__(self, case: Case) -> None:
        self.case, self.captures = case, captures(case.scratch)
        self.params = captured_params(case.scratch)

    def _targets(self, net: Any, step: int) -> dict[CodeType, list[tuple[_Target, bool]]]:
        targets: dict[CodeType, list[tuple[_Target, bool]]] = {}
        for capture in self.captures:
            owner_path, name = _split(capture.method)
            try:
                for path, owner in _owners(net, owner_path):
                    code, bound = _code(paths.read(owner, name))
                    targets.setdefault(code, []).append((_Target(capture, path, owner), bound))
            except (paths.PathError, TypeError) as exc:
                raise StepError(
                    f"{self.case.name}: at step {step} Capture({capture.method!r}) cannot watch the method: {exc}"
                ) from None
        return targets

    def run(self, net: Any, step: int, own_step: Callable[..., Any], *args: Any) -> tuple[Any, Captured]:
        """``own_step(net, *args)``, watched."""
        targets = self._targets(net, step)
        by_id = {id(paths.read(net, p)): p for p in self.case.scratch.params}
        found: Captured = {}
        errors: list[str] = []
        open_frames: dict[FrameType, tuple[_Target, dict[str, Any]]] = {}

        def keep(target: _Target, param: str | None, name: str, value: Any) -> None:
            where = f"{target.owner_path + '.' if target.owner_path else ''}{_split(target.capture.method)[1]}"
            if param is not None and param not in self.case.scratch.params:
                return  # an item of a [*] list whose attribute is no parameter of the case (a layer without weights)
            if param is None:
                errors.append(f"{where}'s argument {target.capture.param!r} is not one of the case's parameters")
            elif param in found:
                errors.append(f"{where} received the gradient of {param} a second time in one step")
            elif value is None:
                errors.append(f"{where} has no {name!r} (its names: {', '.join(self._names(target))})")
            else:
                found[param] = (f"{name} in {where}", np.array(value))

        def watch(frame: FrameType, event: str, arg: Any) -> None:
            if event == "call":
                for target, bound in targets.get(frame.f_code, ()):
                    if bound and frame.f_locals.get(frame.f_code.co_varnames[0]) is not target.owner:
                        continue
                    args = frame.f_code.co_varnames[: frame.f_code.co_argcount + frame.f_code.co_kwonlyargcount]
                    names = (
                        [target.capture.grad] if isinstance(target.capture.grad, str) else target.capture.grad.values()
                    )
                    # Arguments copied as the call begins, before the method can change them in place.
                    read: dict[str, Any] = {n: np.array(frame.f_locals[n]) for n in names if n in args}
                    if isinstance(target.capture.grad, str):
                        read[""] = by_id.get(id(frame.f_locals.get(target.capture.param or "")))
                    open_frames[frame] = (target, read)
            elif event == "return" and frame in open_frames:
                target, read = open_frames.pop(frame)
                grad = target.capture.grad
                pairs = (
                    [(read[""], grad)]
                    if isinstance(grad, str)
                    else [(f"{target.owner_path}.{a}" if target.owner_path else a, n) for a, n in grad.items()]
                )
                for param, name in pairs:
                    keep(target, param, name, read[name] if name in read else frame.f_locals.get(name))

        previous = sys.getprofile()
        sys.setprofile(watch)
        try:
            returned = own_step(net, *args)
        finally:
            sys.setprofile(previous)
        missing = sorted(self.params - set(found) - set(self.case.scratch.grads))
        if missing:
            methods = ", ".join(c.method for c in self.captures)
            errors.append(f"no gradient of {missing} reached {methods} (is it called in every step?)")
        if errors:
            raise StepError(f"{self.case.name}: at step {step} Scratch(capture=...): " + "; ".join(errors))
        return returned, found

    @staticmethod
    def _names(target: _Target) -> list[str]:
        code, _ = _code(paths.read(target.owner, _split(target.capture.method)[1]))
        return list(code.co_varnames)


def watch(case: Case) -> Watch | None:
    """The case's captures to watch, or None where it declares none (its steps then run as they are)."""
    return Watch(case) if captures(case.scratch) else None
