"""What is reproducible, tested: two runs on one machine are byte-identical; 1 thread against 2 threads
agrees within the stated tolerance (measured: bit-identical on the tutorial networks; up to 7.1e-15 on the
BatchNorm example's twin, whose batch statistics torch reduces in an order that depends on the thread count).

The report's results.json has its own byte-identity test; this module covers traces and goldens.
"""

import io
import re
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from crosscheck import registry
from crosscheck.golden_view import FIRST_STEPS, golden_view
from crosscheck.run.scratch import scratch_trace
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from crosscheck.tolerance import FLOAT64_ATOL, FLOAT64_RTOL
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON

# Steps of each run that the thread test repeats: every stage of a step and several curve points, so that a
# difference in the last bits has steps to grow past the tolerance in (the full runs are the battery's).
PREFIX = 200


def npz_bytes(arrays):
    """The bytes ``ndarrays_regression`` would write for these arrays (it calls np.savez_compressed)."""
    f = io.BytesIO()
    np.savez_compressed(f, **arrays)
    return f.getvalue()


def assert_byte_identical(first, second, what):
    assert first.keys() == second.keys(), what
    for key in first:
        a, b = first[key], second[key]
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{what} {key}"
        assert a.tobytes() == b.tobytes(), f"{what} {key}: a second run in the same process differs"


def byte_steps(case):
    """Steps enough to compare bytes: a difference between two runs is a difference from the step where it
    arises, with nothing to grow through, so what must run is every code path once: every stage of a step,
    the golden's first steps and final parameters, and the curve recorded twice (at step 0 or the first
    recorded step, and again after training steps have moved the parameters)."""
    return max(FIRST_STEPS, int(case.data.curve_steps[1]) + 1)


@pytest.mark.parametrize("case", [SIGMOID_NEURON, NETWORK_2_2_1, NETWORK_3_4_1], ids=lambda c: c.name)
def test_a_second_run_gives_byte_identical_traces_and_goldens(case):
    params, batches = start(case)
    steps = batches[: byte_steps(case)]
    first, second = ((scratch_trace(case, params, steps), twin_trace(case, params, steps)) for _ in range(2))
    for side, a, b in zip(("scratch", "twin"), first, second, strict=True):
        assert len(a["curve"]) == 2, f"{case.name} {side}: the prefix should record the curve twice"
        assert_byte_identical(a, b, f"{case.name} {side}")
        assert npz_bytes(golden_view(a)) == npz_bytes(golden_view(b)), f"{case.name} {side} golden bytes differ"


def run_all(names, steps):
    """Every named case's scratch and twin traces over its first ``steps`` steps, flattened."""
    cases, arrays = registry(), {}
    for name in names:
        params, batches = start(cases[name])
        for side, trace in (("scratch", scratch_trace), ("twin", twin_trace)):
            for key, value in trace(cases[name], params, batches[:steps]).items():
                arrays[f"{name}|{side}|{key}"] = value
    return arrays


def pools():
    """(kind, library, threads) of every thread pool threadpoolctl finds: NumPy's BLAS, torch's OpenMP
    runtime, and any other loaded (SciPy's BLAS, scikit-learn's OpenMP runtime)."""
    return [(p["user_api"], p["filepath"], p["num_threads"]) for p in threadpool_info()]


# The thread count is set in this process, at run time, and that holds the guarantee: what a result can
# depend on is how each kernel call splits its work, and each call reads the count when it runs.
# torch.set_num_threads(n) stores ATen's count (a thread torch starts later takes it from there), calls
# omp_set_num_threads (the OpenMP regions of ATen's parallel_for and of MKL under it) and
# mkl_set_num_threads_local, sizes the pthreadpool, and clears oneDNN's cached primitives
# (aten/src/ATen/ParallelOpenMP.cpp); the twin's backward runs on this thread (CPU autograd uses the
# calling thread). threadpool_limits(n) calls openblas_set_num_threads, which NumPy's BLAS reads at every
# call, and omp_set_num_threads of every OpenMP runtime loaded. Each count is asserted as the library
# itself reports it, and all are restored afterwards.
# What this cannot cover, and a fresh interpreter with OMP_NUM_THREADS=1 would: what a library reads
# once, when it loads or first runs. Torch's inter-op pool (set_num_interop_threads is refused once it is
# used; no op here runs there), OpenMP's OMP_PROC_BIND / OMP_WAIT_POLICY / OMP_DYNAMIC and OpenBLAS's
# per-thread buffers (sized at load; a lower limit only uses fewer) place and wait for threads without
# changing how the work is split; a cache that a library keys by the thread count at first use and keeps
# across set_num_threads (oneDNN's is cleared; MKL's own, if any, is not visible from here) could carry
# a 2-thread choice into the 1-thread run. And the 2-thread OpenMP pool started earlier stays alive,
# idle, while the count is 1.
@contextmanager
def threads(n):
    """NumPy's BLAS, torch and every OpenMP runtime in this process at ``n`` threads for the block."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            found = pools()
            assert "blas" in [kind for kind, _, _ in found], f"NumPy's BLAS is not among the pools: {found}"
            assert [count for _, _, count in found] == [n] * len(found), found
            assert torch.get_num_threads() == n
            # torch's MKL is linked into libtorch, out of threadpoolctl's sight; torch reports it.
            mkl = re.search(r"mkl_get_max_threads\(\) : (\d+)", torch.__config__.parallel_info())
            assert mkl is None or int(mkl.group(1)) == n, torch.__config__.parallel_info()
            yield
    finally:
        torch.set_num_threads(previous)


def test_one_thread_and_two_threads_agree_within_tolerance():
    names = list(registry())
    assert {"sigmoid_neuron", "network_2_2_1", "network_3_4_1"} <= set(names)
    before, torch_before = pools(), torch.get_num_threads()
    with threads(1):
        one = run_all(names, PREFIX)
    with threads(2):
        two = run_all(names, PREFIX)
    assert (pools(), torch.get_num_threads()) == (before, torch_before), "the thread settings were not restored"

    assert one.keys() == two.keys()
    worst = 0.0
    for key, a in one.items():
        b = two[key]
        assert (a.dtype, a.shape) == (b.dtype, b.shape), key
        diff = np.abs(a - b)
        worst = max(worst, float(diff.max(initial=0.0)))
        bad = ~(diff <= FLOAT64_ATOL + FLOAT64_RTOL * np.abs(b))
        assert not bad.any(), f"{key}: 1 thread and 2 threads differ by {diff.max():.3g} at {np.argwhere(bad)[0]}"
    # Bounded by the tolerance above; measured: exactly 0 on the tutorial networks (tiny matrices: no kernel
    # splits its work across threads), 7.1e-15 on batchnorm_net's twin (the running variance). Printed so
    # that a change shows with -s.
    print(f"largest difference, 1 thread against 2: {worst:.3g}")
