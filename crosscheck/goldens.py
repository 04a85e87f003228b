"""Golden files: what of a case's run is kept, where, and the lifecycle of the ``golden`` check.

The lifecycle is pytest-regressions' own, run through its ``ndarrays_regression`` fixture class with
explicit per-array tolerances (``ATOL``/``RTOL``): a missing file is written and the check fails; an
existing file is compared, and a mismatch leaves its ``.obtained`` file to diff (in pytest's cache or
temporary folder, not beside the golden); ``--force-regen`` rewrites a file that fails and the check
fails too; ``--regen-all`` rewrites every file and lets the checks pass, as its documentation says.
On top of it, crosscheck's own rules:

- the file is read and checked before any value is compared: a corrupt or truncated file, NaN or Inf,
  and a dtype, shape or set of arrays other than the run's fail with a message (pytest-regressions
  compares with ``equal_nan`` and accepts float32 against a float64 golden);
- both sides are compared, scratch and twin, each as tightly as they are compared with each other (a case's own
  float64 ``Tolerance`` included);
- a golden is written only from a run whose two sides agree, atomically (a temporary file renamed);
- a golden stays small whatever the network: beyond a size, its largest arrays are kept as evenly spread
  samples with their elements' indices and the whole arrays' norms (``BUDGET``, ``SAMPLE_BUDGET``);
- in CI (``CI`` set as CI services set it) a missing golden is never written and regeneration is
  refused (``crosscheck.plugin`` refuses the flags once it has collected a golden check).

Files live in ``<goldens>/<case>.npz``, ``<goldens>`` being the project's ``[tool.crosscheck] goldens``
(default ``tests/goldens`` beside its pyproject.toml).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from pytest_regressions.ndarrays_regression import NDArraysRegressionFixture

from crosscheck.compare import differences
from crosscheck.golden_view import INDEX, NORM_NAMES, NORMS, golden_view
from crosscheck.keys import STAGE_ORDER, Pair, exceeds_text, index_text, split_key, tolerance_text
from crosscheck.lockstep import Run, own_tolerance
from crosscheck.settings import in_ci, regeneration_refusal
from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL

if TYPE_CHECKING:  # torch waits until a case needs it
    from crosscheck.case import Case

# Goldens are float64 traces from NumPy on one machine; each side must meet them as tightly as the
# two sides meet each other (pytest-regressions' default rtol 1e-5 would let a wrong fifth digit pass).
ATOL, RTOL = FLOAT64_ATOL, FLOAT64_RTOL


def golden_tolerance(case: Case) -> tuple[float, float]:
    """(atol, rtol) each side meets the golden within: ``ATOL``/``RTOL``, or a float64 case's own ``Tolerance``,
    which holds its sides to each other (and so to a golden one of them wrote)."""
    own = own_tolerance(case)
    return own if own is not None else (ATOL, RTOL)


class GoldenError(AssertionError):
    """A golden file that cannot be trusted or does not match; the message names the file and what to do."""


def regenerate_command(case_name: str) -> str:
    """The command that rewrites this one case's golden: the node id of the golden test in progress, which
    selects it alone (``-k tiny-golden`` would select ``my_tiny-golden`` too, and ``-k -h-golden`` is no
    command); outside such a test, ``-k`` on the check's id."""
    test = _golden_test(case_name)
    target = shlex.quote(test) if test is not None else f"-k {shlex.quote(f'{case_name}-golden')}"
    return f"pytest --force-regen {target}"


