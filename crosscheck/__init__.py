"""The cross-check harness: run a scratch network and its PyTorch twin step by step, compare.

Public API: ``Case`` (a ``Scratch`` side, a ``Twin`` side and ``Data``) and ``Link`` describe a
network pair, ``vary`` copies one with parts changed, ``register`` adds it to the battery,
``parametrize_with_checks`` turns the battery (and the golden check) into pytest tests, and
``register_findings`` adds a section of the project's own findings to its reports.  Installing the
package also installs a pytest plugin (``crosscheck.plugin``): golden files, the CI guard, the
terminal summary and ``--crosscheck-report``.

The names are imported on first use: the plugin loads this package in every pytest run of a project
that has it installed, and torch should cost nothing there until a case is used.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crosscheck.case import Absent, Capture, Case, Data, Layer, Link, Scaled, Scratch, Step, Tolerance, Twin, vary
    from crosscheck.checks import CHECKS, run_check
    from crosscheck.errors import RegistrationError
    from crosscheck.findings import Finding, register_findings
    from crosscheck.registration import register, registry
    from crosscheck.schedule import shuffled_batches
    from crosscheck.testing import parametrize_with_checks

_WHERE = {
    "CHECKS": "crosscheck.checks",
    "Case": "crosscheck.case",
    "Data": "crosscheck.case",
    "Scratch": "crosscheck.case",
    "Step": "crosscheck.case",
    "Tolerance": "crosscheck.case",
    "Twin": "crosscheck.case",
    "vary": "crosscheck.case",
    "Finding": "crosscheck.findings",
    "Layer": "crosscheck.case",
    "Link": "crosscheck.case",
    "Absent": "crosscheck.case",
    "Capture": "crosscheck.case",
    "Scaled": "crosscheck.case",
    "RegistrationError": "crosscheck.errors",
    "parametrize_with_checks": "crosscheck.testing",
    "register": "crosscheck.registration",
    "register_findings": "crosscheck.findings",
    "registry": "crosscheck.registration",
    "run_check": "crosscheck.checks",
    "shuffled_batches": "crosscheck.schedule",
}
__all__ = [
    "Absent",
    "CHECKS",
    "Capture",
    "Case",
    "Data",
    "Finding",
    "Layer",
    "Link",
    "RegistrationError",
    "Scaled",
    "Scratch",
    "Step",
    "Tolerance",
    "Twin",
    "parametrize_with_checks",
    "register",
    "register_findings",
    "registry",
    "run_check",
    "shuffled_batches",
    "vary",
]


try:
    __version__ = metadata.version("nn-crosscheck")
except metadata.PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"


def __dir__() -> list[str]:
    # The public names are imported on first use, so they are in no module dict before: dir() lists them
    # from __all__, beside the module's own dunders (__version__ among them), not its helper imports.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'crosscheck' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
