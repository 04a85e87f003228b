"""Issue 23, round 3.  The finite-difference oracle on runs it cannot judge everywhere: a run that diverges is
named as such (no crash, no "all three disagree: nan, nan, nan"); a ReLU kink within the step is declined, and
the other elements are judged.  Batches torch reads otherwise or rejects are refused at ``register``.  Golden
files are written as a plain write would (mode, links), leave nothing behind, and say what to do when their folder
cannot take them; every CI service's variable counts."""

import os
import stat

import numpy as np
import pytest
from torch import nn

from crosscheck import RegistrationError, register
from crosscheck.checks import run_check
from crosscheck.finite_diff import central_difference, finite_difference_votes
from crosscheck.goldens import GoldenError, check_golden
from crosscheck.run.memo import traces
from crosscheck.settings import in_ci, regeneration_refusal
from tests.fixture_net import Net, X, make_case


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_is_named_not_finite_by_the_oracle():
    # lr 1e3 on the fixture: the linear output's weights grow a thousandfold a step, and are NaN by step 59 (a
    # project without filterwarnings = error lets the run go on: with it, the run stops at the first overflow).
    case = make_case(name="fixture_diverges", steps=60, learning_rate=1e3, curve_steps=[0])
    result = run_check(case, "finite_differences")
    assert not result.passed
    assert result.problem is not None
    assert result.problem.text == (
        "at step 59, the scratch network enters the step with W1[0, 0] = nan: the run diverged before it, and "
        "finite differences judge a finite run only; lower the learning rate, or find where the run stops being "
        "finite"
    )


def test_an_estimate_that_overflows_is_not_finite_not_an_exception():
    # The third difference's step cubed overflowed as a float power (OverflowError) for |p| beyond ~1e105.
    estimate = central_difference(lambda x: x * x, 1e160)
    assert not estimate.finite


class ReluNet(Net):
    """The fixture with a ReLU hidden layer: a pre-activation at exactly 0 is a kink of the loss."""

    def forward(self, x):
        self.h = np.maximum(x @ self.W1 + self.b1, 0.0)
        self.output = self.h @ self.W2 + self.b2
        return self.output

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size
        self.d_h = d_out @ self.W2.T
        d_h = self.d_h * (self.h > 0)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}


class ReluTwin(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.hidden, self.act, self.out = nn.Linear(2, 3, dtype=dtype), nn.ReLU(), nn.Linear(3, 1, dtype=dtype)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def relu_case(X=X):
    # Zero biases and an all-zero input row: that row's pre-activations are exactly 0 at step 0.
    return make_case(
        name="fixture_relu",
        X=X,
        build=lambda params, lr: ReluNet(**params),
        forward=ReluNet.forward,
        gradients=ReluNet.gradients,
        module=ReluTwin,
    )


ZERO_ROW = np.vstack([np.zeros((1, 2)), X[1:]])


def test_a_correct_relu_network_at_a_kink_passes_with_the_kink_declined():
    case = relu_case(ZERO_ROW)
    comparison = run_check(case, "finite_differences")
    assert comparison.passed, comparison.problem
    result = finite_difference_votes(case, traces(case))
    declined = result.declined
    assert declined and all(v.step == 0 and v.parameter == "b1" for v in declined)
    assert declined[0].verdict.startswith("not smooth here: one-sided slopes ")
    assert declined[0].verdict.endswith("; finite differences do not judge this element")
    assert len(result.judged) == len(result.votes) - len(declined) > 0
    assert "not judged, the loss not smooth within the step there (at step 0, gradient of b1" in result.detail()


def test_a_wrong_relu_gradient_is_still_caught_off_the_kink():
    def wrong(self, x, y):
        return ReluNet.gradients(self, x, y) | {"W2": -ReluNet.gradients(self, x, y)["W2"]}

    case = make_case(
        name="fixture_relu_wrong",
        X=ZERO_ROW,
        build=lambda params, lr: ReluNet(**params),
        forward=ReluNet.forward,
        gradients=wrong,
        module=ReluTwin,
    )
    result = finite_difference_votes(case, None, steps=[0])
    assert not result.passed
    assert result.first_disagreement.parameter == "W2"
    assert "the scratch gradient is the odd one out" in result.detail()


def test_an_oracle_that_can_judge_no_element_says_so():
    # Every element declined: the check fails saying it judged none, rather than passing on no evidence.
    result = finite_difference_votes(relu_case(ZERO_ROW), None, steps=[0])
    only_kinks = type(result)(result.network, result.steps, result.declined)
    assert not only_kinks.passed
    assert only_kinks.detail().startswith(
        f"judged none of the {len(result.declined)} gradient elements at steps [0]: the loss is not smooth within "
        "the step at any of them; "
    )


@pytest.mark.parametrize(
    "batch, message",
    [
        (
            slice(None, None, -1),
            "case 'bad_batch': batch 0 is slice(None, None, -1): torch takes rows by a slice of int bounds and a "
            "positive step only; give the rows as an int64 index array instead (np.arange(len(X))[::-1] for the rows "
            "in reverse)",
        ),
        (
            np.array([0, 1], dtype=np.uint64),
            "case 'bad_batch': batch 0 is an index array of dtype uint64, which torch refuses as an index; give it "
            "as int64 (batch.astype(np.int64))",
        ),
        (
            np.array([0, 1], dtype=np.int8),
            "case 'bad_batch': batch 0 is an index array of dtype int8, which torch refuses as an index; give it "
            "as int64 (batch.astype(np.int64))",
        ),
        (
            np.array([0, 1], dtype=np.uint8),
            "case 'bad_batch': batch 0 is an index array of dtype uint8, which torch reads as a mask of rows, not "
            "their numbers; give it as int64 (batch.astype(np.int64))",
        ),
    ],
    ids=["reversed-slice", "uint64", "int8", "uint8"],
)
def test_register_refuses_a_batch_torch_would_read_otherwise_or_reject(batch, message):
    # Before: a bare ValueError or IndexError from torch, and a uint8 array taken as a mask on the twin side.
    case = make_case(name="bad_batch", batches=lambda rng: [batch] * 6)
    with pytest.raises(RegistrationError) as raised:
        register(case)
    assert str(raised.value) == message


def test_int32_indices_are_still_accepted():
    case = make_case(name="fixture_int32", batches=lambda rng: [np.arange(6, dtype=np.int32)] * 6)
    assert run_check(case, "one_step").passed


# --- class 9: golden files ----------------------------------------------------------------------------------------

GOLDEN_CASE = make_case(name="fixture_golden_23b", steps=4)


def golden_check(folder, environ=None):
    check_golden(GOLDEN_CASE, folder, traces(GOLDEN_CASE), workdir=folder.parent / "work", environ=environ or {})


def first_write(folder):
    with pytest.raises(GoldenError, match="no golden file yet"):
        golden_check(folder)
    return folder / f"{GOLDEN_CASE.name}.npz"


def test_a_written_golden_has_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o002)
    try:
        path = first_write(tmp_path / "goldens")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # mkstemp's 0600 before


