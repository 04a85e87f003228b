"""The report's figures, as PNG bytes (matplotlib, Agg backend).

Each function draws one figure for one network from data the report has already computed
(the comparisons and the per-step differences); none of them compares anything itself.
PNG metadata is left out, so the bytes depend only on the data and the matplotlib build.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from crosscheck.compare import Comparison  # noqa: E402

PASS_COLOUR, FAIL_COLOUR = "#d6f5dd", "#ffd7d5"
SCRATCH_COLOUR, TWIN_COLOUR = "#1f5fa8", "#e4572e"
STAGE_COLOURS = {
    "output": "#4c72b0",
    "loss": "#dd8452",
    "dloss": "#8172b3",
    "grad": "#55a868",
    "param": "#c44e52",
}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def check_matrix(network: str, comparisons: Sequence[Comparison], expected: Collection[str] = ()) -> bytes:
    """The battery for one network: verdict, largest differences and tolerance per check; a check in ``expected``
    (a failure the case declares) shows XFAIL where it fails, and XPASS, a failure, where it passes."""
    columns = ("check", "steps", "max |diff|", "max rel diff", "tolerance", "verdict")
    rows = [(c.check, *c.cells()[:-1], _verdict(c, expected)) for c in comparisons]
    height = 0.3 * (len(rows) + 1) + 0.45
    fig = plt.figure(figsize=(8.0, height))
    ax = fig.add_axes((0.01, 0.02, 0.98, 1 - 0.4 / height))
    ax.axis("off")
    good = [c.passed != (c.check in expected) for c in comparisons]
    colours = [["white"] * (len(columns) - 1) + [PASS_COLOUR if ok else FAIL_COLOUR] for ok in good]
    table = ax.table(
        cellText=rows,
        colLabels=columns,
        cellColours=colours,
        colWidths=[0.2, 0.08, 0.14, 0.14, 0.3, 0.1],
        bbox=Bbox.from_bounds(0, 0, 1, 1),
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    fig.suptitle(f"{network}: the battery", fontsize=11, y=1 - 0.12 / height)
    return _png(fig)


def _verdict(c: Comparison, expected: Collection[str]) -> str:
    if c.check in expected:
        return "XPASS" if c.passed else "XFAIL"
    return "PASS" if c.passed else "FAIL"


def training_curves(
    network: str, scratch_curve: np.ndarray, twin_curve: np.ndarray, curve_steps: Sequence[int], label: str
) -> bytes:
    """Both sides' recorded loss against step, overlaid: the twin dashed over the scratch line."""
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    steps = np.asarray(curve_steps)[: len(scratch_curve)]
    a, b = np.ravel(scratch_curve).astype(float), np.ravel(twin_curve).astype(float)
    ax.plot(steps, a, color=SCRATCH_COLOUR, lw=3.0, alpha=0.55, label="scratch (NumPy)")
    ax.plot(steps, b, color=TWIN_COLOUR, lw=1.2, ls="--", label="twin (PyTorch)")
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 30:  # a log axis only over decades
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(label)
    ax.set_title(f"{network}: training curves of both sides", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.14)  # fixed: tight_layout costs a draw
    return _png(fig)


