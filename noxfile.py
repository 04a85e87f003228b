"""Sessions: ``nox`` runs the gate (tests, lint, typecheck); the rest are run by name."""

from __future__ import annotations

import nox

# torch==2.13.* resolves to a CPU wheel that pip finds on this machine's disk; uv does not look there.
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"


@nox.session
def tests(session: nox.Session) -> None:
    """The battery, goldens, seed values and the harness's own tests (the report's tests need matplotlib)."""
    session.install("-e", ".[test,report]")
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


@nox.session
def report(session: nox.Session) -> None:
    """Comparison reports into reports/: summary.md, index.html, results.json and the plots."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "crosscheck.precision")  # refreshes reports/float32.json
    session.run("python", "-m", "crosscheck.report", *session.posargs)


@nox.session
def screenshot(session: nox.Session) -> None:
    """Render reports/index.html in headless Chromium (Debian's ``chromium``) to reports/screenshot.png."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "crosscheck.screenshot", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """The battery over many random initialisations per tutorial network; worst case per network."""
    session.install("-e", ".")
    session.run("python", "-m", "crosscheck.sweep", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Timings (medians of repeated runs) into reports/bench.json; never part of the gate."""
    session.install("-e", ".[test,report]")
    session.run("python", "-m", "crosscheck.bench", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of scratch/ with the battery as the test command; writes reports/mutation.json."""
    session.install("-e", ".[test,mutation]")
    session.run("python", "-m", "crosscheck.mutants", *session.posargs)
