"""Both sides stepped together and compared as they go: a case's run, kept as what its readers need.

The scratch network, the twin and the anchored scratch network (which enters every step from the twin's state)
are stepped a chunk of steps at a time (``chunks``); each chunk is recorded, compared, folded into a ``Run`` and
dropped.  The first chunk is the first step alone (the checks of the first step read it); after it, as many
steps as ``CHUNK_BYTES`` holds, measured on the first step's records: a tutorial network's whole run is then one
chunk (as fast as recording it whole), a network of a million parameters a step or two (memory that does not
grow with the run).

A ``Run`` keeps: the first step on both sides (``first``), the free run's and the anchored steps' comparisons
over every step, the largest difference of every quantity at every step (the plots and the chain of a step) and
of the anchored step at the anchored steps' first divergence (that step's chain, from the shared state), what the
golden keeps (``crosscheck.golden_view``: sampled as the steps come where it would be large), the loss and curve
of every step, and of both sides' values at the steps the oracles and the diagnosis replay (the first, middle and
last step, each comparison's first divergence) what they read: the twin's parameters, optimizer state and buffers
entering the step, and the gradients there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from crosscheck.case import Batch, Case, Params
from crosscheck.compare import Comparison, Workspace, compare, merge
from crosscheck.golden_view import GoldenStream
from crosscheck.keys import STEPPED, Pair, Trace, split_key
from crosscheck.run.scratch import anchored_record, as_trace, record_steps, scratch_head, scratch_network
from crosscheck.run.snapshot import Capture, default_steps
from crosscheck.run.twin import TwinRecorder
from crosscheck.tolerance import bounds

# What one chunk's records (all sides) may take: 4 MiB holds a tutorial network's whole run, a 1e4-parameter MLP's
# steps by the handful, and a 1e5-parameter network's one at a time (a larger budget costs memory and saves no
# time: measured at 1e4 and 1e5 parameters, 16 MiB took 20-40 MB more at the peak for the same CPU, 64 MiB 100 MB
# more; a step a chunk costs a 1e4-parameter run half its CPU again in per-chunk work).
CHUNK_BYTES = 4 * 2**20
# The free run's quantities, compared at every step by ``training_run``.
TRAINING_KEYS = ("output", "buffer", "loss", "dloss", "grad", "lr", "state", "param", "curve")


def tolerance(case: Case, steps: int) -> tuple[float, float]:
    """(atol, rtol) for the case's dtype over ``steps`` steps of rounding (the rule and its measured reason:
    ``crosscheck.tolerance``); a float64 case's own ``Tolerance``, with its reason, in place of the fixed bound."""
    own = own_tolerance(case)
    return own if own is not None else bounds(case.dtype, steps)


def own_tolerance(case: Case) -> tuple[float, float] | None:
    """A float64 case's own ``Tolerance`` as (atol, rtol); None where it has none, or is not float64."""
    own = case.tolerance
    if own is not None and np.dtype(case.dtype) == np.float64:
        return float(own.atol), float(own.rtol)
    return None


@dataclass(frozen=True)
class Chunk:
    """Steps ``first``, ``first + 1``, ... of a run, as each side recorded them (the first chunk with what comes
    before training: initial parameters, the forward on the whole dataset); ``anchored``: the scratch side's steps
    each taken from the twin's state; ``others``: more twins, from other initial parameters."""

    first: int
    scratch: Trace
    twin: Trace
    anchored: Trace | None
    others: tuple[Trace, ...] = ()
    # The twin's parameters, optimizer state and buffers entering step ``first`` (after the step before; the
    # initial parameters at step 0): what the anchored network starts the chunk from.
    entering: Trace = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.twin["loss"])

    def curve_steps(self, case: Case) -> list[int]:
        """The curve's steps among this chunk's, in the order the run records them."""
        return sorted({int(s) for s in case.data.curve_steps if self.first <= s < self.first + self.steps})


def _stepped_bytes(*traces: Trace | None) -> int:
    return sum(a.nbytes for t in traces if t for k, a in t.items() if split_key(k)[0] in STEPPED)


