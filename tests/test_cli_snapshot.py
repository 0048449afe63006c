"""`python -m lib.cli snapshot`: a scheduled admin's way to fill history, against the demo tenant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lib.cli import main
from lib.emulator.server import RunningEmulator
from lib.store import open_store
from tests.test_rollout_support import control

ROOT = Path(__file__).resolve().parents[1]


def test_snapshot_prints_a_summary_and_stores_it(make_emulator: Callable[..., RunningEmulator], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    emu = make_emulator(users=150, seed=8)
    db = f"sqlite:///{tmp_path / 'console.db'}"
    info = tmp_path / "emulator.json"  # only the key: the demo tenant hands out its app's credentials for it
    info.write_text(json.dumps({"graph": emu.graph_url, "control_key": emu.control_key}))
    argv = ["snapshot", "--graph", emu.graph_url, "--emulator-info", str(info), "--db", db]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    truth = emu.state.tenant.users
    assert summary["users"] == 150 and summary["tenant_id"] == emu.tenant_id
    assert summary["states"] == {s: sum(u.mfa_state == s for u in truth) for s in ("disabled", "enabled", "enforced")}
    assert summary["registration_source"] == "reports" and summary["rows_written"] == 150
    assert summary["requests"] > 0 and summary["seconds"] >= 0
    assert summary["state_read"] == {"path": "users listing", "reason": None, "sampled": 20, "disagreed": 0}
    sign_ins = summary["sign_ins"]  # a scheduled CLI run reads the whole 30 days at once
    assert sign_ins["path"] == "sign-in log" and sign_ins["note"] is None
    assert sign_ins["read"] == len(emu.state.extras["sign_in_log"]) > 0
    assert sign_ins["pages"] == -(-sign_ins["read"] // 1000)  # a small tenant's month is one window
    assert sign_ins["window"]["until"] is not None and sign_ins["users"] > 0
    store = open_store(db)
    assert store.latest_snapshot(emu.tenant_id).id == summary["snapshot_id"]
    assert store.latest_snapshot(emu.tenant_id).state_read == summary["state_read"]
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rows_written"] == 0  # nothing changed: nothing written
    assert (again["sign_ins"]["read"], again["sign_ins"]["pages"]) == (0, 1)  # only what is new: nothing


def test_snapshot_says_why_it_read_user_by_user(make_emulator: Callable[..., RunningEmulator], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    emu = make_emulator(users=80, seed=9)
    control(emu, "PATCH", "/config", {"bulk_mfa_state": False})
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emu.graph_url, "control_key": emu.control_key}))
    argv = ["snapshot", "--graph", emu.graph_url, "--emulator-info", str(info),
            "--db", f"sqlite:///{tmp_path / 'console.db'}"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["state_read"] == {
        "path": "per-user reads", "reason": "Microsoft Graph does not list per-user MFA states with the users",
        "sampled": 0, "disagreed": 0}
    assert summary["states"] == {s: sum(u.mfa_state == s for u in emu.state.tenant.users)
                                 for s in ("disabled", "enabled", "enforced")}


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["snapshot", "--graph", "not a url", "--db", "x.db"], 2, "--graph"),
        (["snapshot", "--graph", "http://127.0.0.1:9", "--db", "x.db"], 2, "no credentials"),
    ],
)
def test_bad_input_is_one_clear_line(argv: list[str], status: int, message: str, tmp_path: Path) -> None:
    argv = [a if a != "x.db" else str(tmp_path / "x.db") for a in argv]
    proc = subprocess.run([sys.executable, "-m", "lib.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
    assert proc.returncode == status
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_a_demo_tenant_tells_the_cli_nothing_without_its_key(make_emulator: Callable[..., RunningEmulator],
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    emu = make_emulator(users=60, seed=8)
    db = tmp_path / "console.db"
    assert main(["snapshot", "--graph", emu.graph_url, "--db", str(db)]) == 2
    assert "no credentials" in capsys.readouterr().err
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emu.graph_url, "control_key": "a key from an earlier run"}))
    assert main(["snapshot", "--graph", emu.graph_url, "--emulator-info", str(info), "--db", str(db)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "did not accept its control_key" in err
    assert emu.client_secret not in err and control(emu, "GET", "/stats")["requests"] == 0  # no Graph call
    assert not db.exists() or open_store(f"sqlite:///{db}").latest_snapshot(emu.tenant_id) is None


def test_a_proxy_page_instead_of_graph_is_one_line_and_keeps_the_last_snapshot(
        make_emulator: Callable[..., RunningEmulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = make_emulator(users=60, seed=8)
    db = f"sqlite:///{tmp_path / 'console.db'}"
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emu.graph_url, "control_key": emu.control_key}))
    argv = ["snapshot", "--graph", emu.graph_url, "--emulator-info", str(info), "--db", db]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)["snapshot_id"]
    control(emu, "PATCH", "/config", {"fault_rate": 1.0, "fault_kinds": ["html_502"], "fault_paths": ["/users"]})
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err and "<html" not in err
    assert 'an HTML page ("502 Bad Gateway")' in err
    store = open_store(db)
    assert store.latest_snapshot(emu.tenant_id).id == first
    assert store.list_snapshots(emu.tenant_id)[-1].status == "failed"
