"""Writing the reports: the figures of each network (matplotlib only here, when plots are drawn), the
diagnosis blocks of the failing networks, and every file into the report folder."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import jsonfile
from crosscheck.case import Case
from crosscheck.compare import Divergence
from crosscheck.diagnose import diagnose
from crosscheck.diagnose.chain import CHAIN, first_divergence, per_step, stage_keys
from crosscheck.findings import Section
from crosscheck.keys import STEPPED, describe
from crosscheck.report.html import html_page
from crosscheck.report.markdown import summary_markdown, write_summary
from crosscheck.report.results import results_text
from crosscheck.report.text import REPORT_DIR, Declared, plot_name
from crosscheck.verdict import NetworkReport


def network_plots(
    net: NetworkReport, steps: Mapping[str, Mapping[str, np.ndarray]] | None = None, expected: Collection[str] = ()
) -> dict[str, bytes]:
    from crosscheck.report import plots  # matplotlib only when plots are drawn: summary.md does without

    steps = per_step(net) if steps is None else steps
    found = first_divergence(net)
    curve_label = "recorded loss (the case's evaluate)"
    images = {"checks": plots.check_matrix(net.name, net.comparisons, expected)}
    if net.run is None:  # a run refused at some step: nothing was kept to draw
        return images
    scratch, twin = net.run.curves
    scratch_curve, twin_curve, at = scratch["curve"], twin["curve"], list(net.curve_steps)
    if len(scratch_curve) == 0:  # no recorded curve: the per-step batch loss
        scratch_curve, twin_curve = scratch["loss"], twin["loss"]
        at, curve_label = list(range(len(scratch_curve))), "loss of each step's batch"
    images |= {
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
    from crosscheck.report import plots

    assert d.step is not None
    assert net.run is not None
    maxima = net.run.maxima
    keys = stage_keys(maxima, d.quantity)
    n = len(maxima[keys[0]][0])
    window = np.arange(max(0, d.step - ZOOM_STEPS), min(n, d.step + ZOOM_STEPS + 1))
    # The largest |scratch - twin| of each step, as the run kept it.
    series = {key.partition(".")[2] or key: maxima[key][0][window] for key in keys}
    return plots.divergence_zoom(net.name, describe(d.quantity, None), series, window, net.atol, d.step, d.parameter)


def failing_blocks(cases: Sequence[Case], networks: Sequence[NetworkReport], out_dir: Path) -> dict[str, list[str]]:
    """The diagnosis block of every failing network (writing its one-step repro under ``out_dir``)."""
    failing = {net.name: net for net in networks if not net.passed}
    blocks = {}
    for case in cases:
        if case.name in failing:
            found = diagnose(case, out_dir, net=failing[case.name])
            if found is not None:
                blocks[case.name] = found.block()
    return blocks


def write_reports(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    env: Mapping[str, Any],
    made: Mapping[str, str],
    out_dir: Path = REPORT_DIR,
    float32: Mapping[str, Any] | None = None,
    diagnoses: Mapping[str, Sequence[str]] | None = None,
    declared: Mapping[str, Declared] | None = None,
) -> list[Path]:
    """summary.md, results.json, float32.json (when given), the PNGs and index.html into ``out_dir``;
    returns the paths written.  ``declared``: what each network's case declares about its verdict
    (``crosscheck.report.text.declared``), shown in every file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_summary(summary_markdown(networks, sections, made, declared), out_dir)]
    results_path = out_dir / "results.json"
    results_path.write_text(results_text(networks, sections, env, made, declared), encoding="utf-8")
    written.append(results_path)
    if float32 is not None:
        float32_path = out_dir / "float32.json"
        float32_path.write_text(jsonfile.dumps({"provenance": dict(made), **float32}), encoding="utf-8")
        written.append(float32_path)
    else:  # one an earlier run wrote would be shown as this run's
        (out_dir / "float32.json").unlink(missing_ok=True)
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(exist_ok=True)
    plots = {}
    for net in networks:
        notes = (declared or {}).get(net.name)
        plots[net.name] = network_plots(net, expected=notes.expected if notes is not None else ())
        for kind, data in plots[net.name].items():
            path = out_dir / plot_name(net.name, kind)
            path.write_bytes(data)
            written.append(path)
    index = out_dir / "index.html"
    index.write_text(html_page(networks, sections, env, plots, made, out_dir, diagnoses, declared), encoding="utf-8")
    written.append(index)
    return written
