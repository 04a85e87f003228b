"""One-step repro: a failing run shrunk to the one step where scratch and twin first part.

``write_repro(case, step, run, folder)`` writes ``<folder>/state.npz`` (the parameters, optimizer state and
buffers entering that step, as the twin holds them, and the rows of its batch) and ``<folder>/repro.py``, a
script that steps the case's run again to that step on both sides (so that what a network keeps beyond its
parameters is as it was), writes that state into the scratch network, runs the one step on each, prints
every quantity that differs, then tries each row of the batch alone and says which rows still show the
difference.  It exits 1 while the sides differ, 0 once they agree, so it doubles as the check of a fix (2: the
step cannot be replayed, a network that cannot be copied say).

The script imports only the module that registered its case (with the project's folder on ``sys.path``), or
else the module that defines the case's ``build``, and validates only that case: the project's other cases are
neither imported nor built.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import paths
from crosscheck.case import Case, Params, float32_case
from crosscheck.checks import tolerance
from crosscheck.compare import differences
from crosscheck.errors import StepError
from crosscheck.keys import STAGE_ORDER, STEPPED, Pair, Trace, describe, exceeds_text, index_text, split_key
from crosscheck.lockstep import Run
from crosscheck.run.memo import RUNS
from crosscheck.run.scratch import load_scratch_state, record_steps
from crosscheck.run.snapshot import scratch_network, twin_training
from crosscheck.run.twin import twin_trace
from crosscheck.state import state_entering

SCRIPT = '''\
"""One-step repro of {name!r} at step {step}: both sides from the state entering that step.

Run it with the Python that runs your tests: python {script}
Exit status 1 while scratch and twin differ, 0 once they agree.
"""

import sys
from pathlib import Path

sys.path.insert(0, {root!r})
from crosscheck.diagnose.repro import replay  # noqa: E402

sys.exit(replay(Path(__file__).with_name("state.npz"), {name!r}, {module!r}, {root!r}))
'''


def write_repro(case: Case, step: int, run: Run | Pair | None, folder: Path, root: Path | None = None) -> Path:
    """Write ``state.npz`` and ``repro.py`` for ``case`` at ``step`` into ``folder``; returns the script."""
    params, held, rows, sample = state_entering(case, step, run)  # the twin's: the reference
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"param.{k}": v for k, v in params.items()} | held
    np.savez(folder / "state.npz", rows=rows, sample=np.array(sample), step=np.array(step), **arrays)  # type: ignore[arg-type]
    script = folder / "repro.py"
    root = (root or Path.cwd()).resolve()
    module, root_text = _case_module(case, root), str(root)
    script.write_text(
        SCRIPT.format(name=case.name, step=step, script=script, root=root_text, module=module), encoding="utf-8"
    )
    return script


def _case_module(case: Case, root: Path) -> str:
    """What the repro imports to find ``case``: the module that registered it, by its dotted name where that
    imports it from ``root`` (a project's case module), else by its file (a test module); failing both, the
    file of the module defining its network."""
    from crosscheck.registration import registered_in

    found = registered_in(case)
    if found is not None:
        name, file = found
        base = root.joinpath(*name.split("."))
        if file and name != "__main__" and Path(file).resolve() in (base.with_suffix(".py"), base / "__init__.py"):
            return name
        if file or name:
            return file or name
    module_name = getattr(case.origin, "__module__", None) or ""
    return getattr(sys.modules.get(module_name), "__file__", None) or module_name


def find_case(name: str, module: str, root: str) -> Case:
    """The case named ``name``, from its module alone (its other cases registered, not validated), validated;
    else from the project's registry."""
    from crosscheck import registration
    from crosscheck.validate import validation_problem

    case = None
    if module:
        try:
            with registration.names_only():
                loaded = _import(module, Path(root))
        except (ImportError, registration.RegistrationError) as exc:
            raise SystemExit(f"repro: the module of case {name!r}, {module}, cannot be imported: {exc}") from None
        # A case its module builds without registering it is found among the module's names.
        found = [v for v in vars(loaded).values() if isinstance(v, Case) and v.name == name]
        case = registration.registered(name) or (found[0] if found else None)
    if case is None:
        case = registration.registry(Path(root)).get(name)
    base = name.removesuffix("_float32")
    if case is None and base != name:  # a float32 variant: made from its float64 case, as the run made it
        found64 = registration.registered(base) or registration.registry(Path(root)).get(base)
        case = float32_case(found64) if found64 is not None else None
    if case is None:
        raise SystemExit(f"repro: no case named {name!r} in the project at {root} (nor in module {module!r})")
    problem = validation_problem(case)
    if problem is not None:
        raise SystemExit(f"repro: {problem}")
    return case


def _import(module: str, root: Path) -> Any:
    """A module by dotted name (from the project's folder), or by file path (a test module outside any package)."""
    if not module.endswith(".py"):
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return importlib.import_module(module)
    # Imported already (the repro replayed in the process that wrote it): executing the file again would
    # register its cases a second time.
    done = next((m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == module), None)
    if done is not None:
        return done
    spec = importlib.util.spec_from_file_location(Path(module).stem, module)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module at {module}")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def one_step(
    case: Case, params: Params, batch: int | np.ndarray, held: dict[str, np.ndarray] | None = None, step: int = 0
) -> list[str]:
    """Run step ``step`` on both sides on ``X[batch]``, each from its network as the case's run left it entering
    the step (``RUNS.entering``: what a network keeps beyond its parameters, a hidden state or a step count, as
    it was), with ``params`` (and the optimizer state and buffers ``held``), the twin's, written into the
    scratch copy: one shared state, as the anchored steps take.  One line per differing quantity."""
    entering = RUNS.entering(case, [step])[step]
    net = scratch_network(entering.scratch)
    for name, value in params.items():
        paths.write(net, name, np.array(value))
    if held:
        load_scratch_state(case, net, held)
    scratch = {k: np.array(v) for k, v in record_steps(case, net, [batch]).items()}
    twin = twin_trace(case, params, [batch], begin=twin_training(case, entering.twin))
    return differing(case, scratch, twin)


