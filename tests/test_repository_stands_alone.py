"""A fresh clone stands alone: nothing points outside the repository, and the test data it needs ships with it.

The patterns below are regular expressions whose own source text cannot match them (``\\.`` is not
``.``), so this file is checked like every other one, with no exemption.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import GRAPH_EXAMPLES

ROOT = Path(__file__).resolve().parents[1]

CHECKED_SUFFIXES = frozenset({".py", ".md", ".sh", ".toml", ".txt", ".cfg", ".ini", ".json", ".yml", ".yaml",
                              ".example"})
CHECKED_FOLDERS = frozenset({".ci"})
"""Folders whose files are checked whatever their name (``.ci/run`` has no suffix)."""
SKIPPED_FOLDERS = frozenset({".git", ".venv", ".data", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"})

OUTSIDE = {
    "a relative path up into a sibling folder": re.compile(r"\.\./shared\b"),
    "a path joined onto a folder named shared": re.compile(r"""/\s*["']shared["']"""),
    "a reference document that lives outside the repository":
        re.compile(r"\b(?:GRAPH|DESIGN|GRAPH-PROTECTION)\.md\b"),
}

LOADED = (
    (re.compile(r"""\bgraph_example\(\s*["']([^"']+\.json)["']"""), ""),
    (re.compile(r"""\bGRAPH_EXAMPLES\s*/\s*["']([^"']+\.json)["']"""), ""),
    (re.compile(r"""\bprotection_example\(\s*["']([^"']+\.json)["']"""), "protection/"),
)
"""How tests name a file in tests/fixtures/graph (a pattern, and the folder its names are relative to)."""

NOT_EXAMPLES = {"protection/v1.0-metadata-properties.json"}
"""Fixtures that are property lists from Graph's metadata, not example answers (their own tests read them)."""


def repository_files() -> list[Path]:
    """Tracked and new (not ignored) files, from git; without git, the tree minus build and data folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        paths = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
            paths.extend(Path(folder) / f for f in files)
    return sorted(p for p in paths if p.is_file())


def checked(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    return path.suffix in CHECKED_SUFFIXES or bool(CHECKED_FOLDERS & set(relative.parts[:-1]))


def outside_references(files: list[Path]) -> list[str]:
    """``file:line: what`` for every line that points outside the repository."""
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in OUTSIDE.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()[:100]}")
    return found


def test_the_checks_catch_what_they_are_for() -> None:
    up = ".."
    samples = {
        f"EXAMPLES = Path('{up}/shared/graph-examples')": True,
        'EXAMPLES = Path(__file__).resolve().parents[2] / "' + 'shared" / "graph-examples"': True,
        "ROOT.parent / 'sha" + "red'": True,
        "see " + "GRAPH" + ".md, section MSAL": True,
        "(" + "DESIGN" + ".md, Promises)": True,
        "GRAPH" + "-PROTECTION" + ".md": True,
        "see docs/graph.md": False,
        '{"account_kind": "shared"}': False,
        "include_shared=True, kinds=('service', 'shared')": False,
    }
    assert {s: any(p.search(s) for p in OUTSIDE.values()) for s in samples} == samples


def test_no_file_points_outside_the_repository() -> None:
    files = [p for p in repository_files() if checked(p)]
    assert any(p.name == "test_repository_stands_alone.py" for p in files)  # this file is checked too
    assert len(files) > 50
    found = outside_references(files)
    assert not found, "the repository must stand alone; move what these need into it:\n" + "\n".join(found)


def loaded_fixtures() -> dict[str, list[str]]:
    """Every file name tests load from tests/fixtures/graph → where (``file:line``)."""
    used: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, folder in LOADED:
                for name in pattern.findall(line):
                    used.setdefault(folder + name, []).append(f"{path.relative_to(ROOT)}:{number}")
    return used


def test_every_graph_fixture_the_tests_load_ships_with_them() -> None:
    used = loaded_fixtures()
    assert len(used) >= 6
    missing = {name: where for name, where in used.items() if not (GRAPH_EXAMPLES / name).is_file()}
    assert not missing, f"tests load files that are not in {GRAPH_EXAMPLES.relative_to(ROOT)}: {missing}"
    present = {p.relative_to(GRAPH_EXAMPLES).as_posix() for p in GRAPH_EXAMPLES.rglob("*.json")} - NOT_EXAMPLES
    assert present == set(used), f"fixtures no test loads: {sorted(present - set(used))}"


@pytest.mark.parametrize("name", sorted(p.name for p in GRAPH_EXAMPLES.glob("*.json")))
def test_every_graph_fixture_has_its_row_in_the_readme(name: str) -> None:
    document = json.loads((GRAPH_EXAMPLES / name).read_text(encoding="utf-8"))
    assert set(document) >= {"source", "request", "response"} and document["source"].strip()
    readme = (GRAPH_EXAMPLES / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"{name} needs exactly one row in the table of tests/fixtures/graph/README.md"
    cells = [cell.strip() for cell in rows[0].strip().strip("|").split("|")]
    assert len(cells) == 4 and all(cells), "columns: File | What it shows | Source | Used by"
    users = {Path(where.split(":")[0]).name for where in loaded_fixtures().get(name, [])}
    assert set(re.findall(r"`(test_\w+\.py)`", cells[3])) == users
