"""A twin's optimizer and scheduler are named as they are written (issue 24): a project's own by its module and
name, a function argument (``LambdaLR``'s) by its source or name, torch's own as before."""

from __future__ import annotations

import torch
from fixture_net import make_case

from crosscheck.optimizer_text import describe_optimizer
from crosscheck.validate import validation_problem

HERE = __name__


class MyOptimizer(torch.optim.Optimizer):
    """A book's momentum, v = mu * v - lr * g, written as a torch optimizer of the project's own."""

    def __init__(self, params, lr, mu=0.9):
        super().__init__(params, {"lr": lr, "mu": mu})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                v = self.state[p].setdefault("velocity", torch.zeros_like(p))
                v.mul_(group["mu"]).sub_(group["lr"] * p.grad)
                p.add_(v)


class HalvingSGD(torch.optim.SGD):
    pass


def decay(epoch):
    return 1 / (1 + 0.1 * epoch)


def test_a_projects_own_optimizer_and_a_lambda_schedule_are_named_as_written():
    case = make_case(
        optimizer=lambda params, lr: MyOptimizer(params, lr, mu=0.8),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.95**epoch),
    )
    assert describe_optimizer(case) == (
        f"{HERE}.MyOptimizer(lr=0.1, mu=0.8) with LambdaLR(lr_lambda=lambda epoch: 0.95**epoch)"
    )


def test_a_subclass_of_torchs_optimizer_and_a_named_function_are_named_by_their_own_names():
    case = make_case(
        optimizer=lambda params, lr: HalvingSGD(params, lr),
        scheduler=lambda opt: torch.optim.lr_scheduler.MultiplicativeLR(opt, decay),
    )
    assert describe_optimizer(case) == (
        f"{HERE}.HalvingSGD(lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False) "
        f"with MultiplicativeLR(lr_lambda=decay)"
    )


def test_torchs_own_are_named_as_before():
    case = make_case(
        optimizer=lambda params, lr: torch.optim.Adam(params, lr),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 40, gamma=0.5),
    )
    assert describe_optimizer(case) == (
        "torch.optim.Adam(lr=0.1, betas=(0.9, 0.999), eps=1e-08, weight_decay=0) with StepLR(step_size=40, gamma=0.5)"
    )


def test_a_refusal_names_the_projects_own_optimizer():
    case = make_case(optimizer=lambda params, lr: MyOptimizer(params, lr))
    assert validation_problem(case) == (
        f"case 'fixture_2_3_1': the twin runs {HERE}.MyOptimizer(lr=0.1, mu=0.9), which keeps ['velocity'] for every "
        f"parameter; map the network's own with Scratch(state={{kind: {{param path: state path}}}}) so they are "
        f"compared at every step (Scaled(path, by=...) where it keeps them on another scale, such as v = mu*v - "
        f"lr*g), or declare Scratch(state={{'velocity': Absent('why')}}) where it keeps none (the parameters then "
        f"carry the check); change the twin's optimizer only to the one the network is meant to implement (the twin "
        f"is the reference: a copy of the network's own rule there would hide a bug in it)"
    )
