"""Each case's runs, computed once and handed to whoever checks them.

``RUNS`` is the one memo of the library: a case's full run (``crosscheck.lockstep.Run``: both sides stepped
together and compared as they went, what the checks and reports read of it; never both sides' whole traces) and
its first step, by case object, with both sides as they stood entering the steps the oracles replay
(``crosscheck.run.snapshot``: the first, middle and last step, taken while the run steps; any other step, the
first diverging one say, by stepping the run again to it, only when asked).  An entry lives exactly as long as
its case object (a registered case, for the life of the process; a test's own case, until the test drops it),
and a case built anew, even under the same name, gets a run of its own.  ``RUNS.scope()`` bounds what a block
computes to the block (a test that patches a network).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Collection, Iterator

from crosscheck.case import Case
from crosscheck.errors import StepError
from crosscheck.keys import Pair
from crosscheck.lockstep import Run, chunks, run_case
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.snapshot import Capture, Entering, default_steps
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace


class Runs:
    """The full runs and first steps of cases, by case object."""

    def __init__(self) -> None:
        self._full: dict[int, Run] = {}
        # A run refused at some step, by case: every later reader gets the same refusal, not the run again.
        self._refused: dict[int, StepError] = {}
        self._checked: dict[int, set[str]] = {}  # the checks of each case's battery that have run
        self._first: dict[int, Pair] = {}
        # Both sides entering a step, by case and step: those of the run at the default seed (three steps, kept as
        # long as the run) and those of the latest replay to another step (one step, kept until the next).
        self._snapshots: dict[int, dict[int, Entering]] = {}
        self._replayed: dict[int, dict[int, Entering]] = {}
        self._watched: set[int] = set()
        # Called with the case each time a full run is computed: a project's gate can count them (this
        # repository's tests fail a run that computes a registered case's full run twice).
        self.on_full_run: list[Callable[[Case], None]] = []

    def _watch(self, case: Case) -> None:
        # When the case object goes, its runs go with it: an id is reused by a later object, a run never is.
        if id(case) not in self._watched:
            self._watched.add(id(case))
            weakref.finalize(case, self.forget, id(case))

    def full(self, case: Case) -> Run:
        """The case's whole run, both sides stepped together (``crosscheck.lockstep``)."""
        run = self._full.get(id(case))
        if id(case) in self._refused:
            raise self._refused[id(case)]
        if run is None:
            # The first step computed alone (for the first step's checks) is the full run's step 0 again, and so is
            # its snapshot: let go before the run, not after it, as a large network's copies would count at its peak.
            self._first.pop(id(case), None)
            if id(case) in self._snapshots:  # a new dict, not a change in place: a scope's saved copy shares it
                self._snapshots[id(case)] = {s: e for s, e in self._snapshots[id(case)].items() if s != 0}
            params, batches = start(case)
            capture = Capture(case, default_steps(len(batches)))
            try:
                run = self._full[id(case)] = run_case(case, params, batches, capture)
            except StepError as exc:
                self._refused[id(case)] = exc
                self._watch(case)
                raise
            # A new dict, not an update: a scope's saved copy shares the old one.
            self._snapshots[id(case)] = {**self._snapshots.get(id(case), {}), **capture.taken()}
            self._watch(case)
            for observe in self.on_full_run:
                observe(case)
        return run

    def first_step(self, case: Case) -> Pair:
        """(scratch, twin) traces of the run's first step, equal to the full run's step 0: the full run's when it
        is already computed; else one step, so that a network broken at step 0 fails in milliseconds rather than
        after its whole run."""
        full = self._full.get(id(case))
        if full is not None:
            return full.first
        pair = self._first.get(id(case))
        if pair is None:
            params, batches = start(case)
            capture = Capture(case, [0])
            pair = self._first[id(case)] = (
                scratch_trace(case, params, batches[:1], before_step=capture.scratch_hook),
                twin_trace(case, params, batches[:1], before_step=capture.twin_hook),
            )
            self._snapshots[id(case)] = {**self._snapshots.get(id(case), {}), **capture.taken()}
            self._watch(case)
        return pair

    def entering(self, case: Case, steps: Collection[int]) -> dict[int, Entering]:
        """Both sides as they stood entering each of ``steps`` of the case's run (default seed): the snapshots
        taken while it stepped, else from one replay of the run up to the last step missing (deterministic, so
        the same states; it costs that many steps, and only the steps asked for are kept, until the next replay)."""
        kept = {**self._snapshots.get(id(case), {}), **self._replayed.get(id(case), {})}
        missing = sorted(set(steps) - set(kept))
        if missing:
            params, batches = start(case)
            capture = Capture(case, missing)
            for _ in chunks(case, params, batches[: missing[-1] + 1], anchored=False, capture=capture):
                pass  # each chunk dropped as it comes: only the snapshots are wanted
            replayed = self._replayed[id(case)] = capture.taken()
            self._watch(case)
            kept.update(replayed)
        return {s: kept[s] for s in steps}

    def checked(self, case: Case, check: str, battery: Collection[str]) -> None:
        """``check`` of the case's ``battery`` has run: once all have, the snapshots its oracles started from are
        let go (a large network's copies entering three steps), and a later replay (a diagnosis) steps the run to
        the step it needs again."""
        done = self._checked.setdefault(id(case), set())
        done.add(check)
        if done >= set(battery):
            self._snapshots.pop(id(case), None)
            self._replayed.pop(id(case), None)

    def forget(self, case_id: int) -> None:
        self._full.pop(case_id, None)
        self._refused.pop(case_id, None)
        self._checked.pop(case_id, None)
        self._first.pop(case_id, None)
        self._snapshots.pop(case_id, None)
        self._replayed.pop(case_id, None)
        self._watched.discard(case_id)

    def clear(self) -> None:
        """Forget every run (a mutation run recomputes them under each mutant)."""
        self._full.clear()
        self._refused.clear()
        self._checked.clear()
        self._first.clear()
        self._snapshots.clear()
        self._replayed.clear()

    def has_full(self, case: Case) -> bool:
        return id(case) in self._full

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """What the block computes is forgotten when it ends; what was there before stays."""
        kept = dict(self._full), dict(self._first), dict(self._snapshots), dict(self._replayed), dict(self._refused)
        try:
            yield
        finally:
            self._full, self._first, self._snapshots, self._replayed, self._refused = kept


RUNS = Runs()


def traces(case: Case, seed: int | None = None) -> Pair:
    """(scratch, twin) traces of the case's whole run, every quantity at every step, computed anew (not kept: a
    large network's would not fit; the checks read ``RUNS.full``)."""
    params, batches = start(case, seed)
    return scratch_trace(case, params, batches), twin_trace(case, params, batches)


def first_step_traces(case: Case) -> Pair:
    """(scratch, twin) traces of the case's first step, from ``RUNS``."""
    return RUNS.first_step(case)