def differing(case: Case, scratch: Trace, twin: Trace) -> list[str]:
    atol, rtol = tolerance(case, 1)
    lines = []
    keys = [k for k in scratch if split_key(k)[0] in STEPPED]
    for key in sorted(keys, key=lambda k: STAGE_ORDER.index(split_key(k)[0])):
        a, b = np.asarray(scratch[key]), np.asarray(twin[key])
        if a.shape != b.shape:
            lines.append(f"{key}: shape {a.shape} on the scratch side, {b.shape} on the twin side")
            continue
        diff, tol, bad = differences(a, b, atol, rtol)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            quantity, parameter = split_key(key)
            what = describe(quantity, parameter)
            lines.append(
                f"{what}{index_text(at[1:])}: scratch = {float(a[at])!r}, twin = {float(b[at])!r}, "
                f"{exceeds_text(float(diff[at]), float(tol[at]))}"
            )
    return lines


def replay(state_file: Path, name: str, module: str, root: str) -> int:
    """What ``repro.py`` runs: the step on both sides, then each row alone; 1 while the sides differ."""
    case = find_case(name, module, root)
    with np.load(state_file) as npz:
        params = {k.removeprefix("param."): npz[k] for k in npz.files if k.startswith("param.")}
        held = {k: npz[k] for k in npz.files if k.startswith(("state.", "buffer."))}
        rows, sample, step = npz["rows"], bool(npz["sample"]), int(npz["step"])
    print(f"{name}: step {step} on both sides from the state entering it (rows of X: {rows.tolist()})")
    try:
        found = one_step(case, params, int(rows[0]) if sample else rows, held, step)
    except StepError as exc:  # a network that cannot be copied, or a run that fails before the step
        print(f"the step cannot be replayed: {exc}")
        return 2
    if not found:
        print("scratch and twin agree on this step")
        return 0
    print(textwrap.indent("\n".join(found), "  "))
    if len(rows) > 1:
        alone = [int(r) for r in rows if one_step(case, params, np.array([r]), held, step)]
        if alone:
            print(f"one row suffices: each of rows {alone} alone shows the difference (e.g. X[{alone[0]}])")
        else:
            print("no single row shows it: the difference needs the batch together (a sum or mean over rows)")
    return 1


def repro_for(
    case: Case, step: int | None, run: Run | Pair | None, reports: Path, root: Path | None = None
) -> Path | None:
    """Write the repro of a divergence at ``step`` (None: before training, replayed at step 0) into
    ``<reports>/repro/<case>/``; None when it cannot be written (the message says why on stderr)."""
    try:
        return write_repro(case, 0 if step is None else step, run, reports / "repro" / case.name, root)
    except OSError as exc:
        print(f"crosscheck: the repro of {case.name} could not be written: {exc}", file=sys.stderr)
        return None
