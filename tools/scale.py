"""``python -m tools.scale`` (part of ``nox -s bench``): the battery's cost against its floor as the network and
the run grow.

A generated 784-h-10 MLP (tanh hidden layer, softmax cross-entropy, random data of a fixed seed, batches of
32), h chosen to reach about 1e4, 1e5 or 1e6 parameters, trained with SGD or Adam for N steps.  Each point of
the grid runs twice, each time in a fresh interpreter so that the peak RSS the operating system reports
(``os.wait4``'s ``ru_maxrss``) is that run's alone:

- **the floor**: the case's own calls for each step, nothing kept, then a plain PyTorch loop of the same
  steps (``tools.bench.scratch_bare`` and ``twin_bare``, the yardsticks of the per-case figures);
- **the battery**: every check of ``crosscheck.checks.battery(case)`` through ``run_check``.

Both processes import the same modules and build the same case, so the ratios battery / floor compare whole
processes; each child also reports the CPU time of its own work (after imports), beside.  One torch and BLAS
thread in every child.  A point whose battery would need more memory or time than allowed is skipped, with
the estimate that ruled it out, from the largest point already measured with that optimizer (memory grows with
the parameters, not the steps; CPU with both).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin
from crosscheck.case import Batch, Rng

ROOT = Path(__file__).resolve().parent.parent
N_IN, N_OUT, ROWS, BATCH = 784, 10, 256, 32
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATE = {"sgd": 0.05, "adam": 1e-3}
# The grid `nox -s bench` runs by default finishes in a few minutes on two cores; "full" is the issue's.
GRIDS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "small": ((10_000, 100_000), (100, 1_000)),
    "full": ((10_000, 100_000, 1_000_000), (100, 1_000, 5_000)),
}
# Before any point is measured: peak RSS about 0.3 GB + this many bytes a parameter, whatever the steps, on the
# safe side (measured with the lockstep run: 784-1276-10 with Adam x 100 steps, 1.14 GB; since this round's cost
# work, 784-1258-10 x 1,000 steps: 0.67 GB with SGD, 0.92 GB with Adam).
PRIOR_BYTES = {"sgd": 600.0, "adam": 900.0}
BASE_BYTES = 0.3e9
ONE_THREAD = {n: "1" for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def hidden_units(params: int) -> int:
    """h for a 784-h-10 MLP of about ``params`` parameters: 784h + h + 10h + 10."""
    return max(1, round((params - N_OUT) / (N_IN + 1 + N_OUT)))


def parameter_count(hidden: int) -> int:
    return N_IN * hidden + hidden + hidden * N_OUT + N_OUT


class ScaleMLP:
    """784-h-10, tanh, softmax cross-entropy; SGD or Adam in torch's arithmetic (``_single_tensor_adam``)."""

    def __init__(self, params: dict[str, np.ndarray], optimizer: str) -> None:
        self.p = {k: v.copy() for k, v in params.items()}
        self.optimizer = optimizer
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0
        self.betas, self.eps = (0.9, 0.999), 1e-8

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.h = x, np.tanh(x @ self.p["W1"] + self.p["b1"])
        return self.h @ self.p["W2"] + self.p["b2"]

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        out = self.forward(x)
        d_out = softmax(out)
        d_out[np.arange(len(y)), y] -= 1.0
        d_out /= len(y)  # the mean over the batch
        d_h = d_out @ self.p["W2"].T * (1 - self.h**2)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}

    def update(self, grads: dict[str, np.ndarray], lr: float) -> None:
        if self.optimizer == "sgd":
            for k, g in grads.items():
                self.p[k] -= lr * g
            return
        self.t += 1
        beta1, beta2 = self.betas
        step = lr / (1 - beta1**self.t)
        root_correction2 = (1 - beta2**self.t) ** 0.5
        for k, g in grads.items():
            self.m[k] += (1 - beta1) * (g - self.m[k])
            self.v[k] = beta2 * self.v[k] + (1 - beta2) * g * g
            self.p[k] -= step * self.m[k] / (np.sqrt(self.v[k]) / root_correction2 + self.eps)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    shifted = out - out.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


