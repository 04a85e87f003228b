"""Every check of the battery on every registered network: ids read ``<network>-<check>``."""

from crosscheck import parametrize_with_checks, registry


@parametrize_with_checks(registry().values())
def test_battery(case, check):
    check(case)
