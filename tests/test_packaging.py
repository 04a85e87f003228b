"""The wheel as a project meets it: what it ships, what it declares, and that installing it leaves the
project's torch alone (the whole range of torch releases: ``nox -s dependencies``)."""

from __future__ import annotations

import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tools import dry_run


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dry_run.build_wheel(tmp_path_factory.mktemp("dist"))


def _venv(tmp_path: Path) -> tuple[Path, Path]:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    base = str(tmp_path / "venv")
    return Path(sysconfig.get_path("purelib", vars={"base": base, "platbase": base})), tmp_path / "venv/bin/python"


def test_installing_beside_the_newest_torch_installs_nothing_else(wheel, tmp_path):
    site, python = _venv(tmp_path)
    assert dry_run.plan(wheel, site, python, {"torch": "2.15.0", **dry_run.OTHERS}) == ["nn-crosscheck==0.1.0"]


def test_a_torch_older_than_the_declared_floor_is_not_accepted(wheel, tmp_path):
    # The control: below torch 2.4, pip must replace torch, and with no index to take it from it fails.
    site, python = _venv(tmp_path)
    with pytest.raises(SystemExit, match="torch"):
        dry_run.plan(wheel, site, python, {"torch": "2.3.1", **dry_run.OTHERS})


def test_the_wheel_ships_its_types_and_licence_and_declares_lower_bounds(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = Parser().parsestr(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert "crosscheck/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["License-Expression"] == "MIT" and "Framework :: Pytest" in meta.get_all("Classifier")
    requires = {r.split(";")[0].replace(" ", "") for r in meta.get_all("Requires-Dist")}
    assert {"torch>=2.4", "numpy>=1.26", "pytest>=7.0"} <= requires
    assert meta["Requires-Python"] == ">=3.11"


def test_the_wheel_ships_every_module_of_the_library(wheel):
    # A subpackage missing from the wheel imports from a checkout and fails only where the wheel is installed.
    library = Path(__file__).resolve().parents[1] / "crosscheck"
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.endswith(".py")}
    assert {str(p.relative_to(library.parent)) for p in library.rglob("*.py")} == shipped