def chunks(
    case: Case,
    params: Params,
    batches: Sequence[Batch],
    *,
    anchored: bool = True,
    others: Sequence[Params] = (),
    capture: Capture | None = None,
    budget: int = CHUNK_BYTES,
    size: int | None = None,
) -> Iterator[Chunk]:
    """The run over ``batches`` from ``params``, a chunk at a time; each side lives on between chunks (the scratch
    network, the twin's module, optimizer and scheduler).  ``capture``'s hooks snapshot both sides as they step.
    ``size``: the steps of every chunk after the first (default: as many as ``budget`` holds)."""
    with _one_thread():
        yield from _chunks(case, params, batches, anchored, others, capture, budget, size)


class _Stepping:
    """Runs stepping now, torch's thread count before the first and the BLAS pools' limits: runs may be stepped
    side by side (the float32 drift zips two), and the counts are restored when the last of them ends, whichever
    ends first."""

    runs = 0
    threads = 1
    blas: threadpool_limits | None = None


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Torch and the BLAS libraries on one thread while the sides step in turn, their counts restored after: the
    pools otherwise wait on each other for the same cores at every step, and a BLAS pool's threads spin between
    a step's small products (measured, a 1e5-parameter Adam run on an idle 2-core machine: 24 s with torch's
    default two threads, 12 s with one; 500 steps of it with NumPy's OpenBLAS on two threads: 5.5 s of wall and
    10.2 s of CPU time, on one 5.7 s and 6.6 s, and with another process keeping one core busy, 15.5 s against
    7.5 s).  Results agree across thread counts within the float64 bound (tests/test_determinism.py)."""
    if _Stepping.runs == 0:
        # The BLAS limits set first and restored before torch's count: restoring them resets torch's count (seen
        # with NumPy's OpenBLAS beside torch's OpenMP pool).
        _Stepping.blas = threadpool_limits(limits=1, user_api="blas")
        _Stepping.threads = torch.get_num_threads()
        torch.set_num_threads(1)
    _Stepping.runs += 1
    try:
        yield
    finally:
        _Stepping.runs -= 1
        if _Stepping.runs == 0:
            if _Stepping.blas is not None:
                _Stepping.blas.restore_original_limits()
                _Stepping.blas = None
            torch.set_num_threads(_Stepping.threads)


def _chunks(
    case: Case,
    params: Params,
    batches: Sequence[Batch],
    anchored: bool,
    others: Sequence[Params],
    capture: Capture | None,
    budget: int,
    size: int | None,
) -> Iterator[Chunk]:
    net = scratch_network(case, params)
    scratch_start = scratch_head(case, net, params)
    twin = TwinRecorder(case, params, before_step=capture.twin_hook if capture else None)
    twin_start = twin.head()
    anchored_net = scratch_network(case, params) if anchored else None
    other = [TwinRecorder(case, p) for p in others]
    entering: Trace = {f"param.{k}": v for k, v in params.items()}
    scratch_hook = capture.scratch_hook if capture else None
    first, step = 0, 1
    while first < len(batches):
        part = batches[first : first + step]
        scratch = as_trace(case, record_steps(case, net, part, first=first, before_step=scratch_hook))
        # The data is verified unchanged after the first step and at the end (``TwinRecorder.check_data``), not
        # after every chunk: a large dataset read whole at each of a large network's one-step chunks would cost
        # more than the step.
        recorded = twin.record(part, first, check_data=first == 0)
        anchored_part = anchored_record(case, anchored_net, part, first, recorded, entering) if anchored_net else None
        others = tuple(t.record(part, first, check_data=False) for t in other)
        if first == 0:
            scratch, recorded = scratch_start | scratch, twin_start | recorded
            step_bytes = _stepped_bytes(scratch, recorded, anchored_part, *others)
            step = max(1, budget // max(1, step_bytes)) if size is None else size
        yield Chunk(first, scratch, recorded, anchored_part, others, entering)
        # Copies, but of a chunk of one step (a large network's), whose rows a view holds no more of than a copy.
        entering = row(recorded, -1, ENTERING, copy=len(part) > 1)
        first += len(part)
    twin.check_data(len(batches) - 1)


# What enters a step: the parameters, optimizer state and buffers after the step before.
ENTERING = ("param", "state", "buffer")


def row(trace: Trace, i: int, quantities: Collection[str] = STEPPED, copy: bool = True) -> Trace:
    """The quantities of ``trace`` (default: every stepped one) at its row ``i``, copied (else views: a view keeps
    the whole array alive)."""
    return {k: np.array(v[i]) if copy else v[i] for k, v in trace.items() if split_key(k)[0] in quantities}


class _Series:
    """One quantity's rows over a run, written a chunk at a time into an array made for the whole run: a large
    network's chunks are single steps, and a small array kept from each of them scatters the heap between the
    chunks' large ones, which it then cannot give back (measured: 44 MB more over 1,200 steps at 1e5 parameters)."""

    def __init__(self, n: int) -> None:
        self.n, self.filled, self.rows = n, 0, np.empty(0)

    def add(self, rows: np.ndarray) -> None:
        if self.filled == 0:
            self.rows = np.empty((max(self.n, len(rows)), *rows.shape[1:]), rows.dtype)
        elif rows.dtype != self.rows.dtype:  # as concatenating them would: the wider dtype (a side's loss refused)
            self.rows = self.rows.astype(np.result_type(self.rows, rows))
        end = self.filled + len(rows)
        if end > len(self.rows):  # more rows than the run has steps: only a run made of other traces
            self.rows = np.concatenate([self.rows[: self.filled], rows])
        else:
            self.rows[self.filled : end] = rows
        self.filled = end

    def array(self) -> np.ndarray:
        return self.rows[: self.filled]


