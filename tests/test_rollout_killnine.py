"""Promise: kill -9 of the CLI during a 2,000-user operation, then ``resume`` → every planned user in the
requested state, no other user touched, each item journaled as applied exactly once.

Everything is a real process: the emulator (``python -m lib.emulator``) and the CLI
(``python -m lib.cli apply`` / ``resume``); ground truth comes from the emulator's control routes.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import control_client

ROOT = Path(__file__).resolve().parents[1]
PLANNED = 2000


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.emulator", "--users", "5000", "--seed", "7", "--time-scale", "0.01",
         "--cert-dir", str(tmp_path / "tls")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "the emulator did not start"
        info = json.loads(line)
        (tmp_path / "emulator.json").write_text(line)
        yield {**info, "info_file": str(tmp_path / "emulator.json")}
    finally:
        proc.terminate()
        proc.wait(10)


def cli(*argv: str, **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lib.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def journal(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def history(control: httpx.Client) -> dict[str, tuple[str, int]]:
    """Per user: (state, number of events in the emulator's history)."""
    states = {u["id"]: u["mfa_state"] for u in control.get("/truth/users").json()["users"]}
    events = {u["id"]: len(u["events"]) for u in control.get("/truth/history").json()["users"]}
    return {uid: (states[uid], events[uid]) for uid in states}


@pytest.mark.slow  # ~12 s alone, 20-40 s on a busy machine; CI still runs it
def test_kill_minus_nine_midway_then_resume(emulator_process: dict[str, Any], tmp_path: Path) -> None:
    graph = emulator_process["graph"]
    control = control_client(graph, emulator_process["control_key"])
    db = tmp_path / "console.db"
    common = ["--graph", graph, "--emulator-info", emulator_process["info_file"], "--db", str(db)]
    users = control.get("/truth/users").json()["users"]
    chosen = [u for u in users if u["kind"] == "person" and u["account_enabled"] and u["mfa_state"] != "enforced"]
    chosen = chosen[:PLANNED]
    assert len(chosen) == PLANNED
    csv = tmp_path / "users.csv"
    csv.write_text("UserPrincipalName\n" + "".join(f"{u['upn']}\n" for u in chosen))
    planned = {u["id"] for u in chosen}

    # the snapshot the plan needs, taken at full speed by a dry run
    dry = cli("apply", *common, "--state", "enforced", "--users-csv", str(csv), "--dry-run")
    out, err = dry.communicate(timeout=120)
    assert (dry.returncode, err) == (0, ""), err
    assert json.loads(out)["planned"] == PLANNED
    before = history(control)

    # now start the real run; the emulator holds every request at its door once 300 changes have landed,
    # so the kill comes midway with requests in flight, decided by a counter rather than by the clock
    control.post("/stats/reset")
    control.patch("/config", json={"hold_after_writes": 300})
    run = cli("apply", *common, "--state", "enforced", "--users-csv", str(csv))
    deadline = time.monotonic() + 120
    while True:
        assert run.poll() is None, f"the CLI ended before it could be killed: {run.communicate()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
        stats = control.get("/stats").json()
        if stats["held"] and db.exists():
            try:
                journaled = journal(db, "SELECT count(*) FROM operation_items WHERE status = 'applied'")[0][0]
            except sqlite3.OperationalError:  # the journal tables are not there yet
                journaled = 0
            if journaled == stats["writes"]:  # every answer that came back is journaled
                break
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    landed = control.get("/stats").json()["writes"]

    statuses = dict(journal(db, "SELECT status, count(*) FROM operation_items GROUP BY status"))
    assert 300 <= statuses.get("applied", 0) == landed < PLANNED
    assert journal(db, "SELECT id, status FROM operations") == [(1, "running")]  # as the dead process left it
    unknown_at_kill = {uid for (uid,) in journal(db, "SELECT user_id FROM operation_items WHERE status = 'sending'")}

    control.patch("/config", json={"hold_after_writes": None})
    listing = cli("operations", "--db", str(db))
    out, err = listing.communicate(timeout=60)
    assert (listing.returncode, err) == (0, "")
    assert json.loads(out)["operations"][0]["status"] == "interrupted"

    resume = cli("resume", *common, "--operation", "1")
    out, err = resume.communicate(timeout=180)
    assert (resume.returncode, err) == (0, ""), err
    report = json.loads(out)
    assert (report["status"], report["planned"], report["applied"], report["failed"], report["skipped"],
            report["unknown"], report["pending"]) == ("complete", PLANNED, PLANNED, [], [], 0, 0)

    after = history(control)
    assert all(after[uid][0] == "enforced" for uid in planned)  # every planned user in the requested state
    assert {uid: after[uid] for uid in after if uid not in planned} == {
        uid: before[uid] for uid in before if uid not in planned}  # no other user touched, not even an event
    per_user = dict(journal(db, "SELECT user_id, count(*) FROM operation_events WHERE event = 'applied' "
                                "GROUP BY user_id"))
    assert per_user == dict.fromkeys(planned, 1)  # each item journaled as applied exactly once
    assert journal(db, "SELECT count(*) FROM operation_items WHERE status = 'applied'") == [(PLANNED,)]
    resolved = {uid for (uid,) in journal(db, "SELECT user_id FROM operation_items WHERE status = 'applied'")}
    assert unknown_at_kill <= resolved
    control.close()