def _golden_test(case_name: str) -> str | None:
    """The node id of the test pytest is running when it is ``parametrize_with_checks``' golden test of the
    case (``PYTEST_CURRENT_TEST`` is ``<node id> (call)``; pytest-xdist's ``--dist loadgroup`` may add
    ``@<group>``, which no command line takes), else None."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    nodeid = re.sub(r"\]@[^\]]*$", "]", current)
    return nodeid if nodeid.endswith(f"[{case_name}-golden]") else None


def regenerate_hint(case_name: str, folder: Path) -> str:
    return (
        f"regenerate it on purpose with `{regenerate_command(case_name)}` (outside CI), review the change "
        f"to {folder}/ and commit it"
    )


def companion_of(key: str, arrays: Mapping[str, Any]) -> str | None:
    """The sampled array that ``key`` describes (its indices or norms), or None for an array of values."""
    for suffix in (INDEX, NORMS):
        if key.endswith(suffix) and key.removesuffix(suffix) + INDEX in arrays:
            return key.removesuffix(suffix)
    return None


def expected_dtype(key: str, arrays: Mapping[str, Any], dtype: Any) -> np.dtype:
    """The dtype ``key`` must have: the case's for values, int64 for a sample's indices, float64 for its norms."""
    if companion_of(key, arrays) is None:
        return np.dtype(dtype)
    return np.dtype(np.int64) if key.endswith(INDEX) else np.dtype(np.float64)


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
        wanted = expected_dtype(key, data, dtype)
        if value.dtype != wanted:
            problems.append(f"{key}: the golden is {value.dtype}, not {wanted}")
        elif not np.all(np.isfinite(value)):
            problems.append(f"{key}: the golden holds NaN or Inf")
        if key.endswith(INDEX) and companion_of(key, data) is not None:
            # The last row is the array's last element, so any other shape or budget shows here.
            if obtained.shape != value.shape or not np.array_equal(obtained, value):
                problems.append(
                    f"{key}: the golden keeps other elements of {key.removesuffix(INDEX)} than this run samples "
                    f"(its array had another shape, or the golden another budget)"
                )
        elif obtained.shape != value.shape:
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


def first_mismatch(
    data: Mapping[str, np.ndarray],
    golden: Mapping[str, np.ndarray],
    allowance: Mapping[str, np.ndarray] | None = None,
    tolerance: tuple[float, float] = (ATOL, RTOL),
) -> str | None:
    """The element where ``data`` first parts from ``golden`` in the run's order (step, then stage), as a
    sentence.  ``allowance``: by key, what each element may differ beyond the golden's ``tolerance`` (a chaotic
    run's own |scratch - twin|, ``_amplified``)."""
    atol, rtol = tolerance
    found = []
    for key in sorted(data):
        if key.endswith(INDEX) and companion_of(key, data) is not None:
            continue  # golden_problems has seen that the golden samples the elements this run does
        extra = allowance.get(key) if allowance is not None else None
        diff, tol, bad = differences(np.asarray(data[key]), golden[key], atol if extra is None else atol + extra, rtol)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            found.append((*_located(key, at, data), key, at, diff, tol))
    if not found:
        return None
    _, name, note, key, at, diff, tol = min(found, key=lambda f: f[0])
    return (
        f"{name}: run = {float(np.asarray(data[key])[at])!r}, golden = {float(golden[key][at])!r}, "
        f"{exceeds_text(float(diff[at]), float(tol[at]))} ({tolerance_text(atol, rtol, 'golden')}"
        f"{AMPLIFIED if allowance is not None and key in allowance and allowance[key][at] > 0 else ''}){note}"
    )


# How a bound that holds a chaotic run's own |scratch - twin| is named in a message.
AMPLIFIED = " + this run's |scratch - twin|, the rounding its training amplifies"


def _located(key: str, at: tuple[int, ...], data: Mapping[str, np.ndarray]) -> tuple[tuple[float, int], str, str]:
    """Where the element ``at`` of the golden array ``key`` comes in the run (``_when``), what a message calls it,
    and, for a sampled array, what the golden keeps of it."""
    base = companion_of(key, data)
    if base is None and key + INDEX not in data:
        return _when(key, at[0]), _element(key, at), ""
    index = data[(base or key) + INDEX]
    shape = tuple(int(n) + 1 for n in index[-1])
    note = (
        f"; the golden keeps a sample of {base or key} (shape {shape}): compared {len(index)} of "
        f"{int(np.prod(shape))} elements and the norms"
    )
    if base is None:
        full = tuple(int(i) for i in index[at[0]])
        return _when(key, full[0]), _element(key, full), note
    # A norm is of the whole array, so of no one step: it comes after the array's last step.
    return _when(base, shape[0] - 1), f"{base} {NORM_NAMES[at[0]]} (of all its elements)", note


def _element(key: str, at: tuple[int, ...]) -> str:
    """A golden array's element as a message names it: the first axis of a first step's array is the step
    (``first_loss at step 2``, ``first_grad.W1[3, 7] at step 0``)."""
    if split_key(key)[0].startswith("first_") and at:
        return f"{key}{index_text(at[1:])} at step {at[0]}"
    return f"{key}{index_text(at)}"


