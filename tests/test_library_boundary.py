"""The installed library stands alone: it imports nothing of this repository's own code, and loading
its pytest plugin (which happens in every pytest run of a project that installs it) imports no torch."""

import ast
import subprocess
import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "crosscheck"
REPOSITORY_ONLY = ("scratch", "reference", "examples", "tests", "tutorials", "tools")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_library_imports_no_repository_code():
    found = {
        f"{path.name}: {name}"
        for path in sorted(LIBRARY.rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in REPOSITORY_ONLY
    }
    assert not found, f"crosscheck/ must import only itself and its dependencies: {sorted(found)}"


def test_loading_the_plugin_imports_no_torch():
    code = "import sys, crosscheck.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
