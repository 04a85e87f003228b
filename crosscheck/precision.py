"""Float32: the project's cases run in float32 on both sides, the float32 tolerance, and the drift.

A float32 variant is the same case with its data, initial parameters and twin in float32
(``case.twin.module(torch.float32)``); the scratch network computes in whatever dtype its parameters have.

**Tolerance rule**: ``crosscheck.tolerance``.

**Drift.**  ``drift(case)`` is the largest ``|float32 trace - float64 trace|`` per quantity over
the run, for each side: what running in float32 costs, not a check.
``python -m crosscheck.precision`` writes it, with the float32 battery's figures, to
``reports/float32.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import jsonfile
from crosscheck.case import Case, float32_case
from crosscheck.checks import battery, run_check, run_length, tolerance
from crosscheck.compare import differences
from crosscheck.environment import provenance
from crosscheck.errors import RegistrationError
from crosscheck.keys import STAGE_ORDER, split_key
from crosscheck.lockstep import CHUNK_BYTES, Run, chunks
from crosscheck.run.memo import RUNS
from crosscheck.run.start import start
from crosscheck.tolerance import EPS32, ULPS_PER_STEP

REPORT = Path("reports") / "float32.json"


def configured_cases() -> tuple[Case, ...]:
    """The float64 cases named in the project's ``[tool.crosscheck] float32`` (default: none)."""
    from crosscheck.registration import project, registry

    proj, cases = project(), registry()
    unknown = [name for name in proj.float32 if name not in cases]
    if unknown:
        raise RegistrationError(
            f"{proj.pyproject}: [tool.crosscheck] float32 names {unknown}, which are not registered; "
            f"registered: {sorted(cases)}"
        )
    return tuple(cases[name] for name in proj.float32)


def float32_cases(cases: Sequence[Case] | None = None) -> tuple[Case, ...]:
    """Float32 variants of ``cases`` (default: the project's ``[tool.crosscheck] float32``)."""
    return tuple(float32_case(c) for c in (configured_cases() if cases is None else cases))


def _largest(out: dict[str, float], key: str, a: Any, b: Any) -> None:
    if np.size(a) == 0:
        return
    quantity = split_key(key)[0]
    diff = float(np.max(differences(np.asarray(a), np.asarray(b), 0.0, 0.0)[0]))
    out[quantity] = max(out.get(quantity, 0.0), diff)


def _in_stage_order(out: dict[str, float]) -> dict[str, float]:
    return {q: out[q] for q in STAGE_ORDER if q in out}


def _scratch_vs_twin(run: Run) -> dict[str, float]:
    """Largest |scratch - twin| per quantity over the run: before training, every step, the curve."""
    out: dict[str, float] = {}
    scratch, twin = run.first
    for key in scratch:
        if split_key(key)[0] in ("init", "forward"):
            _largest(out, key, scratch[key], twin[key])
    for key, (largest, _) in run.maxima.items():
        quantity = split_key(key)[0]
        if largest.size:
            out[quantity] = max(out.get(quantity, 0.0), float(largest.max()))
    _largest(out, "curve", run.curves[0]["curve"], run.curves[1]["curve"])
    return _in_stage_order(out)


