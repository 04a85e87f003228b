"""What a golden keeps of a run: its view (initial values, the first steps, the curve, the final parameters), whole
while it is small and as a deterministic sample with its norms beyond that, from whole traces (``golden_view``)
or from a run whose steps come a chunk at a time (``GoldenStream``, ``crosscheck.lockstep``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from crosscheck.keys import STEPPED, Trace, split_key

FIRST_STEPS = 5  # the steps a golden keeps
# A golden stays small whatever the network (issue 22: about 1 MB a case).  Float64 trace values barely
# compress (digits_mlp, the largest tutorial case: 132,932 values in 891 KB, 0.84 of their 8 bytes), so a view
# of up to BUDGET values (about 1 MB) is kept whole, as every committed golden is.  A larger one is cut to
# SAMPLE_BUDGET values: its largest arrays are kept as evenly spread samples (``<key>``) with the full index of
# each element kept (``<key>.index``, int64: about 4 more bytes an element, compressed) and the norms of the
# whole array (``<key>.norms``); measured on a synthetic 784-1024-10 MLP with Adam over 20 steps: 0.7 MB,
# against 137 MB in full.
BUDGET = 150_000
SAMPLE_BUDGET = 65_536
INDEX, NORMS = ".index", ".norms"
NORM_NAMES = ("mean |x|", "root mean square", "max |x|")


def golden_view(trace: Trace, first: int = FIRST_STEPS, final: Trace | None = None) -> dict[str, np.ndarray]:
    """Initial parameters, the first steps, the recorded curve and the final parameters (``final``'s
    ``param.<p>``, where ``trace`` holds only the first steps: a ``Run``'s)."""
    out: dict[str, np.ndarray] = {}
    for key, value in trace.items():
        quantity = key.split(".")[0]
        if quantity in ("init", "forward", "curve"):
            out[key] = value
        elif quantity in ("output", "loss", "dloss", "grad", "lr", "state", "buffer", "param"):
            out[f"first_{key}"] = value[:first]
            if quantity == "param":
                out[f"final.{key.split('.', 1)[1]}"] = value[-1] if final is None else final[key]
    # A 0-d array is stored as shape (1,), as pytest-regressions stores it, to compare like with like.
    # Copies, not views (sampling copies too): traces are cached per process, and a caller may change what it gets.
    arrays = {k: np.atleast_1d(v) for k, v in out.items()}
    kept = kept_counts({k: v.size for k, v in arrays.items()})
    view: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        view |= {key: value.copy()} if kept[key] == value.size else sample(key, value, kept[key])
    return view


def kept_counts(sizes: Mapping[str, int], budget: int = BUDGET, sampled: int = SAMPLE_BUDGET) -> dict[str, int]:
    """How many elements of each array a golden keeps: every element while the whole fits ``budget``; beyond it,
    ``sampled`` shared out evenly, an array smaller than its share kept whole and what it leaves of its share
    passed on to the larger ones.  Read from the sizes alone, so the same shapes always keep the same elements."""
    if sum(sizes.values()) <= budget:
        return dict(sizes)
    left, kept = sampled, {}
    order = sorted(sizes, key=lambda k: (sizes[k], k))
    for n, key in enumerate(order):
        kept[key] = min(sizes[key], max(1, left // (len(order) - n)))
        left -= kept[key]
    return kept


def spread_indices(shape: tuple[int, ...], count: int) -> np.ndarray:
    """The full indices, one row each, of ``count`` elements evenly spread over an array of ``shape``, first and
    last included.  Integer arithmetic, so that every machine and NumPy version picks the same elements."""
    size = int(np.prod(shape))
    steps = np.arange(count, dtype=np.int64)
    flat = steps * (size - 1) // max(count - 1, 1)
    return np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)


def norms(value: np.ndarray) -> np.ndarray:
    """Norms of a whole array, scaled by its size (mean |x|, root mean square, max |x|) so that the golden's own
    element tolerance holds them: by the triangle inequality none of them moves further than its elements do
    (|mean|a| - mean|b|| <= mean|a - b| <= atol + rtol * mean|b|, and so for the other two), so they fail no run
    its elements would pass; their own rounding (pairwise sums, about 1e-15 relative at 1e6 elements) is far
    inside rtol 1e-10.  Float64 whatever the case's dtype."""
    x = np.abs(value.astype(np.float64).ravel())
    return np.array([np.mean(x), np.sqrt(np.mean(x * x)), np.max(x)])


def sample(key: str, value: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """The golden's arrays for ``value`` kept as a sample of ``count`` elements: their values, their indices and
    the norms of the whole."""
    index = spread_indices(value.shape, count)
    return {key: value[tuple(index.T)], key + INDEX: index, key + NORMS: norms(value)}


class GoldenStream:
    """One side's golden view of a run whose steps come a chunk at a time (``crosscheck.lockstep``), the view
    ``golden_view`` makes of the whole trace.  While the view is small (``BUDGET``) the first steps are kept whole
    and viewed at the end, as from the whole trace; beyond it, each array's sampled elements are picked as their
    rows come and its norms summed as they come (their rounding differs from the whole array's in the last bits,
    far inside the golden's tolerance), so that the steps a golden keeps are never held whole.

    ``first``: the first chunk (before training, and step 0's rows), whose shapes and key order plan the view;
    ``steps``: the run's length; ``curve_points``: how many curve points the run records."""

    def __init__(self, first: Trace, steps: int, curve_points: int) -> None:
        self.steps = min(FIRST_STEPS, steps)
        self.order = list(first)
        self.head = {k: v for k, v in first.items() if split_key(k)[0] in ("init", "forward")}
        shapes: dict[str, tuple[int, ...]] = {k: np.atleast_1d(v).shape for k, v in self.head.items()}
        for key, value in first.items():
            quantity, parameter = split_key(key)
            if quantity in STEPPED:
                shapes[f"first_{key}"] = (self.steps, *np.shape(value)[1:])
                if quantity == "param":
                    shapes[f"final.{parameter}"] = np.atleast_1d(value[0]).shape
        shapes["curve"] = (curve_points,)  # one number a point, as a recorded loss is
        sizes = {k: int(np.prod(s)) for k, s in shapes.items()}
        self.shapes, self.kept = shapes, kept_counts(sizes)
        self.small = sum(sizes.values()) <= BUDGET
        self.rows: dict[str, list[np.ndarray]] = {}
        self.picked: dict[str, list[np.ndarray]] = {}
        self.sums: dict[str, list[float]] = {}  # sum |x|, sum x^2, max |x|, count
        self.curve: list[np.ndarray] = []
        self.final: Trace = {}

    def add(self, trace: Trace, start: int) -> None:
        """The rows of steps ``start``, ``start + 1``, ... (a chunk's record of this side)."""
        for key, value in trace.items():
            quantity = split_key(key)[0]
            if quantity == "curve":
                self.curve.append(np.array(value))
            elif quantity == "param":
                # The chunk's own row, copied only once the run is over (``view``): a copy at every chunk would cost a
                # large network's parameters at every step.
                self.final[key] = value[-1]
            if quantity not in STEPPED or start >= self.steps:
                continue
            rows = value[: self.steps - start]
            golden = f"first_{key}"
            if self.small or self.kept[golden] == int(np.prod(self.shapes[golden])):
                self.rows.setdefault(key, []).append(np.array(rows))
                continue
            index = spread_indices(self.shapes[golden], self.kept[golden])
            here = index[(index[:, 0] >= start) & (index[:, 0] < start + len(rows))]
            self.picked.setdefault(golden, []).append(np.asarray(rows)[(here[:, 0] - start, *here[:, 1:].T)])
            x = np.abs(np.asarray(rows, dtype=np.float64))
            total = self.sums.setdefault(golden, [0.0, 0.0, 0.0, 0.0])
            total[0] += float(x.sum())
            total[1] += float((x * x).sum())
            total[2] = max(total[2], float(x.max()) if x.size else 0.0)
            total[3] += x.size

    def view(self) -> dict[str, np.ndarray]:
        """The golden's arrays for this side, in the order ``golden_view`` gives them."""
        trace: dict[str, np.ndarray] = {}
        for key in self.order:
            if key in self.head:
                trace[key] = self.head[key]
            elif key == "curve":
                trace[key] = np.concatenate(self.curve) if self.curve else np.zeros(0)
            elif key in self.rows:
                trace[key] = np.concatenate(self.rows[key])
        final = {k: np.array(v) for k, v in self.final.items()}  # not views holding the last chunk alive
        if self.small:
            return golden_view(trace, self.steps, final=final)
        out: dict[str, np.ndarray] = {}
        for key in self.order:
            quantity, parameter = split_key(key)
            whole: dict[str, np.ndarray] = {}
            if key in trace and quantity not in STEPPED:
                whole[key] = np.atleast_1d(trace[key])
            elif quantity in STEPPED:
                golden = f"first_{key}"
                if key in trace:
                    whole[golden] = np.atleast_1d(trace[key])
                else:
                    total = self.sums[golden]
                    count = max(total[3], 1.0)
                    out[golden] = np.concatenate(self.picked[golden])
                    out[golden + INDEX] = spread_indices(self.shapes[golden], self.kept[golden])
                    out[golden + NORMS] = np.array([total[0] / count, np.sqrt(total[1] / count), total[2]])
                if quantity == "param":
                    whole[f"final.{parameter}"] = np.atleast_1d(final[key])
            for name, value in whole.items():
                kept = self.kept.get(name, value.size)
                out |= {name: value.copy()} if kept >= value.size else sample(name, value, kept)
        return out
