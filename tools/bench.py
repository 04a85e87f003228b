"""``python -m tools.bench`` (``nox -s bench``): what the gate costs beside the training steps it must replay.

Measured in one run, printed and written to ``reports/bench.json``:

- **per case**, the time of one training step of each side, bare and recorded, and the recording
  overhead, recorded / bare.  Bare on the scratch side: the case's own calls for a step (its forward and
  loss, which the gate compares, then ``gradients`` and ``update``; or its own ``step``), nothing kept.
  Bare on the twin side: a plain PyTorch loop (``zero_grad``, module, loss, ``backward``, optimizer and
  scheduler step), written here as a user would write it, so that the yardstick does not move with the
  harness.  Recorded: ``trace.scratch_trace`` and ``trace.twin_trace`` over the same steps.  Bare and
  recorded runs alternate, and the overhead is the median of the pairs' ratios, with their spread.
- **the gate**: the tests session's pytest command (``noxfile.py``), against its floor: the import floor
  plus the bare step time of every step of every full run the gate checks, each (case, seed, dtype)
  counted once.  The list of full runs comes from the gate run itself (``tests/conftest.py`` writes it).
  Beside it, the battery alone (``BATTERY_FILES``) against the floor of the full runs it replays: the
  gate of a project that uses crosscheck, without this repository's tests of the harness itself.
- **the sweep**: ``python -m tutorials.sweep`` (256 seeds per tutorial network, full runs), against its
  floor: the batched twin's bare step time times the steps.
- **a learner's wrong gradient**: the time from a catalogue bug in a tutorial network
  (``tools.learner_bug``) to its failure message under ``pytest -x``.
- **collection** (``tools.collection_cost``): what ``pytest --collect-only`` pays per registered case (its
  registration, validated on the rows of its first batches, and its parametrization), from 1 and 50 copies.
- **the scale grid** (``tools.scale``): the battery's CPU time and peak RSS against its floor's on generated
  784-h-10 MLPs of 1e4 to 1e6 parameters, SGD and Adam, 100 to 5,000 steps, each run in a fresh process.

Figures are medians of repeated runs with their spread; absolute times drift between machines, so the
goals are ratios, and the load average before and after is recorded.  Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crosscheck import jsonfile
from crosscheck.case import Batch, Case, Params
from crosscheck.environment import provenance
from crosscheck.layout import load_into_twin, twin_data
from crosscheck.precision import float32_case
from crosscheck.registration import registry
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from tools import scale
from tools.collection_cost import collection_cost
from tools.collection_cost import line as collection_line
from tools.plugin_cost import line as plugin_cost_line
from tools.plugin_cost import plugin_cost
from tools.user_project import line as user_project_line
from tools.user_project import xdist_runs
from tutorials.networks import TUTORIAL_CASES

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "bench.json"
STEPS = 1000  # steps per timed run (a case's whole run when it is shorter): per-step figures are steady by then
SWEEP_SEEDS = 256
# The tests session's pytest command (noxfile.py passes the same options; tests/test_bench.py holds them equal).
GATE_ARGS = ("-n", "auto", "--dist", "loadgroup")
# The battery alone: every check of every registered case in float64 and of its float32 variant, the
# gate that a project using crosscheck runs; the rest of the tests session is the harness's own tests.
BATTERY_FILES = ("tests/test_battery.py", "tests/test_float32.py")
LEARNER_BUG = "gradient_sign:sigmoid_neuron"
GOALS = {
    "twin_overhead": 1.25,  # recorded / bare, every tutorial network
    "scratch_overhead": 1.5,
    "gate_over_floor": 1.5,
    "sweep_over_floor": 1.5,
    "sweep_s": 60.0,
    "learner_failure_s": 15.0,
}


# --- one step of each side, bare --------------------------------------------------------------------


def scratch_bare(case: Case, params: Params, batches: Sequence[Batch]) -> Any:
    """The case's own calls for each step, nothing kept; the trained network."""
    net = case.calls.build({k: v.copy() for k, v in params.items()}, case.data.learning_rate)
    X, y, lr = case.data.X, case.data.y, case.data.learning_rate
    if case.calls.step is not None:
        for b in batches:
            case.calls.step(net, X[b], y[b], lr)
        return net
    assert case.calls.gradients is not None and case.calls.update is not None
    for b in batches:
        xb, yb = X[b], y[b]
        output = case.calls.forward(net, xb)
        case.calls.loss(output, yb)
        if case.scratch.loss_gradient is not None:
            case.scratch.loss_gradient(output, yb)
        case.calls.update(net, case.calls.gradients(net, xb, yb), lr)
    return net


