"""What the pytest run in progress decides for the checks: where goldens and repros go, and whether goldens may
be rewritten.

The plugin fills a ``Settings`` when pytest configures and takes it back when pytest ends; the library reads
``current()`` and never looks the plugin up.  Runs nest (pytester starts one pytest inside another): the
innermost run's settings are the current ones.  Standard library only, and nothing read or written when it is
made: the plugin makes one in every pytest run, also of projects that register no case.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, eq=False)  # one run is one object: nested runs alike stay apart
class Settings:
    """One pytest run's settings, and what its checks found out once that another check of the run may need."""

    root: Path  # pytest's rootdir
    # The one file the project's [tool.crosscheck] table is read from, when a case needs it: the inifile when it
    # is a pyproject.toml, else the rootdir's; never a file above the rootdir.
    pyproject: Path | None
    force_regen: bool
    regen_all: bool
    report: Path | None  # --crosscheck-report DIR: the repros go to DIR/repro
    # pytest's own cache (or temporary) folder for what the run leaves to look at (a golden's .obtained file, the
    # repros when no --crosscheck-report is given); made on first call, so a run that needs none makes none.
    workdir: Callable[[], Path]
    # A failing case's diagnosis, by case name, made by its first failing check and read by its others and by
    # the end-of-run summary: it lives as long as the run.
    diagnoses: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # What is read once per run when first needed (the project's table, by crosscheck.registration).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Where a line the user must see while the run goes on is written (pytest's terminal, past its capture of the
    # test's output), or None: standard error.
    say: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def reports(self) -> Path:
        """Where the one-step repros go: ``--crosscheck-report DIR``, else the run's work folder."""
        return self.report if self.report is not None else self.workdir()


_RUNS: list[Settings] = []


def push(settings: Settings) -> None:
    _RUNS.append(settings)


def pop(settings: Settings) -> None:
    if settings in _RUNS:
        _RUNS.remove(settings)


def current() -> Settings | None:
    """The settings of the innermost pytest run in progress in this process, or None outside pytest."""
    return _RUNS[-1] if _RUNS else None


def required() -> Settings:
    """``current()``, for the checks that only make sense inside pytest (the golden check)."""
    found = current()
    if found is None:
        raise RuntimeError(
            "the golden check runs inside pytest, with the crosscheck plugin that nn-crosscheck installs; "
            "it was called outside a pytest run (or with -p no:crosscheck)"
        )
    return found


# The variables CI services set: those that hold a flag ("true", "1", "True"), and those whose mere presence says
# so (a URL, a build number).  ``CI`` alone missed Jenkins, Azure Pipelines (TF_BUILD), TeamCity and CodeBuild.
CI_FLAGS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "TF_BUILD", "TRAVIS", "APPVEYOR", "DRONE")
CI_PRESENCE = ("JENKINS_URL", "TEAMCITY_VERSION", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID", "BUILD_BUILDID")
CI_VARIABLES = CI_FLAGS + CI_PRESENCE


def ci_variable(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The first variable that says this is a CI run, with its value, or None (``CI=0``/``false`` do not count)."""
    environ = os.environ if environ is None else environ
    for name in CI_VARIABLES:
        value = environ.get(name, "").strip()
        if value and (name in CI_PRESENCE or value.lower() not in ("0", "false", "no")):
            return name, environ[name]
    return None


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when a CI service's variable is set as it sets it (``CI=true``, ``GITHUB_ACTIONS=true``,
    ``JENKINS_URL=...``: ``CI_VARIABLES``)."""
    return ci_variable(environ) is not None


def regeneration_refusal(
    force_regen: bool, regen_all: bool, folder: Path, environ: Mapping[str, str] | None = None
) -> str | None:
    """Why this run may not rewrite goldens, or None when it may: in CI a golden is never rewritten,
    so a CI run cannot pass on values it has just written."""
    flags = [f for f, on in (("--force-regen", force_regen), ("--regen-all", regen_all)) if on]
    ci = ci_variable(environ)
    if not flags or ci is None:
        return None
    return (
        f"{' and '.join(flags)} refused: {ci[0]}={ci[1]!r} says this is a CI run, and a CI run must never "
        f"rewrite the goldens it checks. Regenerate them on purpose on a developer machine with "
        f"`pytest --force-regen -k golden`, review the change to {folder}/, and commit it."
    )
