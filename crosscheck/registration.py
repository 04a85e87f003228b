"""The registered cases, and the project they come from.

A project lists the modules that register its cases in its own ``pyproject.toml``::

    [tool.crosscheck]
    cases = ["mynets.registration"]   # imported to run their register(...) calls
    goldens = "tests/goldens"          # where the golden files live (the default)
    float32 = ["my_net"]               # cases the report also checks in float32 (default: none)

Outside pytest (the CLI) the project is found from a folder upwards (the first ``pyproject.toml`` on the
way to the file system's root); inside a pytest run it is the run's own file (``settings.pyproject``: the
inifile or the rootdir's, never one above the rootdir), read when a case first needs it.  The project's
folder is put on ``sys.path`` so that its modules import as they do in its own tests.  The library registers
nothing of its own.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import tomllib
import traceback
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crosscheck import settings
from crosscheck.errors import RegistrationError

if TYPE_CHECKING:
    from crosscheck.case import Case

DEFAULT_GOLDENS = "tests/goldens"

_REGISTRY: dict[str, Case] = {}
# The module whose import registered each case, by name and file: the project's case module being loaded, else
# the module that called register(); a repro imports it alone.
_REGISTERED_IN: dict[str, tuple[str, str | None]] = {}
# The case module load() is importing (innermost last), and whether register() validates now: not while only
# names are wanted (crosscheck --list, a repro finding its case), where each case is validated when it is used.
_LOADING: list[str] = []
_VALIDATING = [True]


@dataclass(frozen=True)
class Project:
    root: Path  # the folder holding pyproject.toml (or the folder searched from, where there is none)
    pyproject: Path | None
    cases: tuple[str, ...] = ()
    goldens: Path = Path(DEFAULT_GOLDENS)
    float32: tuple[str, ...] = ()
    # Cases registered only where something optional is installed (a case module that registers them behind an
    # import check): their goldens are kept, not orphans, on a machine that does not register them.
    optional: tuple[str, ...] = ()


def find_pyproject(start: Path) -> Path | None:
    """The first ``pyproject.toml`` in ``start`` or a folder above it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _names(path: Path, config: dict[str, object], key: str) -> tuple[str, ...]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RegistrationError(f"{path}: [tool.crosscheck] {key} must be a list of names, got {value!r}")
    return tuple(value)


def project(start: Path | None = None) -> Project:
    """The project that ``start`` (default: the current folder) belongs to, with its ``[tool.crosscheck]``
    settings; a malformed table raises ``RegistrationError`` naming the file and the key."""
    start = Path.cwd() if start is None else Path(start)
    return read_project(find_pyproject(start), start.resolve())


def run_project(run: settings.Settings) -> Project:
    """The project of a pytest run: its one ``pyproject.toml`` (none above the rootdir), read once per run."""
    found = run.memo.get("project")
    if found is None:
        found = run.memo["project"] = read_project(run.pyproject, run.root)
    return found  # type: ignore[no-any-return]


