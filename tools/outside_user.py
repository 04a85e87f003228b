"""``nox -s outside``: the README's "Use it in your own project", run as a new user runs it.

Builds the wheel, checks that it installs the ``crosscheck`` package and nothing else at top level, and
then, in an empty folder outside this repository, does what the section says, literally:

- the shell block marked ``<!-- outside: install -->``, line by line: a virtual environment, the CPU
  torch, the wheel with its ``[report]`` extra in one command, the packages' folders.  Only the wheel's
  folder is substituted (the README's ``/path/to/nn-crosscheck/dist/``); its file name must be the one built;
- the section's files (each block whose first line is ``# <path>``), written as shown;
- the shell block marked ``<!-- outside: run -->``, line by line, each asserted to do what its comment says.

Each line runs in bash in the project folder, in the virtual environment the install block activates (as
the user's shell would stay in it).  Where packages come from is this machine's business (its pip
configuration), and the versions are this repository's pinned ones (``PIP_CONSTRAINT=constraints.txt``).
Then the section's other claims: a missing golden in CI, ``--force-regen`` in CI, the command line.
The user project has its own ``scratch``, ``reference`` and ``examples`` packages, as this repository
does, so a wheel that shipped this repository's would break it.

Exit status 0 when every step held; otherwise the first step that did not, with its output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tools.dry_run from this checkout
    sys.path.insert(0, str(ROOT))

from tools.dry_run import build_wheel  # noqa: E402

SECTION = "## Use it in your own project"
CASE = "tiny_2_4_1"
WHEEL_FOLDER = "/path/to/nn-crosscheck/dist/"  # the README's placeholder, the only text substituted


class StepFailed(Exception):
    pass


def readme_section(readme: Path = ROOT / "README.md") -> str:
    text = readme.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else None]


def blocks(section: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block in ``section``."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", section, re.S | re.M)]


def marked_block(section: str, marker: str) -> list[str]:
    """The command lines of the shell block after ``<!-- outside: marker -->`` (comment lines left out)."""
    m = re.search(rf"^<!-- outside: {marker} -->\n+```sh\n(.*?)^```$", section, re.S | re.M)
    if m is None:
        raise StepFailed(f"README: no ```sh block after <!-- outside: {marker} --> in {SECTION!r}")
    return [line for line in m.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def files(section: str) -> dict[str, str]:
    """The files the section shows: blocks whose first line is ``# <relative path>``."""
    out = {}
    for _, body in blocks(section):
        first = body.splitlines()[0] if body else ""
        m = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first.strip())
        if m:
            out[m.group(1)] = body
    return out


def must(condition: bool, what: str, out: str = "") -> None:
    if not condition:
        raise StepFailed(f"{what}\n{out[-6000:]}")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, expect: int | None = 0) -> str:
    shown = " ".join(cmd)
    print(f"$ {shown}   (in {cwd})", flush=True)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    if expect is not None and done.returncode != expect:
        raise StepFailed(f"`{shown}` exited {done.returncode}, expected {expect}:\n{out[-6000:]}")
    return out


