"""``python -m crosscheck.report``: the comparison reports in ``reports/``.

- ``summary.md``: the verdicts, first divergences and the findings sections the project registered.
- ``results.json``: every check of every registered network with its exact figures, the findings
  with their numbers, and the environment.
- ``float32.json``: the float32 battery and the drift from float64 (``crosscheck.precision``).
- ``index.html``: one self-contained page with the plots embedded as base64 PNG.
- ``plots/<network>-{checks,curves,differences}.png``.

Every file states the commit it was made from and when (``environment.provenance``).  None is
committed: the figures carry the last bits of this machine's vector unit and BLAS.  All files are
written whether the checks pass or fail; the command then exits 1 when any check failed.

Everything comes from ``trace.traces`` and ``checks.run_check``; the report adds only the
per-step view of the same differences (for the plots and for placing a divergence in the chain).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import jsonfile
from crosscheck.case import Case
from crosscheck.checks import CHECKS, ORACLES, battery, run_check, tolerance
from crosscheck.compare import Comparison, Divergence
from crosscheck.errors import RegistrationError
from crosscheck.findings import Finding, Section
from crosscheck.findings import sections as findings_sections
from crosscheck.keys import QUANTITIES, STAGE_ORDER, STEPPED, Trace, describe
from crosscheck.registration import registry
from crosscheck.run.memo import traces

REPORT_DIR = Path("reports")

# The chain of one training step, in the order a fault travels through it.
CHAIN = {
    "output": "forward output",
    "loss": "loss",
    "dloss": "dL/doutput",
    "grad": "parameter gradient",
    "lr": "learning rate",
    "state": "optimizer state",
    "param": "update (parameters after the step)",
    "buffer": "buffers (running statistics)",
}
CHECK_TEXT = {
    "initial_parameters": "the parameters both sides start from, bit for bit",
    "forward": "output on the whole dataset at the initial parameters",
    "loss": "the first step's output and loss",
    "gradients": "every parameter's gradient at the first step",
    "one_step": "the first optimizer step: learning rate, optimizer state, parameters after it, buffers",
    "training_run": "every step of the whole run: output, loss, dL/doutput, gradients, learning rate, optimizer "
    "state, parameters, buffers, recorded curve",
    "finite_differences": "gradients at the first, middle and last step against central finite differences of "
    "the scratch loss (float64)",
}
# Sections other sessions write (this repository's float32, sweep, mutation and bench runs); the report
# shows one only when its JSON file is in the folder, so a project without them sees nothing of them.
EXTRAS = (
    ("float32", "Float32 drift", "float32.json"),
    ("sweep", "Random initialisations (sweep)", "sweep.json"),
    ("mutation", "Mutation testing", "mutation.json"),
    ("bench", "Benchmarks", "bench.json"),
)


@dataclass(frozen=True)
class NetworkReport:
    """One network's comparisons and the traces they were computed from."""

    name: str
    seed_file: str | None
    description: str
    comparisons: tuple[Comparison, ...]
    scratch: Trace
    twin: Trace
    curve_steps: tuple[int, ...]
    atol: float
    rtol: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def collect(case: Case) -> NetworkReport:
    """Run the battery on ``case`` from its cached traces."""
    pair = traces(case)
    atol, rtol = tolerance(case)
    return NetworkReport(
        name=case.name,
        seed_file=case.seed_file,
        description=case.description,
        comparisons=tuple(run_check(case, check, pair) for check in battery(case)),
        scratch=pair[0],
        twin=pair[1],
        curve_steps=tuple(int(s) for s in case.curve_steps),
        atol=atol,
        rtol=rtol,
    )


def collect_all(cases: Iterable[Case] | None = None) -> list[NetworkReport]:
    return [collect(case) for case in (registry().values() if cases is None else cases)]


# --- the per-step view of the differences --------------------------------------------------------


def _stage_keys(trace: Trace, stage: str) -> list[str]:
    return [k for k in trace if k.split(".")[0] == stage]