def drift(case: Case) -> dict[str, dict[str, float]]:
    """Largest |float32 - float64| per quantity over the whole run, for the scratch and twin sides: both runs
    stepped together, a chunk of the same steps at a time."""
    case32 = float32_case(case)
    params, batches = start(case)
    params32, _ = start(case32)
    per_step = 16 * sum(v.nbytes for v in params.values())  # both runs' parameters, gradients and state, roughly
    size = max(1, CHUNK_BYTES // max(1, per_step))
    out: dict[str, dict[str, float]] = {"scratch": {}, "twin": {}}
    for c64, c32 in zip(
        chunks(case, params, batches, anchored=False, size=size),
        chunks(case32, params32, batches, anchored=False, size=size),
        strict=True,
    ):
        for side, t64, t32 in (("scratch", c64.scratch, c32.scratch), ("twin", c64.twin, c32.twin)):
            for key in t32:
                _largest(out[side], key, t32[key], t64[key])
    return {side: _in_stage_order(found) for side, found in out.items()}


def network_report(case: Case) -> dict[str, Any]:
    """Float32 battery figures, the tolerance used and the drift, for one float64 case."""
    case32 = float32_case(case)
    atol, rtol = tolerance(case32)
    checks: dict[str, dict[str, Any]] = {}
    for name in battery(case32):  # as the command and the plugin run the variant: its whole battery
        result = run_check(case32, name)
        checks[name] = {"max_abs": result.max_abs, "max_rel": result.max_rel, "passed": result.passed}
        if not result.passed:
            checks[name]["message"] = result.message()
    return {
        "network": case32.name,
        "steps": run_length(case32),
        "atol": atol,
        "rtol": rtol,
        "checks": checks,
        "scratch_vs_twin": _scratch_vs_twin(RUNS.full(case32)),
        "drift_from_float64": drift(case),
    }


COLUMNS = [
    "network",
    "steps",
    "float32 tolerance (atol = rtol)",
    "float32 max |scratch - twin|",
    "float32 battery",
    "max drift from float64, scratch",
    "max drift from float64, twin",
    "quantity drifting most (scratch)",
]


def float32_report(cases: Sequence[Case] | None = None) -> dict[str, Any]:
    """Everything ``reports/float32.json`` holds for ``cases`` (default: the project's
    ``[tool.crosscheck] float32``): the rule, a table the report renders, the details."""
    networks = {c.name: network_report(c) for c in (configured_cases() if cases is None else cases)}
    rows = []
    for name, n in networks.items():
        scratch_drift, twin_drift = n["drift_from_float64"]["scratch"], n["drift_from_float64"]["twin"]
        passed = sum(r["passed"] for r in n["checks"].values())
        rows.append(
            [
                name,
                n["steps"],
                f"{n['atol']:.2e}",
                f"{max(n['scratch_vs_twin'].values()):.2e}",
                f"{passed}/{len(n['checks'])} passed",
                f"{max(scratch_drift.values()):.2e}",
                f"{max(twin_drift.values()):.2e}",
                max(scratch_drift, key=scratch_drift.__getitem__),
            ]
        )
    return {
        "title": "Float32 drift",
        "summary": (
            "Every network listed in [tool.crosscheck] float32 run in float32 on both sides (scratch NumPy and "
            "the torch.float32 twin), "
            f"through the whole battery, with atol = rtol = {ULPS_PER_STEP:g} * eps32 * sqrt(steps). "
            "Drift: the largest |float32 - float64| over the run, per side."
        ),
        "rule": "atol = rtol = ULPS_PER_STEP * eps32 * sqrt(steps)",
        "ulps_per_step": ULPS_PER_STEP,
        "eps32": EPS32,
        "columns": COLUMNS,
        "rows": rows,
        "networks": networks,
    }


def failed_checks(data: dict[str, Any]) -> list[str]:
    """``<network> / <check>`` for every float32 check that failed in ``float32_report()``'s data."""
    return [
        f"{n['network']} / {check}"
        for n in data["networks"].values()
        for check, r in n["checks"].items()
        if not r["passed"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crosscheck.precision", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORT, help=f"where to write the JSON (default {REPORT})")
    args = parser.parse_args(argv)
    try:
        data = float32_report()
    except RegistrationError as exc:  # the project's settings or a case module: one line, not a traceback
        print(f"python -m crosscheck.precision: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonfile.dumps({"provenance": provenance(), **data}))
    failed = failed_checks(data)
    for name, n in data["networks"].items():
        worst = max(max(side.values()) for side in n["drift_from_float64"].values())
        diff = max(n["scratch_vs_twin"].values())
        print(f"{name}: float32 scratch vs twin {diff:.2e} (tolerance {n['atol']:.2e}); drift from float64 {worst:.2e}")
    print(f"wrote {args.out}; {len(failed)} float32 check(s) failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
