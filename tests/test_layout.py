"""The library's import direction: data flows one way, from a case to its reports, and no module reaches back up.

Every import is read, those inside functions and under ``TYPE_CHECKING`` too: an import moved into a function
to dodge a circle still makes one.  The README's "How the code is laid out" lists the rooms in this order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "crosscheck"
README = LIBRARY.parent / "README.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def imported(source: str, here: str, known: set[str], is_package: bool = False) -> set[str]:
    """The library modules that the module ``here`` (of text ``source``) imports anywhere in its text."""
    package = here if is_package else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, here)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # ``from crosscheck import report`` imports a module; ``from crosscheck.case import Case`` a name.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph = {name: imported(path.read_text(), name, known, path.name == "__init__.py") for name, path in mods.items()}
    # A package's __init__ is imported by every module inside it, which says nothing about direction; the lazy
    # public API (crosscheck/__init__.py) names every room by design and imports none at load time.
    for name in graph:
        graph[name].discard("crosscheck")
    return graph


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_library_has_no_import_circle() -> None:
    found = circle(import_graph())
    assert found is None, "import circle: " + " -> ".join(found or [])


def test_no_library_module_imports_the_plugin() -> None:
    importers = sorted(name for name, deps in import_graph().items() if "crosscheck.plugin" in deps)
    assert importers == [], f"the plugin passes its settings down (crosscheck.settings); imported by {importers}"


def test_the_circle_finder_finds_a_circle() -> None:
    # The test above is only as good as this: a circle made of function-level imports is one.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circle(graph) == ["a", "b", "c", "a"]
    assert circle({"a": {"b"}, "b": set()}) is None


def test_function_level_and_type_checking_imports_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from crosscheck.run.memo import Pair\n"
        "def f():\n    from crosscheck import plugin\n    import crosscheck.case\n"
    )
    found = imported(source, "crosscheck.probe", set(modules()))
    assert found == {"crosscheck.run.memo", "crosscheck.plugin", "crosscheck.case"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_600_lines(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= 600, f"{name} has {lines} lines: a module of that size has more than one job"


def readme_order() -> list[str]:
    """The modules of the README's "How the code is laid out", in the order it lists them."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `crosscheck/")]
    return [module_name(LIBRARY.parent / row) for row in rows]


def package_deps(graph: dict[str, set[str]], name: str) -> set[str]:
    """What a module depends on, a subpackage's ``__init__`` read as the modules it names."""
    found: set[str] = set()
    for dep in graph[name]:
        if (LIBRARY.parent / dep.replace(".", "/") / "__init__.py").is_file():
            found |= package_deps(graph, dep) or set()
        else:
            found.add(dep)
    return found


def test_the_readme_lists_every_module_once():
    listed = readme_order()
    packages = {name for name, path in modules().items() if path.name == "__init__.py" and name != "crosscheck"}
    assert len(listed) == len(set(listed)), "a module listed twice"
    assert set(listed) == set(modules()) - packages


def test_each_module_imports_only_modules_the_readme_lists_above_it():
    graph, listed = import_graph(), readme_order()
    late = [
        f"{name} imports {dep}, listed below it"
        for i, name in enumerate(listed)
        for dep in sorted(package_deps(graph, name))
        if dep in listed and listed.index(dep) > i
    ]
    assert late == []
