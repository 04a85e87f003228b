"""``nox -s outside``: the README's "Use it in your own project", run as a new user would run it.

Builds the wheel, checks that it installs the ``crosscheck`` package and nothing else at top level,
installs it into a fresh virtual environment in a temporary folder outside this repository, writes the
README's files there (each fenced block of that section whose first line is ``# <path>``), runs its
``mkdir``/``touch`` lines, then its commands, asserting what the README says each one does.  The user
project has its own ``scratch``, ``reference`` and ``examples`` packages, as this repository does, so a
wheel that shipped this repository's would break it.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Use it in your own project"
CASE = "tiny_2_4_1"


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


def files(section: str) -> dict[str, str]:
    """The files the section shows: blocks whose first line is ``# <relative path>``."""
    out = {}
    for _, body in blocks(section):
        first = body.splitlines()[0] if body else ""
        m = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first.strip())
        if m:
            out[m.group(1)] = body
    return out


def setup_lines(section: str) -> list[str]:
    """The shell lines that make folders and files (``mkdir``/``touch``), to run as written."""
    return [
        line.strip()
        for info, body in blocks(section)
        if info == "sh"
        for line in body.splitlines()
        if line.strip().startswith(("mkdir ", "touch "))
    ]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, expect: int | None = 0) -> str:
    shown = " ".join(cmd)
    print(f"$ {shown}   (in {cwd})", flush=True)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    if expect is not None and done.returncode != expect:
        raise StepFailed(f"`{shown}` exited {done.returncode}, expected {expect}:\n{out[-6000:]}")
    return out


def must(condition: bool, what: str, out: str = "") -> None:
    if not condition:
        raise StepFailed(f"{what}\n{out[-6000:]}")


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {name.split("/")[0] for name in z.namelist() if not name.split("/")[0].endswith(".dist-info")}


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="crosscheck-outside-"))
    try:
        section = readme_section()
        dist, venv, project = tmp / "dist", tmp / "venv", tmp / "project"
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], cwd=tmp)
        (wheel,) = dist.glob("nn_crosscheck-*.whl")
        must(top_level(wheel) == {"crosscheck"}, f"the wheel installs {sorted(top_level(wheel))}, not only crosscheck")

        run([sys.executable, "-m", "venv", str(venv)], cwd=tmp)
        bin_dir = venv / "bin"
        run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[report]"], cwd=tmp)

        project.mkdir()
        for line in setup_lines(section):
            run(["bash", "-c", line], cwd=project)
        written = files(section)
        must({"pyproject.toml", "tests/test_crosscheck.py"} <= set(written), f"README files: {sorted(written)}")
        for rel, body in written.items():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            (project / rel).write_text(body, encoding="utf-8")

        env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        ci = {**env, "CI": "true"}
        pytest = [str(bin_dir / "pytest"), "-p", "no:cacheprovider"]
        golden = project / "tests" / "goldens" / f"{CASE}.npz"

        out = run(pytest, cwd=project, env=env, expect=1)
        must("7 passed" in out and "1 failed" in out, "first run: 7 passed and the golden check failed", out)
        must(f"{CASE} / golden: no golden file yet (first run), written {golden}" in out, "first run's message", out)
        must(golden.is_file(), f"first run wrote {golden}", out)

        out = run(pytest, cwd=project, env=env)
        must("8 passed" in out and "1 case, 8 checks: 8 passed" in out, "second run: 8 passed, with the summary", out)

        golden.rename(golden.with_suffix(".kept"))
        out = run(pytest, cwd=project, env=ci, expect=1)
        must("in CI a missing golden is not written" in out and not golden.exists(), "CI: missing golden", out)
        golden.with_suffix(".kept").rename(golden)
        out = run([*pytest, "--force-regen"], cwd=project, env=ci, expect=4)
        must("--force-regen refused: CI='true'" in out, "CI: --force-regen refused", out)

        out = run([*pytest, "--crosscheck-report=reports"], cwd=project, env=env)
        must((project / "reports" / "index.html").is_file(), "--crosscheck-report wrote index.html", out)
        summary = (project / "reports" / "summary.md").read_text(encoding="utf-8")
        must(f"| {CASE} |" in summary and "network_2_2_1" not in summary, "the report holds this project only")

        out = run([str(bin_dir / "crosscheck"), "--list"], cwd=project / "tests", env=env)
        must(out.split() == [CASE], "crosscheck --list from a subfolder", out)
        out = run([str(bin_dir / "crosscheck"), "--reports", "cli-reports"], cwd=project, env=env)
        must("7 passed, 0 failed" in out, "crosscheck: 7 checks passed", out)
        must((project / "cli-reports" / "summary.md").is_file(), "crosscheck --reports wrote summary.md", out)
        out = run([str(bin_dir / "crosscheck"), "tiny_2_4"], cwd=project, env=env, expect=2)
        expected = f"crosscheck: unknown network 'tiny_2_4' (did you mean '{CASE}'?); registered: {CASE}"
        must(out.strip() == expected, "a misspelt name: one line with the nearest name", out)
        out = run([str(bin_dir / "crosscheck"), "--reports", "pyproject.toml"], cwd=project, env=env, expect=1)
        must("Traceback" not in out and "a file is in the way" in out, "a bad --reports path is one line", out)
        print(f"outside user: every step of the README's walk-through held ({tmp} removed)")
        return 0
    except StepFailed as exc:
        print(f"outside user: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