class ScaleTwin(nn.Module):
    def __init__(self, hidden: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_IN, hidden, dtype=dtype)
        self.out = nn.Linear(hidden, N_OUT, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def _key(path: str) -> str:
    """'p["W1"]' -> 'W1': the network's own key of a parameter path."""
    return path[3:-2]


_TWIN = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "out.weight", "b2": "out.bias"}


def mlp_case(params: int, steps: int, optimizer: str, seed: int = 0) -> Case:
    """A 784-h-10 MLP of about ``params`` parameters on random data, ``steps`` steps of ``optimizer``
    ("sgd" or "adam"); registered nowhere."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    hidden = hidden_units(params)
    data_rng = np.random.RandomState(1234)
    X = data_rng.normal(size=(ROWS, N_IN))
    y = data_rng.randint(0, N_OUT, size=ROWS)

    def init(rng: Rng) -> dict[str, np.ndarray]:
        return {
            'p["W1"]': rng.normal(0.0, 1.0 / np.sqrt(N_IN), size=(N_IN, hidden)),
            'p["b1"]': np.zeros(hidden),
            'p["W2"]': rng.normal(0.0, 1.0 / np.sqrt(hidden), size=(hidden, N_OUT)),
            'p["b2"]': np.zeros(N_OUT),
        }

    def batches(rng: Rng) -> list[Batch]:
        per_epoch = ROWS // BATCH
        return [slice((i % per_epoch) * BATCH, (i % per_epoch + 1) * BATCH) for i in range(steps)]

    def twin_optimizer(ps: Any, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(ps, lr=lr) if optimizer == "adam" else torch.optim.SGD(ps, lr=lr)

    names = tuple(_TWIN)
    state: dict[str, dict[str, str] | str] = {}
    options: dict[str, str] = {}
    if optimizer == "adam":
        state = {
            "exp_avg": {f'p["{k}"]': f'm["{k}"]' for k in names},
            "exp_avg_sq": {f'p["{k}"]': f'v["{k}"]' for k in names},
            "step": "t",
        }
        options = {"betas": "betas", "eps": "eps"}
    return Case(
        name=f"scale_{optimizer}_{parameter_count(hidden)}x{steps}",
        description=f"784-{hidden}-10 tanh MLP, cross-entropy, {optimizer}, {steps} steps of {BATCH} random rows",
        scratch=Scratch(
            params={f'p["{k}"]': Link(_TWIN[k], transpose=k.startswith("W")) for k in names},
            loss=cross_entropy,
            init=init,
            build=lambda p, lr: ScaleMLP({_key(k): v for k, v in p.items()}, optimizer),
            gradients=lambda net, x, y: {f'p["{k}"]': g for k, g in net.gradients(x, y).items()},
            update=lambda net, grads, lr: net.update({_key(k): g for k, g in grads.items()}, lr),
            state=state,
            options=options,
        ),
        twin=Twin(lambda dtype: ScaleTwin(hidden, dtype), loss=F.cross_entropy, optimizer=twin_optimizer),
        data=Data(X, y, batches=batches, learning_rate=LEARNING_RATE[optimizer], seed=seed),
    )


# --- one run, in the child ----------------------------------------------------------------------------


def run_floor(case: Case) -> dict[str, Any]:
    from crosscheck.run.start import start
    from tools.bench import scratch_bare, twin_bare  # tools.bench imports this module

    params, batches = start(case)
    scratch_bare(case, params, batches)
    twin_bare(case, params, batches)
    return {}


def run_battery(case: Case) -> dict[str, Any]:
    from crosscheck.checks import battery, run_check

    failed = {}
    checks = battery(case)
    for check in checks:
        result = run_check(case, check)
        if not result.passed:
            failed[check] = result.message()[:500]
    return {"checks": checks, "failed": failed}


def child(kind: str, params: int, steps: int, optimizer: str) -> dict[str, Any]:
    """One side of a grid point in this process: its figures, the CPU time of its work after the imports."""
    torch.set_num_threads(1)
    case = mlp_case(params, steps, optimizer)
    cpu = time.process_time()
    out = (run_floor if kind == "floor" else run_battery)(case)
    return {"work_cpu_s": round(time.process_time() - cpu, 3), **out}


# --- the grid, in the parent ---------------------------------------------------------------------------


def measure(kind: str, params: int, steps: int, optimizer: str) -> dict[str, Any]:
    """One run in a fresh interpreter: its CPU time (user + system) and peak RSS as the OS counts them."""
    cmd = [sys.executable, "-m", "tools.scale", "--child", kind, str(params), str(steps), optimizer]
    env = {
        **os.environ,
        **ONE_THREAD,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN's ru_maxrss is the largest over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    row: dict[str, Any] = {
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "exit_code": proc.returncode,
    }
    last = text.strip().splitlines()[-1] if text.strip() else ""
    if proc.returncode == 0 and last.startswith("{"):
        row.update(json.loads(last))
    else:
        row["output_tail"] = text[-2000:]
    return row


def estimate(rows: Sequence[dict[str, Any]], params: int, steps: int, optimizer: str) -> tuple[float, float]:
    """The battery's peak RSS (bytes) and CPU seconds at a point, scaled from the largest point measured with
    the same optimizer: memory by parameters (the lockstep run keeps what does not grow with the steps), CPU by
    parameters x steps; before any point, from ``PRIOR_BYTES`` per parameter."""
    done = [r for r in rows if r["optimizer"] == optimizer and "battery" in r and r["battery"]["exit_code"] == 0]
    if not done:
        return BASE_BYTES + PRIOR_BYTES[optimizer] * params, 0.0
    top = max(done, key=lambda r: (r["params"], r["steps"]))
    per_param = max(0.0, top["battery"]["peak_rss_mb"] * 2**20 - BASE_BYTES) / top["params"]
    return BASE_BYTES + per_param * params, top["battery"]["cpu_s"] * params * steps / (top["params"] * top["steps"])


def grid(
    params: Sequence[int], steps: Sequence[int], optimizers: Sequence[str], max_gb: float, max_s: float
) -> dict[str, Any]:
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for optimizer in optimizers:
        for n_params in sorted(params):
            for n_steps in sorted(steps):
                hidden = hidden_units(n_params)
                row: dict[str, Any] = {
                    "params": parameter_count(hidden),
                    "network": f"784-{hidden}-10",
                    "steps": n_steps,
                    "optimizer": optimizer,
                }
                rss, cpu = estimate(rows, row["params"], n_steps, optimizer)
                if rss > max_gb * 1e9:
                    row["skipped"] = f"skipped: estimated {rss / 1e9:.1f} GB (limit {max_gb:g} GB)"
                elif cpu > max_s:
                    row["skipped"] = f"skipped: estimated {cpu:.0f} s of CPU (limit {max_s:g} s)"
                if "skipped" in row:
                    print(f"  {row['network']} {optimizer} x {n_steps}: {row['skipped']}", file=sys.stderr)
                    rows.append(row)
                    continue
                row["floor"] = measure("floor", n_params, n_steps, optimizer)
                row["battery"] = measure("battery", n_params, n_steps, optimizer)
                f, b = row["floor"], row["battery"]
                row["cpu_over_floor"] = round(b["cpu_s"] / f["cpu_s"], 2)
                row["rss_over_floor"] = round(b["peak_rss_mb"] / f["peak_rss_mb"], 2)
                if "work_cpu_s" in f and "work_cpu_s" in b and f["work_cpu_s"] > 0:
                    row["work_cpu_over_floor"] = round(b["work_cpu_s"] / f["work_cpu_s"], 2)
                print("  " + point_line(row), file=sys.stderr)
                rows.append(row)
    return {
        "points": rows,
        "limits": {"max_gb": max_gb, "max_cpu_s": max_s},
        "details": {
            "case": "784-h-10 tanh MLP, softmax cross-entropy, batches of 32 of 256 random rows, float64",
            "floor": "tools.bench.scratch_bare then twin_bare, one fresh process",
            "battery": "every check of crosscheck.checks.battery(case) via run_check, one fresh process",
            "cpu_s": "the child's user + system time (os.wait4), imports included; work_cpu_s: after imports",
            "peak_rss_mb": "the child's ru_maxrss (os.wait4)",
            "threads": "one torch, OpenMP and BLAS thread",
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }


def point_line(row: dict[str, Any]) -> str:
    head = f"{row['network']} ({row['params']:,} parameters) {row['optimizer']} x {row['steps']:,} steps"
    if "skipped" in row:
        return f"{head}: {row['skipped']}"
    f, b = row["floor"], row["battery"]
    failed = b.get("failed") or {}
    verdict = "" if b["exit_code"] == 0 and not failed else f"  [battery: exit {b['exit_code']}, failed {list(failed)}]"
    return (
        f"{head}: CPU {b['cpu_s']:.1f} s / floor {f['cpu_s']:.1f} s = {row['cpu_over_floor']:.2f} x "
        f"(after imports {row.get('work_cpu_over_floor', float('nan')):.2f} x); peak RSS {b['peak_rss_mb']:.0f} MB / "
        f"{f['peak_rss_mb']:.0f} MB = {row['rss_over_floor']:.2f} x{verdict}"
    )


def lines(result: dict[str, Any]) -> str:
    load = f"{result['details']['load_average_before']} / {result['details']['load_average_after']}"
    head = f"scale grid, {result['grid']} (battery / floor, a fresh process each; load average {load}):"
    return "\n".join([head, *("  " + point_line(r) for r in result["points"])])


RESERVE_GB = 4.0  # left to the machine's other users (another engineer's test run takes 1-2 GB)


def default_max_gb() -> float:
    """The memory available now (MemAvailable, page cache included) less a reserve: a run past it would be
    killed, not measured, and the machine is shared."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return 8.0
    kb = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
    return round(max(1.0, kb * 1024 / 1e9 - RESERVE_GB), 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid",
        choices=sorted(GRIDS),
        default=os.environ.get("CROSSCHECK_BENCH_GRID", "small"),
        help="the scale grid: small (1e4, 1e5 parameters x 100, 1,000 steps) or full (1e4-1e6 x 100-5,000); "
        "default $CROSSCHECK_BENCH_GRID or small",
    )
    parser.add_argument(
        "--max-gb",
        type=float,
        default=None,
        help=f"skip points estimated above (default: available memory less {RESERVE_GB:g} GB)",
    )
    parser.add_argument("--max-cpu-s", type=float, default=600.0, help="skip points estimated above (default 600)")


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    if args.grid not in GRIDS:  # argparse checks a given --grid, not a default from the environment
        raise SystemExit(f"CROSSCHECK_BENCH_GRID must be one of {sorted(GRIDS)}, got {args.grid!r}")
    params, steps = GRIDS[args.grid]
    max_gb = args.max_gb if args.max_gb is not None else default_max_gb()
    return {"grid": args.grid, **grid(params, steps, OPTIMIZERS, max_gb, args.max_cpu_s)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind, params, steps, optimizer = argv[1], int(argv[2]), int(argv[3]), argv[4]
        print(json.dumps(child(kind, params, steps, optimizer)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m tools.scale", description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = from_arguments(args)
    print(lines(result))
    if args.out is not None:
        from crosscheck import jsonfile

        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(jsonfile.dumps({"title": "Scale grid", **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
