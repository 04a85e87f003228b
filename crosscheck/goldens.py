"""What of a trace is kept as a golden file, and with which tolerances it is compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crosscheck.compare import FLOAT64_ATOL, FLOAT64_RTOL
from crosscheck.trace import Trace

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "goldens"
FIRST_STEPS = 5
# Goldens are float64 traces from this machine's NumPy; the twin must meet them as tightly as it
# meets the scratch trace, so the same bounds apply (pytest-regressions' default rtol 1e-5 would
# let a wrong fifth digit pass).
TOLERANCE = {"atol": FLOAT64_ATOL, "rtol": FLOAT64_RTOL}
REGENERATE = "nox -s tests -- -k golden --force-regen"


def golden_view(trace: Trace, first: int = FIRST_STEPS) -> dict[str, np.ndarray]:
    """Initial parameters, the first steps, the recorded curve and the final parameters."""
    out: dict[str, np.ndarray] = {}
    for key, value in trace.items():
        quantity = key.split(".")[0]
        if quantity in ("init", "forward", "curve"):
            out[key] = value
        elif quantity in ("output", "loss", "dloss", "grad", "param"):
            out[f"first_{key}"] = value[:first]
            if quantity == "param":
                out[f"final.{key.split('.', 1)[1]}"] = value[-1]
    # pytest-regressions stores a 0-d array as shape (1,); store it so, to compare like with like.
    return {k: np.ascontiguousarray(np.atleast_1d(v)) for k, v in out.items()}
