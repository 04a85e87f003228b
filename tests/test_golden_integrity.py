"""A golden cannot pass by accident: each way a golden can be wrong is tried on a copy in tmp_path.

The committed files are only read: every damaged golden here is a copy, because this module's
``original_datadir`` (which ``ndarrays_regression`` writes to) is a temporary folder.
"""

import shutil

import numpy as np
import pytest

from crosscheck import registry
from crosscheck.goldens import (
    GOLDEN_DIR,
    REGENERATE,
    GoldenError,
    check_golden,
    golden_view,
    load_golden,
    orphan_goldens,
    regeneration_refusal,
)
from crosscheck.networks import NETWORK_3_4_1
from crosscheck.trace import traces

CASE = NETWORK_3_4_1  # the smallest golden and the quickest run


@pytest.fixture(autouse=True)
def no_regeneration(request, monkeypatch):
    """These tests are about what a normal run does, whatever flags this session was given."""
    monkeypatch.setattr(request.config.option, "force_regen", False)
    monkeypatch.setattr(request.config.option, "regen_all", False)


@pytest.fixture
def original_datadir(tmp_path):
    folder = tmp_path / "goldens"
    folder.mkdir()
    return folder


@pytest.fixture
def data():
    scratch, _ = traces(CASE)
    return golden_view(scratch)  # copies: the tests below may change them


@pytest.fixture
def golden(original_datadir):
    path = original_datadir / f"{CASE.name}.npz"
    shutil.copyfile(GOLDEN_DIR / path.name, path)
    return path