def per_step(net: NetworkReport) -> dict[str, dict[str, np.ndarray]]:
    """For each stage of the chain: the largest |scratch - twin| at each step (``abs``) and the
    largest |scratch - twin| / (atol + rtol |twin|) (``ratio``, > 1 where the check fails), with
    the same arithmetic as ``compare``: float64 differences, NaN and Inf never within tolerance."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for stage in CHAIN:
        keys = _stage_keys(net.scratch, stage)
        if not keys:
            continue
        abs_rows, ratio_rows = [], []
        for key in keys:
            a = np.asarray(net.scratch[key], dtype=np.float64)
            b = np.asarray(net.twin[key], dtype=np.float64)
            if a.shape != b.shape:
                continue  # the checks report the mismatch; there is nothing to draw
            a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
            finite = np.isfinite(a) & np.isfinite(b)
            diff = np.where(finite, np.abs(a - b), np.inf)
            tol = net.atol + net.rtol * np.abs(b)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(diff == 0, 0.0, diff / tol)
            abs_rows.append(diff.max(axis=1) if diff.shape[1] else np.zeros(len(diff)))
            ratio_rows.append(ratio.max(axis=1) if ratio.shape[1] else np.zeros(len(ratio)))
        if abs_rows:
            out[stage] = {"abs": np.max(abs_rows, axis=0), "ratio": np.max(ratio_rows, axis=0)}
    return out


def first_divergence(net: NetworkReport) -> tuple[Comparison, Divergence] | None:
    """The earliest divergence over the network's checks: by step (before training first), then chain."""
    found = [(c, c.first_divergence) for c in net.comparisons if c.first_divergence is not None]
    if not found:
        return None
    return min(found, key=lambda f: (-1 if f[1].step is None else f[1].step, STAGE_ORDER.index(f[1].quantity)))


def localise(net: NetworkReport, steps: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, Any] | None:
    """Where in the chain of the first divergent step the difference first grows.

    The chain starts from the parameters entering the step, then forward output, loss,
    dL/doutput, parameter gradient and update; each link gets its largest difference in units of
    its tolerance.  The stage named is the first whose difference exceeds its tolerance and the
    link before it, as CRADLE localises an inconsistency to the layer where it first grows.
    """
    found = first_divergence(net)
    if found is None:
        return None
    check, d = found
    if d.step is None:
        return {"check": check.check, "step": None, "stage": QUANTITIES[d.quantity], "chain": []}
    steps = per_step(net) if steps is None else steps
    s = d.step
    entering: list[float] = [0.0, 0.0]
    if s == 0:
        pairs = [(net.scratch[k], net.twin[k]) for k in _stage_keys(net.scratch, "init")]
    else:
        pairs = [(net.scratch[k][s - 1], net.twin[k][s - 1]) for k in _stage_keys(net.scratch, "param")]
    for a, b in pairs:
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a64.shape != b64.shape or not a64.size:
            continue
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isfinite(a64) & np.isfinite(b64), np.abs(a64 - b64), np.inf)
        entering = [
            max(entering[0], float(diff.max())),
            max(entering[1], float((diff / (net.atol + net.rtol * np.abs(b64))).max())),
        ]
    chain: list[dict[str, Any]] = [
        {"stage": "parameters entering the step", "max_abs": entering[0], "over_tolerance": entering[1]}
    ]
    for stage, label in CHAIN.items():
        if stage in steps and s < len(steps[stage]["abs"]):
            chain.append(
                {
                    "stage": label,
                    "max_abs": float(steps[stage]["abs"][s]),
                    "over_tolerance": float(steps[stage]["ratio"][s]),
                }
            )
    grows = next(
        (
            link["stage"]
            for before, link in zip(chain, chain[1:], strict=False)
            if link["over_tolerance"] > 1 and link["over_tolerance"] > before["over_tolerance"]
        ),
        QUANTITIES[d.quantity],  # e.g. only the recorded curve parts: no link of the step exceeds its tolerance
    )
    return {"check": check.check, "step": s, "stage": grows, "chain": chain}


# --- results.json -------------------------------------------------------------------------------