def step_differences(
    network: str,
    per_step: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    atol: float,
    divergence_step: int | None = None,
    over_tolerance: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """Largest |scratch - twin| at each step, one panel per stage of the chain, on a log axis,
    with the tolerance floor drawn in each; steps where some element exceeds its tolerance
    (``over_tolerance``) are ringed in red.  Exact zeros cannot sit on a log axis and are counted
    in the panel's title instead."""
    stages = list(per_step)
    fig, axes = plt.subplots(len(stages), 1, figsize=(8.0, 1.25 * len(stages) + 1.0), sharex=True, squeeze=False)
    positive = [v[(v > 0) & np.isfinite(v)] for v in (np.asarray(per_step[s], dtype=float) for s in stages)]
    lows = [float(p.min()) for p in positive if p.size]
    bottom = 10 ** np.floor(np.log10(min(lows))) if lows else atol * 1e-6
    top = max([atol * 10, *(float(p.max()) * 10 for p in positive if p.size)])  # every panel may be all zeros
    low, high = int(np.ceil(np.log10(bottom))), int(np.floor(np.log10(top * 3)))
    decades = [10.0**k for k in range(high, low - 1, -max(1, int(np.ceil((high - low) / 4))))]
    for ax, stage in zip(axes[:, 0], stages, strict=True):
        v = np.asarray(per_step[stage], dtype=float)
        steps = np.arange(len(v))
        shown = (v > 0) & np.isfinite(v)
        size = float(np.clip(60 / np.sqrt(max(len(v), 1)), 1.6, 5.0))  # visible dots for short runs too
        ax.plot(steps[shown], v[shown], ".", ms=size, alpha=0.6, color=STAGE_COLOURS.get(stage, "#333333"))
        if over_tolerance is not None and stage in over_tolerance:
            over = np.asarray(over_tolerance[stage], dtype=bool) & shown
            if over.any():
                ax.plot(steps[over], v[over], "o", mfc="none", mec="crimson", ms=6, mew=1.4, zorder=3)
        bad = ~np.isfinite(v)
        if bad.any():
            ax.plot(steps[bad], np.full(int(bad.sum()), top), "x", color="crimson", ms=4)
        ax.axhline(atol, color="black", ls="--", lw=1.0)
        if divergence_step is not None:
            ax.axvline(divergence_step, color="crimson", lw=0.8, ls=":", zorder=1)
        # The limits before the log scale: switching scales autoscales a panel that shows no positive
        # difference to the tolerance line alone, identical low and high limits, which matplotlib warns about.
        ax.set_ylim(bottom, top * 3)
        ax.set_yscale("log")
        ax.set_yticks(decades)
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
        note = f"{int(np.sum(v == 0))} of {len(v)} steps exactly 0"
        if bad.any():
            note += f"; non-finite (x) from step {int(np.argmax(bad))}"
        ax.set_title(f"{labels.get(stage, stage)}  ({note})", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("training step")
    fig.supylabel("largest |scratch - twin|", fontsize=10)
    legend = f"dashed: tolerance floor atol = {atol:g} (each element also gets rtol·|twin|)"
    if divergence_step is not None:
        legend += f"\nred rings: over tolerance; dotted line: first divergence, step {divergence_step}"
    fig.suptitle(f"{network}: per-step largest difference by stage of the chain\n{legend}", fontsize=10)
    inches = fig.get_figheight()
    fig.subplots_adjust(
        left=0.12, right=0.98, top=1 - (0.85 + 0.2 * legend.count("\n")) / inches, bottom=0.5 / inches, hspace=0.55
    )
    return _png(fig)


def divergence_zoom(
    network: str,
    quantity: str,
    series: Mapping[str, np.ndarray],
    first: np.ndarray,
    atol: float,
    step: int,
    parameter: str | None,
) -> bytes:
    """The first diverging quantity, one line per parameter (its largest |scratch - twin| at each step),
    over the steps ``first`` around the first divergence at ``step``; the parameter that diverged first
    is drawn thick and named."""
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    tiny = atol * 1e-6  # exact zeros drawn on the floor of the log axis
    for name, values in series.items():
        v = np.where(np.asarray(values, dtype=float) > 0, values, tiny)
        lead = name == parameter
        ax.plot(first, v, "-o", ms=3 if lead else 2, lw=2.2 if lead else 0.9, label=name + (" (first)" if lead else ""))
    ax.axhline(atol, color="black", ls="--", lw=1.0)
    ax.axvline(step, color="crimson", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlim(float(first[0]) - 0.5, float(first[-1]) + 0.5)  # the first divergence never on the axis edge
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("largest |scratch - twin|", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=min(6, max(1, len(series))), loc="upper center", bbox_to_anchor=(0.5, -0.28))
    what = f"{quantity} of {parameter}" if parameter else quantity
    fig.suptitle(
        f"{network}: {what} parts first, at step {step} (dotted)\n{quantity} per parameter, steps "
        f"{int(first[0])} to {int(first[-1])}; dashed: atol = {atol:g}",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)
