"""The examples' bug catalogue: a typical bug in each network's own code, and where the gate catches it.

Each bug lives in the example's own module, as a subclass overriding the one method a learner gets
wrong; ``case()`` registers nothing, it builds the bugged variant of the example's case.  Where each
must fail was measured outside the harness, with a plain PyTorch loop over the same schedule: the
first step and quantity beyond 1e-12.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crosscheck import Case
from examples import (
    adam_schedule,
    batchnorm_net,
    book_net,
    char_rnn,
    label_classifier,
    library_net,
    momentum_mlp,
    small_cnn,
)


@dataclass(frozen=True)
class Bug:
    case: Callable[[], Case]
    what: str
    step: int
    where: str  # the failure message's words for the first diverging quantity


BUGS = {
    "momentum_mlp": Bug(
        momentum_mlp.bugged_case,
        "wrong momentum order: the parameter steps with the old velocity before the gradient is folded in",
        0,
        "parameter after update of layers[0].W",
    ),
    "adam_schedule": Bug(
        adam_schedule.bugged_case,
        "Adam without bias correction: the first steps are too small by 1 - beta1**t",
        0,
        'parameter after update of p["W1"]',
    ),
    "label_classifier": Bug(
        label_classifier.bugged_case,
        "step size not divided by the batch size: the summed loss's gradient with the mean loss's learning rate",
        0,
        "gradient of W1",
    ),
    "batchnorm_net": Bug(
        batchnorm_net.bugged_case,
        "running statistics updated with the momentum swapped (0.1 * running + 0.9 * batch)",
        0,
        "buffer of bn.running_mean",
    ),
    "char_rnn": Bug(
        char_rnn.bugged_case,
        "hidden state reset at every sequence: nothing is carried from one sequence to the next",
        1,
        "loss",
    ),
    "small_cnn": Bug(
        small_cnn.bugged_case,
        "the filters' gradient taken with the kernel flipped (convolution where the forward cross-correlates)",
        0,
        "gradient of conv.filters",
    ),
    "library_net": Bug(
        library_net.bugged_case,
        "softmax backward keeping only the Jacobian's diagonal, p * (1 - p) * grad",
        0,
        "gradient of layers[0].W",
    ),
    "book_net": Bug(
        book_net.bugged_case,
        "iteration count advanced before the learning-rate decay: even the first update is decayed",
        0,
        "optimizer state 'velocity' of params[\"W1\"]",
    ),
}