def shell(line: str, project: Path, env: dict[str, str], expect: int = 0) -> str:
    """One README line, as typed into the user's shell: inside the virtual environment once it exists."""
    print(f"$ {line}", flush=True)
    activate = ". .venv/bin/activate && " if (project / ".venv" / "bin" / "activate").is_file() else ""
    done = subprocess.run(["bash", "-c", activate + line], cwd=project, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    if done.returncode != expect:
        raise StepFailed(f"README line `{line}` exited {done.returncode}, expected {expect}:\n{out[-6000:]}")
    return out


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {name.split("/")[0] for name in z.namelist() if not name.split("/")[0].endswith(".dist-info")}


def user_environment() -> dict[str, str]:
    """This process's environment less what ties it to this repository: its virtual environment on PATH,
    PYTHONPATH, CI (the section's CI lines set it themselves)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    ours = [str(ROOT)] + ([os.environ["VIRTUAL_ENV"]] if "VIRTUAL_ENV" in os.environ else [])
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not any(p.startswith(o) for o in ours)]
    env["PATH"] = os.pathsep.join(path)
    env["PIP_CONSTRAINT"] = str(ROOT / "constraints.txt")
    return env


def install(section: str, wheel: Path, project: Path, env: dict[str, str]) -> None:
    lines = marked_block(section, "install")
    wheel_lines = [line for line in lines if WHEEL_FOLDER in line]
    must(len(wheel_lines) == 1, f"README install block: one line names {WHEEL_FOLDER}, found {wheel_lines}")
    must(
        f"{WHEEL_FOLDER}{wheel.name}[report]" in wheel_lines[0],
        f"README install block names another wheel than the one built ({wheel.name}, with [report]): {wheel_lines[0]}",
    )
    for line in lines:
        shell(line.replace(WHEEL_FOLDER, f"{wheel.parent}/"), project, env)
    out = shell("python -c 'import crosscheck, matplotlib, torch; print(torch.__version__)'", project, env)
    print(f"  installed: torch {out.strip()}")


def _first_run(out: str, project: Path) -> None:
    golden = project / "tests" / "goldens" / f"{CASE}.npz"
    must("8 passed" in out and "1 failed" in out, "first run: 8 passed and the golden check failed", out)
    must(f"{CASE} / golden: no golden file yet (first run), written {golden}" in out, "first run's message", out)
    must(golden.is_file(), f"first run wrote {golden}", out)


def _passes(out: str, project: Path) -> None:
    must("9 passed" in out and "1 case, 9 checks: 9 passed" in out, "9 passed, with the crosscheck summary", out)


def _report(out: str, project: Path) -> None:
    _passes(out, project)
    reports = project / "reports"
    must({"index.html", "summary.md", "results.json"} <= {p.name for p in reports.iterdir()}, "the report's files", out)
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    must(f"| {CASE} |" in summary and "network_2_2_1" not in summary, "the report holds this project only", out)


def _table(out: str, project: Path) -> None:
    must("8 passed, 0 failed" in out and CASE in out, "crosscheck: the verdict table, 8 checks passed", out)


def _listed(out: str, project: Path) -> None:
    must(out.split() == [CASE], "crosscheck --list: the one registered case", out)


# The run block, line by line (its comment aside): the exit status and what the line's comment promises.
RUN: list[tuple[str, int, Callable[[str, Path], None]]] = [
    ("pytest", 1, _first_run),
    ("pytest", 0, _passes),
    ("CI=true pytest", 0, _passes),
    ("pytest --crosscheck-report=reports", 0, _report),
    ("crosscheck", 0, _table),
    ("crosscheck --list", 0, _listed),
]


def run_block(section: str, project: Path, env: dict[str, str]) -> None:
    lines = marked_block(section, "run")
    commands = [line.split("#")[0].strip() for line in lines]
    must(
        commands == [c for c, _, _ in RUN],
        f"README run block is {commands}; tools/outside_user.py knows what {[c for c, _, _ in RUN]} should do: "
        "say there what a new line does",
    )
    for line, (_, expect, check) in zip(lines, RUN, strict=True):
        check(shell(line, project, env, expect), project)


def other_claims(project: Path, env: dict[str, str]) -> None:
    """What the section says besides its commands: CI refuses to write a golden or to regenerate one, and
    the command line works from a subfolder, writes only where asked and explains a mistake in one line."""
    bin_dir = project / ".venv" / "bin"
    ci = {**env, "CI": "true"}
    pytest = [str(bin_dir / "pytest"), "-p", "no:cacheprovider"]
    golden = project / "tests" / "goldens" / f"{CASE}.npz"
    golden.rename(golden.with_suffix(".kept"))
    out = run(pytest, cwd=project, env=ci, expect=1)
    must("in CI a missing golden is not written" in out and not golden.exists(), "CI: missing golden", out)
    golden.with_suffix(".kept").rename(golden)
    out = run([*pytest, "--force-regen"], cwd=project, env=ci, expect=4)
    must("--force-regen refused: CI='true'" in out, "CI: --force-regen refused", out)

    crosscheck = str(bin_dir / "crosscheck")
    out = run([crosscheck, "--list"], cwd=project / "tests", env=env)
    must(out.split() == [CASE], "crosscheck --list from a subfolder", out)
    out = run([crosscheck, "--reports", "cli-reports"], cwd=project, env=env)
    must((project / "cli-reports" / "summary.md").is_file(), "crosscheck --reports wrote summary.md", out)
    out = run([crosscheck, "tiny_2_4"], cwd=project, env=env, expect=2)
    expected = f"crosscheck: unknown network 'tiny_2_4' (did you mean '{CASE}'?); registered: {CASE}"
    # Its progress line ("loading the cases ...") comes first; the mistake is said in the last, no traceback.
    must(out.strip().splitlines()[-1] == expected and "Traceback" not in out, "a misspelt name: the nearest name", out)
    out = run([crosscheck, "--reports", "pyproject.toml"], cwd=project, env=env, expect=1)
    must("Traceback" not in out and "a file is in the way" in out, "a bad --reports path is one line", out)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="crosscheck-outside-"))
    try:
        section = readme_section()
        project = tmp / "project"
        wheel = build_wheel(tmp / "dist")
        must(top_level(wheel) == {"crosscheck"}, f"the wheel installs {sorted(top_level(wheel))}, not only crosscheck")

        project.mkdir()
        env = user_environment()
        install(section, wheel, project, env)
        written = files(section)
        must({"pyproject.toml", "tests/test_crosscheck.py"} <= set(written), f"README files: {sorted(written)}")
        for rel, body in written.items():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            (project / rel).write_text(body, encoding="utf-8")
        run_block(section, project, env)
        other_claims(project, env)
        print(f"outside user: every step of the README's walk-through held ({tmp} removed)")
        return 0
    except StepFailed as exc:
        print(f"outside user: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