def twin_bare(case: Case, params: Params, batches: Sequence[Batch]) -> torch.nn.Module:
    """A plain PyTorch training loop of the twin: no checks, nothing kept; the trained module."""
    module = case.twin.module(case.torch_dtype)
    load_into_twin(module, case, params)
    optimizer = case.twin.optimizer(module.parameters(), case.data.learning_rate)
    scheduler = case.twin.scheduler(optimizer) if case.twin.scheduler is not None else None
    X, y = twin_data(case)
    module.train()
    for b in batches:
        index = torch.as_tensor(b) if isinstance(b, np.ndarray) else b
        optimizer.zero_grad()
        case.twin.loss(module(X[index]), y[index]).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return module


def _spread(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def paired(bare: Callable[[], object], recorded: Callable[[], object], steps: int, repeats: int) -> dict[str, Any]:
    """Bare and recorded runs, alternating after one warm-up of each: µs per step, and recorded / bare."""
    bare(), recorded()
    b_s, r_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare()
        t1 = time.perf_counter()
        recorded()
        t2 = time.perf_counter()
        b_s.append(t1 - t0)
        r_s.append(t2 - t1)
    return {
        "bare_us": round(statistics.median(b_s) / steps * 1e6, 2),
        "recorded_us": round(statistics.median(r_s) / steps * 1e6, 2),
        "overhead": _spread([r / b for r, b in zip(r_s, b_s, strict=True)]),
    }


def case_row(case: Case, steps: int, repeats: int, seed: int | None = None) -> dict[str, Any]:
    params, schedule = start(case, seed)
    batches = schedule[:steps]
    n = len(batches)
    return {
        "name": case.name,
        "dtype": np.dtype(case.dtype).name,
        "run_steps": len(schedule),
        "timed_steps": n,
        "scratch": paired(
            lambda: scratch_bare(case, params, batches), lambda: scratch_trace(case, params, batches), n, repeats
        ),
        "twin": paired(lambda: twin_bare(case, params, batches), lambda: twin_trace(case, params, batches), n, repeats),
    }


# --- whole commands ---------------------------------------------------------------------------------


def command(argv: Sequence[str], repeats: int, env: dict[str, str] | None = None, warm: bool = False) -> dict[str, Any]:
    """Wall time (median and spread) and CPU time of a command run from the repository root."""
    times, cpu, codes, outputs = [], [], [], []
    for i in range(repeats + (1 if warm else 0)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, env=os.environ | (env or {}))
        elapsed = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if warm and i == 0:
            continue
        times.append(elapsed)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        codes.append(done.returncode)
        outputs.append(done.stdout + done.stderr)
    return {"s": _spread(times), "cpu_s": _spread(cpu), "exit_codes": codes, "output": outputs[-1]}


def _tail(output: str, lines: int = 5) -> str:
    return " | ".join(output.strip().splitlines()[-lines:])


def full_run_cases(runs: Sequence[Sequence[Any]]) -> tuple[list[tuple[Case, int]], list[str]]:
    """The cases of the full runs the gate computed, by name (registered, or a float32 variant of one), and
    the names that are neither, left out of the floor (which makes the floor lower, the ratio higher)."""
    known = {c.name: c for c in registry().values()}
    known |= {f"{c.name}_float32": c for c in registry().values()}
    found, other = [], []
    for name, seed, dtype, _variant, _n in runs:
        case = known.get(name)
        if case is not None and name.endswith("_float32") and case.name != name:
            case = float32_case(case)
        if case is None or np.dtype(case.dtype).name != dtype:
            other.append(f"{name} ({dtype})")
            continue
        found.append((case, int(seed)))
    return found, other


def against(run: dict[str, Any], floor: float) -> dict[str, Any]:
    """A command's wall and CPU time beside its floor (it may run on one worker per core, its floor on one:
    CPU time against the floor as well)."""
    return {
        "s": run["s"],
        "cpu_s": run["cpu_s"],
        "exit_codes": run["exit_codes"],
        "floor_s": round(floor, 3),
        "over_floor": round(run["s"]["median"] / floor, 3),
        "cpu_over_floor": round(run["cpu_s"]["median"] / floor, 3),
    }


def replayed(
    what: str,
    files: Sequence[str],
    rows: dict[tuple[str, str], dict[str, Any]],
    repeats: int,
    step_repeats: int,
    import_s: float,
    steps: int,
) -> dict[str, Any]:
    """The gate's pytest command over ``files`` (all tests when empty) against the floor of the full runs
    that very run lists (``tests/conftest.py`` writes them where CROSSCHECK_FULL_RUNS says)."""
    with tempfile.TemporaryDirectory() as tmp:
        runs_file = Path(tmp) / "full_runs.json"
        run = command(
            [sys.executable, "-m", "pytest", *GATE_ARGS, "-q", f"--junitxml={tmp}/junit.xml", *files],
            repeats,
            env={"CROSSCHECK_FULL_RUNS": str(runs_file)},
        )
        runs = json.loads(runs_file.read_text()) if runs_file.exists() else []
    if any(code != 0 for code in run["exit_codes"]):
        print(f"  the {what} exited {run['exit_codes']}: {_tail(run['output'])}", file=sys.stderr)
    counted, other, floor = replay_floor(runs, rows, import_s, steps, step_repeats)
    return against(run, floor) | {
        "full_runs": counted,
        "full_runs_not_in_floor": other,
        "repeated_full_runs": [r for r in runs if r[-1] > 1],
    }


def gate(
    rows: dict[tuple[str, str], dict[str, Any]], repeats: int, step_repeats: int, floor_s: float, steps: int = STEPS
) -> dict[str, Any]:
    """The tests session, and beside it the battery alone (``BATTERY_FILES``)."""
    result = replayed("gate", (), rows, repeats, step_repeats, floor_s, steps)
    battery = replayed("battery", BATTERY_FILES, rows, repeats, step_repeats, floor_s, steps)
    return result | {"workers": os.cpu_count(), "battery": battery | {"files": list(BATTERY_FILES)}}


def replay_floor(
    runs: Sequence[Sequence[Any]],
    rows: dict[tuple[str, str], dict[str, Any]],
    import_s: float,
    steps: int,
    repeats: int,
) -> tuple[list[dict[str, Any]], list[str], float]:
    """(the full runs counted, those that are no registered case's, the floor): the import floor plus the
    bare step time of every step of each full run."""
    cases, other = full_run_cases(runs)
    counted, floor = [], import_s
    for case, seed in cases:
        row = rows.get((case.name, np.dtype(case.dtype).name)) or case_row(case, steps, repeats, seed)
        rows[(row["name"], row["dtype"])] = row
        run_steps = len(start(case, seed)[1])
        s = run_steps * (row["scratch"]["bare_us"] + row["twin"]["bare_us"]) * 1e-6
        floor += s
        counted.append(
            {"name": case.name, "seed": seed, "dtype": row["dtype"], "steps": run_steps, "bare_s": round(s, 3)}
        )
    return counted, other, floor


def sweep(repeats: int, step_repeats: int) -> dict[str, Any]:
    from tutorials.sweep import bare_twin_step_s

    seeds = list(range(SWEEP_SEEDS))
    per_case, floor = [], 0.0
    for case in TUTORIAL_CASES:
        steps = len(start(case)[1])
        step_s = bare_twin_step_s(case, seeds, min(steps, STEPS), step_repeats)
        floor += step_s * steps
        per_case.append({"name": case.name, "steps": steps, "bare_batched_step_us": round(step_s * 1e6, 2)})
    with tempfile.TemporaryDirectory() as tmp:
        run = command([sys.executable, "-m", "tutorials.sweep", "--out", f"{tmp}/sweep.json"], repeats)
    if any(code != 0 for code in run["exit_codes"]):
        print(f"  the sweep exited {run['exit_codes']}: {_tail(run['output'])}", file=sys.stderr)
    return against(run, floor) | {"seeds": SWEEP_SEEDS, "cases": per_case}


def learner_failure(repeats: int) -> dict[str, Any]:
    """``pytest -x`` with a catalogue bug in place, as a learner runs it after typing the bug."""
    run = command(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "tools.learner_bug"],
        repeats,
        env={"CROSSCHECK_LEARNER_BUG": LEARNER_BUG},
    )
    failed = re.search(r"^FAILED (\S+)", run["output"], re.MULTILINE)
    message = re.search(r"^E\s+(?:AssertionError: )?(.+)$", run["output"], re.MULTILINE)
    if set(run["exit_codes"]) != {1} or failed is None:
        print(f"  pytest -x with {LEARNER_BUG} exited {run['exit_codes']}: {_tail(run['output'])}", file=sys.stderr)
    return {
        "bug": LEARNER_BUG,
        "s": run["s"],
        "exit_codes": run["exit_codes"],
        "failed_test": failed.group(1) if failed else None,
        "message": message.group(1).strip() if message else None,
    }


