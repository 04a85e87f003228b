"""The environment a report was made in: versions, platform, BLAS libraries and thread counts.

Differences of 1e-14 between NumPy and torch come from the libraries' summation orders and
vector code, so a report that quotes them says which builds produced them.  threadpoolctl is
not a dependency: NumPy's BLAS is read from ``numpy.show_config(mode="dicts")`` and its thread
count from OpenBLAS itself, found among the shared objects this process has loaded.
"""

from __future__ import annotations

import ctypes
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

# OpenBLAS's thread-count getter under the names its builds export (the scipy-openblas wheels
# that NumPy ships prefix the symbol and, for 64-bit integers, suffix it).
_OPENBLAS_GETTERS = (
    "openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "scipy_openblas_get_num_threads64_",
)


def numpy_blas() -> dict[str, Any]:
    """Name and version of the BLAS NumPy was built against, as NumPy reports it."""
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})  # type: ignore[union-attr]
    except Exception as exc:  # an old NumPy without mode="dicts"
        return {"name": None, "version": None, "note": f"numpy.show_config(mode='dicts') failed: {exc}"}
    blas = deps.get("blas", {})
    return {
        "name": blas.get("name"),
        "version": blas.get("version"),
        "configuration": blas.get("openblas configuration"),
    }


def numpy_blas_threads() -> int | None:
    """Threads OpenBLAS uses for NumPy, asked of the loaded library; None where it cannot be asked."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():  # not Linux: no portable way to list loaded libraries without threadpoolctl
        return None
    paths = sorted({line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _OPENBLAS_GETTERS:
            getter = getattr(lib, symbol, None)
            if getter is not None:
                return int(getter())
    return None


def torch_blas() -> str | None:
    """The BLAS torch was built with (``BLAS_INFO`` of its build settings, e.g. ``mkl``)."""
    match = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return match.group(1) if match else None


def provenance(where: Path | None = None) -> dict[str, str]:
    """What a report was made from and when, so that a stale page is obvious: ``git describe
    --always --dirty`` of the folder (or "not a git checkout") and the UTC time."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=where or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    return {"commit": commit, "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def environment() -> dict[str, Any]:
    """The block every report carries.  Machine-specific by design: no report is committed."""
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "numpy_blas": numpy_blas(),
        "numpy_blas_threads": numpy_blas_threads(),
        "torch_blas": torch_blas(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
