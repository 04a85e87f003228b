"""``index.html``: one self-contained page (plots embedded as base64 PNG, no scripts, nothing fetched),
failing networks first, with the sections other sessions write as JSON beside the report."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crosscheck.checks import CHECKS, ORACLES
from crosscheck.diagnose.chain import where_it_grows
from crosscheck.findings import Finding, Section
from crosscheck.keys import relative_cell
from crosscheck.report.text import (
    FAILED,
    PASSED,
    REPORT_DIR,
    XFAILED,
    XPASSED,
    Declared,
    counts_text,
    divergence_text,
    left_out_lines,
    made_text,
    networks_text,
    outcome,
    own_tolerance_text,
    plot_name,
)
from crosscheck.verdict import NetworkReport

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


# The report's own JSON; any other JSON file in the folder is a section another tool wrote (the float32 report,
# a project's benchmarks), shown under its "title", so that the page knows no project's tools by name.
OWN_JSON = "results.json"


def extras(out_dir: Path) -> list[tuple[str, str, Path]]:
    """(name, title, path) of each section another tool wrote as JSON into ``out_dir``, by file name."""
    found = []
    for path in sorted(out_dir.glob("*.json")) if out_dir.is_dir() else []:
        if path.name == OWN_JSON:
            continue
        try:
            title = json.loads(path.read_text(encoding="utf-8")).get("title")
        except (OSError, ValueError, AttributeError):
            title = None
        found.append((path.stem, title if isinstance(title, str) and title else path.stem, path))
    return found


def extra_checks(path: Path) -> list[bool]:
    """The verdicts of the checks a section's JSON carries (``networks``: {name: {"checks": {check: {"passed":
    bool}}}}, as the float32 report writes them), so that the headline counts them; none for other JSON."""
    try:
        networks = json.loads(path.read_text(encoding="utf-8")).get("networks")
    except (OSError, ValueError, AttributeError):
        return []
    found = []
    for net in networks.values() if isinstance(networks, dict) else ():
        checks = net.get("checks") if isinstance(net, dict) else None
        for record in checks.values() if isinstance(checks, dict) else ():
            if isinstance(record, dict) and isinstance(record.get("passed"), bool):
                found.append(record["passed"])
    return found


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def e_code(value: Any) -> str:
    """Escaped text whose `backticked` spans become <code>: the findings mark code that way."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(value))


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
.xfail { background: #fff1c2; color: #6b4d00; font-weight: 600; }
.total { font-size: 17px; padding: 8px 12px; display: inline-block; border-radius: 6px; }
img { max-width: 100%; display: block; margin: 8px 0 18px; border: 1px solid #e1e5eb; background: white; }
.meta { color: #566173; } nav a { margin-right: 14px; }
.finding { background: white; border: 1px solid #d6dbe3; border-radius: 6px; padding: 4px 16px 10px; margin: 14px 0; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; background: #f1f3f6;
       padding: 0 3px; border-radius: 3px; }
pre { background: #f1f3f6; padding: 10px; overflow-x: auto; font-size: 12.5px; }
"""


# (class, text) of a verdict's cell.
_VERDICT = {PASSED: ("pass", "PASS"), FAILED: ("fail", "FAIL"), XFAILED: ("xfail", "expected failure")}


def _verdict_cell(verdict: str, inner: str = "") -> str:
    css, text = _VERDICT.get(verdict, ("fail", verdict))
    return f'<td class="{css}">{e(text)}{inner}</td>'


def _failing(net: NetworkReport, notes: Declared | None) -> bool:
    """A network with a failure that is not expected (or an expected failure that passed)."""
    return any(outcome(c, notes) in (FAILED, XPASSED) for c in net.comparisons)


def _checks_table(net: NetworkReport, notes: Declared | None = None) -> str:
    rows = []
    for c in net.comparisons:
        d = c.first_divergence
        where = e(c.problem) if c.problem else (e(divergence_text(c, d)) if d else e(c.note or "none"))
        if notes is not None and c.check in notes.expected:
            where = f"<b>expected failure</b>: {e(notes.expected[c.check])}<br>{where}"
        rows.append(
            f"<tr><td>{e(c.check)}</td><td>{e(CHECK_TEXT.get(c.check, c.quantity))}</td>"
            f'<td class="num">{e(c.steps if c.steps else "-")}</td><td class="num">{e(f"{c.max_abs:.3e}")}</td>'
            f'<td class="num">{e(relative_cell(c.max_rel, c.atol, c.rtol, 3))}</td>'
            f'<td class="nowrap">{e(c.bound_cell())}</td>'
            f"{_verdict_cell(outcome(c, notes))}"
            f"<td>{where}</td></tr>"
        )
    head = (
        "<tr><th>check</th><th>compares</th><th>steps</th><th>max |diff|</th><th>max rel diff</th>"
        "<th>tolerance</th><th>verdict</th><th>first divergence</th></tr>"
    )
    own = own_tolerance_text(notes)
    left_out = "".join(f'<p class="meta">{e(line)}</p>' for line in left_out_lines(net.not_run, net.not_compared))
    return (
        (f'<p class="meta">Tolerance: {e(own)}</p>' if own else "") + left_out + f"<table>{head}{''.join(rows)}</table>"
    )


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


def _what_failed(
    networks: Sequence[NetworkReport], diagnoses: Mapping[str, Sequence[str]], declared: Mapping[str, Declared]
) -> str:
    """The box at the top of a failing report: per failing network, the facts the terminal block gives."""
    failing = [(i, net) for i, net in enumerate(networks) if _failing(net, declared.get(net.name))]
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


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _records_table(records: Sequence[tuple[str | None, Mapping[str, Any]]]) -> str:
    """Rows of records (dicts), columns their scalar fields; nested fields are left to the JSON."""
    columns: list[str] = []
    for _, record in records:
        columns += [k for k, v in record.items() if _is_scalar(v) and k not in columns]
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
            scalars = {k: v for k, v in data.items() if _is_scalar(v) and k != "summary"}
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
    declared: Mapping[str, Declared] | None = None,
) -> str:
    """The whole report as one page; ``plots`` is {network: {kind: PNG bytes}}; ``diagnoses`` the blocks of
    the failing networks ({network: lines}), shown first in a "What failed" box; ``declared`` what each network's
    case declares about its verdict (its own tolerance, its expected failures)."""
    declared = declared or {}
    # Failing networks first, else in order.
    networks = sorted(networks, key=lambda net: not _failing(net, declared.get(net.name)))
    checks = [c for net in networks for c in net.comparisons]
    outcomes = [outcome(c, declared.get(net.name)) for net in networks for c in net.comparisons]
    failed = sum(o in (FAILED, XPASSED) for o in outcomes)
    nav = "".join(f'<a href="#network-{i}">{e(net.name)}</a>' for i, net in enumerate(networks))
    nav += "".join(f'<a href="#findings-{k}">{e(section.title)}</a>' for k, section in enumerate(sections))
    sections_found = extras(out_dir)
    shown = [name for name, _, _ in sections_found]
    if shown:
        nav += f'<a href="#extras">{e(", ".join(shown))}</a>'
    nav += '<a href="#environment">environment</a>'
    columns = [name for name in (*CHECKS, *ORACLES) if any(c.check == name for n in networks for c in n.comparisons)]
    overview_head = "<tr><th>network</th>" + "".join(f"<th>{e(name)}</th>" for name in columns) + "</tr>"
    overview_rows = []
    for i, net in enumerate(networks):
        by_check = {c.check: c for c in net.comparisons}
        cells = "".join(
            _verdict_cell(outcome(c, declared.get(net.name)), f'<br><span class="num">{e(f"{c.max_abs:.1e}")}</span>')
            if (c := by_check.get(name)) is not None
            else (f'<td title="{e(net.not_run[name])}">not run</td>' if name in net.not_run else "<td>-</td>")
            for name in columns
        )
        overview_rows.append(f'<tr><td><a href="#network-{i}">{e(net.name)}</a></td>{cells}</tr>')
    # Checks that other sections ran (the float32 variants), counted after the networks' own, under their title.
    counted = [(title, verdicts) for _, title, path in sections_found if (verdicts := extra_checks(path))]
    more = "".join(
        f"; {e(title)}: {len(verdicts)} checks, {len(verdicts) - sum(verdicts)} failed" for title, verdicts in counted
    )
    total_class = "pass" if not failed and all(all(v) for _, v in counted) else "fail"
    body = [
        "<h1>nn-crosscheck report</h1>",
        '<p class="meta">Every registered network, run as a from-scratch NumPy network and as its PyTorch twin '
        "from the same initial weights, compared at every step: forward output, loss, dL/doutput, "
        "gradients (where the network's step lets them be seen), optimizer state, buffers and parameters after each "
        "update.</p>",
        f'<p><span class="total {total_class}">{len(checks)} checks on {networks_text(len(networks))}: '
        f"{e(counts_text(outcomes))}{more}</span></p>",
        f'<p class="meta">{e(made_text(made))}</p>',
        _what_failed(networks, diagnoses or {}, declared),
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
            f'<p>{e(net.description)}<br><span class="meta">source: {e(net.source or "-")}</span></p>',
            _checks_table(net, declared.get(net.name)),
            "<h3>Where the sides part</h3>",
            _localisation_html(where_it_grows(net)),
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
    present = [(title, path) for _, title, path in sections_found]
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