# What a process needs before PyTorch can replay a training step: torch and NumPy imported, and what a
# torch.optim optimizer's first step loads besides (torch._dynamo, about as long as `import torch` again).
IMPORT_FLOOR = "import numpy, torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1).step()"


def import_floor(repeats: int) -> dict[str, Any]:
    run = command([sys.executable, "-c", IMPORT_FLOOR], repeats, warm=True)
    bare = command([sys.executable, "-c", "import numpy, torch"], repeats, warm=True)
    return {"s": run["s"], "import_only_s": bare["s"], "command": IMPORT_FLOOR, "exit_codes": run["exit_codes"]}


# --- the whole bench --------------------------------------------------------------------------------


def goals(result: dict[str, Any]) -> dict[str, Any]:
    tutorial = {c.name for c in TUTORIAL_CASES}
    rows = [r for r in result["cases"] if r["name"] in tutorial and r["dtype"] == "float64"]
    out: dict[str, Any] = {}
    if rows:
        out["twin_overhead"] = max(r["twin"]["overhead"]["median"] for r in rows)
        out["scratch_overhead"] = max(r["scratch"]["overhead"]["median"] for r in rows)
    if result.get("gate"):
        out["gate_over_floor"] = result["gate"]["over_floor"]
    if result.get("sweep"):
        out["sweep_over_floor"] = result["sweep"]["over_floor"]
        out["sweep_s"] = result["sweep"]["s"]["median"]
    if result.get("learner_failure"):
        out["learner_failure_s"] = result["learner_failure"]["s"]["median"]
    return {k: {"value": v, "goal": GOALS[k], "met": v <= GOALS[k]} for k, v in out.items()}