def rewrite(path, **changes):
    """Save the golden at ``path`` again with some arrays replaced."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(path, **(arrays | changes))
    return arrays


def check(regression, data, path):
    check_golden(regression, data, basename=path.stem)


def test_an_intact_copy_passes(golden, data, ndarrays_regression):
    check(ndarrays_regression, data, golden)  # so each failure below comes from the damage alone


def test_the_golden_view_is_a_copy_of_the_cached_trace():
    scratch, _ = traces(CASE)
    before = scratch["init.weights1"].copy()
    golden_view(scratch)["init.weights1"][0, 0] += 1.0
    np.testing.assert_array_equal(scratch["init.weights1"], before)


# --- missing -------------------------------------------------------------------------------------


def test_a_missing_golden_is_written_and_fails(original_datadir, data, ndarrays_regression, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    path = original_datadir / f"{CASE.name}.npz"
    with pytest.raises(pytest.fail.Exception) as excinfo:
        check(ndarrays_regression, data, path)
    assert str(excinfo.value) == f"File not found in data directory, created:\n- {path}"
    assert path.is_file()


def test_a_missing_golden_in_ci_fails_and_is_not_written(original_datadir, data, ndarrays_regression, monkeypatch):
    monkeypatch.setenv("CI", "true")
    path = original_datadir / f"{CASE.name}.npz"
    with pytest.raises(GoldenError) as excinfo:
        check(ndarrays_regression, data, path)
    assert str(excinfo.value) == (
        f"golden file {path} is missing, and in CI a missing golden is not written (a run must not pass on "
        f"values it has just created); generate it on purpose with `{REGENERATE}` and commit it"
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
    # A byte inside the first member's compressed data (the local header is 30 bytes + a short name).
    damaged = bytearray(raw)
    damaged[200] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize("damage", [garbage, truncated, empty, bit_flip], ids=lambda f: f.__name__)
def test_a_corrupt_golden_names_the_file_and_the_command(damage, golden, data, ndarrays_regression):
    golden.write_bytes(damage(golden.read_bytes()))
    with pytest.raises(GoldenError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == (
        f"golden file {golden} is corrupt or truncated and cannot be read; restore the committed file from git, "
        f"or regenerate goldens on purpose with `{REGENERATE}`"
    )


# --- NaN, Inf, dtype, shape --------------------------------------------------------------------------


def test_nan_in_a_golden_fails(golden, data, ndarrays_regression):
    curve = data["curve"].copy()
    curve[3] = np.nan
    rewrite(golden, curve=curve)
    with pytest.raises(GoldenError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == (
        f"golden file {golden} does not fit this run:\n"
        "  curve: the golden holds NaN or Inf\n"
        f"regenerate goldens on purpose with `{REGENERATE}` if the change is intended"
    )


def test_nan_in_both_the_golden_and_the_run_fails(golden, data, ndarrays_regression):
    """pytest-regressions compares with equal_nan=True: NaN against NaN would pass there."""
    data["first_loss"][1] = np.inf
    data["curve"][0] = np.nan
    rewrite(golden, curve=data["curve"], first_loss=data["first_loss"])
    with pytest.raises(AssertionError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == "network_3_4_1: this run's first_loss has NaN or Inf"


def test_a_float32_golden_fails(golden, data, ndarrays_regression):
    rewrite(golden, **{"final.weights2": data["final.weights2"].astype(np.float32)})
    with pytest.raises(GoldenError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == (
        f"golden file {golden} does not fit this run:\n"
        "  final.weights2: the golden is float32, not float64\n"
        "  final.weights2: this run gives float64 but the golden is float32\n"
        f"regenerate goldens on purpose with `{REGENERATE}` if the change is intended"
    )


def test_a_float32_run_fails_against_a_float64_golden(golden, data, ndarrays_regression):
    """pytest-regressions accepts any numeric dtype against any other; the case's dtype is enforced here."""
    data["init.weights1"] = data["init.weights1"].astype(np.float32)
    with pytest.raises(AssertionError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == "network_3_4_1: this run's init.weights1 is float32, not float64"


def test_a_golden_of_another_shape_fails(golden, data, ndarrays_regression):
    rewrite(golden, first_loss=data["first_loss"][:4], forward=data["forward"].ravel())
    with pytest.raises(GoldenError) as excinfo:
        check(ndarrays_regression, data, golden)
    assert str(excinfo.value) == (
        f"golden file {golden} does not fit this run:\n"
        "  first_loss: this run gives shape (5,) but the golden has (4,)\n"
        "  forward: this run gives shape (4, 1) but the golden has (4,)\n"
        f"regenerate goldens on purpose with `{REGENERATE}` if the change is intended"
    )


def test_a_wrong_value_still_fails_in_pytest_regressions(golden, data, ndarrays_regression):
    data["final.weights1"][2, 3] *= 1 + 1e-9  # beyond rtol 1e-10: the comparison itself is tight
    with pytest.raises(AssertionError, match=r"Values are not sufficiently close\.\n"):
        check(ndarrays_regression, data, golden)


# --- orphans -------------------------------------------------------------------------------------


def test_no_committed_golden_is_an_orphan():
    orphans = orphan_goldens(GOLDEN_DIR, registry())
    assert not orphans, (
        f"golden files that no registered case reads: {[p.name for p in orphans]}; a case was renamed or "
        f"removed (delete the file), or its module is missing from [tool.crosscheck] cases in pyproject.toml"
    )


def test_a_renamed_case_leaves_an_orphan(original_datadir, golden):
    renamed = original_datadir / "network_3_4_1_old.npz"
    shutil.copyfile(golden, renamed)
    assert orphan_goldens(original_datadir, registry()) == [renamed]


@pytest.mark.parametrize("flag", ["force_regen", "regen_all"])
def test_a_damaged_golden_can_be_regenerated_on_purpose(flag, golden, data, ndarrays_regression, monkeypatch, request):
    monkeypatch.delenv("CI", raising=False)
    golden.write_bytes(b"damaged")
    monkeypatch.setattr(request.config.option, flag, True)
    if flag == "force_regen":  # pytest-regressions writes the file and fails the test, as it always does
        with pytest.raises(pytest.fail.Exception, match="File not found in data directory, created"):
            check(ndarrays_regression, data, golden)
    else:
        check(ndarrays_regression, data, golden)
    rewritten = load_golden(golden)
    assert rewritten.keys() == data.keys()
    for key, value in data.items():
        np.testing.assert_array_equal(rewritten[key], value, err_msg=key)


# --- no regeneration in CI -------------------------------------------------------------------------


def refusal(flags, ci="true"):
    return (
        f"{flags} refused: CI={ci!r} says this is a CI run, and a CI run must never rewrite the goldens it "
        f"checks. Regenerate them on purpose on a developer machine with `{REGENERATE}`, review "
        "`git diff --stat tests/goldens`, and commit them."
    )


def test_regeneration_is_refused_only_in_ci():
    assert regeneration_refusal(True, False, {"CI": "true"}) == refusal("--force-regen")
    assert regeneration_refusal(True, True, {"CI": "1"}) == refusal("--force-regen and --regen-all", ci="1")
    assert regeneration_refusal(False, True, {"CI": "yes"}) == refusal("--regen-all", ci="yes")
    assert regeneration_refusal(True, True, {}) is None
    assert regeneration_refusal(True, True, {"CI": "false"}) is None
    assert regeneration_refusal(False, False, {"CI": "true"}) is None


@pytest.mark.parametrize("flag", ["--force-regen", "--regen-all"])
def test_the_conftest_refuses_regeneration_under_ci(flag, pytester, monkeypatch, request):
    pytester.makeconftest((request.path.parent / "conftest.py").read_text())
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {refusal(flag)}" in result.stderr.lines
    monkeypatch.delenv("CI")
    assert pytester.runpytest(flag).ret == pytest.ExitCode.OK  # the same run is allowed on a developer machine
