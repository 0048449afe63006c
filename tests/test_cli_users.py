"""`python -m lib.cli users` and the snapshot JSON's protection counts, against the demo tenant."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lib.cli import main
from lib.columns import PROTECTION_COLUMNS
from lib.console.users_export import USERS_EXPORT_COLUMNS
from lib.emulator.server import RunningEmulator
from lib.protection import CoveredBy, MethodClass
from lib.store import open_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def snapshotted(make_emulator: Callable[..., RunningEmulator], tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> tuple[RunningEmulator, str, dict]:
    emu = make_emulator(users=120, seed=12)
    db = f"sqlite:///{tmp_path / 'console.db'}"
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emu.graph_url, "control_key": emu.control_key}))
    assert main(["snapshot", "--graph", emu.graph_url, "--emulator-info", str(info), "--db", db]) == 0
    return emu, db, json.loads(capsys.readouterr().out)


def test_snapshot_json_counts_users_by_coverage_and_method_class(
        snapshotted: tuple[RunningEmulator, str, dict]) -> None:
    emu, db, summary = snapshotted
    protection = summary["protection"]
    frame = open_store(db).load_users(emu.tenant_id)
    assert protection["ca_availability"] == "available" and protection["policies"] == 5
    assert protection["messages"] == [] and protection["security_defaults"] is False
    assert set(protection["covered_by"]) == {str(c) for c in CoveredBy}
    assert protection["covered_by"] == {str(c): int((frame["covered_by"] == str(c)).sum()) for c in CoveredBy}
    assert protection["method_class"] == {str(m): int((frame["method_class"] == str(m)).sum()) for m in MethodClass}
    assert sum(protection["covered_by"].values()) == sum(protection["method_class"].values()) == 120
    assert protection["sms_voice_only"][0]["deadline"] == "2027-02-01"


def test_users_export_as_csv_and_json_has_every_user_and_the_protection_columns(
        snapshotted: tuple[RunningEmulator, str, dict], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    emu, db, _ = snapshotted
    frame = open_store(db).load_users(emu.tenant_id).set_index("id")
    assert main(["users", "--db", db, "--format", "csv"]) == 0
    data = capsys.readouterr().out
    assert data.startswith("\ufeff")  # the Users page's CSV: UTF-8 with a BOM for Excel
    rows = list(csv.DictReader(io.StringIO(data.removeprefix("\ufeff"))))
    assert len(rows) == 120 and list(rows[0]) == list(USERS_EXPORT_COLUMNS)
    assert all(r[c] == frame.loc[r["id"], c] for r in rows for c in PROTECTION_COLUMNS)
    out = tmp_path / "users.json"
    assert main(["users", "--db", db, "--format", "json", "--output", str(out)]) == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["tenant_id"] == emu.tenant_id and len(exported["users"]) == 120
    first = exported["users"][0]
    assert list(first) == list(USERS_EXPORT_COLUMNS)
    assert all(u[c] == frame.loc[u["id"], c] for u in exported["users"] for c in PROTECTION_COLUMNS)
    text = data + out.read_text(encoding="utf-8")
    assert "eyJ" not in text and emu.client_secret not in text  # no token, no secret in an export


@pytest.mark.parametrize(("args", "status", "message"), [
    (["--format", "xml"], 2, "--format"),
    (["--format", "csv", "--db", "mysql://x@y/z"], 2, "not supported"),
    (["--format", "csv", "--db", "EMPTY"], 1, "take a snapshot first"),
    (["--format", "json", "--db", "EMPTY", "--tenant", "nope"], 1, "no tenant 'nope'"),
])
def test_bad_input_is_one_clear_line(args: list[str], status: int, message: str, tmp_path: Path) -> None:
    args = [a if a != "EMPTY" else str(tmp_path / "empty.db") for a in args]
    if "--db" not in args:
        args += ["--db", str(tmp_path / "x.db")]
    proc = subprocess.run([sys.executable, "-m", "lib.cli", "users", *args], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
