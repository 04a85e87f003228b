"""Golden files: what of a case's run is kept, where, and the lifecycle of the ``golden`` check.

The lifecycle is pytest-regressions' (and its ``--force-regen``/``--regen-all`` flags): a missing
file is written and the check fails; an existing file is compared; a file that differs is rewritten
only on request, and the check then fails too, so that no run passes on values it has just written.
On top of it:

- the file is read and checked before any value is compared: a corrupt or truncated file, NaN or Inf,
  and a dtype, shape or set of arrays other than the run's fail with a message (pytest-regressions
  compares with ``equal_nan`` and accepts float32 against a float64 golden);
- both sides are compared, scratch and twin, each as tightly as they are compared with each other;
- a golden is written only from a run whose two sides agree, atomically (a temporary file renamed);
- in CI (``CI`` set as CI services set it) a missing golden is never written and regeneration is
  refused (``crosscheck.plugin`` refuses the flags when pytest starts).

Files live in ``<goldens>/<case>.npz``, ``<goldens>`` being the project's ``[tool.crosscheck] goldens``
(default ``tests/goldens`` beside its pyproject.toml).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crosscheck.compare import differences
from crosscheck.keys import STAGE_ORDER, Pair, Trace, exceeds_text, index_text, split_key, tolerance_text
from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL

if TYPE_CHECKING:  # the plugin's configure hook reads this module; torch waits until a case needs it
    from crosscheck.case import Case

FIRST_STEPS = 5
# Goldens are float64 traces from NumPy on one machine; each side must meet them as tightly as the
# two sides meet each other (pytest-regressions' default rtol 1e-5 would let a wrong fifth digit pass).
ATOL, RTOL = FLOAT64_ATOL, FLOAT64_RTOL


class GoldenError(AssertionError):
    """A golden file that cannot be trusted or does not match; the message names the file and what to do."""


def regenerate_command(case_name: str) -> str:
    return f"pytest --force-regen -k {case_name}-golden"


def regenerate_hint(case_name: str, folder: Path) -> str:
    return (
        f"regenerate it on purpose with `{regenerate_command(case_name)}` (outside CI), review the change "
        f"to {folder}/ and commit it"
    )


def golden_view(trace: Trace, first: int = FIRST_STEPS) -> dict[str, np.ndarray]:
    """Initial parameters, the first steps, the recorded curve and the final parameters."""
    out: dict[str, np.ndarray] = {}
    for key, value in trace.items():
        quantity = key.split(".")[0]
        if quantity in ("init", "forward", "curve"):
            out[key] = value
        elif quantity in ("output", "loss", "dloss", "grad", "lr", "state", "buffer", "param"):
            out[f"first_{key}"] = value[:first]
            if quantity == "param":
                out[f"final.{key.split('.', 1)[1]}"] = value[-1]
    # A 0-d array is stored as shape (1,), as pytest-regressions stores it, to compare like with like.
    # Copies, not views: traces are cached per process, and a caller may change what it gets.
    return {k: np.atleast_1d(v).copy() for k, v in out.items()}


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the CI variable is set as CI services set it (``CI=true``; ``0``/``false`` do not count)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def regeneration_refusal(
    force_regen: bool, regen_all: bool, folder: Path, environ: Mapping[str, str] | None = None
) -> str | None:
    """Why this run may not rewrite goldens, or None when it may: in CI a golden is never rewritten,
    so a CI run cannot pass on values it has just written."""
    environ = os.environ if environ is None else environ
    flags = [f for f, on in (("--force-regen", force_regen), ("--regen-all", regen_all)) if on]
    if not flags or not in_ci(environ):
        return None
    return (
        f"{' and '.join(flags)} refused: CI={environ['CI']!r} says this is a CI run, and a CI run must never "
        f"rewrite the goldens it checks. Regenerate them on purpose on a developer machine with "
        f"`pytest --force-regen -k golden`, review the change to {folder}/, and commit it."
    )


def load_golden(path: Path, case_name: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of one golden ``.npz``; a file that cannot be read raises ``GoldenError`` naming it."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # The reader's own words (which vary with the damage and the NumPy version) stay in the chained
        # exception; the message says which file and what to do.
        name = case_name or path.stem
        raise GoldenError(
            f"golden file {path} is corrupt or truncated and cannot be read; restore the committed file "
            f"from version control, or {regenerate_hint(name, path.parent)}"
        ) from exc


def golden_problems(golden: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray], dtype: Any) -> list[str]:
    """What is wrong with a golden for this run's ``data``: arrays missing or extra, NaN or Inf in it, or a
    key whose dtype or shape differs from the run's or from the case's ``dtype``.  Empty when all is well."""
    problems = [f"{key}: the run has it, the golden does not" for key in sorted(set(data) - set(golden))]
    problems += [f"{key}: the golden has it, the run does not" for key in sorted(set(golden) - set(data))]
    for key in sorted(set(golden) & set(data)):
        value, obtained = golden[key], np.asarray(data[key])
        if value.dtype != np.dtype(dtype):
            problems.append(f"{key}: the golden is {value.dtype}, not {np.dtype(dtype)}")
        elif not np.all(np.isfinite(value)):
            problems.append(f"{key}: the golden holds NaN or Inf")
        if obtained.shape != value.shape:
            problems.append(f"{key}: this run gives shape {obtained.shape} but the golden has {value.shape}")
    return problems


def _when(key: str, row: int) -> tuple[float, int]:
    """Where a golden array's element comes in the run: (step, stage), by the one stage order.  Initial values
    come before the first step; the first steps' rows are their steps; the recorded curve is read after the
    first steps it keeps (its steps are not in the file), the final parameters last."""
    quantity = split_key(key)[0]
    if quantity in ("init", "forward"):
        return -1.0, STAGE_ORDER.index(quantity)
    if quantity.startswith("first_"):
        return float(row), STAGE_ORDER.index(quantity.removeprefix("first_"))
    return (np.inf, 0) if quantity == "curve" else (np.inf, 1)


def first_mismatch(data: Mapping[str, np.ndarray], golden: Mapping[str, np.ndarray]) -> str | None:
    """The element where ``data`` first parts from ``golden`` in the run's order (step, then stage), as a
    sentence."""
    found = []
    for key in sorted(data):
        diff, tol, bad = differences(np.asarray(data[key]), golden[key], ATOL, RTOL)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            found.append((_when(key, at[0]), key, at, diff, tol))
    if not found:
        return None
    _, key, at, diff, tol = min(found, key=lambda f: f[0])
    return (
        f"{key}{index_text(at)}: run = {float(np.asarray(data[key])[at])!r}, "
        f"golden = {float(golden[key][at])!r}, {exceeds_text(float(diff[at]), float(tol[at]))} "
        f"({tolerance_text(ATOL, RTOL, 'golden')})"
    )


def write_golden(path: Path, data: Mapping[str, np.ndarray]) -> None:
    """Write ``data`` to ``path`` atomically: a killed write leaves the old file or none, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **data)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run_data(case: Case, scratch: Trace, twin: Trace) -> dict[str, dict[str, np.ndarray]]:
    # The quantities the scratch side shows (a network's own step may keep its output or gradients to itself).
    sides = {"scratch": golden_view(scratch), "twin": golden_view({k: v for k, v in twin.items() if k in scratch})}
    for side, data in sides.items():
        for key, value in data.items():
            if value.dtype != np.dtype(case.dtype):
                raise GoldenError(
                    f"{case.name}: this run's {key} is {value.dtype} on the {side} side, not {case.dtype}"
                )
            if not np.all(np.isfinite(value)):
                raise GoldenError(f"{case.name}: this run's {key} has NaN or Inf on the {side} side")
    return sides


