"""What of a trace is kept as a golden file, how a golden is checked, and when one may be written.

A golden must not pass by accident: ``check_golden`` reads the file itself before
pytest-regressions compares values, and fails on a corrupt or truncated file, on
NaN or Inf, and on a dtype or shape that differs from the run's (pytest-regressions
accepts float32 against a float64 golden).  In CI a missing golden is never
written, and ``--force-regen``/``--regen-all`` are refused (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck.compare import FLOAT64_ATOL, FLOAT64_RTOL
from crosscheck.trace import Trace

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "goldens"
FIRST_STEPS = 5
# Goldens are float64 traces from this machine's NumPy; the twin must meet them as tightly as it
# meets the scratch trace, so the same bounds apply (pytest-regressions' default rtol 1e-5 would
# let a wrong fifth digit pass).
TOLERANCE = {"atol": FLOAT64_ATOL, "rtol": FLOAT64_RTOL}
# Only the golden tests: tests/test_golden_integrity.py asserts failures that regeneration would mask.
REGENERATE = "nox -s tests -- tests/test_goldens.py --force-regen"


class GoldenError(AssertionError):
    """A golden file that cannot be trusted; the message names the file and what to do."""


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
    # Copies, not views: traces are cached per process, and a caller may change what it gets.
    return {k: np.atleast_1d(v).copy() for k, v in out.items()}


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the CI variable is set as CI services set it (``CI=true``; ``0``/``false`` do not count)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def regeneration_refusal(force_regen: bool, regen_all: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """Why this run may not rewrite goldens, or None when it may: in CI a golden is never rewritten,
    so a CI run cannot pass on values it has just written."""
    environ = os.environ if environ is None else environ
    flags = [f for f, on in (("--force-regen", force_regen), ("--regen-all", regen_all)) if on]
    if not flags or not in_ci(environ):
        return None
    return (
        f"{' and '.join(flags)} refused: CI={environ['CI']!r} says this is a CI run, and a CI run must never "
        f"rewrite the goldens it checks. Regenerate them on purpose on a developer machine with "
        f"`{REGENERATE}`, review `git diff --stat tests/goldens`, and commit them."
    )


def load_golden(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one golden ``.npz``; a file that cannot be read raises ``GoldenError`` naming it."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # The reader's own words (which vary with the damage and the NumPy version) stay in the chained
        # exception; the message says which file and what to do.
        raise GoldenError(
            f"golden file {path} is corrupt or truncated and cannot be read; restore the committed file "
            f"from git, or regenerate goldens on purpose with `{REGENERATE}`"
        ) from exc


def golden_problems(path: Path, data: Mapping[str, np.ndarray], dtype: Any = np.float64) -> list[str]:
    """What is wrong with the golden at ``path`` for this run's ``data``: NaN or Inf in it, or a key whose
    dtype or shape differs from the run's, or from the case's ``dtype``.  Empty when all is well."""
    golden = load_golden(path)
    problems = []
    for key in sorted(golden):
        value = golden[key]
        if value.dtype != np.dtype(dtype):
            problems.append(f"{key}: the golden is {value.dtype}, not {np.dtype(dtype)}")
        elif not np.all(np.isfinite(value)):
            problems.append(f"{key}: the golden holds NaN or Inf")
        if key in data:
            obtained = np.asarray(data[key])
            if obtained.dtype != value.dtype:
                problems.append(f"{key}: this run gives {obtained.dtype} but the golden is {value.dtype}")
            if obtained.shape != value.shape:
                problems.append(f"{key}: this run gives shape {obtained.shape} but the golden has {value.shape}")
    return problems


def check_golden(regression: Any, data: dict[str, np.ndarray], basename: str, dtype: Any = np.float64) -> None:
    """``ndarrays_regression.check`` of ``data`` against ``<datadir>/<basename>.npz``, first making sure
    the run's data and the golden file can be trusted (see the module docstring)."""
    __tracebackhide__ = True
    for key, value in data.items():
        if np.asarray(value).dtype != np.dtype(dtype):
            raise AssertionError(f"{basename}: this run's {key} is {np.asarray(value).dtype}, not {np.dtype(dtype)}")
        if not np.all(np.isfinite(value)):
            raise AssertionError(f"{basename}: this run's {key} has NaN or Inf")
    path = Path(regression.original_datadir) / f"{basename}.npz"
    config = regression.request.config
    if config.getoption("force_regen") or config.getoption("regen_all"):
        # Rewriting on purpose (refused in CI): a damaged or reshaped golden is what is being replaced.
        # pytest-regressions cannot read an unreadable one to compare it, so it goes, and is written afresh.
        try:
            if path.is_file():
                load_golden(path)
        except GoldenError:
            path.unlink()
    elif not path.is_file():
        if in_ci():
            raise GoldenError(
                f"golden file {path} is missing, and in CI a missing golden is not written (a run must not "
                f"pass on values it has just created); generate it on purpose with `{REGENERATE}` and commit it"
            )
        # Outside CI pytest-regressions writes the file and fails the test ("File not found ... created").
    else:
        problems = golden_problems(path, data, dtype)
        if problems:
            raise GoldenError(
                f"golden file {path} does not fit this run:\n  "
                + "\n  ".join(problems)
                + f"\nregenerate goldens on purpose with `{REGENERATE}` if the change is intended"
            )
    regression.check(data, basename=basename, default_tolerance=TOLERANCE)


def orphan_goldens(golden_dir: Path, case_names: Iterable[str]) -> list[Path]:
    """Golden ``.npz`` files that no registered case reads (left behind by a rename or a removal)."""
    names = set(case_names)
    return sorted(p for p in golden_dir.glob("*.npz") if p.stem not in names)
