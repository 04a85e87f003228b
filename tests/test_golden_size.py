"""A golden stays small whatever the network: beyond a size its largest arrays are kept as samples with norms.

A 64-300-1 network of the fixture's kind (its golden view holds 231,000 values, over the 150,000 kept whole)
is written sampled; a change in an element the golden does not keep is caught by the norms, one in an element
it keeps is named by its full index, and a golden sampled for another shape does not fit the run.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from fixture_net import make_case
from torch import nn

from crosscheck.golden_view import BUDGET, INDEX, NORMS, SAMPLE_BUDGET, golden_view, kept_counts, spread_indices
from crosscheck.goldens import GoldenError, check_golden, load_golden, write_golden
from crosscheck.lockstep import run_case
from crosscheck.run.memo import traces
from crosscheck.run.start import start

N_IN, HIDDEN, POINTS = 64, 300, 32
_rng = np.random.default_rng(22)
X = _rng.normal(size=(POINTS, N_IN))
Y = np.tanh(X @ _rng.normal(size=(N_IN, 1)) / np.sqrt(N_IN))


class WideTwin(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.hidden, self.act, self.out = (
            nn.Linear(N_IN, HIDDEN, dtype=dtype),
            nn.Tanh(),
            nn.Linear(HIDDEN, 1, dtype=dtype),
        )

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def wide_init(rng):
    return {
        "W1": rng.normal(size=(N_IN, HIDDEN)) / np.sqrt(N_IN),
        "b1": np.zeros(HIDDEN),
        "W2": rng.normal(size=(HIDDEN, 1)) / np.sqrt(HIDDEN),
        "b2": np.zeros(1),
    }


# The fixture's scratch network takes any sizes; only its twin is fixed at 2-3-1.
CASE = make_case(name="wide_golden", steps=8, init=wide_init, module=WideTwin, X=X, y=Y)
HINT = (
    "regenerate it on purpose with `pytest --force-regen -k wide_golden-golden` (outside CI), review the "
    "change to {folder}/ and commit it"
)


@pytest.fixture
def golden(tmp_path):
    path = tmp_path / "goldens" / f"{CASE.name}.npz"
    write_golden(path, golden_view(traces(CASE)[0]))
    return path


def check(golden, run=None):
    check_golden(CASE, golden.parent, run or traces(CASE), workdir=golden.parent.parent / "work", environ={})


def npz_size(arrays):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return len(buffer.getvalue())


def test_a_big_layer_is_kept_as_a_sample_under_the_bound(golden):
    scratch, _ = traces(CASE)
    whole = sum(np.asarray(v[:5] if k.split(".")[0] in ("grad", "param") else v).size for k, v in scratch.items())
    assert whole > BUDGET  # so the golden below is sampled
    arrays = load_golden(golden)
    sampled = sorted(k for k in arrays if k + INDEX in arrays)
    assert sampled == ["final.W1", "first_grad.W1", "first_param.W1", "init.W1"]
    assert all(arrays[k + NORMS].shape == (3,) for k in sampled)
    assert sum(v.size for k, v in arrays.items() if not k.endswith((INDEX, NORMS))) <= SAMPLE_BUDGET
    assert golden.stat().st_size < 1_000_000
    check(golden)  # and it passes against the run it came from


def test_a_784_1024_10_adam_golden_stays_under_a_megabyte():
    """Issue 22's network, from a trace of its shapes (the golden keeps 5 steps, init, final): 137 MB in full."""
    rng = np.random.default_rng(0)
    steps, shapes = 20, {"W1": (784, 1024), "b1": (1024,), "W2": (1024, 10), "b2": (10,)}
    trace = {f"init.{k}": rng.normal(size=s) for k, s in shapes.items()}
    trace |= {"forward": rng.normal(size=(1000, 10)), "loss": rng.normal(size=steps), "curve": rng.normal(size=8)}
    trace |= {"output": rng.normal(size=(steps, 64, 10)), "dloss": rng.normal(size=(steps, 64, 10))}
    for k, s in shapes.items():
        for quantity in ("grad", "state.exp_avg", "state.exp_avg_sq", "param"):
            trace[f"{quantity}.{k}"] = rng.normal(size=(steps, *s))
    assert npz_size(golden_view(trace)) < 1_000_000


def test_the_sample_is_evenly_spread_first_and_last_included_by_integer_arithmetic():
    # Pinned: every machine and NumPy version must pick these elements, or committed goldens stop fitting.
    np.testing.assert_array_equal(spread_indices((2, 5), 4), [[0, 0], [0, 3], [1, 1], [1, 4]])
    index = spread_indices((5, 784, 1024), 3343)
    assert index.dtype == np.int64
    assert tuple(index[0]) == (0, 0, 0) and tuple(index[-1]) == (4, 783, 1023)
    flat = np.ravel_multi_index(tuple(index.T), (5, 784, 1024))
    assert np.all(np.diff(flat) > 0)


def test_the_budget_is_shared_out_and_small_arrays_stay_whole():
    assert kept_counts({"a": 100_000, "b": 50_000}) == {"a": 100_000, "b": 50_000}  # within BUDGET: whole
    kept = kept_counts({"a": 10, "m": 1_000, "b": 100_000, "c": 200_000})
    assert kept == {"a": 10, "m": 1_000, "b": 32_263, "c": 32_263}  # what a and m leave goes to b and c
    deep = kept_counts({f"layer{i}": 100_000 for i in range(500)})  # a deep network: the bound holds
    assert sum(deep.values()) <= SAMPLE_BUDGET


