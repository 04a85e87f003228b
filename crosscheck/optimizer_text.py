"""The twin's optimizer and scheduler as one would write them, for messages."""

from __future__ import annotations

from crosscheck.case import Case

# The options torch keeps in every param group that say nothing about the arithmetic of a CPU step.
QUIET_OPTIONS = {"params", "foreach", "capturable", "differentiable", "fused", "initial_lr"}


def describe_optimizer(case: Case) -> str:
    """What the twin trains with, as one would write it: ``torch.optim.SGD(lr=0.1, momentum=0.9, ...)``, and
    its scheduler."""
    module = case.twin.module(case.torch_dtype)
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    group = optimizer.param_groups[0]
    options = ", ".join(
        f"{k}={v!r}" for k, v in group.items() if k not in QUIET_OPTIONS and not (v is False and k != "nesterov")
    )
    text = f"torch.optim.{type(optimizer).__name__}({options})"
    if len(optimizer.param_groups) > 1:
        text += f" (the first of {len(optimizer.param_groups)} param groups)"
    if case.twin.scheduler is not None:
        scheduler = case.twin.scheduler(optimizer)
        settings = ", ".join(
            f"{k}={v!r}"
            for k, v in scheduler.state_dict().items()
            if not k.startswith("_") and k not in ("base_lrs", "last_epoch", "verbose")
        )
        text += f" with {type(scheduler).__name__}({settings})"
    return text
