"""A run refused at a later step (issue 23, class 1): the command's table, its diagnosis and its reports, and the
report's page, all end with a verdict naming the step, never a traceback, and never run the case again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixture_net import Net, make_case

import crosscheck.__main__ as command
from crosscheck import verdict
from crosscheck.checks import run_check
from crosscheck.lockstep import run_case
from crosscheck.run import memo


def gains_a_key(net, x, y):
    grads = Net.gradients(net, x, y)
    net.calls = getattr(net, "calls", 0) + 1
    return {**grads, "extra": grads["b2"]} if net.calls > 2 else grads


REFUSAL = (
    "at step 2 the scratch side's gradients() returned the keys ['W1', 'W2', 'b1', 'b2', 'extra']: not parameters "
    "['extra'] (the parameters are ['W1', 'W2', 'b1', 'b2'])"
)


def test_the_command_ends_on_its_verdict_when_a_run_is_refused_at_a_later_step(monkeypatch, tmp_path, capsys):
    case = make_case(name="gains_a_key_eor", gradients=gains_a_key)
    monkeypatch.setattr(command, "load_cases", lambda: {case.name: case})
    started: list[str] = []

    def counted(case, *args, **kwargs):
        started.append(case.name)
        return run_case(case, *args, **kwargs)

    monkeypatch.setattr(memo, "run_case", counted)
    assert command.main(["--reports", str(tmp_path / "reports")]) == 1
    assert started == [case.name]  # the refusal is kept: the table, the diagnosis and the reports read it
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert REFUSAL in out.out
    assert (tmp_path / "reports" / "summary.md").is_file()


def test_a_refused_runs_verdict_is_collected_once_and_says_where():
    case = make_case(name="gains_a_key_verdict", gradients=gains_a_key)
    net = verdict.collect(case)
    assert net.run is None and not net.passed
    stopped = [c for c in net.comparisons if c.problem is not None]
    assert {c.check for c in stopped} >= {"training_run", "anchored_steps"}
    assert all(c.problem.step == 2 and REFUSAL in c.message() for c in stopped)
    # The first step's checks read the first step alone, which the refusal does not reach.
    assert [c.check for c in net.comparisons if c.passed] == [
        "initial_parameters",
        "forward",
        "loss",
        "gradients",
        "one_step",
    ]


def test_a_twin_writing_its_input_through_data_after_the_first_step_is_named(monkeypatch):
    # Autograd's version counter does not see a write through .data: the data's checksum does, once a chunk.
    from fixture_net import TwinNet as FixtureTwin

    class Centring(FixtureTwin):
        calls = 0

        def forward(self, x):
            Centring.calls += 1
            if Centring.calls == 25:  # after validation's steps, in the run itself
                x.data -= x.data.mean()
            return super().forward(x)

    case = make_case(name="data_writer_eor", module=Centring, steps=40)
    result = run_check(case, "training_run")
    assert result.problem is not None and result.problem.side == "twin"
    assert "the twin writes into its input where autograd does not see it (x.data -= ..., or through x.detach())" in (
        result.message()
    )


def test_a_float32_variants_repro_finds_its_case(monkeypatch, tmp_path):
    # A failing <name>_float32 test prints a repro command: the repro makes the variant from its float64 case.
    from crosscheck import registration
    from crosscheck.diagnose.repro import find_case

    case = make_case(name="repro64_eor")
    monkeypatch.setattr(registration, "registered", lambda name: case if name == case.name else None)
    monkeypatch.setattr(registration, "registry", lambda root=None: {})
    found = find_case("repro64_eor_float32", "", str(tmp_path))
    assert found.name == "repro64_eor_float32" and found.dtype == np.float32


def test_a_cases_snapshots_are_let_go_once_its_battery_has_run():
    # Nothing of a run outlives its case's checks but its verdicts: the networks copied entering the replayed steps
    # go once every check has read them, and a later diagnosis steps the run to the step it needs again.
    from crosscheck.checks import battery
    from crosscheck.run.memo import RUNS

    case = make_case(name="released_eor", steps=8)
    checks = battery(case)
    for check in checks[:-1]:
        run_check(case, check)
    assert RUNS._snapshots.get(id(case))  # finite differences have not run yet
    run_check(case, checks[-1])
    assert id(case) not in RUNS._snapshots
    again = RUNS.entering(case, [4])[4]
    assert again.scratch.step == again.twin.step == 4 and again.scratch.error is None


def test_a_twin_that_turns_random_after_some_steps_is_named_not_deterministic():
    # Blamed on "forward output" before: the twin's step taken twice from the same state now tells.
    from fixture_net import TwinNet

    from crosscheck.diagnose import diagnose

    class Noisy(TwinNet):
        calls = 0

        def forward(self, x):
            Noisy.calls += 1
            out = super().forward(x)
            return out + 1e-6 * torch.randn(out.shape, dtype=out.dtype) if Noisy.calls > 12 else out

    case = make_case(name="noisy_eor", module=Noisy, steps=12)
    found = diagnose(case)
    assert found is not None and found.divergence is not None and found.divergence.quantity == "output"
    step = found.divergence.step
    assert (
        f"  the twin is not deterministic at step {step}: the step taken twice from the same state gives two "
        "different values of its forward output; draw its randomness from a generator of its own, seeded (or "
        "torch.use_deterministic_algorithms(True)), so that both sides can be compared"
    ) in found.block()


def broadcasting_step(net, x, y, lr):
    return np.ones((2, 3)) + np.ones(2)  # the network's own mistake, in its own file


def test_a_refusal_quoting_numpys_error_says_where_the_networks_code_raised_it():
    from crosscheck import RegistrationError, register

    with pytest.raises(RegistrationError) as exc:
        register(
            make_case(name="broadcasting_eor", step=broadcasting_step, update=None, gradients=None, loss_gradient=None)
        )
    assert str(exc.value).endswith(
        "operands could not be broadcast together with shapes (2,3) (2,) "
        f"(at {__file__}:{broadcasting_step.__code__.co_firstlineno + 1}, in broadcasting_step)"
    )