@dataclass
class Run:
    """A case's run as its readers need it (the module's docstring says what is kept)."""

    name: str
    steps: int
    first: Pair
    training_run: Comparison
    anchored_steps: Comparison | None  # None for a run made from traces alone (``run_of``)
    maxima: dict[str, tuple[np.ndarray, np.ndarray]]  # by key: the largest |diff| and |diff| / tolerance each step
    golden: Pair  # each side's golden view (``crosscheck.golden_view``)
    curves: Pair  # ``loss`` and ``curve`` over the whole run
    values: dict[int, Pair] = field(default_factory=dict)  # what the replays read of both sides, by step
    # By key: the largest |diff| and |diff| / tolerance of the anchored step at the anchored steps' first divergence
    # (the chain of that step: it entered from the twin's state, which the free run's figures there are not).
    anchored_chain: dict[str, tuple[float, float]] = field(default_factory=dict)

    def values_at(self, step: int) -> Pair | None:
        """What the run kept of both sides at ``step``: at a comparison's first divergence, the gradients and the
        parameters, optimizer state and buffers after it; at the step before, those after it (entering the
        divergence); at a step finite differences replay, the scratch gradients a network's own step leaves."""
        return self.values.get(step)


def run_case(
    case: Case, params: Params, batches: Sequence[Batch], capture: Capture | None = None, budget: int = CHUNK_BYTES
) -> Run:
    """Step the run over ``batches`` on both sides, comparing each chunk as it comes (``training_run`` at the
    bound of the whole run's rounding, ``anchored_steps`` at one step's), keeping what ``Run`` holds."""
    return fold(case, len(batches), chunks(case, params, batches, capture=capture, budget=budget))


def run_of(case: Case, run: Pair) -> Run:
    """The ``Run`` of both sides' whole traces (a test's, a notebook's, ``crosscheck.run.memo.traces``), folded as
    one chunk; it has no anchored steps, which are taken only while the sides step."""
    return fold(case, len(run[1]["loss"]), [Chunk(0, run[0], run[1], None)])


