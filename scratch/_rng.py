"""Random sources shared by the scratch networks.

The tutorials call the legacy global ``np.random`` functions.  A
``np.random.RandomState`` seeded with ``s`` replays exactly the draws the
tutorial makes after ``np.random.seed(s)``, so it is the default; a
``np.random.Generator`` is accepted as well.
"""

from __future__ import annotations

import numpy as np

Rng = np.random.RandomState | np.random.Generator

DEFAULT_SEED = 0


def default_rng(rng: Rng | None) -> Rng:
    if rng is None:
        return np.random.RandomState(DEFAULT_SEED)
    if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
        raise TypeError(f"rng must be a np.random.RandomState or np.random.Generator, got {type(rng).__name__}")
    return rng


def randint(rng: Rng, high: int) -> int:
    """One integer in [0, high), as the tutorial's ``np.random.randint(high)``."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(high))
    return int(rng.randint(high))
