"""The environment a report was made in: versions, platform, BLAS libraries and thread counts.

Differences of 1e-14 between NumPy and torch come from the libraries' summation orders and
vector code, so a report that quotes them says which builds produced them.  NumPy's BLAS is read
from ``numpy.show_config(mode="dicts")``; the thread pools loaded into the process (BLAS and
OpenMP, NumPy's and torch's) from threadpoolctl, on every platform it supports.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info

from crosscheck.keys import NOT_A_CHECKOUT


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


def thread_pools() -> list[dict[str, Any]]:
    """Every BLAS and OpenMP thread pool loaded into this process, with its library and thread count."""
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "filepath")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def numpy_blas_threads(pools: list[dict[str, Any]] | None = None) -> int | None:
    """Threads of the BLAS that NumPy loaded (the pool whose library lies in NumPy's own folders, the
    wheels' bundled OpenBLAS, else the only BLAS loaded); None where none is found."""
    pools = thread_pools() if pools is None else pools
    blas = [p for p in pools if p["user_api"] == "blas"]
    numpy_dir = str(Path(np.__file__).parent)
    own = [p for p in blas if str(p["filepath"]).startswith(numpy_dir)]
    chosen = own or (blas if len(blas) == 1 else [])
    return int(chosen[0]["num_threads"]) if chosen else None


def torch_blas() -> str | None:
    """The BLAS torch was built with (``BLAS_INFO`` of its build settings, e.g. ``mkl``)."""
    match = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return match.group(1) if match else None


def provenance(where: Path | None = None) -> dict[str, str]:
    """What a report was made from and when, so that a stale page is obvious: ``git describe
    --always --dirty`` of the folder (or NOT_A_CHECKOUT) and the UTC time."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=where or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else NOT_A_CHECKOUT
    except (OSError, subprocess.SubprocessError):
        commit = NOT_A_CHECKOUT
    return {"commit": commit, "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def environment() -> dict[str, Any]:
    """The block every report carries.  Machine-specific by design: no report is committed."""
    pools = thread_pools()
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "numpy_blas": numpy_blas(),
        "numpy_blas_threads": numpy_blas_threads(pools),
        "thread_pools": pools,
        "torch_blas": torch_blas(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
