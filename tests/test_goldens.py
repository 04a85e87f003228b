"""Every registered case's scratch and twin traces both meet its golden file, tightly, as float64.

``check_golden`` reads the golden itself first: a corrupt file, NaN or Inf, or another dtype or shape
fails here rather than passing (tests/test_golden_integrity.py tries each on a copy).
"""

import numpy as np
import pytest

from crosscheck import registry
from crosscheck.goldens import check_golden, golden_view
from crosscheck.trace import traces


@pytest.mark.parametrize("side", ["scratch", "twin"])
@pytest.mark.parametrize("case", registry().values(), ids=lambda c: c.name)
def test_golden(case, side, ndarrays_regression):
    scratch, twin = traces(case)
    data = golden_view(scratch if side == "scratch" else twin)
    check_golden(ndarrays_regression, data, basename=case.name, dtype=np.dtype(case.dtype))