def read_project(path: Path | None, root: Path) -> Project:
    """The ``[tool.crosscheck]`` settings of the file ``path``; with no file, the defaults for ``root``."""
    if path is None:
        return Project(root, None, goldens=root / DEFAULT_GOLDENS)
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("crosscheck", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistrationError(f"{path} cannot be read as TOML: {exc}") from None
    goldens = config.get("goldens", DEFAULT_GOLDENS)
    if not isinstance(goldens, str) or not goldens:
        raise RegistrationError(f"{path}: [tool.crosscheck] goldens must be a folder path, got {goldens!r}")
    return Project(
        root=path.parent,
        pyproject=path,
        cases=_names(path, config, "cases"),
        goldens=path.parent / goldens,
        float32=_names(path, config, "float32"),
        optional=_names(path, config, "optional"),
    )


def load(proj: Project) -> None:
    """Import the project's case modules, with its folder on ``sys.path``."""
    if proj.cases and str(proj.root) not in sys.path:
        sys.path.insert(0, str(proj.root))
    for module in proj.cases:
        before = dict(_REGISTRY)
        _LOADING.append(module)
        try:
            importlib.import_module(module)
        except RegistrationError:
            raise  # register() refused a case: its message names it
        except Exception as exc:
            # A module half imported is not in sys.modules: the next load imports it again, and must not find
            # the cases it registered before it failed.
            _REGISTRY.clear()
            _REGISTRY.update(before)
            raise RegistrationError(_import_failure(proj, module, exc)) from None
        finally:
            _LOADING.pop()


@contextlib.contextmanager
def names_only() -> Iterator[None]:
    """While inside, ``register`` checks a case's name and type only and builds no network: for what needs the
    names (``crosscheck --list``) or one case of many (a repro); each case is validated when it is checked."""
    _VALIDATING.append(False)
    try:
        yield
    finally:
        _VALIDATING.pop()


def registered(name: str) -> Case | None:
    """The case registered under ``name`` in this process, without loading any module."""
    return _REGISTRY.get(name)


def registered_in(case: Case) -> tuple[str, str | None] | None:
    """The module whose import registered ``case`` (this very object), by name and file; else None."""
    return _REGISTERED_IN.get(case.name) if _REGISTRY.get(case.name) is case else None


def load_module(root: Path, module: str) -> dict[str, Case]:
    """Import one case module of the project at ``root`` (its folder on ``sys.path``), registering its cases
    without validating them; every registered case by name."""
    with names_only():
        load(Project(root, find_pyproject(root), cases=(module,)))
    return dict(_REGISTRY)


def _import_failure(proj: Project, module: str, exc: Exception) -> str:
    """One line for a case module whose import raised: the module, the line that raised and what to do."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and (module == exc.name or module.startswith(exc.name + ".")):
        return (
            f"{proj.pyproject}: [tool.crosscheck] cases lists {module!r}, which cannot be imported from "
            f"{proj.root} ({exc}); list a module path relative to the folder of pyproject.toml"
        )
    frames = traceback.extract_tb(exc.__traceback__)
    # The innermost line of the project's own code (a missing optional dependency raises in importlib).
    own = [f for f in frames if Path(f.filename).resolve().is_relative_to(proj.root.resolve())] or frames
    at = f" at {own[-1].filename}:{own[-1].lineno}" if own else ""
    return (
        f"{proj.pyproject}: importing {module!r}, listed in [tool.crosscheck] cases, raised "
        f"{type(exc).__name__}: {exc}{at}; install what it needs or remove it from the list"
    )


def registry(start: Path | None = None) -> dict[str, Case]:
    """Every registered case by name, in registration order: the cases of the project ``start`` belongs to,
    loaded by importing the modules its ``[tool.crosscheck] cases`` lists, and any case registered in this
    process before.  ``start`` defaults to the project of the pytest run in progress (so a test module finds
    its project wherever pytest is started from), else the current folder."""
    run = settings.current()
    load(run_project(run) if start is None and run is not None else project(start))
    return dict(_REGISTRY)


def register(case: Case) -> Case:
    """Validate ``case`` (its first steps, on the rows they take) and add it to the battery; a bad case raises
    ``RegistrationError`` now (inside ``names_only``, when it is checked)."""
    from crosscheck.case import Case  # torch: only once a case is registered
    from crosscheck.validate import validation_problem

    if not isinstance(case, Case):
        raise RegistrationError(f"register() takes a crosscheck.Case, got {type(case).__name__}")
    if isinstance(case.name, str):
        same = [n for n, c in _REGISTRY.items() if name_key(n) == name_key(case.name) and c is not case]
        if same and same[0] == case.name:
            raise RegistrationError(
                f"a case named {case.name!r} is already registered{_registered_by(case.name)}; give this one another "
                f"name (registered: {sorted(_REGISTRY)})"
            )
        if same:
            raise RegistrationError(
                f"case {case.name!r}: a case named {same[0]!r} is already registered{_registered_by(same[0])}, and the "
                f"two names differ only "
                f"in letter case or Unicode form; each names a golden file, which one file system would share "
                f"between them: give this one another name (registered: {sorted(_REGISTRY)})"
            )
    problem = validation_problem(case) if _VALIDATING[-1] else None
    if problem is not None:
        raise RegistrationError(problem)
    _REGISTRY[case.name] = case
    caller = sys._getframe(1).f_globals
    module = _LOADING[-1] if _LOADING else caller.get("__name__", "")
    _REGISTERED_IN[case.name] = (module, getattr(sys.modules.get(module), "__file__", None) or caller.get("__file__"))
    return case


def _registered_by(name: str) -> str:
    """Where the case already named ``name`` was registered (" by module 'm' (file)"), as far as it is known."""
    module, file = _REGISTERED_IN.get(name, ("", None))
    if not module and not file:
        return ""
    return f" by {f'module {module!r}' if module else 'a script'}{f' ({file})' if file else ''}"


def name_key(name: str) -> str:
    """What two case names must differ in: ``Net`` and ``net``, ``ﬁnal`` and ``final`` are one name to a
    case-insensitive file system or to a reader."""
    return unicodedata.normalize("NFKC", name).casefold()
