"""A golden cannot pass by accident: each way a golden can be wrong is tried on a golden in tmp_path.

The harness's own fixture network is used, not a tutorial network, so that a bug in a tutorial network
fails that network's checks only: each test writes the fixture's golden into a temporary folder, damages
it, and hands the folder to ``check_golden``.  The plugin's part (flags, CI refusal, orphans, the
summary) is tried in nested pytest runs in tests/test_plugin.py.
"""

import io
import struct
import zipfile

import numpy as np
import pytest
from fixture_net import make_case

from crosscheck.goldens import GoldenError, check_golden, golden_view, load_golden, orphan_goldens, write_golden
from crosscheck.run.memo import traces
from crosscheck.settings import regeneration_refusal

CASE = make_case(name="fixture_golden", steps=8)
HINT = (
    "regenerate it on purpose with `pytest --force-regen -k fixture_golden-golden` (outside CI), review the "
    "change to {folder}/ and commit it"
)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "goldens"
    path.mkdir()
    return path


@pytest.fixture
def golden(folder):
    path = folder / f"{CASE.name}.npz"
    write_golden(path, golden_view(traces(CASE)[0]))
    return path


@pytest.fixture
def data():
    scratch, _ = traces(CASE)
    return golden_view(scratch)  # copies: the tests below may change them


def rewrite(path, **changes):
    """Save the golden at ``path`` again with some arrays replaced."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(path, **(arrays | changes))
    return arrays


def check(folder, run=None, **flags):
    # pytest-regressions' copy of the golden and its .obtained file go to a work folder beside the goldens' one.
    work = folder.parent / "work"
    check_golden(CASE, folder, run or traces(CASE), workdir=work, environ=flags.pop("environ", {}), **flags)


def test_an_intact_copy_passes(golden):
    check(golden.parent)  # so each failure below comes from the damage alone


def test_the_golden_view_is_a_copy_of_the_cached_trace():
    scratch, _ = traces(CASE)
    before = scratch["init.W1"].copy()
    golden_view(scratch)["init.W1"][0, 0] += 1.0
    np.testing.assert_array_equal(scratch["init.W1"], before)


# --- missing -------------------------------------------------------------------------------------


def test_a_missing_golden_is_written_and_fails(folder, data):
    path = folder / f"{CASE.name}.npz"
    with pytest.raises(GoldenError) as excinfo:
        check(folder)
    assert str(excinfo.value) == (
        f"fixture_golden / golden: no golden file yet (first run), written {path}; review it and commit it"
    )
    written = load_golden(path)
    assert written.keys() == data.keys()
    for key, value in data.items():
        np.testing.assert_array_equal(written[key], value, err_msg=key)
    check(folder)  # the second run compares, and passes


def test_a_missing_golden_in_ci_fails_and_is_not_written(folder):
    path = folder / f"{CASE.name}.npz"
    with pytest.raises(GoldenError) as excinfo:
        check(folder, environ={"CI": "true"})
    assert str(excinfo.value) == (
        f"fixture_golden / golden: golden file {path} is missing, and in CI a missing golden is not written (a run "
        f"must not pass on values it has just created); generate it on a developer machine with "
        f"`pytest --force-regen -k fixture_golden-golden`, review it and commit it"
    )
    assert not path.exists()


# --- corrupt or truncated --------------------------------------------------------------------------


def garbage(raw):
    return b"this is not a zip archive"


def truncated(raw):
    return raw[: len(raw) // 2]


def empty(raw):
    return b""


def bit_flip(raw):
    """One byte flipped inside the first member's compressed data (after its local header)."""
    first = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    name_length, extra_length = struct.unpack("<HH", raw[first.header_offset + 26 : first.header_offset + 30])
    at = first.header_offset + 30 + name_length + extra_length + first.compress_size // 2
    damaged = bytearray(raw)
    damaged[at] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize("damage", [garbage, truncated, empty, bit_flip], ids=lambda f: f.__name__)
def test_a_corrupt_golden_names_the_file_and_the_command(damage, golden):
    golden.write_bytes(damage(golden.read_bytes()))
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value) == (
        f"golden file {golden} is corrupt or truncated and cannot be read; restore the committed file from "
        f"version control, or {HINT.format(folder=golden.parent)}"
    )


# --- NaN, Inf, dtype, shape, keys ----------------------------------------------------------------------


def fits_not(golden, *problems):
    return (
        f"fixture_golden / golden: golden file {golden} does not fit this run:\n  "
        + "\n  ".join(problems)
        + f"\nif the change is intended, {HINT.format(folder=golden.parent)}"
    )


def test_nan_in_a_golden_fails(golden, data):
    curve = data["curve"].copy()
    curve[1] = np.nan
    rewrite(golden, curve=curve)
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value) == fits_not(golden, "curve: the golden holds NaN or Inf")


