"""Promise: two console processes on ONE PostgreSQL database share one journal.

An operation process 1 runs is listed as running by process 2; process 2 is refused an overlapping
operation while it runs; after kill -9 of process 1 mid-operation, process 2 resumes it to the end
and every planned user is in the requested state by the emulator's ground truth, each journaled as
applied exactly once, and no other user is touched.

Both consoles are real processes (``python -m lib.cli``) on one database of the session's
PostgreSQL server. The demo tenant runs in this process so the test can set its write throttle:
process 1 starts with Graph's write limit nearly spent (50 writes left, refilling at 0.02 a second),
so part of its operation lands and every further write is refused with a long Retry-After. Process 1
stays alive and heartbeating with its operation part-way for as long as process 2 takes (process 2
only reads Graph), until the kill. No step waits for a fixed time: the test polls the journal, with
a generous overall timeout.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from lib.emulator.throttle import WRITE, get_throttle
from lib.store.engine import normalise_url
from tests.conftest import control_client

ROOT = Path(__file__).resolve().parents[1]
PLANNED = 600
WRITES_LEFT = 50
TIMEOUT_S = 180.0


def cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lib.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def history(control: httpx.Client) -> dict[str, tuple[str, int]]:
    """Per user: (state, number of events in the emulator's history)."""
    states = {u["id"]: u["mfa_state"] for u in control.get("/truth/users").json()["users"]}
    events = {u["id"]: len(u["events"]) for u in control.get("/truth/history").json()["users"]}
    return {uid: (states[uid], events[uid]) for uid in states}


@pytest.mark.slow  # 30-60 s: the dry run, two console processes, a kill and a resume
def test_two_consoles_share_one_postgresql_journal(make_emulator, postgres_url: str, tmp_path: Path) -> None:
    emulator = make_emulator(users=2000, seed=7)
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emulator.graph_url, "authority": emulator.authority,
                                "tenant_id": emulator.tenant_id, "client_id": emulator.client_id,
                                "client_secret": emulator.client_secret, "ca_cert": emulator.ca_cert,
                                "control_key": emulator.control_key}) + "\n")
    graph = emulator.graph_url
    control = control_client(graph, emulator.control_key)
    journal = sa.create_engine(normalise_url(postgres_url))

    def rows(sql: str) -> list[tuple]:
        with journal.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

    def statuses() -> dict[str, int]:
        try:
            return dict(rows("SELECT status, count(*) FROM operation_items GROUP BY status"))
        except sa.exc.ProgrammingError:  # no journal tables yet
            return {}

    common = ["--graph", graph, "--emulator-info", str(info), "--db", postgres_url]
    users = control.get("/truth/users").json()["users"]
    chosen = [u for u in users if u["kind"] == "person" and u["account_enabled"] and u["mfa_state"] != "enforced"]
    chosen = chosen[:PLANNED]
    assert len(chosen) == PLANNED
    planned = {u["id"] for u in chosen}
    csv = tmp_path / "users.csv"
    csv.write_text("UserPrincipalName\n" + "".join(f"{u['upn']}\n" for u in chosen))
    others = [u["upn"] for u in users if u["id"] not in planned and u["kind"] == "person" and u["account_enabled"]
              and u["mfa_state"] == "disabled"][:2]

    # the snapshot both processes plan from, taken at full speed by a dry run
    status, out, err = finished(cli("apply", *common, "--state", "enforced", "--users-csv", str(csv), "--dry-run"))
    assert (status, err) == (0, ""), err
    assert json.loads(out)["planned"] == PLANNED
    before = history(control)

    # process 1 starts the operation with 50 writes left at Graph: part of it lands, the rest waits
    control.post("/throttle/reset")  # every bucket full: reads are never short
    control.patch("/config", json={"time_scale": 1000.0})  # the write limit refills at 0.02 writes a second
    get_throttle(emulator.state).drain(emulator.client_id, WRITE, float(WRITES_LEFT))
    first = cli("apply", *common, "--state", "enforced", "--users-csv", str(csv))
    try:
        deadline = time.monotonic() + TIMEOUT_S
        seen: dict[str, int] = {}
        while not (seen.get("applied", 0) >= 20 and seen.get("pending", 0) + seen.get("sending", 0) > 0):
            assert first.poll() is None, f"process 1 ended before it could be observed: {first.communicate()}"
            assert time.monotonic() < deadline, f"process 1 made no progress: {seen}"
            time.sleep(0.1)
            seen = statuses()

        # process 2 sees the operation running ...
        status, out, err = finished(cli("operations", "--db", postgres_url))
        assert (status, err) == (0, ""), err
        (listed,) = json.loads(out)["operations"]
        assert (listed["id"], listed["status"], listed["planned"]) == (1, "running", PLANNED)

        # ... and is refused an operation on some of the same users while it runs: the users process 1
        # has not finished, and two others
        unfinished = [upn for (upn,) in rows("SELECT upn FROM operation_items WHERE status IN ('pending', 'sending')")]
        assert len(unfinished) > 100, unfinished
        overlap = tmp_path / "overlap.csv"
        overlap.write_text("UserPrincipalName\n" + "".join(f"{upn}\n" for upn in unfinished + others))
        status, out, err = finished(cli("apply", *common, "--state", "enforced", "--users-csv", str(overlap)))
        assert (status, out) == (1, ""), (out, err)
        assert err.count("\n") == 1, err
        assert err.startswith("refused: operation 1 (apply to enforced by ")
        assert re.search(r", running\) is still working on \d+ of these users \(for example ", err), err
        assert rows("SELECT id FROM operations") == [(1,)]  # nothing journaled for the refused one

        # kill -9 of process 1 mid-operation
        assert first.poll() is None, "process 1 finished before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    at_kill = statuses()
    assert 20 <= at_kill.get("applied", 0) <= WRITES_LEFT + 5  # what Graph let through, journaled
    assert rows("SELECT id, status FROM operations") == [(1, "running")]  # as the dead process left it

    # process 2 finds it interrupted and resumes it to the end
    control.patch("/config", json={"time_scale": 0.01})
    control.post("/throttle/reset")
    status, out, err = finished(cli("operations", "--db", postgres_url))
    assert (status, err) == (0, "")
    assert json.loads(out)["operations"][0]["status"] == "interrupted"
    status, out, err = finished(cli("resume", *common, "--operation", "1"))
    assert (status, err) == (0, ""), err
    report = json.loads(out)
    assert (report["status"], report["planned"], report["applied"], report["failed"], report["skipped"],
            report["unknown"], report["pending"]) == ("complete", PLANNED, PLANNED, [], [], 0, 0)

    after = history(control)
    assert all(after[uid][0] == "enforced" for uid in planned)  # every planned user in the requested state
    assert {uid: after[uid] for uid in after if uid not in planned} == {
        uid: before[uid] for uid in before if uid not in planned}  # no other user touched, not even an event
    applied = dict(rows("SELECT user_id, count(*) FROM operation_events WHERE event = 'applied' GROUP BY user_id"))
    assert applied == dict.fromkeys(planned, 1)  # each item journaled as applied exactly once
    assert rows("SELECT status FROM operations") == [("complete",)]
    journal.dispose()
    control.close()
