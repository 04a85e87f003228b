"""The four examples written as from-scratch code is found (examples/char_rnn.py, small_cnn.py, library_net.py,
book_net.py): what their docstrings and the README claim about them, checked on their runs.  Their batteries
are tests/test_battery.py's, their bugs tests/test_example_bugs.py's."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from crosscheck.run.memo import traces
from crosscheck.run.start import start
from crosscheck.run.twin import twin_trace
from examples import book_net, char_rnn, small_cnn

ROOT = Path(__file__).parents[1]
EXAMPLES = {"character RNN": "char_rnn", "CNN": "small_cnn", "library": "library_net", "book": "book_net"}


def registration_lines(module: str) -> int:
    """Lines of code below the file's ``# --- the registration`` line: comments and blank lines left out."""
    source = (ROOT / "examples" / f"{module}.py").read_text(encoding="utf-8")
    registration = source.split("\n# --- the registration", 1)[1].splitlines()[1:]
    return sum(1 for line in registration if line.strip() and not line.lstrip().startswith("#"))


def test_the_readme_counts_each_registration_as_its_file_has_it():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    figures = re.search(
        r"counts it\): (\d+) lines \(character RNN\), (\d+) \(CNN\), (\d+) \(library\), (\d+) \(book\)", readme
    )
    assert figures is not None
    assert [int(n) for n in figures.groups()] == [registration_lines(m) for m in EXAMPLES.values()]


def adapters(module: str) -> list[str]:
    """What follows each ``# adapter`` marker in the example's file."""
    return re.findall(r"# adapter\b(.*)", (ROOT / "examples" / f"{module}.py").read_text(encoding="utf-8"))


def test_every_adapter_left_names_the_feature_that_would_remove_it_or_why_none_does():
    for module in EXAMPLES.values():
        for rest in adapters(module):
            assert re.match(r" until (the|a) \w|, no feature for it: \w", rest), (module, rest)
    # Those the step declarations, the seeded np.random and the twin's clip covered are gone.
    assert adapters("char_rnn") == adapters("book_net") == adapters("small_cnn") == []
    assert adapters("library_net") == [
        ", no feature for it: the library's loss takes (y, p); Scratch(loss=...) is called (output, y)"
    ]


def test_the_rnns_run_stays_below_its_clip_as_its_docstring_says():
    # At these sizes the clip changes nothing; tests/test_twin_clip.py runs it faster, where it acts.
    scratch, _ = traces(char_rnn.NET)
    largest = max(np.abs(scratch[k]).max() for k in scratch if k.startswith("grad."))
    assert 0.5 < largest < char_rnn.CLIP


def test_the_rnns_twin_carries_its_hidden_state_across_sequences():
    _, twin = traces(char_rnn.NET)
    # Step 1 replayed by a fresh twin (its hidden state zero) from the parameters and sums the run had there.
    params = {k: twin[f"param.{k}"][0] for k in char_rnn.PARAMS}
    entering = {k: np.array(v[0]) for k, v in twin.items() if k.startswith("state.")}
    replay = twin_trace(char_rnn.NET, params, start(char_rnn.NET)[1][1:2], entering, 1)
    assert abs(replay["loss"][0] - twin["loss"][1]) > 1e-6  # a zero state entering step 1 is another loss


def test_the_cnns_data_has_tied_maxima_in_its_pooling_windows():
    # Why the max-pool routes to the first maximum, as torch does: a route to every maximum would part here.
    net = small_cnn.SmallCNN(np.random.RandomState(0))
    net.forward(small_cnn.X)
    windows = net.pool.windows
    assert ((windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).any()


@pytest.mark.parametrize("decay, parts", [(0.0, False), (book_net.DECAY, True)])
def test_torchs_sgd_runs_the_books_momentum_only_while_the_rate_is_constant(decay, parts):
    # The reason book_net's twin has its own optimizer: torch steps p -= lr * buf, the book p += v with v keeping
    # earlier rates; v = -lr * buf holds only for a constant lr.
    def run(optimizer):
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
        opt = optimizer([p])
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + decay * t))
        for _ in range(20):
            opt.zero_grad()
            (p**4).sum().backward()
            opt.step()
            schedule.step()
        return p.detach()

    sgd = run(lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9))
    book = run(lambda ps: book_net.BookMomentum(ps, 0.01, 0.9))
    assert (torch.max(torch.abs(sgd - book)).item() > 1e-6) is parts
    if not parts:
        torch.testing.assert_close(sgd, book, rtol=0, atol=1e-12)