def test_nan_in_the_run_fails_before_any_golden_is_read(golden, monkeypatch):
    """pytest-regressions compares with equal_nan=True: NaN against NaN would pass there."""
    scratch, twin = traces(CASE)
    broken = dict(twin, curve=np.where(np.arange(len(twin["curve"])) == 0, np.nan, twin["curve"]))
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent, (scratch, broken))
    assert str(excinfo.value) == "fixture_golden: this run's curve has NaN or Inf on the twin side"


def test_a_float32_golden_fails(golden, data):
    rewrite(golden, **{"final.W2": data["final.W2"].astype(np.float32)})
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value) == fits_not(golden, "final.W2: the golden is float32, not float64")


def test_a_float32_run_fails_against_a_float64_golden(golden, monkeypatch):
    """pytest-regressions accepts any numeric dtype against any other; the case's dtype is enforced here."""
    scratch, twin = traces(CASE)
    narrowed = dict(scratch, **{"init.W1": scratch["init.W1"].astype(np.float32)})
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent, (narrowed, twin))
    assert str(excinfo.value) == "fixture_golden: this run's init.W1 is float32 on the scratch side, not float64"


def test_a_golden_of_another_shape_fails(golden, data):
    rewrite(golden, first_loss=data["first_loss"][:4], forward=data["forward"].ravel())
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value) == fits_not(
        golden,
        "first_loss: this run gives shape (5,) but the golden has (4,)",
        "forward: this run gives shape (6, 1) but the golden has (6,)",
    )


def test_a_golden_with_an_array_too_many_or_too_few_fails(golden, data):
    arrays = rewrite(golden, extra=np.zeros(2))
    del arrays["curve"]
    np.savez_compressed(golden, **arrays, extra=np.zeros(2))
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value) == fits_not(
        golden, "curve: the run has it, the golden does not", "extra: the golden has it, the run does not"
    )


def test_a_wrong_value_names_the_side_the_array_and_the_element(golden, data):
    changed = data["final.W1"].copy()
    changed[1, 2] *= 1 + 1e-9  # beyond rtol 1e-10: the comparison is tight
    rewrite(golden, **{"final.W1": changed})
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    message = str(excinfo.value)
    assert message.startswith(f"fixture_golden / golden: the scratch and twin sides part from {golden}:\n  scratch: ")
    assert "\n  scratch: final.W1[1, 2]: run = " in message
    assert "\n  twin: final.W1[1, 2]: run = " in message
    assert message.endswith(
        "both sides moved together: the network changed on purpose, or the data or initialisation did; "
        f"if the change is intended, {HINT.format(folder=golden.parent)}"
    )


def test_one_side_moving_is_named(golden, monkeypatch):
    scratch, twin = traces(CASE)
    moved = dict(twin, loss=twin["loss"] + np.where(np.arange(len(twin["loss"])) == 2, 1e-6, 0.0))
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent, (scratch, moved))
    message = str(excinfo.value)
    assert message.startswith(
        f"fixture_golden / golden: the twin side parts from {golden}:\n  twin: first_loss at step 2: "
    )
    assert "only the twin side moved: look there first" in message


# --- regeneration ----------------------------------------------------------------------------------


def test_force_regen_rewrites_a_damaged_golden_and_fails(golden, data):
    golden.write_bytes(b"damaged")
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent, force_regen=True)
    assert str(excinfo.value) == (
        f"fixture_golden / golden: the golden could not be read; --force-regen set, written {golden}; review it "
        "and commit it"
    )
    rewritten = load_golden(golden)
    assert rewritten.keys() == data.keys()
    for key, value in data.items():
        np.testing.assert_array_equal(rewritten[key], value, err_msg=key)
    check(golden.parent)


def test_regen_all_rewrites_the_golden_and_lets_the_check_pass(golden, data):
    """pytest-regressions' --regen-all: "Regenerate all files, letting tests pass"."""
    intact = golden.read_bytes()
    golden.write_bytes(b"damaged")
    check(golden.parent, regen_all=True)
    assert golden.read_bytes() == intact  # the same run writes the same bytes


def test_regen_all_writes_no_golden_from_a_run_whose_sides_disagree(golden):
    scratch, twin = traces(CASE)
    before = golden.read_bytes()
    with pytest.raises(GoldenError, match=r"not written: scratch and twin disagree"):
        check(golden.parent, (scratch, dict(twin, loss=twin["loss"] + 1e-6)), regen_all=True)
    assert golden.read_bytes() == before


