"""The operations journal on real SQLite and PostgreSQL databases: schema v2, items, exactly-once settling,
conflicts, liveness."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.rollout import (
    OperationConflict,
    OperationStateError,
    WaveError,
    get_operation,
    item_events,
    list_waves,
    operation_items_frame,
    operation_progress,
    operations_frame,
    plan,
    wave_member_ids,
)
from lib.rollout import journal as j
from lib.rollout.journal import Outcome
from lib.store import MIGRATIONS, open_store
from lib.store.schema import operations
from tests.test_rollout_support import TENANT, Admin, store_with_tenant, user, users

FRAME = users(*(user(n) for n in range(1, 11)), user(11, state="enforced"))
ADMIN = Admin()


@pytest.fixture
def store(database_url: str):
    with store_with_tenant(database_url) as opened:
        yield opened


def dead_owner() -> str:
    """An owner string naming a process of this host that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return f"{socket.gethostname()}/{child.stdout.strip()}/deadbeef"


def set_owner(store, operation_id: int, owner: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(operations).where(operations.c.id == operation_id).values(owner=owner))


def start(store, ids: list[str], state: str = "enforced", **kw) -> int:
    return j.create_operation(store, plan(FRAME, state, ids, actor=ADMIN), tenant_id=TENANT, actor=ADMIN, **kw)


def test_schema_version_2_has_the_rollout_tables(database_url: str) -> None:
    with open_store(database_url) as opened:
        assert opened.schema_version == len(MIGRATIONS) >= 2  # a new database is at the newest version
        names = set(sa.inspect(opened.engine).get_table_names())
    assert {"operations", "operation_items", "operation_events", "waves", "wave_members",
            "protected_accounts"} <= names


def test_create_journals_every_item_before_anything_is_sent(store) -> None:
    op = start(store, ["u001", "u002", "u011", "ghost"], label="users.csv")
    record = get_operation(store, op)
    assert (record.kind, record.status, record.requested_state, record.source, record.label, record.actor,
            record.actor_kind, record.planned, record.skipped, record.live) == (
        "apply", "running", "enforced", "selection", "users.csv", "admin@contoso.example", "user", 2, 2, False)
    assert record.summary["skipped_by_reason"] == {"unknown_user": 1, "already_in_state": 1}
    items = operation_items_frame(store, op)
    assert items[["seq", "user_id", "status", "before_state", "requested_state", "expected_state",
                  "reason_code"]].astype(object).where(items.notna(), None).values.tolist() == [
        [0, "u001", "pending", "disabled", "enforced", "enforced", None],
        [1, "u002", "pending", "disabled", "enforced", "enforced", None],
        [2, "u011", "skipped", "enforced", "enforced", None, "already_in_state"],
        [3, "ghost", "skipped", None, "enforced", None, "unknown_user"],
    ]
    # not registered as a live worker here: it shows as interrupted until a worker runs it
    assert record.interrupted and record.display_status == "interrupted"


def test_settle_journals_applied_exactly_once(store) -> None:
    op = start(store, ["u001", "u002", "u003"])
    assert j.settle(store, op, [Outcome("u001", "sending", read_state="disabled", event_state="enforced"),
                                Outcome("u002", "sending", read_state="disabled", event_state="enforced")]) == 2
    assert j.settle(store, op, [Outcome("u001", "applied", after_state="enforced", attempts=1),
                                Outcome("u002", "failed", reason_code="throttled", reason="429", attempts=3,
                                        error_status=429)]) == 2
    # a second answer for the same item (a duplicate callback, a resume that re-reads) changes nothing
    assert j.settle(store, op, [Outcome("u001", "applied", after_state="enforced", attempts=1)]) == 0
    assert j.settle(store, op, [Outcome("u001", "failed", reason_code="x")]) == 0
    # a failed item may be retried and then applied, once
    assert j.settle(store, op, [Outcome("u002", "sending"), Outcome("u002", "applied", attempts=1)]) == 2
    events = item_events(store, op)
    assert events[["user_id", "event"]].values.tolist() == [
        ["u001", "sending"], ["u002", "sending"], ["u001", "applied"], ["u002", "failed"], ["u002", "sending"],
        ["u002", "applied"],
    ]
    items = operation_items_frame(store, op).set_index("user_id")
    assert items.loc["u001", ["status", "read_state", "after_state", "attempts"]].tolist() == [
        "applied", "disabled", "enforced", 1]
    assert items.loc["u002", ["status", "attempts"]].tolist() == ["applied", 4]
    assert pd.isna(items.loc["u002", "reason_code"])
    progress = operation_progress(store, op)
    assert (progress.planned, progress.applied, progress.pending, progress.unknown, progress.failed,
            progress.plan_skipped, progress.done, progress.remaining) == (3, 2, 1, 0, 0, 0, 2, 1)


