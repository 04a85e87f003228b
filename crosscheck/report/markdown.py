"""``summary.md``: the verdicts, the first divergences and where they grow, and the findings sections."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crosscheck.diagnose.chain import first_divergence, where_it_grows
from crosscheck.findings import Section
from crosscheck.report.text import (
    FAILED,
    PASSED,
    REPORT_DIR,
    XFAILED,
    Declared,
    below,
    counts_text,
    divergence_text,
    left_out_lines,
    made_text,
    networks_text,
    outcome,
    own_tolerance_text,
)
from crosscheck.verdict import NetworkReport


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


# A verdict in summary.md's table: a failure in bold, as the eye looks for it.
_VERDICT = {PASSED: "PASS", FAILED: "**FAIL**", XFAILED: "expected failure"}


def summary_markdown(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    made: Mapping[str, str],
    declared: Mapping[str, Declared] | None = None,
) -> str:
    """``declared``: what each network's case declares about its verdict (its own tolerance, its expected failures)."""
    declared = declared or {}
    checks = [c for net in networks for c in net.comparisons]
    failed = [c for c in checks if not c.passed]
    outcomes = [outcome(c, declared.get(net.name)) for net in networks for c in net.comparisons]
    lines = [
        "# Cross-check summary",
        "",
        "Every registered network, run as a NumPy network and as its PyTorch twin from the same initial",
        "weights and compared at every step. Written by `python -m crosscheck` and `python -m crosscheck.report`.",
        "Largest differences are given as the power of ten at or above them; the exact figures, the plots",
        "and the environment are in `reports/results.json` and `reports/index.html`.",
        "",
        md(made_text(made)),
        "",
        f"**{len(checks)} checks on {networks_text(len(networks))}: {counts_text(outcomes)}.**",
        "",
        "| network | source | check | steps | largest abs diff | tolerance | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for net in networks:
        notes = declared.get(net.name)
        for c in net.comparisons:
            verdict, own = outcome(c, notes), own_tolerance_text(notes, c)
            lines.append(
                f"| {md_cell(net.name)} | {md_cell(net.source or '-')} | {md_cell(c.check)} | "
                f"{c.steps if c.steps else 'before training'} | {md_cell(below(c.max_abs))} | "
                f"{md_cell(c.bound_cell() + (f'; {own}' if own else ''))} | "
                f"{_VERDICT.get(verdict, f'**{verdict.upper()}**')} |"
            )
    expected = [
        f"- **{md(net.name)}** / {md(c.check)}: {md(notes.expected[c.check])}"
        + (" (**it passed**: an expected failure that passes fails)" if c.passed else "")
        for net in networks
        if (notes := declared.get(net.name)) is not None
        for c in net.comparisons
        if c.check in notes.expected
    ]
    if expected:
        lines += ["", "## Expected failures", "", *expected]
    grown = [
        f"- **{md(net.name)}** / {md(c.check)}: {md(c.note)}" for net in networks for c in net.comparisons if c.note
    ]
    if grown:
        lines += ["", "## Passed within the rounding the training amplifies", "", *grown]
    left_out = [
        f"- **{md(net.name)}**: {md(line)}"
        for net in networks
        for line in left_out_lines(net.not_run, net.not_compared)
    ]
    if left_out:
        lines += ["", "## Not run, not compared", "", *left_out]
    lines += ["", "## First divergences", ""]
    if not failed:
        lines.append("None: scratch and twin agree within tolerance at every step of every network.")
    for net in networks:
        # The earliest divergence first (by step, then the chain), then what an oracle or a refusal says.
        found = first_divergence(net)
        if found is not None:
            c, d = found
            where = where_it_grows(net)
            stage = f"; the difference first grows at: **{md(where['stage'])}**" if where else ""
            lines.append(f"- **{md(net.name)}** / {md(c.check)}: {md(divergence_text(c, d))}{stage}")
        for c in net.comparisons:
            if c.problem is not None:
                lines.append(f"- **{md(net.name)}** / {md(c.check)}: {md(c.problem)}")
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
        "The float32 report and any other JSON file in this folder (a project's own tools' figures) are sections",
        "of `index.html` (timings and per-machine figures stay out of this file).",
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
