"""A user's project as the tests and the bench make one: a one-layer network (``line``), its case and test,
and under pytest-xdist a count of the full runs each worker computes.

``python -m tools.user_project`` times the project's two cases serially and on two xdist workers
(``--dist loadgroup``) and counts the full runs per case; ``tools/bench.py`` adds it to ``reports/bench.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

NETWORK = """
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, parametrize_with_checks, register


class Line:
    def __init__(self, rng):
        self.w, self.b = rng.normal(size=(2, 1)), np.zeros(1)

    def forward(self, x):
        return x @ self.w + self.b

    def gradients(self, x, y):
        d = 2 * (self.forward(x) - y) / y.size
        return {"w": x.T @ d, "b": d.sum(0)}

    def update(self, grads, lr):
        self.w, self.b = self.w - lr * grads["w"], self.b - lr * grads["b"]


class LineTwin(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.lin = nn.Linear(2, 1, dtype=dtype)

    def forward(self, x):
        return self.lin(x)


def mse(out, y):
    return np.mean((out - y) ** 2)


X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.0]])
Y = X @ np.array([[0.5], [-1.0]]) + 0.25

CASE = Case(
    name="line",
    scratch=Scratch(
        network=Line,
        params={"w": Link("lin.weight", transpose=True), "b": Link("lin.bias")},
        loss=mse,
        gradients="gradients",
        update="update",
    ),
    twin=Twin(LineTwin, loss=F.mse_loss),
    data=Data(X, Y, batches=lambda rng: [slice(None)] * 8, learning_rate=0.1, curve_steps=[0, 4, 7]),
)
"""

XDIST_CONFTEST = """
import os


def pytest_configure(config):
    # Where tests run: an xdist worker, or a run without workers (the controller of one runs none).
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        from crosscheck.run.memo import RUNS

        def log(case):
            with open(os.environ["FULL_RUNS_LOG"], "a") as f:
                f.write(case.name + "\\n")

        RUNS.on_full_run.append(log)
"""
TWO_CASES = """
from dataclasses import replace

from crosscheck import parametrize_with_checks
from line import CASE


@parametrize_with_checks([CASE, replace(CASE, name="line_b")])
def test_line(case, check):
    check(case)
"""


def make(folder: Path) -> Path:
    """The project in ``folder``: line.py, a conftest that logs full runs, and a test of two cases."""
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (folder / "line.py").write_text(NETWORK)
    (folder / "conftest.py").write_text(XDIST_CONFTEST)
    (folder / "tests" / "test_line.py").write_text(TWO_CASES)
    return folder


def xdist_runs() -> dict[str, Any]:
    """Wall seconds and full runs per case of the project's suite, serially and with ``-n 2 --dist loadgroup``
    (goldens written by a first run, so both timed runs compare)."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="user-project-") as tmp:
        project = make(Path(tmp) / "p")
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
        env["PYTHONPATH"] = str(ROOT)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        subprocess.run(base, cwd=project, env=env, capture_output=True)  # writes the goldens
        for name, extra in (("serial", ["-p", "no:xdist"]), ("n2_loadgroup", ["-n", "2", "--dist", "loadgroup"])):
            log = Path(tmp) / f"{name}.log"
            env["FULL_RUNS_LOG"] = str(log)
            start = time.perf_counter()
            done = subprocess.run([*base, *extra], cwd=project, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            counts = Counter(log.read_text().split()) if log.is_file() else Counter()
            out[name] = {"s": round(wall, 2), "exit": done.returncode, "full_runs": dict(sorted(counts.items()))}
    return out


def line(figures: dict[str, Any]) -> str:
    parts = [f"{name} {f['s']:.1f} s, full runs {f['full_runs']}" for name, f in figures.items()]
    return "user project, two cases: " + "; ".join(parts)


if __name__ == "__main__":
    print(line(xdist_runs()))
