"""``python -m tools.bench``: timings, as medians of repeated runs, into ``reports/bench.json``.

- per registered network, the time of one training step on each side: the scratch network's
  ``gradients`` then ``update`` (each computes the forward pass it needs), and the twin's
  ``zero_grad``, forward, loss, ``backward`` and ``torch.optim.SGD.step``, as ``trace.twin_trace``
  runs them, without the recording;
- the test suite's wall time (the pytest run of ``nox -s tests`` in the current environment) against
  the floor ``python -c "import torch, numpy"``; the report's (``python -m crosscheck.report``, written
  to a scratch folder);
  the seed sweep's (``python -m tutorials.sweep``, 256 seeds over the full runs).

Timings are never asserted in tests: they depend on the machine and on what else runs on it, so the
report records the load average before and after.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
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
from crosscheck.case import Batch, Case, Params, load_into_twin, twin_data
from crosscheck.environment import provenance
from crosscheck.registration import registry
from crosscheck.trace import start

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "bench.json"
STEPS = 200  # training steps per timed run (cycling through the schedule when it is shorter)
TARGET_GATE_RATIO = 3.0  # the test suite within 3x the import floor
TARGET_SWEEP_S = 60.0


def _median_time(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one untimed call that warms caches."""
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _schedule(case: Case, steps: int) -> tuple[Params, list[Batch]]:
    params, batches = start(case)
    return params, [batches[i % len(batches)] for i in range(steps)]


def scratch_step_s(case: Case, steps: int = STEPS, repeats: int = 7) -> float:
    """Seconds per scratch training step: ``gradients`` then ``update`` on each batch."""
    params, batches = _schedule(case, steps)
    X, y = case.X, case.y

    def run() -> None:
        net = case.build({k: v.copy() for k, v in params.items()}, case.learning_rate)
        assert case.gradients is not None and case.update is not None  # the tutorials' form
        for b in batches:
            xb, yb = X[b], y[b]
            case.update(net, case.gradients(net, xb, yb), case.learning_rate)

    return _median_time(run, repeats) / steps


def twin_step_s(case: Case, steps: int = STEPS, repeats: int = 7) -> float:
    """Seconds per twin training step: zero_grad, forward, loss, backward, SGD step."""
    params, batches = _schedule(case, steps)
    X, y = twin_data(case)
    index = [torch.as_tensor(b) if isinstance(b, np.ndarray) else b for b in batches]

    def run() -> None:
        module = case.twin.module(case.torch_dtype)
        load_into_twin(module, case, params)
        optimizer = torch.optim.SGD(module.parameters(), lr=case.learning_rate)
        for b in index:
            optimizer.zero_grad()
            loss = case.twin_loss(module(X[b]), y[b])
            loss.backward()
            optimizer.step()

    return _median_time(run, repeats) / steps


def network_rows(cases: Sequence[Case], steps: int = STEPS, repeats: int = 7) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        scratch, twin = scratch_step_s(case, steps, repeats), twin_step_s(case, steps, repeats)
        rows.append(
            {
                "name": case.name,
                "scratch_step_us": round(scratch * 1e6, 2),
                "twin_step_us": round(twin * 1e6, 2),
                "ratio": round(scratch / twin, 4),
            }
        )
    return rows


