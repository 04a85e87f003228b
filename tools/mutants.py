"""``python -m tools.mutants`` (``nox -s mutants``): mutation testing of scratch/ with mutmut.

Two passes.  mutmut 3 mutates every function of scratch/ (operators, constants, arguments, removed
calls; settings in setup.cfg) and runs the test suite of scratch/ (the battery and the other fast,
deterministic tests that run scratch/, listed in setup.cfg) against each mutant.  Every mutant that
survives it is then run against the checks written to kill survivors, ``tests/test_kill_*.py``, one
pytest process per mutant, so the report can say which new check kills it.  What still survives must
be listed in ``EQUIVALENT`` with the reason it cannot change any result; an unexplained survivor
fails the run.

The result goes to ``reports/mutation.json``:
``{"killed": n, "survived": n, "score": x, "survivors": [...]}``, where the survivors are the test
suite's, each with its mutant id, file, line, diff and either ``killed_by`` (the new checks that fail
on it) or ``equivalent`` (why it cannot be killed).  The score is killed / total with equivalent
mutants counted as survived: the explanations do not flatter it.

The module is also the pytest plugin mutmut loads into its test runs (``-p tools.mutants``):
mutmut runs many mutants in one process (forked after a clean run), so the harness's per-process
trace cache must be emptied before every test, or one mutant's tests would read another's traces.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "mutation.json"
KILL_TESTS = "tests/test_kill_*.py"
TARGET_SCORE = 0.95

# mutmut's verdicts (mutmut.stats.status_by_exit_code): which of them the gate caught.  A timeout
# is a mutant that made the tests run 15 times longer than the clean run: the gate stops it.
CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}

# Survivors that no check can kill, keyed by (file, function, the mutated line as mutmut writes it):
# by content rather than by mutmut's numbered ids, which shift when a function is edited.
_ZIP_IN_DATA = (
    "zip() is reached only when arr.ndim == len(shape) (the `or` stops earlier otherwise), so both "
    "sequences have the same length and strict= can never fire"
)
_COPY = (
    "copy= only decides whether a new array is made when the dtype already matches; the values are "
    "the same, and no caller writes to the returned array or to its own after handing it over"
)
_ZIP_IN_TRAIN = "train() has already raised if all_y_trues and data differ in length, so strict= can never fire"
_AS_FLOAT = (
    "the other operand (weights, resp. input_vector) is still converted to float64, and NumPy promotes "
    "this one to float64 exactly (integer, bool and float32 values are exact in float64): every "
    "intermediate is bit-identical for every real numeric input"
)
_DIVIDE_BY_ONE = "dlayer1_dbias is the integer 1, and x / 1 == x * 1 exactly in IEEE arithmetic"
_SEED_003_DROPPED = (
    "Seed003NeuralNetwork.compute_gradients returns None and sets no attribute (the seed's defect that the "
    "findings report): this line changes only a local that it drops on return, so no caller can see it"
)
_SEED_003_SCALED = _SEED_003_DROPPED + (
    "; scaled by a finite factor or with a sign changed, that local could at most add or remove a "
    "floating-point overflow warning, where a product here already comes near the float64 maximum (about 1.8e308)"
)
_SEED_003_TIMES_ONE = _SEED_003_DROPPED + (
    "; weights * 1 and weights * 0 differ in warnings only at an infinite weight (inf * 0 warns of an invalid "
    "value) or where input + weights overflows past the float64 maximum"
)
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("scratch/_checks.py", "data", line): _ZIP_IN_DATA
    for line in (
        "if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=None)):",
        "if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, )):",
        "if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=False)):",
    )
}
EQUIVALENT |= {
    ("scratch/_checks.py", "data", line): _COPY
    for line in (
        "arr = arr.astype(dtype, copy=None)",
        "arr = arr.astype(dtype, )",
        "arr = arr.astype(dtype, copy=True)",
    )
}
EQUIVALENT |= {
    ("scratch/network_2_2_1.py", "TrainableNeuralNetwork.train", line): _ZIP_IN_TRAIN
    for line in (
        "for x, y_true in zip(data, all_y_trues, strict=None):",
        "for x, y_true in zip(data, all_y_trues, ):",
        "for x, y_true in zip(data, all_y_trues, strict=False):",
    )
}
EQUIVALENT |= {
    ("scratch/sigmoid_neuron.py", "worked_step", line): _AS_FLOAT
    for line in (
        "input_vector = np.asarray(input_vector, dtype=None)",
        "input_vector = np.asarray(input_vector, )",
        "weights = np.asarray(weights, dtype=None)",
        "weights = np.asarray(weights, )",
    )
}
EQUIVALENT |= {
    (
        "scratch/sigmoid_neuron.py",
        "worked_step",
        '"derror_dbias": derror_dprediction * dprediction_dlayer1 / dlayer1_dbias,',
    ): _DIVIDE_BY_ONE,
    (
        "scratch/sigmoid_neuron.py",
        "NeuralNetwork._compute_gradients",
        "derror_dbias = derror_dprediction * dprediction_dlayer1 / dlayer1_dbias",
    ): _DIVIDE_BY_ONE,
    ("scratch/mlp.py", "MLP.forward", "self.x = None"): (
        "self.x is stored but read nowhere (gradients() takes x as its argument)"
    ),
    ("scratch/mlp.py", "MLP.predict", "return np.argmax(self.forward(x), axis=+1)"): (
        "forward() refuses any x that is not 2-D, so its logits are 2-D and axis 1 is axis -1"
    ),
    (
        "scratch/network_3_4_1.py",
        "NeuralNetwork.__init__",
        "draw = rng.random_sample if (isinstance(rng, np.random.RandomState)) and False else rng.random",
    ): "np.random.RandomState.random is an alias of random_sample: the same draws from the same stream",
    (
        "scratch/quirks.py",
        "Seed001NeuralNetwork._compute_gradients",
        "derror_dbias = derror_dprediction * dprediction_dlayer1 / dlayer1_dbias",
    ): _DIVIDE_BY_ONE,
    ("scratch/quirks.py", "seed_001_printed_lines", "mse = np.square(prediction + target)"): (
        "the function takes no arguments and target is the constant 0 there, so prediction + 0 == prediction - 0 "
        "exactly (the prediction is a sigmoid, never -0.0)"
    ),
}
EQUIVALENT |= {
    ("scratch/quirks.py", "Seed003NeuralNetwork.compute_gradients", line): why
    for line, why in (
        ("d_error_wrt_prediction = 3 * (prediction - target)", _SEED_003_SCALED),
        ("d_error_wrt_prediction = 2 * (prediction + target)", _SEED_003_SCALED),
        ("d_layer1_wrt_bias = 2", _SEED_003_DROPPED),
        ("d_error_wrt_bias = None  # noqa: F841", _SEED_003_DROPPED),
        ("d_layer1_wrt_weights = (input * 1) - (self.weights * 0)", _SEED_003_DROPPED),
        ("d_layer1_wrt_weights = (input / 1) + (self.weights * 0)", _SEED_003_DROPPED),
        ("d_layer1_wrt_weights = (input * 2) + (self.weights * 0)", _SEED_003_SCALED),
        ("d_layer1_wrt_weights = (input * 1) + (self.weights * 1)", _SEED_003_TIMES_ONE),
        ("d_error_wrt_weights = None  # noqa: F841", _SEED_003_DROPPED),
    )
}


# --- the pytest plugin ----------------------------------------------------------------------------


def pytest_configure(config: Any) -> None:
    """Compute each twin trace once per process: the twins never run scratch/ code."""
    from crosscheck.run import memo

    if not hasattr(memo.twin_trace, "remembered"):
        memo.twin_trace = _remember_twins(memo.twin_trace)  # type: ignore[assignment]


def pytest_runtest_setup(item: Any) -> None:
    """Every test recomputes its scratch traces under the mutant in force."""
    from crosscheck.run.memo import RUNS

    RUNS.clear()


def _remember_twins(twin_trace: Callable[..., Any]) -> Callable[..., Any]:
    import numpy as np

    remembered: dict[tuple[Any, ...], Any] = {}

    def cached(case: Any, params: dict[str, Any], batches: Sequence[Any]) -> Any:
        # Keyed by everything the twin's run reads, so a mutant that changes the initial parameters
        # or the schedule (both drawn through scratch/_rng.py) gets its own twin run.
        key = (
            case.name,
            str(case.dtype),
            case.data.learning_rate,
            tuple(id(f) for f in (case.twin, case.twin.loss, case.calls.twin_evaluate, case.data.X, case.data.y)),
            tuple((k, np.asarray(v).tobytes()) for k, v in sorted(params.items())),
            repr([b.tolist() if isinstance(b, np.ndarray) else b for b in batches]),
        )
        if key not in remembered:
            remembered[key] = twin_trace(case, params, batches)
        return remembered[key]

    cached.remembered = remembered  # type: ignore[attr-defined]
    return cached


# --- reading mutmut's results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    id: str  # mutmut's name, e.g. scratch.sigmoid_neuron.xǁNeuralNetworkǁpredict__mutmut_2
    file: str
    status: str


def read_results(mutants_dir: Path) -> list[Mutant]:
    """Every mutant mutmut generated, with its verdict, from the ``.meta`` files it leaves."""
    from mutmut.stats import status_by_exit_code

    out = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        source = meta.relative_to(mutants_dir).as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out += [Mutant(name, source, status_by_exit_code[code]) for name, code in sorted(codes.items())]
    return out


def function_of(mutant_id: str) -> str:
    """``Class.method`` or ``function`` from a mutmut id."""
    name = mutant_id.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        cls, _, method = name[2:].partition("ǁ")
        return f"{cls}.{method}"
    return name.removeprefix("x_")


def diff_of(mutant_id: str, mutmut: str, env: dict[str, str]) -> str:
    shown = subprocess.run([mutmut, "show", mutant_id], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = shown.stdout.strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith("# "))


def mutated_line(diff: str) -> tuple[str, str]:
    """The first removed and the first added line of a diff, stripped."""
    removed = next(
        (line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")), ""
    )
    added = next(
        (line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")), ""
    )
    return removed, added


def line_of(file: str, function: str, removed: str) -> int | None:
    """The line of ``file`` that the mutant changes: ``removed`` searched within ``function``."""
    source = (ROOT / file).read_text()
    tree = ast.parse(source)
    cls, _, name = function.rpartition(".")
    scope = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls), []) if cls else tree.body
    lines = source.splitlines()
    for node in scope:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
            return next((n for n in span if lines[n - 1].strip() == removed), node.lineno)
    return None


def renumbered(diff: str, line: int | None) -> str:
    """mutmut numbers a mutant's one-hunk diff from the function's first line; number it from the file's."""
    lines = diff.splitlines()
    header = next((i for i, text in enumerate(lines) if text.startswith("@@")), None)
    match = re.match(r"@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", lines[header]) if header is not None else None
    if line is None or header is None or match is None:
        return diff
    context = 0
    for text in lines[header + 1 :]:
        if not text.startswith(" "):
            break
        context += 1
    shift = line - (int(match[1]) + context)
    lines[header] = f"@@ -{int(match[1]) + shift}{match[2] or ''} +{int(match[3]) + shift}{match[4] or ''} @@"
    return "\n".join(lines)


