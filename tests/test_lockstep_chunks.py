"""A run stepped a step a chunk is the run stepped in one chunk: every figure the checks, reports and diagnosis
read, to the bit.

A large network's run is compared a step at a time (``crosscheck.lockstep.CHUNK_BYTES``), and such a chunk takes
its rows as the recorders copied them, without stacking them again; a small network's whole run is one chunk.
Both must give the same verdicts, divergences, per-step maxima, golden view, curves and kept values; and the
comparison kernel's short way (a float64 run far inside its bound) must give the figures of the long one.
"""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.compare import BLOCK, compare, differences, relative_differences
from crosscheck.lockstep import Run, run_case
from crosscheck.registration import registry
from crosscheck.run.start import start

CASES = {
    "adam_schedule": "adam_schedule.NET",  # Adam state, a scheduler's rate
    "adam_schedule_bugged": "adam_schedule.bugged_case()",
    "batchnorm": "batchnorm_net.NET",  # buffers
    "batchnorm_bugged": "batchnorm_net.bugged_case()",
    "small_cnn": "small_cnn.NET",  # transposed and indexed links, gradients captured inside the network's own step
    "planted_late": "edge_of_stability.PLANTED_LATE",  # a divergence of the anchored steps deep in the run
}


def example(name: str):
    """The example case ``name`` stands for, its module imported only now and after the project's own cases (an
    example module registers its case on import, and tests/test_report.py reads the registry's order)."""
    import importlib

    registry()
    module, _, attribute = CASES[name].partition(".")
    value = getattr(importlib.import_module(f"examples.{module}"), attribute.removesuffix("()"))
    return value() if attribute.endswith("()") else value


def same_arrays(a: dict, b: dict, what: str) -> None:
    assert list(a) == list(b), what
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), f"{what}: {key}"


def same_run(one: Run, stepwise: Run) -> None:
    assert one.training_run.as_dict() == stepwise.training_run.as_dict()
    assert one.anchored_steps is not None and stepwise.anchored_steps is not None
    assert one.anchored_steps.as_dict() == stepwise.anchored_steps.as_dict()
    assert sorted(one.maxima) == sorted(stepwise.maxima)
    for key in one.maxima:
        for x, y in zip(one.maxima[key], stepwise.maxima[key], strict=True):
            assert x.tobytes() == y.tobytes(), key
    for side in range(2):
        same_arrays(one.first[side], stepwise.first[side], "first step")
        same_arrays(one.golden[side], stepwise.golden[side], "golden")
        same_arrays(one.curves[side], stepwise.curves[side], "curves")
    assert sorted(one.values) == sorted(stepwise.values)
    for step in one.values:
        for side in range(2):
            same_arrays(
                dict(sorted(one.values[step][side].items())),
                dict(sorted(stepwise.values[step][side].items())),
                f"values at {step}",
            )


@pytest.mark.parametrize("name", list(CASES))
def test_a_run_a_step_a_chunk_is_the_run_in_one_chunk(name):
    case = example(name)
    params, batches = start(case)
    one = run_case(case, params, batches, budget=2**40)
    stepwise = run_case(case, params, batches, budget=1)
    same_run(one, stepwise)
    if name.endswith(("_bugged", "_late")):  # the diverging cases diverge, and the equality covers their facts
        assert not (one.training_run.passed and one.anchored_steps.passed)


