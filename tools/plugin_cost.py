"""What the crosscheck plugin costs a project that registers no case: a trivial two-test suite, run with the
plugin and with ``-p no:crosscheck``, alternately, in fresh interpreters.

``python -m tools.plugin_cost`` prints the figure; ``tools/bench.py`` adds it to ``reports/bench.json``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITE = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'a' < 'b'\n"


def _once(folder: Path, extra: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one pytest run of the suite in ``folder``."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(ROOT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", *extra], cwd=folder, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def plugin_cost(repeats: int = 7) -> dict[str, Any]:
    """Median wall and CPU seconds with the plugin on and off, their spread, and the ratio on / off."""
    runs: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="plugin-cost-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "test_trivial.py").write_text(SUITE)
        _once(folder, [])  # a first run warms the file cache and writes __pycache__
        for _ in range(repeats):  # alternating, so that a change in the machine's load falls on both sides
            runs["on"].append(_once(folder, []))
            runs["off"].append(_once(folder, ["-p", "no:crosscheck"]))
    out: dict[str, Any] = {}
    for side, pairs in runs.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        out[side] = {
            "s": {"median": statistics.median(walls), "min": min(walls), "max": max(walls)},
            "cpu_s": {"median": statistics.median(cpus), "min": min(cpus), "max": max(cpus)},
        }
    out["cpu_on_over_off"] = out["on"]["cpu_s"]["median"] / out["off"]["cpu_s"]["median"]
    return out


def line(figures: dict[str, Any]) -> str:
    on, off = figures["on"], figures["off"]
    return (
        f"plugin cost, trivial 2-test suite: on {on['s']['median']:.3f} s (CPU {on['cpu_s']['median']:.3f} s "
        f"[{on['cpu_s']['min']:.3f}-{on['cpu_s']['max']:.3f}]), -p no:crosscheck {off['s']['median']:.3f} s "
        f"(CPU {off['cpu_s']['median']:.3f} s [{off['cpu_s']['min']:.3f}-{off['cpu_s']['max']:.3f}]): "
        f"{figures['cpu_on_over_off']:.2f} x in CPU time"
    )


if __name__ == "__main__":
    print(line(plugin_cost()))
