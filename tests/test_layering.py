"""The emulator keeps to itself: the product never imports it, and the two never share a name.

``lib/emulator`` is the demo tenant (a Graph and identity-platform server). The product reaches it
over HTTP like any tenant; only the demo wiring starts it and reads its credentials. Everything here
reads the source with ``ast`` and imports nothing, so a violation is reported as ``file:line``
however broken the import would be.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMULATOR = "lib.emulator"

MAY_IMPORT_EMULATOR: dict[str, str] = {}
"""Product files (besides lib/emulator itself) allowed to import the emulator, each with its reason. None: the
demo wiring (lib/demo.py, lib/demo_process.py) starts the demo tenant as its own process
(``python -m lib.emulator``) and reaches it over HTTP only."""

PRODUCT_PACKAGES = ("lib/graph", "lib/auth", "lib/store", "lib/rollout", "lib/directory")
"""Packages whose names the emulator must not reuse (a second ``GraphError`` or ``batch.py``)."""


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _product_files() -> list[Path]:
    """Every .py file of lib/ (but lib/emulator/), pages/ and app.py."""
    files = [p for p in sorted((ROOT / "lib").rglob("*.py")) if not _rel(p).startswith("lib/emulator/")]
    return files + sorted((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]


def _module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(rel: str) -> str:
    """The package a relative import in ``rel`` starts from."""
    module = _module_name(rel)
    return module if rel.endswith("__init__.py") else module.rpartition(".")[0]


def _is_emulator(name: str) -> bool:
    return name == EMULATOR or name.startswith(EMULATOR + ".")


def imported_modules(tree: ast.AST, rel: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every module the file imports (relative imports resolved, and
    ``from pkg import name`` yielding ``pkg.name`` too, since ``name`` may be a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(rel)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            yield node.lineno, node.args[0].value


def emulator_imports(source: str, rel: str) -> list[str]:
    """``file:line: module`` for each import of lib.emulator in ``source``."""
    seen: dict[int, str] = {}
    for line, name in imported_modules(ast.parse(source, rel), rel):
        if _is_emulator(name):
            seen.setdefault(line, name)
    return [f"{rel}:{line}: imports {name}" for line, name in sorted(seen.items())]


@pytest.mark.parametrize(("source", "rel"), [
    ("import lib.emulator.server", "lib/x.py"),
    ("import lib.emulator as emu", "lib/x.py"),
    ("from lib.emulator.server import RunningEmulator", "lib/auth/session.py"),
    ("from lib.emulator import generator", "pages/users.py"),
    ("from lib import emulator", "app.py"),
    ("from . import emulator", "lib/x.py"),
    ("from ..emulator.model import SyntheticTenant", "lib/auth/session.py"),
    ("from .emulator import model", "lib/__init__.py"),
    ("def f():\n    from lib.emulator.generator import demo_public_app", "lib/auth/session.py"),
    ("if TYPE_CHECKING:\n    from lib.emulator.server import RunningEmulator", "lib/auth/session.py"),
    ("importlib.import_module('lib.emulator.server')", "lib/x.py"),
])
def test_the_check_sees_every_form_of_import(source: str, rel: str) -> None:
    found = emulator_imports(source, rel)
    assert len(found) == 1 and found[0].startswith(f"{rel}:{source.count(chr(10)) + 1}: imports lib.emulator")


@pytest.mark.parametrize("source", [
    "import lib.emulators", "from lib.graph import errors", "from lib import demo", "from . import errors",
    "x = 'lib.emulator'",
])
def test_the_check_lets_other_imports_be(source: str) -> None:
    assert emulator_imports(source, "lib/auth/session.py") == []


def test_only_the_demo_wiring_imports_the_emulator() -> None:
    found = []
    for path in _product_files():
        rel = _rel(path)
        if rel not in MAY_IMPORT_EMULATOR:
            found += emulator_imports(path.read_text(encoding="utf-8"), rel)
    assert not found, ("Only the demo wiring may import lib.emulator (the product talks to the demo tenant "
                       "over HTTP; pass plain values instead):\n" + "\n".join(found))


def test_the_allowed_exceptions_are_real() -> None:
    """An exception that no longer imports the emulator (or no longer exists) is taken off the list."""
    for rel, reason in MAY_IMPORT_EMULATOR.items():
        assert reason.strip()
        assert emulator_imports((ROOT / rel).read_text(encoding="utf-8"), rel), f"{rel} no longer imports it"


def _class_names(package: str) -> dict[str, str]:
    """Every class defined in a package (nested ones too): name → ``file:line`` of one definition."""
    names: dict[str, str] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                names.setdefault(node.name, f"{_rel(path)}:{node.lineno}")
    return names


def _public_names(package: str) -> dict[str, str]:
    """Top-level public classes, functions and constants of a package's modules: name → ``file:line``."""
    names: dict[str, str] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                targets = [node.name]
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            else:
                continue
            for name in targets:
                if not name.startswith("_"):
                    names.setdefault(name, f"{_rel(path)}:{node.lineno}")
    return names


def _clashes(ours: dict[str, str], theirs: dict[str, str]) -> list[str]:
    return [f"{name}: {ours[name]} and {theirs[name]}" for name in sorted(ours.keys() & theirs.keys())]


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_no_class_name_is_shared_with_the_product(package: str) -> None:
    clashes = _clashes(_class_names("lib/emulator"), _class_names(package))
    assert not clashes, f"lib/emulator and {package} define classes of the same name:\n" + "\n".join(clashes)


def test_no_public_name_is_shared_with_the_graph_client() -> None:
    clashes = _clashes(_public_names("lib/emulator"), _public_names("lib/graph"))
    assert not clashes, "lib/emulator and lib/graph share public names:\n" + "\n".join(clashes)


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_no_module_file_name_is_shared_with_the_product(package: str) -> None:
    ours = {p.name for p in (ROOT / "lib/emulator").glob("*.py")} - {"__init__.py", "__main__.py"}
    theirs = {p.name for p in (ROOT / package).glob("*.py")}
    assert not ours & theirs, f"lib/emulator and {package} both have {sorted(ours & theirs)}"


def test_pages_only_render() -> None:
    """Pages call the use cases (lib.console) and the UI helpers; Graph and the store stay behind them."""
    found = []
    for path in [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]:
        rel = _rel(path)
        for line, name in imported_modules(ast.parse(path.read_text(encoding="utf-8")), rel):
            if name == "lib.graph" or name.startswith(("lib.graph.", "lib.store")):
                found.append(f"{rel}:{line} imports {name}")
    assert found == []


def test_the_check_on_pages_sees_a_store_import() -> None:
    tree = ast.parse("from lib.store import Store\nimport lib.graph.errors\n")
    assert {"lib.store", "lib.graph.errors"} <= {name for _line, name in imported_modules(tree, "pages/x.py")}