def command_s(argv: Sequence[str], repeats: int, warm: bool = False) -> dict[str, Any]:
    """Median wall time of a command run from the repository root, and whether every run passed."""
    times, codes = [], []
    for i in range(repeats + (1 if warm else 0)):
        t0 = time.perf_counter()
        done = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        codes.append(done.returncode)
        if warm and i == 0:
            continue
        times.append(elapsed)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            print(f"  {' '.join(argv[1:])} exited {done.returncode}: " + " | ".join(tail), file=sys.stderr)
    return {"s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times], "exit_codes": codes}


def bench(
    cases: Sequence[Case], repeats: int = 3, step_repeats: int = 7, steps: int = STEPS, skip: Sequence[str] = ()
) -> dict[str, Any]:
    py = sys.executable
    load_before = os.getloadavg()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        floor = command_s([py, "-c", "import torch, numpy"], max(repeats, 5), warm=True)
        result["import_floor_s"] = floor["s"]
        gate = None
        if "gate" not in skip:
            # The tests session's pytest command; its JUnit file goes to a scratch folder.
            argv = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={tmp}/junit.xml"]
            gate = command_s(argv, repeats)
        result["gate_s"] = gate["s"] if gate else None
        report = None
        if "report" not in skip and importlib.util.find_spec("crosscheck.report") is not None:
            # Into a scratch folder: timing the report must not rewrite the committed one.
            report = command_s([py, "-m", "crosscheck.report", "--out", f"{tmp}/report"], repeats)
        result["report_s"] = report["s"] if report else None
        sweep = None
        if "sweep" not in skip:
            sweep = command_s([py, "-m", "tutorials.sweep", "--out", f"{tmp}/sweep.json"], repeats)
        result["sweep_s"] = sweep["s"] if sweep else None
        result["networks"] = network_rows(cases, steps, step_repeats) if "networks" not in skip else []
    gate_ratio = result["gate_s"] / result["import_floor_s"] if result["gate_s"] else None
    digits = next((n for n in result["networks"] if n["name"] == "digits_mlp"), None)
    result["targets"] = {
        "gate_over_floor": round(gate_ratio, 2) if gate_ratio else None,
        "gate_within_3x_floor": gate_ratio <= TARGET_GATE_RATIO if gate_ratio else None,
        "sweep_under_60_s": result["sweep_s"] < TARGET_SWEEP_S if result["sweep_s"] else None,
        "digits_scratch_no_slower": digits["ratio"] <= 1.0 if digits else None,
    }
    result["details"] = {
        "ratio": "scratch_step_us / twin_step_us (below 1: the scratch step is faster)",
        "steps_per_timed_run": steps,
        "step_repeats": step_repeats,
        "command_repeats": repeats,
        "import_floor": floor,
        "gate": gate,
        "report": report if report else "crosscheck.report not found or skipped",
        "sweep": sweep,
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


def _fmt(x: float | None, unit: str = "s") -> str:
    return "n/a" if x is None else f"{x:.2f} {unit}"


def table(result: dict[str, Any]) -> str:
    rows = [("network", "scratch µs/step", "twin µs/step", "scratch / twin")]
    rows += [
        (n["name"], f"{n['scratch_step_us']:.1f}", f"{n['twin_step_us']:.1f}", f"{n['ratio']:.3f}")
        for n in result["networks"]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = result["targets"]
    lines += [
        "",
        f"import floor (python -c 'import torch, numpy')  {_fmt(result['import_floor_s'])}",
        f"test suite (pytest)                            {_fmt(result['gate_s'])}"
        + (f"  = {t['gate_over_floor']:.2f} x floor (target <= {TARGET_GATE_RATIO:g})" if t["gate_over_floor"] else ""),
        f"report (python -m crosscheck.report)           {_fmt(result['report_s'])}",
        f"seed sweep (python -m tutorials.sweep)        {_fmt(result['sweep_s'])}  (target < {TARGET_SWEEP_S:g} s)",
        f"load average before / after: {result['details']['load_average_before']} / "
        f"{result['details']['load_average_after']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (median; default 3)")
    parser.add_argument("--step-repeats", type=int, default=7, help="timed runs per network side (default 7)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per timed run (default {STEPS})")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["gate", "report", "sweep", "networks"], help="parts to leave out"
    )
    parser.add_argument("--cases", nargs="*", default=[], help="extra modules to import that register cases")
    parser.add_argument("--out", type=Path, default=REPORT, help=f"where to write the JSON (default {REPORT})")
    args = parser.parse_args(argv)
    for n in ("repeats", "step_repeats", "steps"):
        if getattr(args, n) < 1:
            parser.error(f"--{n.replace('_', '-')} must be at least 1")
    for module in args.cases:
        importlib.import_module(module)
    cases = list(registry().values())
    result = bench(cases, args.repeats, args.step_repeats, args.steps, args.skip)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonfile.dumps({"provenance": provenance(), **result}))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