def test_second_operation_on_overlapping_users_is_refused_naming_the_first(store) -> None:
    first = start(store, ["u001", "u002", "u003"])
    j.register_local(first, object())  # a live worker in this process
    try:
        with pytest.raises(OperationConflict) as raised:
            start(store, ["u003", "u004"], state="enabled")
        created = get_operation(store, first).created_at.strftime("%Y-%m-%d %H:%M UTC")
        assert raised.value.message == (
            f"refused: operation {first} (apply to enforced by admin@contoso.example, started {created}, running) "
            "is still working on 1 of these users (for example user3@contoso.example); wait for it to finish or "
            "cancel it")
        assert (raised.value.operation_id, raised.value.overlap) == (first, 1)
        other = start(store, ["u004", "u005"])  # no overlap: fine
        assert other == first + 1
    finally:
        j.unregister_local(first, get_operation)  # not the registered object: stays
        j._local_workers.pop(first, None)
    # interrupted (its process died): still blocks, with other advice
    set_owner(store, first, dead_owner())
    with pytest.raises(OperationConflict, match=r"interrupted\) is still working on 1 of these users .*; resume it "
                                                r"or cancel it first"):
        start(store, ["u003"])
    # finished: no longer blocks
    assert j.finish_operation(store, first, cancelled=True, error=None) == "cancelled"
    assert start(store, ["u003"]) > first


def test_two_processes_settling_the_same_items_journal_each_applied_once(store, database_url: str) -> None:
    """Settling reads an item's status, then moves it: another process's settle must not slip in between."""
    ids = [f"u{n:03}" for n in range(1, 11)]
    op = start(store, ids)
    j.settle(store, op, [Outcome(uid, "sending") for uid in ids])
    others = [open_store(database_url) for _ in range(4)]
    gate = threading.Barrier(len(others))

    def settle_all(other) -> int:
        gate.wait()
        return sum(j.settle(other, op, [Outcome(uid, "applied", attempts=1)]) for uid in ids)

    try:
        with ThreadPoolExecutor(len(others)) as pool:
            moved = sum(pool.map(settle_all, others))
    finally:
        for other in others:
            other.close()
    assert moved == len(ids)
    events = item_events(store, op)
    assert events.loc[events["event"] == "applied", "user_id"].value_counts().to_dict() == dict.fromkeys(ids, 1)
    assert operation_items_frame(store, op)["attempts"].tolist() == [1] * len(ids)


def test_finish_statuses_and_pending_items_when_cancelled(store) -> None:
    op = start(store, ["u001", "u002", "u003"])
    j.settle(store, op, [Outcome("u001", "sending"), Outcome("u001", "applied", attempts=1),
                         Outcome("u002", "sending")])
    assert j.finish_operation(store, op, cancelled=True, error=None) == "cancelled"
    items = operation_items_frame(store, op).set_index("user_id")
    assert items["status"].to_dict() == {"u001": "applied", "u002": "sending", "u003": "cancelled"}
    assert items.loc["u003", "reason"] == "cancelled before it was sent"
    progress = operation_progress(store, op)
    assert (progress.status, progress.applied, progress.unknown, progress.cancelled, progress.eta_s) == (
        "cancelled", 1, 1, 1, None)

    done = start(store, ["u004"])
    j.settle(store, done, [Outcome("u004", "sending"), Outcome("u004", "applied")])
    assert j.finish_operation(store, done, cancelled=False, error=None) == "complete"
    part = start(store, ["u005"])
    j.settle(store, part, [Outcome("u005", "sending"), Outcome("u005", "failed", reason_code="server_error")])
    assert j.finish_operation(store, part, cancelled=False, error=None) == "partial"
    boom = start(store, ["u006"])
    assert j.finish_operation(store, boom, cancelled=False, error="stopped: 403") == "failed"
    assert get_operation(store, boom).error == "stopped: 403"


