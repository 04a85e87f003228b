"""What a case declares about itself, checked at registration (``validate`` calls these): the network's own step
(``Step``: what it takes, where its loss is) against the signature the harness sees, the network built twice from
one seed alike, its own tolerance with its reason, and the checks it is known to fail."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from crosscheck.case import RETURNED, STEP_INPUTS, Case, Params, Step, Tolerance
from crosscheck.errors import RegistrationError, call_user

_TAKES_HELP = (
    "'x', 'y' (the batch's inputs and targets), 'pairs' (the batch as a list of (x, y) samples), 'lr' (the "
    "learning rate), in the order it takes them after the network"
)


def check_static(case: Case, where: str) -> None:
    """The declarations that need no network: a ``Step``'s fields, the case's ``Tolerance`` and expected failures."""
    step = case.scratch.step
    if isinstance(step, Step):
        _check_step_fields(step, case, where)
    _check_tolerance(case.tolerance, where)
    expected = case.expected_failures
    if not isinstance(expected, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in expected.items()
    ):
        raise RegistrationError(
            f"{where}: Case(expected_failures=...) must map each check the case is known to fail to the reason, "
            f"e.g. {{'training_run': 'Adam without bias correction'}}; got {expected!r}"
        )


def _check_step_fields(step: Step, case: Case, where: str) -> None:
    fn = step.fn
    if not (callable(fn) or (isinstance(fn, str) and fn.isidentifier())):
        raise RegistrationError(
            f"{where}: Step(fn=...) must be a function or the name of the network's method, got {fn!r}"
        )
    takes = step.takes
    names = tuple(takes) if isinstance(takes, tuple | list) else ()
    batch = {"x", "y"} if "pairs" not in names else {"pairs"}
    batch_ok = (
        all(isinstance(t, str) and t in STEP_INPUTS for t in names)
        and len(set(names)) == len(names)
        and set(names) - {"lr"} == batch
    )
    if not batch_ok:
        raise RegistrationError(
            f"{where}: Step(takes={takes!r}) must name the batch as 'x' and 'y' or as 'pairs', and 'lr' if the step "
            f"takes the learning rate: {_TAKES_HELP}"
        )
    loss = step.loss
    if not (loss is None or loss == RETURNED or (isinstance(loss, int) and not isinstance(loss, bool) and loss >= 0)):
        raise RegistrationError(
            f"{where}: Step(loss={loss!r}) must be {RETURNED!r} (the step returns the loss, or (output, loss)), the "
            f"index of the loss in the tuple it returns (0 for (loss, accuracy)), or None (it returns no loss: the "
            f"harness computes the case's scratch loss on forward(net, x) before the step)"
        )
    if loss is None and case.scratch.buffers:
        raise RegistrationError(
            f"{where}: Step(loss=None) has the harness run forward(net, x) before each step to compute the loss, "
            f"which would move the running statistics of Scratch(buffers=...) twice a step: return the loss from "
            f"the step and say where it is (Step(loss=0) for (loss, ...))"
        )


def _check_tolerance(tol: Any, where: str) -> None:
    if tol is None:
        return
    if not isinstance(tol, Tolerance):
        raise RegistrationError(
            f"{where}: Case(tolerance=...) must be a crosscheck.Tolerance(atol, rtol, reason=...), got "
            f"{type(tol).__name__}"
        )
    for what in ("atol", "rtol"):
        value = getattr(tol, what)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (np.isfinite(value) and value >= 0):
            raise RegistrationError(f"{where}: Tolerance({what}={value!r}) must be a finite number >= 0")
    if not isinstance(tol.reason, str) or not tol.reason.strip():
        raise RegistrationError(
            f"{where}: Tolerance(atol={tol.atol!r}, rtol={tol.rtol!r}) has no reason; a case's own bound is shown "
            f"beside its figures in every report with why it is needed: give the measured reason, "
            f"Tolerance({tol.atol!r}, {tol.rtol!r}, reason='...')"
        )


def check_step_signature(case: Case, where: str, net: Any) -> None:
    """The network's own step can be called as the case declares it (``Step.takes``, by default ``(x, y, lr)``): a
    declaration that does not fit is refused with the signature the harness saw, never a raw TypeError later."""
    step = case.scratch.step
    if step is None:
        return
    declared = step if isinstance(step, Step) else Step(step)
    takes, fn = tuple(declared.takes), declared.fn
    if isinstance(fn, str):
        target, shown, args = getattr(net, fn, None), f"net.{fn}", takes
        if not callable(target):
            raise RegistrationError(
                f"{where}: Scratch(step=...) names the method {fn!r}, which the network ({type(net).__name__}) does "
                f"not have"
            )
    else:
        target, shown, args = fn, getattr(fn, "__name__", "step"), ("net", *takes)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # a builtin without a signature: its first step says what it takes
    try:
        signature.bind(*args)
    except TypeError as exc:
        default = "" if isinstance(step, Step) else " (the default, without a Step)"
        raise RegistrationError(
            f"{where}: Scratch(step=...): the harness calls {shown}({', '.join(args)}){default}, but its signature is "
            f"{shown}{signature} ({exc}); declare what it takes with crosscheck.Step({fn!r}, takes=(...)): "
            f"{_TAKES_HELP}"
        ) from None


def check_same_build(case: Case, where: str, first: Params) -> None:
    """The network built again from the same seed has the same initial parameters, bit for bit: otherwise every run
    starts elsewhere, and a golden written by one run fails on the next."""
    what = "network(rng)" if case.scratch.network is not None else "init(rng)"
    again = call_user(where, what, case.calls.init, np.random.RandomState(case.data.seed))
    for name, value in first.items():
        other = np.asarray(again.get(name) if isinstance(again, Mapping) else None)
        if other.shape == value.shape and np.array_equal(value, other.astype(case.dtype), equal_nan=True):
            continue
        raise RegistrationError(
            f"{where}: {what} built twice from the same seed ({case.data.seed}) gives two different {name!r}: its "
            f"initial weights come from a random source the harness does not seed (np.random.default_rng() or a "
            f"RandomState of its own without a seed, torch, the time); draw them from the rng it is given, or from "
            f"np.random or random, which the harness seeds from the case's stream around {what}"
        )
