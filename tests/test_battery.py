"""Every check of the battery on every registered network, and on the float32 variants of those listed in
``[tool.crosscheck] float32``: ids read ``<network>-<check>`` and ``<network>_float32-<check>``."""

from crosscheck import parametrize_with_checks, registry


@parametrize_with_checks(registry().values())
def test_battery(case, check):
    check(case)
