"""lib/protection stays pure: it imports only the standard library's data modules, itself and lib.errors.

The reader (Graph), the store and the pages come later and call it; it never calls them, so it can be
evaluated anywhere (a page, the CLI, a snapshot) with the same answer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"__future__", "collections", "collections.abc", "dataclasses", "datetime", "enum", "typing",
           "lib.errors"}


def disallowed(source: str, rel: str) -> list[str]:
    """``file:line imports name`` for every import outside ``ALLOWED`` and lib.protection itself."""
    found = []
    for line, name in imported_modules(ast.parse(source), rel):
        parent = name.rpartition(".")[0]
        if not (name in ALLOWED or parent in ALLOWED or name == "lib.protection" or name.startswith("lib.protection.")):
            found.append(f"{rel}:{line} imports {name}")
    return found


def test_the_check_sees_io_imports() -> None:
    source = "import json\nfrom lib.graph import client\nfrom dataclasses import dataclass\nfrom . import policy\n"
    assert disallowed(source, "lib/protection/x.py") == [
        "lib/protection/x.py:1 imports json", "lib/protection/x.py:2 imports lib.graph",
        "lib/protection/x.py:2 imports lib.graph.client"]


def test_the_protection_model_imports_nothing_that_does_io() -> None:
    files = sorted((ROOT / "lib/protection").glob("*.py"))
    assert len(files) >= 8
    found = [hit for path in files
             for hit in disallowed(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())]
    assert found == []
