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