def check_record(c: Comparison) -> dict[str, Any]:
    d = c.first_divergence
    return {
        "check": c.check,
        "quantity": c.quantity,
        "steps": c.steps,
        "max_abs": c.max_abs,
        "max_rel": c.max_rel,
        "atol": c.atol,
        "rtol": c.rtol,
        "passed": c.passed,
        "problem": c.problem,
        "first_divergence": None
        if d is None
        else {
            "step": d.step,
            "quantity": d.quantity,
            "parameter": d.parameter,
            "index": list(d.index),
            "scratch": d.scratch,
            "reference": d.reference,
            "difference": d.difference,
            "tolerance": d.tolerance,
        },
    }


def results(
    networks: Sequence[NetworkReport], sections: Sequence[Section], env: Mapping[str, Any], made: Mapping[str, str]
) -> dict[str, Any]:
    return jsonfile.strict(
        {
            "provenance": dict(made),
            "environment": dict(env),
            "networks": [
                {
                    "name": net.name,
                    "seed_file": net.seed_file,
                    "description": net.description,
                    "passed": net.passed,
                    "checks": [check_record(c) for c in net.comparisons],
                    "divergence_stage": localise(net),
                }
                for net in networks
            ],
            "findings": [{"section": s.title, "findings": [f.as_dict() for f in s.findings]} for s in sections],
        }
    )


def results_text(
    networks: Sequence[NetworkReport], sections: Sequence[Section], env: Mapping[str, Any], made: Mapping[str, str]
) -> str:
    return jsonfile.dumps(results(networks, sections, env, made))


def below(x: Any) -> str:
    """A difference at the level of rounding, as the power of ten above it: the exact figure
    varies with the BLAS and the vector unit, the decade does not (it is in the JSON)."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    # A hair below the log so that 1.0000000000000002e-06 is "≤ 1e-06", not "≤ 1e-05".
    return f"≤ 1e{int(np.ceil(np.log10(x) - 1e-9)):+03d}"


# --- summary.md ----------------------------------------------------------------------------------


def md(text: Any) -> str:
    """Markdown text: any HTML in it shown as text, not rendered.  `Code spans` are left alone:
    Markdown shows their content literally, entities included."""
    parts = re.split(r"(`[^`]*`)", str(text))
    return "".join(
        p if p.startswith("`") and p.endswith("`") and len(p) > 1 else html.escape(p, quote=False) for p in parts
    )


def md_cell(text: Any) -> str:
    """Text for a Markdown table cell: no HTML, no cell breaks."""
    return md(text).replace("|", "\\|").replace("\n", " ")


def tolerance_text(c: Comparison) -> str:
    return "exact" if c.atol == c.rtol == 0 else f"{c.atol:.0e} + {c.rtol:.0e}·\\|twin\\|"


def divergence_text(c: Comparison, d: Divergence) -> str:
    at = f"at step {d.step}" if d.step is not None else "before training"
    return (
        f"{at}, {d.where()}: scratch = {d.scratch:.10g}, twin = {d.reference:.10g} "
        f"(|difference| {d.difference:.3g} > tolerance {d.tolerance:.3g})"
    )


def _networks(n: int) -> str:
    return f"{n} network" + ("" if n == 1 else "s")


def made_text(made: Mapping[str, str]) -> str:
    return f"Made from commit {made['commit']} at {made['generated_at']}."


def summary_markdown(networks: Sequence[NetworkReport], sections: Sequence[Section], made: Mapping[str, str]) -> str:
    checks = [c for net in networks for c in net.comparisons]
    failed = [c for c in checks if not c.passed]
    lines = [
        "# Cross-check summary",
        "",
        "Every registered network, run as a NumPy network and as its PyTorch twin from the same initial",
        "weights and compared at every step. Written by `python -m crosscheck` and `nox -s report`.",
        "Largest differences are given as the power of ten at or above them; the exact figures, the plots",
        "and the environment are in `reports/results.json` and `reports/index.html`.",
        "",
        md(made_text(made)),
        "",
        f"**{len(checks)} checks on {_networks(len(networks))}: "
        f"{len(checks) - len(failed)} passed, {len(failed)} failed.**",
        "",
        "| network | seed | check | steps | largest abs diff | tolerance | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for net in networks:
        for c in net.comparisons:
            lines.append(
                f"| {md_cell(net.name)} | {md_cell(net.seed_file or '-')} | {md_cell(c.check)} | "
                f"{c.steps if c.steps else 'before training'} | {md_cell(below(c.max_abs))} | {tolerance_text(c)} | "
                f"{'PASS' if c.passed else '**FAIL**'} |"
            )
    lines += ["", "## First divergences", ""]
    if not failed:
        lines.append("None: scratch and twin agree within tolerance at every step of every network.")
    for net in networks:
        for c in net.comparisons:
            if c.problem is not None:
                lines.append(f"- **{md(net.name)}** / {md(c.check)}: {md(c.problem)}")
        found = first_divergence(net)
        if found is not None:
            c, d = found
            where = localise(net)
            stage = f"; the difference first grows at: **{md(where['stage'])}**" if where else ""
            lines.append(f"- **{md(net.name)}** / {md(c.check)}: {md(divergence_text(c, d))}{stage}")
    for section in sections:
        lines += ["", f"## {md(section.title)}", ""]
        for q in section.findings:
            lines += [f"### {md(q.title)}", ""]
            if q.sources:
                lines += [f"Sources: {md(', '.join(q.sources))}.", ""]
            lines += [md(q.finding), ""]
            if q.table is not None:
                columns, rows = q.table
                lines.append("| " + " | ".join(md_cell(c) for c in columns) + " |")
                lines.append("|" + "---|" * len(columns))
                lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
                lines.append("")
    lines.append("")
    lines += [
        "## Elsewhere",
        "",
        "Float32 drift, the random-initialisation sweep, mutation testing and benchmarks are sections of",
        "`reports/index.html`, read from `reports/float32.json`, `reports/sweep.json`, `reports/mutation.json`",
        "and `reports/bench.json` when their sessions have run (timings and per-machine figures stay out of",
        "this file).",
        "",
    ]
    return "\n".join(lines)


def write_summary(text: str, out_dir: Path = REPORT_DIR) -> Path:
    """Write ``summary.md``; in GitHub Actions also append it to the job's step summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.md"
    path.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return path


