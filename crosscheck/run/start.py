"""Where a run begins: the initial parameters and the batch schedule, drawn from one stream as a tutorial does,
and the one conversion of a count or rate into the case's dtype that both sides' records share."""

from __future__ import annotations

from typing import Any

import numpy as np

from crosscheck.case import Batch, Case, Params
from crosscheck.schedule import schedule


def start(case: Case, seed: int | None = None) -> tuple[Params, list[Batch]]:
    """Initial parameters and the batch schedule, drawn from one stream as the tutorial does."""
    rng = np.random.RandomState(case.data.seed if seed is None else seed)
    params = {k: np.asarray(v).astype(case.dtype) for k, v in case.calls.init(rng).items()}
    return params, schedule(case, rng)


def in_case_dtype(case: Case, value: Any) -> np.ndarray:
    """A count or a learning rate in the case's dtype: torch keeps Adam's step as a float tensor, a network
    as an int; both are exact in either float type."""
    return np.asarray(value, dtype=np.float64).astype(case.dtype)
