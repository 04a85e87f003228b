"""What is reproducible, tested: two runs on one machine are byte-identical; 1 thread against 2 threads
agrees within the stated tolerance (measured on the tutorial networks: bit-identical).

The report's results.json has its own byte-identity test; this module covers traces and goldens.
"""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from crosscheck import registry
from crosscheck.compare import FLOAT64_ATOL, FLOAT64_RTOL
from crosscheck.goldens import golden_view
from crosscheck.trace import scratch_trace, start, twin_trace
from tutorials.networks import NETWORK_2_2_1, NETWORK_3_4_1, SIGMOID_NEURON

ROOT = Path(__file__).resolve().parent.parent
# Steps of each run that these tests repeat: every stage of a step and several curve points, in about
# a second per run (the full runs are the battery's).
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


@pytest.mark.parametrize("case", [SIGMOID_NEURON, NETWORK_2_2_1, NETWORK_3_4_1], ids=lambda c: c.name)
def test_a_second_run_gives_byte_identical_traces_and_goldens(case):
    params, batches = start(case)
    first, second = (
        (scratch_trace(case, params, batches[:PREFIX]), twin_trace(case, params, batches[:PREFIX])) for _ in range(2)
    )
    for side, a, b in zip(("scratch", "twin"), first, second, strict=True):
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


# One thread, set the only way that holds for every pool: in the environment of a fresh interpreter,
# before NumPy's BLAS and torch's OpenMP load.
CHILD = """
import sys
import numpy as np
import torch
from crosscheck import registry
from tests.test_determinism import run_all

steps, out = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(1)
names = list(registry())
np.savez(out, torch_threads=np.array(torch.get_num_threads()), names=np.array(names), **run_all(names, steps))
"""


def test_one_thread_and_two_threads_agree_within_tolerance(tmp_path):
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    pythonpath = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    out = tmp_path / "one_thread.npz"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(PREFIX), str(out)],
        cwd=ROOT,
        env=os.environ | one_thread | {"PYTHONPATH": pythonpath},
        stderr=subprocess.PIPE,
    )
    # Two threads here, at run time, while the child works (the cases [tool.crosscheck] lists are the
    # child's too: registry() imports them).
    names = list(registry())
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.get_num_threads() == 2
        two = run_all(names, PREFIX)
    finally:
        torch.set_num_threads(previous)

    _, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr.decode()
    one = dict(np.load(out))
    assert int(one.pop("torch_threads")) == 1
    child_names = [str(n) for n in one.pop("names")]
    assert {"sigmoid_neuron", "network_2_2_1", "network_3_4_1"} <= set(child_names) <= set(names)
    two = {k: v for k, v in two.items() if k.split("|")[0] in child_names}

    assert one.keys() == two.keys()
    worst = 0.0
    for key, a in one.items():
        b = two[key]
        assert (a.dtype, a.shape) == (b.dtype, b.shape), key
        diff = np.abs(a - b)
        worst = max(worst, float(diff.max(initial=0.0)))
        bad = ~(diff <= FLOAT64_ATOL + FLOAT64_RTOL * np.abs(b))
        assert not bad.any(), f"{key}: 1 thread and 2 threads differ by {diff.max():.3g} at {np.argwhere(bad)[0]}"
    # Bounded by the tolerance above; on the tutorial networks (tiny matrices: no kernel splits its work
    # across threads) the measured difference is exactly 0. Printed so that a change shows with -s.
    print(f"largest difference, 1 thread against 2: {worst:.3g}")