# --- index.html ----------------------------------------------------------------------------------


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def e_code(value: Any) -> str:
    """Escaped text whose `backticked` spans become <code>: the findings mark code that way."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(value))


def safe_name(name: str) -> str:
    """A file name from a network name: letters, digits, '_', '-' and '.' only, never '..'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).replace("..", "_") or "_"


def plot_name(network: str, kind: str) -> str:
    """Where a network's plot is written, relative to the report folder."""
    return f"plots/{safe_name(network)}-{kind}.png"


def png_img(data: bytes, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; margin: 0 auto;
       max-width: 1120px; padding: 24px 28px 60px; background: #fbfbfc; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 2px solid #d6dbe3; padding-bottom: 4px; margin-top: 42px; }
h3 { margin-bottom: 6px; }
table { border-collapse: collapse; margin: 10px 0 16px; font-size: 13.5px; background: white;
        display: block; overflow-x: auto; width: fit-content; max-width: 100%; }
th, td { border: 1px solid #cfd6df; padding: 4px 9px; text-align: left; vertical-align: top; overflow-wrap: normal;
         word-break: normal; hyphens: none; }
th { background: #eef1f5; white-space: nowrap; }
td.pass, td.fail { white-space: nowrap; }
.whatfailed { background: #fff4f3; border: 2px solid #e0a19c; border-radius: 6px; padding: 2px 16px 8px;
              margin-bottom: 14px; }
.whatfailed h2 { margin-top: 10px; border: none; } .whatfailed pre { background: white; white-space: pre-wrap; }
td.num { font-family: ui-monospace, Menlo, Consolas, monospace; text-align: right; white-space: nowrap; }
.nowrap, .num { white-space: nowrap; }
details { margin: 6px 0 18px; } summary { color: #566173; }
.pass { background: #d6f5dd; color: #0c5a23; font-weight: 600; }
.fail { background: #ffd7d5; color: #8a1410; font-weight: 600; }
.total { font-size: 17px; padding: 8px 12px; display: inline-block; border-radius: 6px; }
img { max-width: 100%; display: block; margin: 8px 0 18px; border: 1px solid #e1e5eb; background: white; }
.meta { color: #566173; } nav a { margin-right: 14px; }
.finding { background: white; border: 1px solid #d6dbe3; border-radius: 6px; padding: 4px 16px 10px; margin: 14px 0; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; background: #f1f3f6;
       padding: 0 3px; border-radius: 3px; }
pre { background: #f1f3f6; padding: 10px; overflow-x: auto; font-size: 12.5px; }
"""


def _verdict_cell(passed: bool) -> str:
    return '<td class="pass">PASS</td>' if passed else '<td class="fail">FAIL</td>'


def _checks_table(net: NetworkReport) -> str:
    rows = []
    for c in net.comparisons:
        d = c.first_divergence
        where = e(c.problem) if c.problem else (e(divergence_text(c, d)) if d else "none")
        tol = "exact" if c.atol == c.rtol == 0 else f"{c.atol:.0e} + {c.rtol:.0e}·|twin|"
        rows.append(
            f"<tr><td>{e(c.check)}</td><td>{e(CHECK_TEXT.get(c.check, c.quantity))}</td>"
            f'<td class="num">{e(c.steps if c.steps else "-")}</td><td class="num">{e(f"{c.max_abs:.3e}")}</td>'
            f'<td class="num">{e(f"{c.max_rel:.3e}")}</td><td class="nowrap">{e(tol)}</td>{_verdict_cell(c.passed)}'
            f"<td>{where}</td></tr>"
        )
    head = (
        "<tr><th>check</th><th>compares</th><th>steps</th><th>max |diff|</th><th>max rel diff</th>"
        "<th>tolerance</th><th>verdict</th><th>first divergence</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _localisation_html(where: Mapping[str, Any] | None) -> str:
    if where is None:
        return "<p>No divergence: every stage of every step is within tolerance.</p>"
    if where["step"] is None:
        return f"<p>The sides part before training, in the {e(where['stage'])} ({e(where['check'])} check).</p>"
    rows = "".join(
        f'<tr><td>{e(link["stage"])}</td><td class="num">{link["max_abs"]:.3e}</td>'
        f'<td class="num">{link["over_tolerance"]:.3g}</td></tr>'
        for link in where["chain"]
    )
    return (
        f"<p>The chain at step {e(where['step'])}, the first divergent step ({e(where['check'])} check). "
        f"The difference first grows at: <strong>{e(where['stage'])}</strong>.</p>"
        f"<table><tr><th>stage</th><th>largest |diff|</th><th>largest |diff| / tolerance</th></tr>{rows}</table>"
    )


def _what_failed(networks: Sequence[NetworkReport], diagnoses: Mapping[str, Sequence[str]]) -> str:
    """The box at the top of a failing report: per failing network, the facts the terminal block gives."""
    failing = [(i, net) for i, net in enumerate(networks) if not net.passed]
    if not failing:
        return ""
    parts = ['<div class="whatfailed"><h2>What failed</h2>']
    for i, net in failing:
        lines = diagnoses.get(net.name)
        if not lines:
            first = next(c for c in net.comparisons if not c.passed)
            lines = [first.message()]
        parts.append(f'<h3><a href="#network-{i}">{e(net.name)}</a></h3><pre>{e(chr(10).join(lines))}</pre>')
    return "".join(parts) + "</div>"


def _finding_table(q: Finding) -> str:
    if q.table is None:
        return ""
    columns, rows = q.table
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f'<td class="num">{e(c)}</td>' for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _records_table(records: Sequence[tuple[str | None, Mapping[str, Any]]]) -> str:
    """Rows of records (dicts), columns their scalar fields; nested fields are left to the JSON."""
    columns: list[str] = []
    for _, record in records:
        columns += [k for k, v in record.items() if _scalar(v) and k not in columns]
    keyed = any(key is not None for key, _ in records)
    head = ("<th></th>" if keyed else "") + "".join(f"<th>{e(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + (f"<th>{e(key)}</th>" if keyed else "")
        + "".join(f"<td>{e(record.get(c, ''))}</td>" for c in columns)
        + "</tr>"
        for key, record in records
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _extra_html(title: str, path: Path) -> str:
    """A section another session writes as JSON.  With ``summary`` (text), ``columns`` and ``rows``
    it is shown as that paragraph and table; otherwise its scalar fields, and its lists or maps of
    records, become tables.  The whole JSON follows, folded."""
    if not path.is_file():
        return f"<p>Not generated: {e(path.as_posix())} is absent.</p>"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"<p>{e(path.as_posix())} could not be read: {e(exc)}</p>"
    parts = [f'<p class="meta">From {e(path.as_posix())}.</p>']
    if isinstance(data, dict):
        if "summary" in data:
            parts.append(f"<p>{e(data['summary'])}</p>")
        if isinstance(data.get("rows"), list):
            cols = data.get("columns") or []
            head = "".join(f"<th>{e(c)}</th>" for c in cols)
            body = "".join(
                "<tr>" + "".join(f"<td>{e(v)}</td>" for v in (row if isinstance(row, list) else [row])) + "</tr>"
                for row in data["rows"]
            )
            parts.append(f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>")
        else:
            scalars = {k: v for k, v in data.items() if _scalar(v) and k != "summary"}
            if scalars:
                parts.append(_records_table([(None, scalars)]))
            for key, value in data.items():
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    parts.append(f"<h3>{e(key)}</h3>{_records_table([(None, v) for v in value])}")
                elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
                    parts.append(f"<h3>{e(key)}</h3>{_records_table(list(value.items()))}")
    text = json.dumps(data, indent=2, sort_keys=True)
    lines = text.count("\n") + 1
    parts.append(f"<details><summary>{e(path.name)} in full ({lines} lines)</summary><pre>{e(text)}</pre></details>")
    return "".join(parts)


def html_page(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    env: Mapping[str, Any],
    plots: Mapping[str, Mapping[str, bytes]],
    made: Mapping[str, str],
    out_dir: Path = REPORT_DIR,
    diagnoses: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The whole report as one page; ``plots`` is {network: {kind: PNG bytes}}; ``diagnoses`` the blocks of
    the failing networks ({network: lines}), shown first in a "What failed" box."""
    networks = sorted(networks, key=lambda net: net.passed)  # failing networks first, else in order
    checks = [c for net in networks for c in net.comparisons]
    failed = sum(not c.passed for c in checks)
    nav = "".join(f'<a href="#network-{i}">{e(net.name)}</a>' for i, net in enumerate(networks))
    nav += "".join(f'<a href="#findings-{k}">{e(section.title)}</a>' for k, section in enumerate(sections))
    shown = [name for name, _, filename in EXTRAS if (out_dir / filename).is_file()]
    if shown:
        nav += f'<a href="#extras">{e(", ".join(shown))}</a>'
    nav += '<a href="#environment">environment</a>'
    columns = [name for name in (*CHECKS, *ORACLES) if any(c.check == name for n in networks for c in n.comparisons)]
    overview_head = "<tr><th>network</th>" + "".join(f"<th>{e(name)}</th>" for name in columns) + "</tr>"
    overview_rows = []
    for i, net in enumerate(networks):
        by_check = {c.check: c for c in net.comparisons}
        cells = "".join(
            f'<td class="{"pass" if c.passed else "fail"}">{"PASS" if c.passed else "FAIL"}<br>'
            f'<span class="num">{e(f"{c.max_abs:.1e}")}</span></td>'
            if (c := by_check.get(name)) is not None
            else "<td>-</td>"
            for name in columns
        )
        overview_rows.append(f'<tr><td><a href="#network-{i}">{e(net.name)}</a></td>{cells}</tr>')
    total_class = "pass" if not failed else "fail"
    body = [
        "<h1>nn-crosscheck report</h1>",
        '<p class="meta">Every registered network, run as a from-scratch NumPy network and as its PyTorch twin '
        "from the same initial weights, compared at every step: forward output, loss, dL/doutput, "
        "gradients, optimizer state, buffers and parameters after each update.</p>",
        f'<p><span class="total {total_class}">{len(checks)} checks on {_networks(len(networks))}: '
        f"{len(checks) - failed} passed, {failed} failed</span></p>",
        f'<p class="meta">{e(made_text(made))}</p>',
        _what_failed(networks, diagnoses or {}),
        f"<nav>{nav}</nav>",
        "<h2>Overview</h2>",
        "<p>Verdict and largest absolute difference of every check.</p>",
        f"<table>{overview_head}{''.join(overview_rows)}</table>",
    ]
    for i, net in enumerate(networks):
        images = plots.get(net.name, {})
        body += [
            f'<section id="network-{i}">',
            f"<h2>{e(net.name)}</h2>",
            f'<p>{e(net.description)}<br><span class="meta">seed: {e(net.seed_file or "-")}</span></p>',
            _checks_table(net),
            "<h3>Where the sides part</h3>",
            _localisation_html(localise(net)),
        ]
        captions = {
            "zoom": "the first diverging quantity per parameter, around the first divergence",
            "curves": "training curves of both sides",
            "differences": "per-step largest difference by stage, with the tolerance",
        }
        for kind, caption in captions.items():
            if kind in images:
                body.append(f"<h3>{e(caption.capitalize())}</h3>{png_img(images[kind], f'{net.name}: {caption}')}")
        if "checks" in images:  # the table above as a picture, for use outside this page
            body.append(
                f"<details><summary>The battery as an image ({e(plot_name(net.name, 'checks'))})</summary>"
                f"{png_img(images['checks'], f'{net.name}: the battery')}</details>"
            )
        body.append("</section>")
    for k, section in enumerate(sections):
        body += [f'<section id="findings-{k}">', f"<h2>{e(section.title)}</h2>"]
        for q in section.findings:
            body.append(
                f'<div class="finding"><h3>{e_code(q.title)}</h3><p class="meta">{e(", ".join(q.sources))}</p>'
                f"<p>{e_code(q.finding)}</p>{_finding_table(q)}</div>"
            )
        body.append("</section>")
    present = [(title, out_dir / filename) for _, title, filename in EXTRAS if (out_dir / filename).is_file()]
    body += ['<section id="extras">']
    for title, path in present:
        body.append(f"<h2>{e(title)}</h2>{_extra_html(title, path)}")
    env_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(json.dumps(v) if isinstance(v, dict | list) else v)}</td></tr>"
        for k, v in env.items()
    )
    body += [
        "</section>",
        '<section id="environment">',
        "<h2>Environment</h2>",
        f"<table>{env_rows}</table>",
        "</section>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>nn-crosscheck report</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# --- plots ---------------------------------------------------------------------------------------


def network_plots(net: NetworkReport, steps: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, bytes]:
    from crosscheck import plots  # matplotlib only when plots are drawn: summary.md does without

    steps = per_step(net) if steps is None else steps
    found = first_divergence(net)
    curve_label = "recorded loss (the case's evaluate)"
    scratch_curve, twin_curve, at = net.scratch["curve"], net.twin["curve"], list(net.curve_steps)
    if len(scratch_curve) == 0:  # no recorded curve: the per-step batch loss
        scratch_curve, twin_curve = net.scratch["loss"], net.twin["loss"]
        at, curve_label = list(range(len(scratch_curve))), "loss of each step's batch"
    images = {
        "checks": plots.check_matrix(net.name, net.comparisons),
        "curves": plots.training_curves(net.name, scratch_curve, twin_curve, at, curve_label),
        "differences": plots.step_differences(
            net.name,
            {stage: v["abs"] for stage, v in steps.items()},
            CHAIN,
            net.atol,
            found[1].step if found else None,
            {stage: v["ratio"] > 1 for stage, v in steps.items()},
        ),
    }
    if found is not None and found[1].step is not None and found[1].quantity in STEPPED:
        images["zoom"] = _zoom(net, found[1])
    return images


ZOOM_STEPS = 20  # steps shown on each side of the first divergence


def _zoom(net: NetworkReport, d: Divergence) -> bytes:
    from crosscheck import plots

    assert d.step is not None
    keys = [k for k in net.scratch if k.split(".")[0] == d.quantity]
    n = len(net.scratch[keys[0]])
    window = np.arange(max(0, d.step - ZOOM_STEPS), min(n, d.step + ZOOM_STEPS + 1))
    series = {}
    for key in keys:
        a = np.asarray(net.scratch[key], dtype=np.float64)[window]
        b = np.asarray(net.twin[key], dtype=np.float64)[window]
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isfinite(a) & np.isfinite(b), np.abs(a - b), np.inf)
        series[key.partition(".")[2] or key] = diff.reshape(len(window), -1).max(axis=1)
    return plots.divergence_zoom(net.name, describe(d.quantity, None), series, window, net.atol, d.step, d.parameter)


def failing_blocks(cases: Sequence[Case], networks: Sequence[NetworkReport], out_dir: Path) -> dict[str, list[str]]:
    """The diagnosis block of every failing network (writing its one-step repro under ``out_dir``)."""
    from crosscheck.diagnose import diagnose

    failing = {net.name: net for net in networks if not net.passed}
    blocks = {}
    for case in cases:
        if case.name in failing:
            found = diagnose(case, out_dir, net=failing[case.name])
            if found is not None:
                blocks[case.name] = found.block()
    return blocks


# --- writing it all ------------------------------------------------------------------------------


def write_reports(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    env: Mapping[str, Any],
    made: Mapping[str, str],
    out_dir: Path = REPORT_DIR,
    float32: Mapping[str, Any] | None = None,
    diagnoses: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    """summary.md, results.json, float32.json (when given), the PNGs and index.html into ``out_dir``;
    returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_summary(summary_markdown(networks, sections, made), out_dir)]
    results_path = out_dir / "results.json"
    results_path.write_text(results_text(networks, sections, env, made), encoding="utf-8")
    written.append(results_path)
    if float32 is not None:
        float32_path = out_dir / "float32.json"
        float32_path.write_text(jsonfile.dumps({"provenance": dict(made), **float32}), encoding="utf-8")
        written.append(float32_path)
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(exist_ok=True)
    plots = {}
    for net in networks:
        plots[net.name] = network_plots(net)
        for kind, data in plots[net.name].items():
            path = out_dir / plot_name(net.name, kind)
            path.write_bytes(data)
            written.append(path)
    index = out_dir / "index.html"
    index.write_text(html_page(networks, sections, env, plots, made, out_dir, diagnoses), encoding="utf-8")
    written.append(index)
    return written


def main(argv: list[str] | None = None) -> int:
    from crosscheck import precision
    from crosscheck.environment import environment, provenance

    parser = argparse.ArgumentParser(prog="python -m crosscheck.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help="folder to write into (default: reports)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        cases = list(registry().values())
    except RegistrationError as exc:
        raise SystemExit(f"python -m crosscheck.report: {exc}") from None
    networks = collect_all(cases)
    checked = time.perf_counter()
    sections = findings_sections()
    float32 = precision.report()
    diagnoses = failing_blocks(cases, networks, args.out)
    written = write_reports(networks, sections, environment(), provenance(), args.out, float32, diagnoses)
    done = time.perf_counter()
    for path in written:
        print(f"wrote {path}")
    failed = [f"{net.name} / {c.check}" for net in networks for c in net.comparisons if not c.passed]
    failed += precision.failed_checks(float32)
    print(
        f"{len(networks)} networks, {len(failed)} failed checks; traces and checks {checked - started:.1f} s, "
        f"float32, findings, plots and pages {done - checked:.1f} s"
    )
    for name in failed:
        print(f"FAILED {name}", file=sys.stderr)
    # After writing: the pages describe this run, failures included, and the exit status says it failed.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