# --- running ------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # One thread per worker: mutmut forks after torch has run, and the machine's cores are the
    # workers'.  PYTHONHASHSEED keeps set and dict orders, and so the runs, reproducible.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def _mutmut() -> str:
    beside = Path(sys.executable).with_name("mutmut")
    found = str(beside) if beside.exists() else shutil.which("mutmut")
    if found is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[mutation]' (or run nox -s mutants)")
    return found


def selection() -> list[str]:
    """The test files mutmut runs against every mutant (setup.cfg, [mutmut] pytest_add_cli_args_test_selection)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config.get("mutmut", "pytest_add_cli_args_test_selection", fallback="").split()


def kill_tests() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(KILL_TESTS))


def killers(mutant_id: str, tests: list[str], env: dict[str, str]) -> list[str]:
    """The new checks that fail with ``mutant_id`` in force (run in mutmut's copy of the project)."""
    if not tests:
        return []
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--tb=no",
            "-rfE",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *tests,
        ],
        cwd=ROOT / "mutants",
        env=env | {"MUTANT_UNDER_TEST": mutant_id},
        capture_output=True,
        text=True,
    )
    failed = [
        line.split(" ", 1)[1].split(" - ", 1)[0]
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    if result.returncode not in (0, 1) or (result.returncode == 1 and not failed):
        raise RuntimeError(f"pytest could not run the kill tests for {mutant_id}:\n{result.stdout}\n{result.stderr}")
    return failed


def survivor(m: Mutant, tests: list[str], mutmut: str, env: dict[str, str]) -> dict[str, Any]:
    """One mutant the test suite left alive: where it is, its diff, and what kills or excuses it."""
    function = function_of(m.id)
    diff = diff_of(m.id, mutmut, env)
    removed, added = mutated_line(diff)
    line = line_of(m.file, function, removed)
    entry: dict[str, Any] = {
        "id": m.id,
        "status": m.status,
        "file": m.file,
        "function": function,
        "line": line,
        "diff": renumbered(diff, line),
    }
    killed_by = killers(m.id, tests, env)
    if killed_by:
        entry["killed_by"] = killed_by
    else:
        entry["equivalent"] = EQUIVALENT.get((m.file, function, added))
    return entry


def report(mutants: list[Mutant], mutmut: str, env: dict[str, str], workers: int) -> dict[str, Any]:
    tests = kill_tests()
    alive = [m for m in mutants if m.status not in CAUGHT]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        survivors = list(pool.map(lambda m: survivor(m, tests, mutmut, env), alive))
    for s in survivors:
        verdict = f"killed by {s['killed_by'][0]}" if "killed_by" in s else f"equivalent: {s['equivalent']}"
        print(f"  {s['id']}: {verdict}")

    by_suite = sum(m.status in CAUGHT for m in mutants)
    by_new = sum("killed_by" in s for s in survivors)
    killed = by_suite + by_new
    survived = len(mutants) - killed
    return {
        "tool": "mutmut " + _version(),
        "paths": "scratch/ (the clean networks and scratch/quirks.py, the seeds' verbatim code; see setup.cfg)",
        "killed": killed,
        "survived": survived,
        "score": round(killed / len(mutants), 4) if mutants else 0.0,
        "total": len(mutants),
        "test_command": "pytest " + " ".join(selection()),
        "new_checks": tests,
        "killed_by_test_suite": by_suite,
        "killed_by_new_checks": by_new,
        "equivalent": sum(bool(s.get("equivalent")) for s in survivors),
        "unexplained": sum("killed_by" not in s and not s.get("equivalent") for s in survivors),
        "survivors": survivors,
    }


def equivalent_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per mutant that no check can kill: mutant, where, the changed line, why it is equivalent."""
    rows = []
    for s in result["survivors"]:
        if "killed_by" in s:
            continue
        removed, added = mutated_line(s["diff"])
        why = s.get("equivalent") or "UNEXPLAINED"
        rows.append([s["id"].rsplit(".", 1)[1], f"{s['file']}:{s['line']}", f"{removed} -> {added}", why])
    return rows


def with_table(result: dict[str, Any]) -> dict[str, Any]:
    """The result plus ``summary``, ``columns`` and ``rows`` (the equivalent mutants), which the report
    renders as a compact table; every survivor, with its diff and the check that kills it, stays in
    ``survivors``."""
    summary = (
        f"mutmut over scratch/ ({result['tool']}): {result['score']:.1%} of {result['total']} mutants killed "
        f"({result['killed_by_test_suite']} by the battery and the other tests of scratch/, "
        f"{result['killed_by_new_checks']} by checks in tests/test_kill_*.py added to kill their survivors). "
        f"The {result['equivalent']} that survive are equivalent, for the reasons below."
    )
    columns = ["mutant", "where", "change", "why it is equivalent"]
    return {**result, "summary": summary, "columns": columns, "rows": equivalent_rows(result)}


def markdown(result: dict[str, Any]) -> str:
    """The mutation run as a section of the report: the score, then every survivor of the test suite."""
    lines = [
        f"mutmut over scratch/ ({result['tool']}): **{result['score']:.1%}** of {result['total']} mutants killed "
        f"({result['killed_by_test_suite']} by the battery and the other tests of scratch/, "
        f"{result['killed_by_new_checks']} by checks added to kill their survivors); "
        f"{result['survived']} survive, {result['equivalent']} of them shown equivalent.",
        "",
        "| mutant | where | change | killed by / why equivalent |",
        "|---|---|---|---|",
    ]
    for s in result["survivors"]:
        removed, added = mutated_line(s["diff"])
        why = ", ".join(f"`{t}`" for t in s["killed_by"]) if "killed_by" in s else (s["equivalent"] or "UNEXPLAINED")
        change = f"`{removed}` → `{added}`".replace("|", "\\|")
        lines.append(f"| {s['id'].rsplit('.', 1)[1]} | {s['file']}:{s['line']} | {change} | {why} |")
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="keep mutmut's earlier results in mutants/")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="parallel mutmut workers")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    env, mutmut = _env(), _mutmut()
    if not args.reuse:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    start = time.perf_counter()
    run = subprocess.run([mutmut, "run", "--max-children", str(args.max_children)], cwd=ROOT, env=env)
    if run.returncode != 0:
        print(f"mutmut run failed with exit status {run.returncode}", file=sys.stderr)
        return run.returncode
    mutants = read_results(ROOT / "mutants")
    print(f"mutmut: {len(mutants)} mutants, {sum(m.status in CAUGHT for m in mutants)} caught by the test suite")
    result = report(mutants, mutmut, env, args.max_children)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result = with_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from crosscheck import jsonfile
    from crosscheck.environment import provenance

    args.output.write_text(jsonfile.dumps({"title": "Mutation testing", "provenance": provenance(), **result}))
    print(
        f"mutation score {result['score']:.1%}: {result['killed']} killed "
        f"({result['killed_by_test_suite']} by the test suite, {result['killed_by_new_checks']} by new checks), "
        f"{result['survived']} survived ({result['equivalent']} equivalent, {result['unexplained']} unexplained); "
        f"{result['seconds']} s -> {args.output}"
    )
    if result["unexplained"]:
        print("every survivor must be killed by a new check or explained in EQUIVALENT", file=sys.stderr)
        return 1
    return 0 if result["score"] >= TARGET_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