def test_every_committed_golden_is_kept_whole():
    """The budget keeps the committed goldens as they were written, before sampling existed."""
    for path in sorted((Path(__file__).parent / "goldens").glob("*.npz")):
        arrays = load_golden(path)
        assert not [k for k in arrays if k.endswith(INDEX)], path.name
        assert sum(v.size for v in arrays.values()) <= BUDGET, path.name


def parted(golden, where):
    return (
        f"wide_golden / golden: the scratch and twin sides part from {golden}:\n"
        f"  scratch: {where}\n  twin: {where}\n"
        f"  this run's values (scratch side), to diff: {golden.parent.parent / 'work' / 'goldens'}/"
        f"wide_golden.obtained.npz\n"
        "both sides moved together: the network changed on purpose, or the data or initialisation did; "
        f"if the change is intended, {HINT.format(folder=golden.parent)}"
    )


def test_a_change_in_an_element_the_golden_does_not_keep_is_caught_by_the_norms(golden):
    scratch, _ = traces(CASE)
    index = load_golden(golden)["init.W1" + INDEX]
    unkept = next(i for i in np.ndindex(N_IN, HIDDEN) if i not in {tuple(row) for row in index})
    moved = dict(scratch, **{"init.W1": scratch["init.W1"].copy()})
    moved["init.W1"][unkept] += 1e-3  # one element of 19,200: the mean |x| moves 5e-8, its tolerance 1e-12 + 1e-11
    write_golden(golden, golden_view(moved))
    with pytest.raises(GoldenError) as excinfo:
        check(golden)
    values = float(load_golden(golden)["init.W1" + NORMS][0]), float(golden_view(scratch)["init.W1" + NORMS][0])
    assert str(excinfo.value) == parted(
        golden,
        f"init.W1 mean |x| (of all its elements): run = {values[1]!r}, golden = {values[0]!r}, |difference| = "
        f"{abs(values[1] - values[0]):.3g} > tolerance {1e-12 + 1e-10 * abs(values[0]):.3g} (atol 1e-12 + rtol "
        f"1e-10 * |golden|); the golden keeps a sample of init.W1 (shape (64, 300)): compared {len(index)} of "
        f"19200 elements and the norms",
    )


def test_a_change_in_a_kept_element_is_named_by_its_full_index(golden):
    arrays = load_golden(golden)
    at = 1000
    step, row, column = arrays["first_grad.W1" + INDEX][at]
    changed = arrays["first_grad.W1"].copy()
    changed[at] += 1e-6
    np.savez_compressed(golden, **(arrays | {"first_grad.W1": changed}))
    with pytest.raises(GoldenError) as excinfo:
        check(golden)
    message = str(excinfo.value)
    assert f"\n  scratch: first_grad.W1[{row}, {column}] at step {step}: run = " in message
    note = (
        "(atol 1e-12 + rtol 1e-10 * |golden|); the golden keeps a sample of first_grad.W1 (shape (5, 64, 300)): "
        f"compared {len(changed)} of 96000 elements and the norms\n"
    )
    assert message.count(note) == 2  # both sides


def test_elements_within_the_tolerance_pass_the_norms_too(golden):
    """The norms are held to the elements' own tolerance: a run whose every element is within it passes."""
    scratch, _ = traces(CASE)
    write_golden(golden, golden_view(dict(scratch, **{"init.W1": scratch["init.W1"] * (1 + 9e-11)})))
    check(golden)


def test_a_golden_sampled_for_another_shape_does_not_fit_the_run(golden):
    arrays = load_golden(golden)
    other = spread_indices((HIDDEN, N_IN), len(arrays["init.W1"]))
    np.savez_compressed(golden, **(arrays | {"init.W1" + INDEX: other}))
    with pytest.raises(GoldenError) as excinfo:
        check(golden)
    assert str(excinfo.value) == (
        f"wide_golden / golden: golden file {golden} does not fit this run:\n  init.W1.index: the golden keeps "
        "other elements of init.W1 than this run samples (its array had another shape, or the golden another "
        f"budget)\nif the change is intended, {HINT.format(folder=golden.parent)}"
    )


@pytest.mark.parametrize("budget", [64 * 2**20, 1], ids=["one_chunk_after_step_0", "a_step_a_chunk"])
def test_the_run_keeps_the_golden_view_of_its_whole_traces_without_holding_them(budget):
    # The lockstep run picks a large golden's samples as the steps come: the same elements and values as the view
    # of the whole traces; the norms, summed chunk by chunk, within the golden's own tolerance of the whole array's.
    params, batches = start(CASE)
    run = run_case(CASE, params, batches, budget=budget)
    for side, whole in zip(run.golden, traces(CASE), strict=True):
        expected = golden_view({k: v for k, v in whole.items() if k in traces(CASE)[0]})
        # The scratch side's order is the file's; the twin's view is compared by key.
        assert sorted(side) == sorted(expected) and any(k.endswith(INDEX) for k in side)
        assert list(run.golden[0]) == list(golden_view(traces(CASE)[0]))
        for key, value in expected.items():
            if key.endswith(NORMS):
                np.testing.assert_allclose(side[key], value, rtol=1e-13, atol=0, err_msg=key)
            else:
                assert side[key].dtype == value.dtype and np.array_equal(side[key], value), key


def test_a_small_runs_golden_view_is_byte_for_byte_the_whole_traces():
    small = make_case(name="small_golden", steps=12)
    params, batches = start(small)
    run = run_case(small, params, batches, budget=1)  # a step a chunk: the first five steps over five chunks
    scratch, twin = traces(small)
    for side, whole in zip(run.golden, (scratch, {k: v for k, v in twin.items() if k in scratch}), strict=True):
        expected = golden_view(whole)
        assert sorted(side) == sorted(expected)
        assert list(run.golden[0]) == list(golden_view(scratch))
        assert all(side[k].tobytes() == v.tobytes() for k, v in expected.items())
