"""Each network's map between scratch names and twin tensors round-trips exactly, both ways."""

import numpy as np
import pytest
import torch

from crosscheck.layout import load_into_twin, twin_to_scratch
from crosscheck.run.start import start
from tutorials.networks import TUTORIAL_CASES


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_scratch_to_twin_to_scratch(case):
    params, _ = start(case, seed=12345)
    twin = case.twin.module(case.torch_dtype)
    load_into_twin(twin, case, params)
    back = twin_to_scratch(twin, case)
    assert set(back) == set(params)
    for name, value in params.items():
        assert back[name].dtype == value.dtype, name
        assert back[name].shape == value.shape, name
        np.testing.assert_array_equal(back[name], value, err_msg=name)


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_twin_to_scratch_to_twin(case):
    torch.manual_seed(0)
    source = case.twin.module(case.torch_dtype)  # nn.Linear's own random initialisation
    target = case.twin.module(case.torch_dtype)
    with torch.no_grad():
        for p in target.parameters():
            p.fill_(np.nan)  # any element the map misses stays NaN and fails below
    load_into_twin(target, case, twin_to_scratch(source, case))
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_scratch_network_starts_from_the_given_parameters(case):
    params, _ = start(case, seed=7)
    net = case.calls.build({k: v.copy() for k, v in params.items()}, case.data.learning_rate)
    for name, value in case.read_params(net).items():
        np.testing.assert_array_equal(value, params[name], err_msg=name)


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=lambda c: c.name)
def test_twin_gradients_read_back_under_scratch_names(case):
    # The gradient of sum(p * k) w.r.t. p is k: read it back through the map and compare with k
    # read through the same map as a parameter.
    twin = case.twin.module(case.torch_dtype)
    weights = {n: torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) for n, p in twin.named_parameters()}
    sum(
        ((p * weights[n]).sum() for n, p in twin.named_parameters()), torch.zeros((), dtype=case.torch_dtype)
    ).backward()
    grads = twin_to_scratch(twin, case, grads=True)
    with torch.no_grad():
        for n, p in twin.named_parameters():
            p.copy_(weights[n])
    expected = twin_to_scratch(twin, case)
    for name in case.scratch.params:
        np.testing.assert_array_equal(grads[name], expected[name], err_msg=name)
