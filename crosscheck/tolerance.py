"""The bounds a difference between the two sides is held to, by dtype: fixed in float64, growing with the length
of the run in float32.  NumPy only: the plugin's golden settings read the float64 bounds before torch loads.

**Float64.**  Float64 NumPy and float64 torch agree to about 1e-14 over the tutorial runs at the default seed
(largest difference 1.4e-14, neuron gradient). Over 256 seeds per network (nox -s sweep) the worst case is
4.6e-13 (3-4-1, seed 129, dL/doutput at step 271, where learning XOR amplifies rounding): atol 1e-12 keeps 2x
headroom over that; rtol 1e-10 covers large values.

**Float32.**  A float32 value passes when ``|scratch - twin| <= tol + tol * |twin|`` with

    tol = ULPS_PER_STEP * eps32 * sqrt(steps),   eps32 = 2**-23 = 1.19e-7,

``steps`` being the length of the run.  Why: at each step each side rounds every quantity on its
own (an ``exp``, a dot product, a multiply-add), so the two may differ by a couple of ulps per side
per step, ``ULPS_PER_STEP = 4`` in all; those differences enter the next step's parameters and
accumulate like a random walk, as ``sqrt(steps)``, while the run does not amplify them.  The
absolute part is the same as the relative part because the quantities are O(1) (sigmoid outputs,
targets 0/1, parameters up to about 12), and a gradient near zero carries the rounding of those
O(1) terms, not of its own size.  Measured over the full runs, the largest
``|scratch - twin| / (eps32 * sqrt(steps) * (1 + |twin|))`` is 0.34 (3-4-1, weights2 near the
end), 0.036 (neuron), 0.032 (2-2-1), so the rule leaves 12x headroom or more; the largest absolute
differences are 4.8e-6, 8.3e-7 and 1.4e-6, and they do not grow along the runs (their maxima per
quarter of each run are flat), so ``sqrt(steps)`` is conservative here.  A rule linear in
``steps`` (the worst case of rounding that always leans one way) would allow 1.2e-3 on the
neuron's 10,000 steps, too loose to be worth checking.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOAT64_ATOL = 1e-12
FLOAT64_RTOL = 1e-10
EPS32 = float(np.finfo(np.float32).eps)
ULPS_PER_STEP = 4.0


def float32_tolerance(steps: int) -> tuple[float, float]:
    """(atol, rtol) for a float32 run of ``steps`` steps: ``ULPS_PER_STEP * eps32 * sqrt(steps)`` each."""
    if steps < 1:
        raise ValueError(f"a run has at least one step, got {steps}")
    tol = ULPS_PER_STEP * EPS32 * math.sqrt(steps)
    return tol, tol


def bounds(dtype: Any, steps: int) -> tuple[float, float]:
    """(atol, rtol) for values of ``dtype`` that have been through ``steps`` steps of rounding."""
    if np.dtype(dtype) == np.float32:
        return float32_tolerance(max(1, steps))
    if np.dtype(dtype) == np.float64:
        return FLOAT64_ATOL, FLOAT64_RTOL
    raise ValueError(f"no tolerance for {np.dtype(dtype)}: a case runs in float64 or float32")
