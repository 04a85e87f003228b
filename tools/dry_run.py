"""``nox -s dependencies``: installing the wheel into a project's environment changes none of its packages.

For each torch a user may have (2.12-2.15, beside their NumPy, pytest and the rest), an empty virtual
environment is given that torch and the others as installed distributions (their metadata alone, which is
all pip reads), and ``pip install --dry-run`` of the wheel must plan to install nn-crosscheck and nothing
else: no torch upgraded, downgraded or replaced.  Exit status 1 when any plan does more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCHES = ("2.12.0", "2.13.0", "2.14.1", "2.15.0")
# What a user's environment has beside torch: the other packages the wheel depends on.
OTHERS = {"numpy": "2.3.0", "pytest": "8.3.0", "pytest-regressions": "2.7.0", "threadpoolctl": "3.5.0"}


def fake_installed(site: Path, name: str, version: str) -> None:
    """``name`` ``version`` as pip sees an installed distribution: its dist-info folder."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def plan(wheel: Path, site_of: Path, python: Path, installed: dict[str, str]) -> list[str]:
    """What ``pip install --dry-run`` of the wheel would install beside ``installed``: 'name==version' each."""
    for name, version in installed.items():
        fake_installed(site_of, name, version)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--quiet", "--no-index",
         "--find-links", str(wheel.parent), "--report", "-", "nn-crosscheck"],
        capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"},
    )  # fmt: skip
    # Run without this machine's pip configuration (its constraints cap torch): a user's environment has none.
    if done.returncode != 0:
        raise SystemExit(f"pip install --dry-run failed:\n{done.stdout}{done.stderr}")
    report = json.loads(done.stdout)
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report["install"]]


def build_wheel(out: Path) -> Path:
    """The wheel, built from a copy of what it is made of: a build in the checkout writes build/ there, and two
    builds at once (test workers) would share it."""
    source = out.parent / f"{out.name}-source"
    shutil.copytree(ROOT / "crosscheck", source / "crosscheck", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
    )
    shutil.rmtree(source)
    (wheel,) = out.glob("nn_crosscheck-*.whl")
    return wheel


def main(torches: tuple[str, ...] = TORCHES) -> int:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="crosscheck-dry-run-") as tmp:
        wheel = build_wheel(Path(tmp) / "dist")
        for torch in torches:
            venv = Path(tmp) / f"venv-{torch}"
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
            planned = plan(wheel, site, venv / "bin" / "python", {"torch": torch, **OTHERS})
            ok = [p.split("==")[0] for p in planned] == ["nn-crosscheck"]
            failed += not ok
            print(f"torch {torch} installed: pip would install {', '.join(planned)}{'' if ok else '  <- FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(tuple(sys.argv[1:]) or TORCHES))
