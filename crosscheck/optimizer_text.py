"""The twin's optimizer and scheduler as one would write them, for messages: torch's own by their torch names, a
project's own by its module and name, each with its arguments (a function argument by its source or name)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import torch

from crosscheck.case import Case

# The options torch keeps in every param group that say nothing about the arithmetic of a CPU step.
QUIET_OPTIONS = {"params", "foreach", "capturable", "differentiable", "fused", "initial_lr"}
# What a scheduler's state_dict holds beside its arguments: its progress, and the base rates it read.
_SCHEDULER_PROGRESS = ("base_lrs", "last_epoch", "verbose")


def describe_optimizer(case: Case) -> str:
    """What the twin trains with, as one would write it: ``torch.optim.SGD(lr=0.1, momentum=0.9, ...)``, and
    its scheduler."""
    module = case.twin.module(case.torch_dtype)
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    group = optimizer.param_groups[0]
    options = ", ".join(
        f"{k}={value_text(v)}"
        for k, v in group.items()
        if k not in QUIET_OPTIONS and not (v is False and k != "nesterov")
    )
    text = f"{class_text(optimizer, torch.optim, 'torch.optim.')}({options})"
    if len(optimizer.param_groups) > 1:
        text += f" (the first of {len(optimizer.param_groups)} param groups)"
    if case.twin.scheduler is not None:
        scheduler = case.twin.scheduler(optimizer)
        text += f" with {scheduler_text(scheduler)}"
    return text


def class_text(obj: Any, home: Any, prefix: str) -> str:
    """``obj``'s class by the name one writes: ``prefix + name`` for one of ``home``'s own (torch.optim's),
    else its module and qualified name (a project's own optimizer, or a subclass of torch's)."""
    cls = type(obj)
    if getattr(home, cls.__name__, None) is cls:
        return prefix + cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def scheduler_text(scheduler: Any) -> str:
    """``StepLR(step_size=40, gamma=0.5)``, ``LambdaLR(lr_lambda=lambda epoch: 0.95 ** epoch)``: its arguments
    from its state_dict, where torch leaves the functions out (``lr_lambdas: [None]``), read from the
    scheduler itself."""
    settings = []
    for k, v in scheduler.state_dict().items():
        if k.startswith("_") or k in _SCHEDULER_PROGRESS:
            continue
        if k == "lr_lambdas":  # one function per param group, given as lr_lambda (one, or a list)
            functions = list(getattr(scheduler, "lr_lambdas", v))
            value = value_text(functions[0]) if len(functions) == 1 else value_text(functions)
            settings.append(f"lr_lambda={value}")
            continue
        settings.append(f"{k}={value_text(v)}")
    return f"{class_text(scheduler, torch.optim.lr_scheduler, '')}({', '.join(settings)})"


def value_text(value: Any) -> str:
    """An argument as it was written: a function by its source (a lambda) or its name, a list of them alike,
    anything else by its repr."""
    if isinstance(value, list | tuple) and any(callable(v) for v in value):
        inner = ", ".join(value_text(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if inspect.isfunction(value):
        if value.__name__ == "<lambda>":
            return lambda_source(value) or value.__qualname__
        return value.__qualname__
    if callable(value) and not isinstance(value, type) and type(value).__repr__ is object.__repr__:
        return f"{type(value).__qualname__}(...)"  # an object with a __call__ and no repr of its own
    return repr(value)


def lambda_source(function: Any) -> str | None:
    """The text of a lambda as written (``lambda epoch: 0.95 ** epoch``), or None where its source cannot be
    read: the lambdas on its first line, told apart by their arguments and the columns of their code."""
    try:
        lines, first = inspect.findsource(function)
    except (OSError, TypeError):
        return None
    code = function.__code__
    source = "".join(lines)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    columns = {col for line, _, col, _ in code.co_positions() if line == code.co_firstlineno and col is not None}
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Lambda)
        and node.lineno == code.co_firstlineno
        and [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)] == names
    ]
    if len(found) > 1 and columns:  # several on one line: the one whose body holds the code's first column
        found = [n for n in found if n.body.col_offset <= min(columns) <= (n.body.end_col_offset or 0)]
    if len(found) != 1:
        return None
    text = ast.get_source_segment(source, found[0])
    return " ".join(textwrap.dedent(text).split()) if text else None