def write_golden(path: Path, data: Mapping[str, np.ndarray]) -> None:
    """Write ``data`` to ``path`` atomically: a killed write leaves the old file or none, never a torn one.  A golden
    that is a symbolic link is written through to its target (the link stays); the file gets the mode a plain
    ``open`` would (0666 less the umask), not ``mkstemp``'s 0600; what a killed write left behind (its
    ``.<name>.*.npz.tmp``) is removed; a folder that cannot take the file raises ``GoldenError`` saying what to do."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f".{glob.escape(target.stem)}.*.npz.tmp"):
            if _TMP_NAME.fullmatch(stale.name.removeprefix(f".{target.stem}.")):
                stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".npz.tmp", dir=folder)
    except OSError as exc:
        raise GoldenError(_unwritable(path, folder, exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            np.savez_compressed(f, **data)  # type: ignore[arg-type]
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GoldenError(_unwritable(path, folder, exc)) from None
        raise


# The part mkstemp adds between the prefix and the suffix: eight letters, digits or underscores.
_TMP_NAME = re.compile(r"[a-z0-9_]{8}\.npz\.tmp")


def _umask() -> int:
    """The process's umask; reading it means setting it, so it is set back at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _unwritable(path: Path, folder: Path, exc: OSError) -> str:
    if path.is_dir():
        what = f"{path} is a folder, where the golden file goes; move it away"
    elif folder.exists() and not folder.is_dir():
        what = f"{folder} is a file, where the goldens' folder goes; move it away"
    else:
        what = f"make {folder} a folder you can write to, or point `[tool.crosscheck] goldens` at another folder"
    return f"cannot write the golden {path} ({type(exc).__name__}: {exc.strerror or exc}): {what}"


def _run_data(case: Case, run: Run | Pair) -> dict[str, dict[str, np.ndarray]]:
    if isinstance(run, Run):
        sides = {"scratch": run.golden[0], "twin": run.golden[1]}
    else:
        scratch, twin = run
        # The quantities the scratch side shows (a network's own step may keep its output or gradients to itself).
        sides = {"scratch": golden_view(scratch), "twin": golden_view({k: v for k, v in twin.items() if k in scratch})}
    for side, data in sides.items():
        for key, value in data.items():
            if value.dtype != expected_dtype(key, data, case.dtype):
                raise GoldenError(
                    f"{case.name}: this run's {key} is {value.dtype} on the {side} side, not {case.dtype}"
                )
            if not np.all(np.isfinite(value)):
                raise GoldenError(f"{case.name}: this run's {key} has NaN or Inf on the {side} side")
    return sides


def _agreeing(case: Case, run: Run | Pair, path: Path) -> None:
    """Raise unless the battery passes on ``run``: a golden records only a run whose two sides agree."""
    __tracebackhide__ = True
    # The battery judges whether the sides agree; imported here, when a golden is about to be written.
    from crosscheck.checks import CHECKS, battery, run_check

    # A Run is put through every check of the battery (the anchored steps see a bug a chaotic free run hides);
    # traces, through those that read traces alone.
    checks = battery(case) if isinstance(run, Run) else list(CHECKS)
    failed = [name for name in checks if not run_check(case, name, run).passed]
    if failed:
        raise GoldenError(
            f"{case.name} / golden: {path} not written: scratch and twin disagree ({', '.join(failed)} failed), "
            f"and a golden must record a run the battery passes; fix the failing checks first"
        )