def bench(
    cases: Sequence[Case], repeats: int = 3, step_repeats: int = 7, steps: int = STEPS, skip: Sequence[str] = ()
) -> dict[str, Any]:
    load_before = os.getloadavg()
    floor = import_floor(max(repeats, 5))
    rows = {}
    if "cases" not in skip:
        for case in cases:
            row = case_row(case, steps, step_repeats)
            rows[(row["name"], row["dtype"])] = row
    result: dict[str, Any] = {"import_floor": floor}
    result["gate"] = gate(rows, repeats, step_repeats, floor["s"]["median"], steps) if "gate" not in skip else None
    result["cases"] = list(rows.values())
    result["sweep"] = sweep(max(1, repeats - 1), step_repeats) if "sweep" not in skip else None
    result["learner_failure"] = learner_failure(repeats) if "learner" not in skip else None
    result["goals"] = goals(result)
    result["details"] = {
        "overhead": "recorded / bare, median of alternating runs (min and max beside it)",
        "steps_per_timed_run": steps,
        "step_repeats": step_repeats,
        "command_repeats": repeats,
        "gate_command": ["pytest", *GATE_ARGS],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    }
    return result


def table(result: dict[str, Any]) -> str:
    head = ("case", "dtype", "scratch bare µs", "recorded µs", "overhead", "twin bare µs", "recorded µs", "overhead")
    rows = [head]
    for r in result["cases"]:
        s, t = r["scratch"], r["twin"]
        rows.append(
            (
                r["name"],
                r["dtype"],
                f"{s['bare_us']:.1f}",
                f"{s['recorded_us']:.1f}",
                f"{s['overhead']['median']:.2f} [{s['overhead']['min']:.2f}-{s['overhead']['max']:.2f}]",
                f"{t['bare_us']:.1f}",
                f"{t['recorded_us']:.1f}",
                f"{t['overhead']['median']:.2f} [{t['overhead']['min']:.2f}-{t['overhead']['max']:.2f}]",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"import floor (numpy, torch and a first torch.optim step): {result['import_floor']['s']['median']:.2f} s"
    )
    g = result.get("gate")
    if g:
        b = g["battery"]
        lines.append(f"gate (pytest {' '.join(GATE_ARGS)}): {_over_floor(g)}")
        lines.append(f"  the battery alone ({' '.join(b['files'])}): {_over_floor(b)}")
    sw = result.get("sweep")
    if sw:
        lines.append(f"sweep ({sw['seeds']} seeds, full runs): {_over_floor(sw, 'batched twin step x steps')}")
    lf = result.get("learner_failure")
    if lf:
        lines.append(
            f"learner's wrong gradient ({lf['bug']}) to its failure under pytest -x: {lf['s']['median']:.1f} s"
        )
        lines.append(f"  {lf['failed_test']}: {lf['message']}")
    lines.append("")
    for name, g in result["goals"].items():
        lines.append(f"{'met    ' if g['met'] else 'MISSED '} {name}: {g['value']} (goal <= {g['goal']})")
    d = result["details"]
    lines.append(f"load average before / after: {d['load_average_before']} / {d['load_average_after']}")
    return "\n".join(lines)


def _over_floor(figures: dict[str, Any], floor: str | None = None) -> str:
    """One line of a command's times against its floor (by default the import and the full runs it replays)."""
    floor = floor or f"import + {len(figures['full_runs'])} full runs"
    t = figures["s"]
    return (
        f"{t['median']:.1f} s [{t['min']:.1f}-{t['max']:.1f}], CPU {figures['cpu_s']['median']:.1f} s; floor "
        f"{figures['floor_s']:.1f} s ({floor} bare) = {figures['over_floor']:.2f} x floor "
        f"({figures['cpu_over_floor']:.2f} x in CPU time)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (median; default 3)")
    parser.add_argument("--step-repeats", type=int, default=7, help="alternating timed runs per side (default 7)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per timed run (default {STEPS})")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["cases", "gate", "sweep", "learner", "scale"],
        help="parts to leave out",
    )
    scale.add_arguments(parser)
    parser.add_argument("--out", type=Path, default=REPORT, help=f"where to write the JSON (default {REPORT})")
    args = parser.parse_args(argv)
    for n in ("repeats", "step_repeats", "steps"):
        if getattr(args, n) < 1:
            parser.error(f"--{n.replace('_', '-')} must be at least 1")
    result = bench(list(registry().values()), args.repeats, args.step_repeats, args.steps, args.skip)
    result["plugin_cost"] = plugin_cost()  # the plugin in a project that registers no case: on vs -p no:crosscheck
    result["user_project_xdist"] = xdist_runs()  # each case's full run once per run, serially and on two workers
    result["collection"] = collection_cost()  # pytest --collect-only, per registered case
    result["scale"] = scale.from_arguments(args) if "scale" not in args.skip else None
    print(
        table(result)
        + "\n"
        + plugin_cost_line(result["plugin_cost"])
        + "\n"
        + user_project_line(result["user_project_xdist"])
        + "\n"
        + collection_line(result["collection"])
        + ("\n" + scale.lines(result["scale"]) if result["scale"] else "")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonfile.dumps({"title": "Benchmarks", "provenance": provenance(), **result}))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