def _write_from_agreeing_run(case: Case, run: Pair, path: Path, data: Mapping[str, np.ndarray], why: str) -> None:
    __tracebackhide__ = True
    # The battery judges whether the sides agree; imported here, since the plugin reads this module's file
    # naming before any case (and torch) is loaded.
    from crosscheck.checks import CHECKS, run_check

    failed = [name for name in CHECKS if not run_check(case, name, run).passed]
    if failed:
        raise GoldenError(
            f"{case.name} / golden: {path} not written: scratch and twin disagree ({', '.join(failed)} failed), "
            f"and a golden must record a run the battery passes; fix the failing checks first"
        )
    write_golden(path, data)
    raise GoldenError(f"{case.name} / golden: {why}, written {path}; review it and commit it")


def check_golden(
    case: Case,
    folder: Path,
    run: Pair,
    *,
    force_regen: bool = False,
    regen_all: bool = False,
    environ: Mapping[str, str] | None = None,
) -> None:
    """The golden check of ``case``'s ``run`` (its scratch and twin traces) against ``<folder>/<case>.npz``:
    passes silently, or raises ``GoldenError`` (an ``AssertionError``) saying what is wrong and what to do."""
    __tracebackhide__ = True
    path = folder / f"{case.name}.npz"
    sides = _run_data(case, *run)
    if regen_all or (force_regen and not path.is_file()):
        _write_from_agreeing_run(
            case, run, path, sides["scratch"], "regenerated on request (--regen-all/--force-regen)"
        )
    if not path.is_file():
        if in_ci(environ):
            raise GoldenError(
                f"{case.name} / golden: golden file {path} is missing, and in CI a missing golden is not written "
                f"(a run must not pass on values it has just created); generate it on a developer machine with "
                f"`{regenerate_command(case.name)}`, review it and commit it"
            )
        _write_from_agreeing_run(case, run, path, sides["scratch"], "no golden file yet (first run)")
    try:
        golden = load_golden(path, case.name)
    except GoldenError:
        if not force_regen:
            raise
        _write_from_agreeing_run(case, run, path, sides["scratch"], "the golden could not be read; --force-regen set")
    problems = golden_problems(golden, sides["scratch"], case.dtype)
    if problems:
        if force_regen:
            _write_from_agreeing_run(
                case, run, path, sides["scratch"], "the golden did not fit the run; --force-regen set"
            )
        raise GoldenError(
            f"{case.name} / golden: golden file {path} does not fit this run:\n  "
            + "\n  ".join(problems)
            + f"\nif the change is intended, {regenerate_hint(case.name, folder)}"
        )
    parted = {side: first_mismatch(data, golden) for side, data in sides.items()}
    parted = {side: where for side, where in parted.items() if where is not None}
    if parted:
        if force_regen:
            _write_from_agreeing_run(
                case, run, path, sides["scratch"], "the run parts from the golden; --force-regen set"
            )
        which = " and ".join(parted)
        verb = "sides part" if len(parted) > 1 else "side parts"
        raise GoldenError(
            f"{case.name} / golden: the {which} {verb} from {path}:\n"
            + "\n".join(f"  {side}: {where}" for side, where in parted.items())
            + "\n"
            + (
                "both sides moved together: the network changed on purpose, or the data or initialisation did"
                if len(parted) == 2
                else f"only the {which} side moved: look there first"
            )
            + f"; if the change is intended, {regenerate_hint(case.name, folder)}"
        )


def orphan_goldens(folder: Path, case_names: Iterable[str]) -> list[Path]:
    """Golden ``.npz`` files that no registered case reads (left behind by a rename or a removal)."""
    names = set(case_names)
    return sorted(p for p in folder.glob("*.npz") if p.stem not in names)