def _in_order_of(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the arrays the file at ``path`` holds first, in its order: the bytes of an ``.npz`` follow
    the order of its arrays, so a golden rewritten with the same values (``--regen-all``) stays byte-identical
    even where the run records its quantities in another order than when the file was written."""
    try:
        with zipfile.ZipFile(path) as archive:
            order = [name.removesuffix(".npy") for name in archive.namelist()]
    except (OSError, zipfile.BadZipFile):
        return dict(data)
    return {key: data[key] for key in order if key in data} | {k: v for k, v in data.items() if k not in order}


class _Options:
    """What pytest-regressions reads of ``request.config``: the flags as the run's settings hold them (the plugin
    fills those from the same options), so that the golden check runs the same inside pytest and out."""

    def __init__(self, force_regen: bool, regen_all: bool) -> None:
        self._values = {"force_regen": force_regen, "regen_all": regen_all, "with_test_class_names": False}

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)


class _GoldenFixture(NDArraysRegressionFixture):
    """pytest-regressions' ``ndarrays_regression`` with crosscheck's rules on its two hooks: before its comparison,
    crosscheck's own reading of the golden (a file it can trust, of the run's arrays, dtype and shapes, finite,
    and met by both sides); before it writes the committed golden, the battery's verdict; every write atomic."""

    def __init__(
        self,
        work: Path,
        path: Path,
        flags: _Options,
        judge: Callable[[], tuple[tuple[str, str] | None, dict[str, float]]],
        agree: Callable[[], None],
    ) -> None:
        # ``request`` is read for its options only, the file being named (``basename``) rather than the test.
        super().__init__(work, path.parent, SimpleNamespace(config=flags))  # type: ignore[arg-type]
        self._path, self._judge, self._agree = path, judge, agree
        self.why: str | None = None  # why the comparison failed, in crosscheck's words

    def _dump_fn(self, data_dict: dict[str, Any], filename: Path) -> None:
        if Path(filename) == self._path:
            self._agree()
        try:
            write_golden(Path(filename), _in_order_of(self._path, data_dict))
        except GoldenError as exc:
            raise GoldenError(f"{self._path.stem} / golden: {exc}") from None

    def _check_fn(self, obtained_filename: Path, expected_filename: Path) -> None:
        __tracebackhide__ = True
        fault, widened = self._judge()
        if fault is not None:
            self.why, message = fault
            raise GoldenError(message)
        for key, extra in widened.items():  # what crosscheck's reading allowed, element by element
            if key in self._tolerances_dict:
                held = self._tolerances_dict[key]
                self._tolerances_dict[key] = {**held, "atol": held["atol"] + extra}
        self.why = "pytest-regressions' comparison failed"
        super()._check_fn(obtained_filename, expected_filename)
        self.why = None


def _amplified(
    case: Case, run: Run | Pair, sides: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray] | None:
    """Where the run's sides part beyond the fixed bound by the rounding its training amplifies (``training_run``
    passes, judged against the run's own growth: a chaotic run), this run's |scratch - twin| by golden key: what
    the rounding of one machine, one library, one run has grown to, and so what a side may differ from a golden
    written by another run beyond the golden's tolerance.  None for any other run, held to the golden's tolerance
    alone."""
    from crosscheck.checks import run_check  # the battery's judgment, read only where a side parts from a golden

    judged = run_check(case, "training_run", run)
    if not judged.passed or judged.note is None:
        return None
    scratch, twin = sides["scratch"], sides["twin"]
    return {
        key: np.abs(np.asarray(scratch[key], dtype=np.float64) - np.asarray(twin[key], dtype=np.float64))
        for key in scratch
        if key in twin and not key.endswith(INDEX)
    }


def _fault(
    case: Case, path: Path, run: Run | Pair, sides: Mapping[str, Mapping[str, np.ndarray]], obtained: Path
) -> tuple[tuple[str, str] | None, dict[str, float]]:
    """Crosscheck's reading of the committed golden, before any value is compared the way pytest-regressions
    compares: (why, message) when it cannot be trusted, does not fit the run, or a side parts from it; and, by
    key, what it allowed beyond the golden's tolerance (``_amplified``'s largest), which pytest-regressions'
    comparison of the same values, an array's tolerance at a time, is given too."""
    folder = path.parent
    try:
        golden = load_golden(path, case.name)
    except GoldenError as exc:
        return ("the golden could not be read", str(exc)), {}
    problems = golden_problems(golden, sides["scratch"], case.dtype)
    if problems:
        return ("the golden did not fit the run", (
            f"{case.name} / golden: golden file {path} does not fit this run:\n  "
            + "\n  ".join(problems)
            + f"\nif the change is intended, {regenerate_hint(case.name, folder)}"
        )), {}  # fmt: skip
    tolerance = golden_tolerance(case)
    parted = {side: first_mismatch(data, golden, tolerance=tolerance) for side, data in sides.items()}
    parted = {side: where for side, where in parted.items() if where is not None}
    widened: dict[str, float] = {}
    if parted:
        allowance = _amplified(case, run, sides)
        if allowance is not None:
            parted = {side: first_mismatch(sides[side], golden, allowance, tolerance) for side in parted}
            parted = {side: where for side, where in parted.items() if where is not None}
            widened = {key: float(a.max(initial=0.0)) for key, a in allowance.items()}
    if not parted:
        return None, widened
    which = " and ".join(parted)
    verb = "sides part" if len(parted) > 1 else "side parts"
    return ("the run parts from the golden", (
        f"{case.name} / golden: the {which} {verb} from {path}:\n"
        + "\n".join(f"  {side}: {where}" for side, where in parted.items())
        + f"\n  this run's values (scratch side), to diff: {obtained}\n"
        + (
            "both sides moved together: the network changed on purpose, or the data or initialisation did"
            if len(parted) == 2
            else f"only the {which} side moved: look there first"
        )
        + f"; if the change is intended, {regenerate_hint(case.name, folder)}"
    )), widened  # fmt: skip


