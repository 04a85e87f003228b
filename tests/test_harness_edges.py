"""Edges of the harness found in review: dtype spellings, empty curves, variants sharing a name,
and float32 bounds that follow the number of steps compared."""

import numpy as np
from fixture_net import make_case

from crosscheck.case import vary
from crosscheck.checks import check_gradients, check_training_run, tolerance
from crosscheck.precision import float32_case
from crosscheck.run.memo import RUNS, first_step_traces, traces
from crosscheck.validate import validate

FIXTURE = make_case(steps=40)  # the harness tests its edges on a network of its own


def test_a_dtype_given_as_the_numpy_type_or_its_name_is_accepted():
    case32 = float32_case(FIXTURE)
    for spelling in (np.float32, "float32", np.dtype(np.float32)):
        validate(vary(case32, dtype=spelling))


def test_a_float32_case_without_a_recorded_curve_passes_its_training_run():
    case = vary(float32_case(FIXTURE), curve_steps=[], batches=lambda rng: [slice(None)] * 20)
    scratch, twin = traces(case)
    assert scratch["curve"].dtype == twin["curve"].dtype == np.float32
    result = check_training_run(case, (scratch, twin))
    assert result.passed, result.message()


def test_a_variant_with_the_same_name_gets_its_own_traces():
    original, _ = traces(FIXTURE)
    with RUNS.scope():
        variant = vary(FIXTURE, learning_rate=0.25, batches=lambda rng: [slice(None)] * 30, curve_steps=[3])
        changed, _ = traces(variant)
        assert len(changed["loss"]) == 30
        assert not np.array_equal(original["param.W1"][:30], changed["param.W1"])
        # and the original is not handed the variant's entry
        np.testing.assert_array_equal(traces(FIXTURE)[0]["param.W1"], original["param.W1"])


def test_first_step_checks_use_the_one_step_float32_bound():
    case32 = float32_case(FIXTURE)
    one_step, whole_run = tolerance(case32, 1), tolerance(case32)
    assert whole_run[0] > one_step[0]
    result = check_gradients(case32, first_step_traces(case32))
    assert (result.atol, result.rtol) == one_step
    assert check_training_run(case32, traces(case32)).atol == whole_run[0]


def test_a_twin_factory_that_hands_out_one_module_is_validated_and_passes():
    # Module.to converts in place and returns the module itself: a factory `lambda dtype: MODEL.to(dtype)` gives
    # every caller the same instance, which each run starts by loading the initial parameters into. Validation's
    # two runs of the twin (is it deterministic?) are taken one after the other, so they see the same steps.
    import torch
    from fixture_net import TwinNet

    from crosscheck.checks import battery, run_check

    model = TwinNet(torch.float64)
    case = make_case("one_module_instance", module=lambda dtype: model.to(dtype))
    validate(case)
    for check in battery(case):
        result = run_check(case, check)
        assert result.passed, result.message()


def _raising_at(call, n, exc):
    """``call``, raising ``exc`` from its ``n``-th call on (the first calls are validation's and step 0's)."""
    calls = {"n": 0}

    def wrapped(*args):
        calls["n"] += 1
        if calls["n"] >= n:
            raise exc
        return call(*args)

    return wrapped


def test_an_exception_the_networks_raise_mid_run_names_the_case_the_step_and_the_side():
    # Validation wraps what they raise at step 0; past it, a bare FloatingPointError named no case, step or side.
    from fixture_net import Net, TwinNet

    from crosscheck.checks import run_check

    class Exploding(TwinNet):
        steps = 0

        def forward(self, x):
            Exploding.steps += 1
            if Exploding.steps > 40:  # past validation's runs
                raise OverflowError("boom in my forward")
            return super().forward(x)

    scratch = make_case(
        "raises_mid_run_scratch", steps=40, gradients=_raising_at(Net.gradients, 30, FloatingPointError("boom"))
    )
    result = run_check(scratch, "training_run")
    assert result.problem is not None and result.problem.side == "scratch", result.message()
    assert result.problem.step is not None and result.problem.step > 0
    assert result.message().startswith(
        f"raises_mid_run_scratch / training_run: at step {result.problem.step} the scratch side's gradients raised "
        "FloatingPointError: boom (at "
    ), result.message()

    twin = make_case("raises_mid_run_twin", steps=40, module=lambda dtype: Exploding(dtype))
    result = run_check(twin, "training_run")
    assert result.problem is not None and result.problem.side == "twin", result.message()
    assert result.problem.step is not None and result.problem.step > 0
    assert f"at step {result.problem.step} the twin side raised OverflowError: boom in my forward (at " in (
        result.message()
    ), result.message()


def test_an_update_that_scales_the_gradient_arrays_in_place_is_recorded_with_the_gradients_it_was_given():
    # `g *= lr; W -= g` is plain SGD: the gradients are recorded as gradients() returned them, before the update
    # wrote into them (read after it, they were lr times the twin's, and the gradient was blamed).
    from crosscheck.checks import battery, run_check

    def update(net, grads, lr):
        for name, g in grads.items():
            g *= lr
            setattr(net, name, getattr(net, name) - g)

    case = make_case("scales_gradients_in_place", update=update)
    failing = {check: run_check(case, check).message() for check in battery(case)}
    assert {check: m for check, m in failing.items() if "passed" not in m} == {}