def test_a_mismatch_leaves_its_obtained_file_in_the_work_folder_not_beside_the_golden(golden, data):
    changed = data["final.W1"].copy()
    changed[0, 0] += 1e-6
    rewrite(golden, **{"final.W1": changed})
    obtained = golden.parent.parent / "work" / "goldens" / "fixture_golden.obtained.npz"
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert f"\n  this run's values (scratch side), to diff: {obtained}\n" in str(excinfo.value)
    np.testing.assert_array_equal(load_golden(obtained)["final.W1"], data["final.W1"])
    assert [p.name for p in golden.parent.iterdir()] == [golden.name]


def test_pytest_regressions_compares_the_values_at_crosscheck_tolerances(golden, data, monkeypatch):
    """Its comparison runs after crosscheck's own reading: with that reading blinded, its own per-array
    tolerances (1e-12, 1e-10, not its defaults 1e-8, 1e-5) still fail a golden off by 1e-9 relative."""
    monkeypatch.setattr("crosscheck.goldens._fault", lambda *args: (None, {}))
    rewrite(golden, **{"final.W1": data["final.W1"] * (1 + 1e-9)})
    with pytest.raises(GoldenError) as excinfo:
        check(golden.parent)
    assert str(excinfo.value).startswith(f"fixture_golden / golden: {golden} differs from this run (")
    assert "Values are not sufficiently close." in str(excinfo.value)


def test_force_regen_leaves_a_matching_golden_alone(golden):
    before = golden.read_bytes()
    check(golden.parent, force_regen=True)
    assert golden.read_bytes() == before


def test_no_golden_is_written_from_a_run_whose_sides_disagree(folder, monkeypatch):
    scratch, twin = traces(CASE)
    moved = dict(twin, loss=twin["loss"] + 1e-6)
    with pytest.raises(GoldenError) as excinfo:
        check(folder, (scratch, moved))
    assert str(excinfo.value) == (
        f"fixture_golden / golden: {folder / 'fixture_golden.npz'} not written: scratch and twin disagree "
        "(loss, training_run failed), and a golden must record a run the battery passes; fix the failing checks first"
    )
    assert not list(folder.iterdir())


def test_a_golden_write_is_atomic(folder, monkeypatch):
    """A write killed midway leaves the old file (or none), never a torn one, and no temporary file."""
    path = folder / "g.npz"
    write_golden(path, {"a": np.arange(3.0)})

    def killed(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", killed)
    with pytest.raises(KeyboardInterrupt):
        write_golden(path, {"a": np.arange(4.0)})
    np.testing.assert_array_equal(load_golden(path)["a"], np.arange(3.0))
    assert [p.name for p in folder.iterdir()] == ["g.npz"]


# --- no regeneration in CI -------------------------------------------------------------------------


def refusal(flags, folder, ci="true"):
    return (
        f"{flags} refused: CI={ci!r} says this is a CI run, and a CI run must never rewrite the goldens it "
        f"checks. Regenerate them on purpose on a developer machine with `pytest --force-regen -k golden`, "
        f"review the change to {folder}/, and commit it."
    )


def test_regeneration_is_refused_only_in_ci(folder):
    assert regeneration_refusal(True, False, folder, {"CI": "true"}) == refusal("--force-regen", folder)
    assert regeneration_refusal(True, True, folder, {"CI": "1"}) == refusal(
        "--force-regen and --regen-all", folder, ci="1"
    )
    assert regeneration_refusal(False, True, folder, {"CI": "yes"}) == refusal("--regen-all", folder, ci="yes")
    assert regeneration_refusal(True, True, folder, {}) is None
    assert regeneration_refusal(True, True, folder, {"CI": "false"}) is None
    assert regeneration_refusal(False, False, folder, {"CI": "true"}) is None


# --- orphans ---------------------------------------------------------------------------------------


def test_only_a_crosscheck_golden_can_be_an_orphan(golden, folder):
    renamed = folder / "renamed_net.npz"
    renamed.write_bytes(golden.read_bytes())
    np.savez(folder / "users_own.npz", a=np.arange(3))  # a project's own arrays in the same folder
    (folder / "notes.npz").write_text("not even a zip")
    (folder / "fixture_golden.obtained.npz").write_bytes(golden.read_bytes())
    assert orphan_goldens(folder, [CASE.name]) == [renamed]


def test_a_golden_rewritten_with_the_same_values_keeps_its_bytes_whatever_the_runs_order(golden, data):
    """--regen-all on unchanged code must leave `git status` clean, also for a golden written when the run
    recorded its quantities in another order (the bytes of an .npz follow the order of its arrays)."""
    reordered = dict(reversed(list(data.items())))
    write_golden(golden, reordered)
    before = golden.read_bytes()
    check(golden.parent, regen_all=True)
    assert golden.read_bytes() == before