def check_golden(
    case: Case,
    folder: Path,
    run: Run | Pair,
    *,
    workdir: Path,
    force_regen: bool = False,
    regen_all: bool = False,
    environ: Mapping[str, str] | None = None,
) -> None:
    """The golden check of ``case``'s ``run`` (its ``Run``, or its scratch and twin traces) against
    ``<folder>/<case>.npz``: passes silently, or raises ``GoldenError`` (an ``AssertionError``) saying what is
    wrong and what to do.

    The lifecycle is pytest-regressions' own (``ndarrays_regression``, per-array tolerances ``ATOL``/``RTOL``):
    a missing file is written and the check fails; ``force_regen`` rewrites a file that fails and the check
    fails; ``regen_all`` rewrites every file and the check passes.  The copy it compares and the ``.obtained``
    file it leaves go to ``workdir`` (pytest's cache or temporary folder), never beside the committed golden."""
    __tracebackhide__ = True
    path = folder / f"{case.name}.npz"
    sides = _run_data(case, run)
    refusal = regeneration_refusal(force_regen, regen_all, folder, environ)
    if refusal is not None:  # the plugin refuses the flags when it sees golden checks; an xdist worker, here
        raise GoldenError(f"{case.name} / golden: {refusal}")
    missing = not path.is_file()
    if missing and in_ci(environ):
        raise GoldenError(
            f"{case.name} / golden: golden file {path} is missing, and in CI a missing golden is not written "
            f"(a run must not pass on values it has just created); generate it on a developer machine with "
            f"`{regenerate_command(case.name)}`, review it and commit it"
        )
    work = workdir / "goldens"
    work.mkdir(parents=True, exist_ok=True)
    copy = work / path.name
    copy.unlink(missing_ok=True)
    if not missing:
        shutil.copyfile(path, copy)
    obtained = copy.with_suffix(".obtained.npz")
    fixture = _GoldenFixture(
        work,
        path,
        _Options(force_regen, regen_all),
        partial(_fault, case, path, run, sides, obtained),
        partial(_agreeing, case, run, path),
    )
    data = dict(sides["scratch"])
    try:
        atol, rtol = golden_tolerance(case)
        fixture.check(data, basename=case.name, tolerances={key: dict(atol=atol, rtol=rtol) for key in data})
    except pytest.fail.Exception:  # pytest-regressions wrote the golden, and fails the test that did
        why = "no golden file yet (first run)" if missing else f"{fixture.why}; --force-regen set"
        raise GoldenError(f"{case.name} / golden: {why}, written {path}; review it and commit it") from None
    except GoldenError:
        raise
    except OSError as exc:  # pytest-regressions' own file handling: the folder cannot take the golden
        raise GoldenError(f"{case.name} / golden: {_unwritable(path, folder, exc)}") from None
    except AssertionError as exc:  # its comparison found what crosscheck's did not
        raise GoldenError(
            f"{case.name} / golden: {path} differs from this run ({obtained}):\n{exc}\n"
            f"if the change is intended, {regenerate_hint(case.name, folder)}"
        ) from None


def looks_like_a_golden(path: Path) -> bool:
    """Whether ``path`` is an ``.npz`` that crosscheck wrote: its arrays include initial parameters (``init.*``)
    and the first steps' loss.  Read from the archive's member names (standard library: the xdist controller
    that checks for orphans has loaded no NumPy), never from its values."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "first_loss.npy" in names and any(n.startswith("init.") and n.endswith(".npy") for n in names)


def orphan_goldens(folder: Path, case_names: Iterable[str]) -> list[Path]:
    """Golden files that no registered case reads (left behind by a rename or a removal): in the golden folder,
    named ``<name>.npz`` and holding what crosscheck writes.  Any other file there (a project's own ``.npz``, a
    pytest-regressions ``.obtained`` file) is not crosscheck's to judge."""
    names = set(case_names)
    return sorted(
        p
        for p in folder.glob("*.npz")
        if p.stem not in names and not p.name.endswith(".obtained.npz") and looks_like_a_golden(p)
    )
