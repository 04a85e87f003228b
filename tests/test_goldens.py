"""Scratch and twin traces both meet the same golden file, tightly, as float64 and finite."""

import numpy as np
import pytest

from crosscheck.goldens import TOLERANCE, golden_view
from crosscheck.networks import TUTORIAL_CASES
from crosscheck.trace import traces


@pytest.mark.parametrize("side", ["scratch", "twin"])
@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_golden(case, side, ndarrays_regression):
    scratch, twin = traces(case)
    data = golden_view(scratch if side == "scratch" else twin)
    for key, value in data.items():
        assert value.dtype == np.float64, f"{case.name} {side} {key} is {value.dtype}, not float64"
        assert np.all(np.isfinite(value)), f"{case.name} {side} {key} has NaN or Inf"
    ndarrays_regression.check(data, basename=case.name, default_tolerance=TOLERANCE)