def test_a_golden_that_is_a_link_is_written_through_it(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    folder = tmp_path / "goldens"
    folder.mkdir()
    link = folder / f"{GOLDEN_CASE.name}.npz"
    link.symlink_to(shared / "real.npz")  # dangling: the golden is missing, and is written through the link
    first_write(folder)
    assert link.is_symlink() and (shared / "real.npz").is_file()
    golden_check(folder)  # the second run reads it through the link, and passes


def test_what_a_killed_write_left_is_removed_by_the_next(tmp_path):
    folder = tmp_path / "goldens"
    folder.mkdir()
    stale = folder / f".{GOLDEN_CASE.name}.abcd_123.npz.tmp"
    other = folder / ".other_case.abcd_123.npz.tmp"  # another case's: not this write's to remove
    stale.write_bytes(b"torn")
    other.write_bytes(b"torn")
    first_write(folder)
    assert not stale.exists() and other.exists()


def test_a_folder_that_is_a_file_is_a_golden_error_saying_what_to_do(tmp_path):
    folder = tmp_path / "goldens"
    folder.write_text("not a folder")
    with pytest.raises(GoldenError) as raised:  # a bare FileExistsError/NotADirectoryError before
        golden_check(folder)
    assert str(raised.value) == (
        f"fixture_golden_23b / golden: cannot write the golden {folder}/fixture_golden_23b.npz (FileExistsError: "
        f"File exists): {folder} is a file, where the goldens' folder goes; move it away"
    )


def test_a_golden_that_is_a_folder_is_a_golden_error_saying_what_to_do(tmp_path):
    folder = tmp_path / "goldens"
    (folder / f"{GOLDEN_CASE.name}.npz").mkdir(parents=True)
    with pytest.raises(GoldenError) as raised:  # a bare IsADirectoryError before
        golden_check(folder)
    assert str(raised.value) == (
        f"fixture_golden_23b / golden: cannot write the golden {folder}/fixture_golden_23b.npz (IsADirectoryError: "
        f"Is a directory): {folder}/fixture_golden_23b.npz is a folder, where the golden file goes; move it away"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_is_a_golden_error_saying_what_to_do(tmp_path):
    folder = tmp_path / "goldens"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(GoldenError) as raised:  # a bare PermissionError before
            golden_check(folder)
    finally:
        folder.chmod(0o755)
    assert str(raised.value) == (
        f"fixture_golden_23b / golden: cannot write the golden {folder}/fixture_golden_23b.npz (PermissionError: "
        f"Permission denied): make {folder} a folder you can write to, or point `[tool.crosscheck] goldens` at "
        f"another folder"
    )


@pytest.mark.parametrize(
    "environ",
    [{"GITHUB_ACTIONS": "true"}, {"GITLAB_CI": "true"}, {"TF_BUILD": "True"}, {"JENKINS_URL": "http://ci/"}],
    ids=lambda e: next(iter(e)),
)
def test_a_missing_golden_is_not_written_on_ci_services_that_do_not_set_ci(tmp_path, environ):
    folder = tmp_path / "goldens"
    with pytest.raises(GoldenError, match="in CI a missing golden is not written"):
        golden_check(folder, environ)
    assert not (folder / f"{GOLDEN_CASE.name}.npz").exists()
    assert in_ci(environ) and not in_ci({"CI": "false"})
    name, value = next(iter(environ.items()))
    assert f"refused: {name}={value!r} says this is a CI run" in regeneration_refusal(True, False, folder, environ)
