"""Sessions: ``nox`` runs the gate (tests, lint, typecheck); the rest are run by name."""

from __future__ import annotations

import nox

# torch==2.13.* resolves to a CPU wheel that pip finds on this machine's disk; uv does not look there.
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"


@nox.session
def tests(session: nox.Session) -> None:
    """The battery, goldens, seed values and the harness's own tests."""
    session.install("-e", ".[test]")
    session.run("pytest", "--junitxml=reports/junit.xml", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over scratch, reference and crosscheck."""
    session.install("-e", ".[lint]")
    session.run("mypy")
