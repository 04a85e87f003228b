"""The report's text, shared by every output: figures at the level of rounding, the tolerance phrase,
a divergence in words, provenance, and where a network's plot is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck.compare import Comparison, Divergence
from crosscheck.keys import at_step, exceeds_text

REPORT_DIR = Path("reports")


def below(x: Any) -> str:
    """A difference at the level of rounding, as the power of ten above it: the exact figure
    varies with the BLAS and the vector unit, the decade does not (it is in the JSON)."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    # A hair below the log so that 1.0000000000000002e-06 is "≤ 1e-06", not "≤ 1e-05".
    return f"≤ 1e{int(np.ceil(np.log10(x) - 1e-9)):+03d}"


def divergence_text(c: Comparison, d: Divergence) -> str:
    return (
        f"{at_step(d.step)}, {d.where()}: scratch = {d.scratch:.10g}, twin = {d.reference:.10g} "
        f"({exceeds_text(d.difference, d.tolerance)})"
    )


def networks_text(n: int) -> str:
    return f"{n} network" + ("" if n == 1 else "s")


def made_text(made: Mapping[str, str]) -> str:
    return f"Made from commit {made['commit']} at {made['generated_at']}."


def safe_name(name: str) -> str:
    """A file name from a network name: letters, digits, '_', '-' and '.' only, never '..'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).replace("..", "_") or "_"


def plot_name(network: str, kind: str) -> str:
    """Where a network's plot is written, relative to the report folder."""
    return f"plots/{safe_name(network)}-{kind}.png"
