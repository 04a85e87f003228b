"""The README's worked example: the one test a user writes for their own network."""

from crosscheck import parametrize_with_checks
from examples.xor_net import XOR_NET


@parametrize_with_checks([XOR_NET])
def test_xor_net(case, check):
    check(case)