def test_claim_resumes_only_a_dead_operation_with_work_left(store) -> None:
    op = start(store, ["u001", "u002"])
    worker = object()
    j.register_local(op, worker)
    with pytest.raises(OperationStateError, match=f"operation {op} is running right now"):
        j.claim_operation(store, op, actor=ADMIN)
    j.unregister_local(op, worker)
    set_owner(store, op, dead_owner())
    claimed = j.claim_operation(store, op, actor=ADMIN)
    assert claimed.owner == j.owner_id() and claimed.status == "running"
    j.settle(store, op, [Outcome(u, s) for u in ("u001", "u002") for s in ("sending", "applied")])
    j.record_observed(store, op, {"u001": ("enforced", "enforced")})
    set_owner(store, op, dead_owner())
    # u002 was applied but never read back: a resume has that left to do
    assert j.claim_operation(store, op, actor=ADMIN) is not None
    j.record_observed(store, op, {"u002": ("enforced", "enforced")})
    set_owner(store, op, dead_owner())
    assert get_operation(store, op).interrupted
    # nothing left: the interrupted operation is closed as complete, and nothing is claimed
    assert j.claim_operation(store, op, actor=ADMIN) is None
    closed = get_operation(store, op)
    assert (closed.status, closed.live, closed.error) == ("complete", False, None)
    finished_at = closed.finished_at
    assert j.claim_operation(store, op, actor=ADMIN) is None  # again: a no-op that leaves it as it is
    assert get_operation(store, op).finished_at == finished_at


def test_cancel_of_an_interrupted_operation_closes_it_at_once(store) -> None:
    op = start(store, ["u001", "u002"])
    set_owner(store, op, dead_owner())
    closed = j.request_cancel(store, op)
    assert (closed.status, closed.error) == ("cancelled", "cancelled while interrupted")
    assert operation_items_frame(store, op)["status"].tolist() == ["cancelled", "cancelled"]
    with pytest.raises(OperationStateError, match="only a running one can be cancelled"):
        j.request_cancel(store, op)


def test_heartbeat_says_why_to_stop(store) -> None:
    op = start(store, ["u001"])
    assert j.heartbeat(store, op) is None
    with store.engine.begin() as conn:
        conn.execute(sa.update(operations).where(operations.c.id == op).values(cancel_requested=True))
    assert j.heartbeat(store, op) == "cancel"
    set_owner(store, op, "other-host/1/abc")
    assert j.heartbeat(store, op) == "taken_over"


def test_owner_liveness_rules() -> None:
    now = j.wall_ns()
    assert j.owner_alive(1, None, now) is False
    assert j.owner_alive(1, dead_owner(), now) is False
    assert j.owner_alive(1, "other-host/1/abc", now) is True
    assert j.owner_alive(1, "other-host/1/abc", now - int((j.LEASE_S + 1) * 1e9)) is False
    assert j.owner_alive(1, j.owner_id(), now) is False  # this process, but no worker registered


def test_wave_is_journaled_with_the_enable(store) -> None:
    op = start(store, ["u001", "u002", "u011"], state="enabled", wave="Wave 3: Sales")
    (wave,) = list_waves(store, TENANT)
    assert (wave.name, wave.source, wave.operation_id, wave.members, wave.actor) == (
        "Wave 3: Sales", "operation", op, 2, "admin@contoso.example")
    assert wave_member_ids(store, wave.id) == ["u001", "u002"]
    with pytest.raises(WaveError, match="there is already a wave named 'Wave 3: Sales'"):
        start(store, ["u003"], state="enabled", wave="Wave 3: Sales")
    with pytest.raises(WaveError, match="only an Enable can be named as a wave"):
        start(store, ["u004"], state="enforced", wave="Wave 4")


def test_operations_frame_lists_counts(store) -> None:
    a = start(store, ["u001", "u002", "ghost"])
    j.settle(store, a, [Outcome("u001", "sending"), Outcome("u001", "applied")])
    j.finish_operation(store, a, cancelled=True, error=None)
    frame = operations_frame(store, TENANT)
    assert frame[["id", "kind", "status", "planned", "applied", "failed", "skipped", "cancelled",
                  "unfinished"]].values.tolist() == [[a, "apply", "cancelled", 2, 1, 0, 1, 1, 0]]
    assert frame["finished_at"].notna().all()