def fold(case: Case, n: int, stretches: Iterable[Chunk]) -> Run:
    """A run of ``n`` steps from its chunks, in order, each compared and dropped as it comes."""
    atol, rtol = tolerance(case, n)
    atol1, rtol1 = tolerance(case, 1)
    dtype = np.dtype(case.dtype)
    replayed = set(default_steps(n))
    own_step = case.calls.gradients is None
    free: Comparison | None = None
    anchored: Comparison | None = None
    first_pair: Pair = ({}, {})
    rows: dict[str, tuple[_Series, _Series]] = {}
    golden: tuple[GoldenStream, GoldenStream] | None = None
    losses = (_Series(n), _Series(n))
    curves: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])  # a few points: the case's curve steps
    values: dict[int, Pair] = {}
    previous: Trace | None = None  # the scratch side's state after the chunk before
    anchored_chain: dict[str, tuple[float, float]] = {}
    curve_points = len({int(s) for s in case.data.curve_steps if 0 <= s < n})
    work = Workspace()
    for chunk in stretches:
        scratch, twin, start, count = chunk.scratch, chunk.twin, chunk.first, chunk.steps
        keys = [k for k in scratch if split_key(k)[0] in TRAINING_KEYS]
        if start == 0:
            first_pair = (scratch, twin)
            shown = [k for k in scratch if split_key(k)[0] in ("init", "forward", *TRAINING_KEYS)]
            golden = (
                GoldenStream({k: scratch[k] for k in shown}, n, curve_points),
                GoldenStream({k: twin[k] for k in shown if k in twin}, n, curve_points),
            )
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        chunk_free = compare(
            case.name, "training_run", scratch, twin, keys, curve_steps=chunk.curve_steps(case), first=start,
            dtype=dtype, atol=atol, rtol=rtol, maxima=found, work=work,
        )  # fmt: skip
        chunk_anchored = None
        if chunk.anchored is not None:
            anchored_keys = [k for k in chunk.anchored if split_key(k)[0] in STEPPED]
            chunk_anchored = compare(
                case.name, "anchored_steps", chunk.anchored, twin, anchored_keys, first=start, dtype=dtype,
                atol=atol1, rtol=rtol1, work=work,
            )  # fmt: skip
        # What the replays and the diagnosis read: the gradients and the state after the step at each comparison's
        # first divergence, and the state entering it (after the step before); at the steps finite differences
        # replay, a scratch gradient they cannot compute.
        if own_step:  # finite differences read the gradients a network's own step leaves behind
            for s in replayed:
                if start <= s < start + count:
                    values.setdefault(s, ({}, {}))[0].update(row(scratch, s - start, ("grad",)))
        d = chunk_anchored.first_divergence if chunk_anchored is not None else None
        if (anchored is None or anchored.first_divergence is None) and d is not None and d.step is not None:
            assert chunk.anchored is not None
            step_figures: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            compare(
                case.name, "anchored_steps", chunk.anchored, twin, anchored_keys, steps=slice(d.step - start,
                d.step - start + 1), first=start, dtype=dtype, atol=atol1, rtol=rtol1, maxima=step_figures,
                work=work,
            )  # fmt: skip
            anchored_chain = {k: (float(largest[0]), float(ratio[0])) for k, (largest, ratio) in step_figures.items()}
        wanted = set()
        for before, now in ((free, chunk_free), (anchored, chunk_anchored)):
            d = now.first_divergence if now is not None else None
            if (before is None or before.first_divergence is None) and d is not None and d.step is not None:
                wanted.add(d.step)
        for s in sorted(wanted):
            at = values.setdefault(s, ({}, {}))
            for side, trace in zip(at, (scratch, twin), strict=True):
                side.update(row(trace, s - start, ("grad", *ENTERING)))
            if s - 1 >= start:
                after = values.setdefault(s - 1, ({}, {}))
                for side, trace in zip(after, (scratch, twin), strict=True):
                    side.update(row(trace, s - 1 - start, ENTERING))
            elif s >= 1 and previous is not None:
                # The step before is the last of the chunk before: the scratch side's kept from it, the twin's as
                # the chunk entered it.
                after = values.setdefault(s - 1, ({}, {}))
                after[0].update(previous)
                after[1].update(chunk.entering)
        free = chunk_free if free is None else merge(free, chunk_free)
        if chunk_anchored is not None:
            anchored = chunk_anchored if anchored is None else merge(anchored, chunk_anchored)
        if chunk_free.problem is None:
            for key, (largest, ratio) in found.items():
                abs_rows, ratio_rows = rows.setdefault(key, (_Series(n), _Series(n)))
                abs_rows.add(largest)
                ratio_rows.add(ratio)
        assert golden is not None
        for stream, trace in zip(golden, (scratch, twin), strict=True):
            stream.add({k: trace[k] for k in keys if k in trace}, start)
        for trace, loss, curve in zip((scratch, twin), losses, curves, strict=True):
            loss.add(trace["loss"])
            if len(trace["curve"]):
                curve.append(np.array(trace["curve"]))
        previous = row(scratch, count - 1, ENTERING, copy=count > 1)
    assert free is not None and golden is not None
    whole = tuple(
        {"loss": loss.array(), "curve": np.concatenate(curve) if curve else trace["curve"][:0].copy()}
        for loss, curve, trace in zip(losses, curves, (scratch, twin), strict=True)
    )
    return Run(
        name=case.name,
        steps=n,
        first=first_pair,
        training_run=free,
        anchored_steps=anchored,
        maxima={k: (a.array(), r.array()) for k, (a, r) in rows.items()},
        golden=(golden[0].view(), golden[1].view()),
        curves=(whole[0], whole[1]),
        values=values,
        anchored_chain=anchored_chain,
    )
