"""The cross-check harness: run a scratch network and its PyTorch twin step by step, compare.

Public API: ``Case`` and ``Link`` describe a network pair, ``register`` adds it to
the battery, ``parametrize_with_checks`` turns the battery into pytest tests.
"""

from crosscheck.case import Case, Link, RegistrationError, register, registry

__all__ = [
    "CHECKS",
    "Case",
    "Link",
    "RegistrationError",
    "parametrize_with_checks",
    "register",
    "registry",
    "run_check",
]
from crosscheck.checks import CHECKS, parametrize_with_checks, run_check  # noqa: E402
