"""What collecting a case costs: ``pytest --collect-only`` of a project that registers N copies of one case on a
dataset of 20,000 rows, against the same project with one copy, in fresh interpreters, alternately.

Each copy is registered (validated on the rows of its first batches) and parametrized into its battery at
collection; the cost per case is (CPU with N - CPU with 1) / (N - 1).  ``python -m tools.collection_cost`` prints
the figure; ``tools/bench.py`` adds it to ``reports/bench.json``.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.user_project import NETWORK

ROOT = Path(__file__).resolve().parent.parent
ROWS = 20_000
COPIES = 50

# The line network of tools/user_project.py on a larger dataset, registered ``COPIES`` times (read from the
# environment, so that one project serves both runs).
CASES = (
    NETWORK
    + f"""
import os
from dataclasses import replace

from crosscheck import shuffled_batches

rows = np.random.RandomState(0).normal(size=({ROWS}, 2))
big = replace(CASE.data, X=rows, y=rows @ np.array([[0.5], [-1.0]]) + 0.25, batches=shuffled_batches({ROWS}, 32, 1))
for i in range(int(os.environ["COPIES"])):
    register(replace(CASE, name=f"line_{{i}}", data=big, description="one of many copies"))
"""
)
TEST = """
from crosscheck import parametrize_with_checks, registry


@parametrize_with_checks(list(registry().values()))
def test_case(case, check):
    check(case)
"""


def make(folder: Path) -> Path:
    """The project in ``folder``: its case module, its pyproject and a test of every registered case."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        '[tool.crosscheck]\ncases = ["lines"]\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n'
    )
    (folder / "lines.py").write_text(CASES)
    (folder / "test_lines.py").write_text(TEST)
    return folder


def _collect(folder: Path, copies: int) -> tuple[float, int]:
    """(CPU seconds, tests collected) of one ``pytest --collect-only`` of the project with ``copies`` cases."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env |= {"PYTHONPATH": str(ROOT), "COPIES": str(copies)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"(\d+) tests? collected", done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"pytest --collect-only exited {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), int(found.group(1))


def collection_cost(copies: int = COPIES, repeats: int = 3) -> dict[str, Any]:
    """Median CPU seconds of collecting 1 and ``copies`` cases, and the cost per case (ms)."""
    cpu: dict[int, list[float]] = {1: [], copies: []}
    tests: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="collection-cost-") as tmp:
        folder = make(Path(tmp) / "p")
        _collect(folder, 1)  # warms the file cache and writes __pycache__
        for _ in range(repeats):  # alternating, so that a change in the machine's load falls on both
            for n in cpu:
                s, tests[n] = _collect(folder, n)
                cpu[n].append(s)
    one, many = statistics.median(cpu[1]), statistics.median(cpu[copies])
    return {
        "rows": ROWS,
        "copies": copies,
        "tests_collected": {str(n): tests[n] for n in cpu},
        "cpu_s": {str(n): round(statistics.median(v), 3) for n, v in cpu.items()},
        "per_case_ms": round((many - one) / (copies - 1) * 1e3, 1),
    }


def line(figures: dict[str, Any]) -> str:
    n = figures["copies"]
    return (
        f"collection, pytest --collect-only of 1 and {n} cases on {figures['rows']:,} rows: CPU "
        f"{figures['cpu_s']['1']:.2f} s and {figures['cpu_s'][str(n)]:.2f} s: {figures['per_case_ms']:.1f} ms per case"
    )


if __name__ == "__main__":
    print(line(collection_cost()))