def reference(a: np.ndarray, b: np.ndarray, atol: float, rtol: float):
    """The figures of one stepped quantity the long way: every element's difference, tolerance and ratio."""
    diff, tol, bad = differences(a, b, atol, rtol)
    shown = np.where(np.isfinite(a) & np.isfinite(b), diff, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(shown == 0, 0.0, shown / tol)
    rel = relative_differences(diff, b)
    rows = len(a)
    return (
        float(diff.max()),
        float(np.nanmax(rel)),
        shown.reshape(rows, -1).max(axis=1),
        ratio.reshape(rows, -1).max(axis=1),
        np.argwhere(bad)[0] if bad.any() else None,
    )


ROUNDING = {
    "far_inside": lambda b, rng: b * (1 + rng.normal(size=b.shape) * 1e-16),
    "equal": lambda b, rng: b.copy(),
    "zeros_equal": lambda b, rng: np.zeros_like(b),
    "one_element_beyond": lambda b, rng: np.where(np.arange(b.size).reshape(b.shape) == b.size - 37, b + 1e-6, b),
    "at_atol": lambda b, rng: b + 1e-12,
}


@pytest.mark.parametrize("shape", [(4, 6, 5), (2, BLOCK + 7)], ids=["small", "blocks"])  # two blocks and a bit
@pytest.mark.parametrize("atol,rtol", [(1e-12, 1e-10), (0.0, 0.0), (0.0, 1e-10)], ids=["float64", "exact", "rtol"])
@pytest.mark.parametrize("kind", list(ROUNDING))
def test_the_kernels_short_way_gives_the_long_ways_figures(kind, atol, rtol, shape):
    rng = np.random.default_rng(7)
    b = rng.normal(size=shape)
    if kind == "zeros_equal":
        b = np.zeros_like(b)
    a = ROUNDING[kind](b, rng)
    maxima: dict = {}
    result = compare("n", "training_run", {"param.W": a}, {"param.W": b}, ["param.W"], dtype=np.dtype(np.float64),
                     atol=atol, rtol=rtol, maxima=maxima)  # fmt: skip
    largest, rel, row_abs, row_ratio, first_bad = reference(a, b, atol, rtol)
    assert result.max_abs == largest and result.max_rel == rel
    anchored = compare("n", "anchored_steps", {"param.W": a}, {"param.W": b}, ["param.W"], dtype=np.dtype(np.float64),
                       atol=atol, rtol=rtol)  # fmt: skip
    assert (anchored.max_abs, anchored.max_rel, anchored.first_divergence) == (largest, rel, result.first_divergence)
    assert np.array_equal(maxima["param.W"][0], row_abs) and np.allclose(maxima["param.W"][1], row_ratio, rtol=1e-15)
    d = result.first_divergence
    if first_bad is None:
        assert d is None
    else:
        assert d is not None and (d.step, *d.index) == tuple(int(i) for i in first_bad)


def test_torch_steps_on_one_thread_and_gets_its_count_back_however_the_runs_end():
    # Torch's pool and NumPy's BLAS pool contend for the cores when the sides step in turn: torch takes one thread
    # for the run; the count comes back when the last run stepping ends (the float32 drift zips two runs).
    import torch

    from crosscheck.lockstep import chunks
    from crosscheck.precision import drift

    case = example("adam_schedule")
    params, batches = start(case)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = [torch.get_num_threads() for _ in chunks(case, params, batches[:3], size=1)]
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
        unfinished = chunks(case, params, batches[:3], size=1)
        next(unfinished)
        assert torch.get_num_threads() == 1
        unfinished.close()  # a run left before its end (a refusal, a consumer that stops)
        assert torch.get_num_threads() == 2
        drift(case)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_blas_pools_step_on_one_thread_and_get_their_counts_back():
    # A BLAS pool's threads spin between a step's small products, and oversubscribe a busy machine (measured with
    # one core busy: 15.5 s against 7.5 s of wall time for 500 steps of a 1e5-parameter Adam run).
    from threadpoolctl import threadpool_info, threadpool_limits

    from crosscheck.lockstep import chunks

    def blas() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    case = example("adam_schedule")
    params, batches = start(case)
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas() and set(blas()) == {2}
        seen = [blas() for _ in chunks(case, params, batches[:3], size=1)]
        assert all(set(counts) == {1} for counts in seen), seen
        assert set(blas()) == {2}
        unfinished = chunks(case, params, batches[:3], size=1)
        next(unfinished)
        unfinished.close()
        assert set(blas()) == {2}
