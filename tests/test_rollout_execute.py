"""The engine against the emulator: real HTTP, real MSAL, real SQLite and PostgreSQL databases; ground truth
from the emulator.

Promises checked here: nothing lost under 5% faults plus throttling; a second operation on
overlapping users is refused naming the first; a read-only actor is refused before anything is sent;
protected accounts are untouched by apply, CSV import and undo; resume re-reads unknown items and
never sends them twice; undo restores before-states and shows (skips) users who moved on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from lib.auth import SessionExpired, TokenRefreshFailed
from lib.directory.refresh import refresh_snapshot
from lib.emulator.model import App
from lib.emulator.server import RunningEmulator
from lib.emulator.throttle import WRITE, get_throttle
from lib.graph import (
    Forbidden,
    GraphError,
    GraphGateway,
    GraphServerError,
    GraphUnavailable,
    ItemResult,
    MsalClientCredential,
    Throttled,
)
from lib.rollout import (
    AppActor,
    ExecuteOptions,
    OperationConflict,
    PermissionDenied,
    active_protection,
    cancel_operation,
    get_operation,
    import_waves,
    item_events,
    list_operations,
    list_waves,
    operation_items_frame,
    operation_progress,
    operation_report,
    parse_users_csv,
    plan,
    plan_from_csv,
    promote_plan,
    protect_account,
    resume_operation,
    run_operation,
    start_operation,
    undo_preview,
    wait_operation,
    wave_member_ids,
    wave_progress,
)
from lib.rollout import journal as j
from lib.rollout.actor import app_actor_from_token
from lib.rollout.execute import OperationWorker, _reason_of, _worth_retrying
from lib.rollout.journal import Outcome, WorkItem
from lib.store import open_store
from tests.conftest import emulator_config
from tests.test_rollout_journal import dead_owner, set_owner
from tests.test_rollout_support import READER, control, gateway_for, truth

FAST = ExecuteOptions(flush_interval_s=0.05, heartbeat_s=0.2, retry_pause_s=0.05)


@dataclass
class World:
    emulator: RunningEmulator
    gateway: GraphGateway
    store: Any
    tenant_id: str
    frame: pd.DataFrame
    actor: AppActor

    def candidates(self, count: int, *, state: str | None = None, exclude: str = "enforced",
                   registered: bool | None = None) -> list[str]:
        """Ids of ordinary people (enabled accounts, not break-glass) the plan will change."""
        f = self.frame
        mask = (f["account_kind"] == "person") & f["account_enabled"] & ~f["is_guest"]
        mask &= (f["state"] == state) if state else (f["state"] != exclude)
        if registered is not None:
            mask &= f["registered"] == registered
        ids = f.loc[mask, "id"].tolist()
        assert len(ids) >= count, f"the tenant has only {len(ids)} such users"
        return ids[:count]


def make_world(make_emulator, database_url: str, *, users: int = 400, seed: int = 11, **config: Any) -> World:
    emulator = make_emulator(users=users, seed=seed, config=emulator_config(**config))
    gateway = gateway_for(emulator)
    store = open_store(database_url)
    refresh_snapshot(store, gateway, mode="demo")
    actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
    return World(emulator, gateway, store, emulator.tenant_id, store.load_users(emulator.tenant_id), actor)


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url)
    yield w
    w.gateway.close()
    w.store.close()


def states(emulator: RunningEmulator) -> dict[str, str]:
    return {uid: row["mfa_state"] for uid, row in truth(emulator).items()}


def wait_for(check: Any, timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def applied_events(store: Any, operation_id: int) -> Counter:
    events = item_events(store, operation_id)
    return Counter(events.loc[events["event"] == "applied", "user_id"])


def test_enforce_applies_every_user_once_and_touches_no_one_else(world: World) -> None:
    ids = world.candidates(150)
    before = states(world.emulator)
    control(world.emulator, "POST", "/stats/reset")
    p = plan(world.frame, "enforced", ids, protected=active_protection(world.store, world.tenant_id),
             actor=world.actor)
    assert len(p.changes) == 150
    op = run_operation(world.store, world.gateway, p, tenant_id=world.tenant_id, actor=world.actor, options=FAST)
    report = operation_report(world.store, op)
    assert (report["status"], report["planned"], report["applied"], report["failed"], report["skipped"]) == (
        "complete", 150, 150, [], [])
    after = states(world.emulator)
    assert {uid for uid in after if after[uid] != before[uid]} == set(ids)
    assert all(after[uid] == "enforced" for uid in ids)
    assert applied_events(world.store, op) == Counter(dict.fromkeys(ids, 1))
    assert control(world.emulator, "GET", "/stats")["writes"] == 150
    progress = operation_progress(world.store, op)
    assert (progress.status, progress.done, progress.remaining, progress.fraction, progress.eta_s) == (
        "complete", 150, 0, 1.0, None)
    items = operation_items_frame(world.store, op)
    assert set(items["read_state"]) == {before[uid] for uid in ids}  # journaled what was read before sending
    record = get_operation(world.store, op)
    assert (record.actor, record.actor_kind) == ("MFA Rollout Console (demo, app-only)", "app")


def test_enable_journals_what_entra_left(world: World) -> None:
    registered = world.candidates(20, state="disabled", registered=True)
    unregistered = world.candidates(20, state="disabled", registered=False)
    p = plan(world.frame, "enabled", registered + unregistered, actor=world.actor)
    op = run_operation(world.store, world.gateway, p, tenant_id=world.tenant_id, actor=world.actor, options=FAST)
    items = operation_items_frame(world.store, op).set_index("user_id")
    now = states(world.emulator)
    assert items.loc[registered, "after_state"].tolist() == ["enforced"] * 20
    assert items.loc[unregistered, "after_state"].tolist() == ["enabled"] * 20
    assert all(items.loc[uid, "after_state"] == now[uid] for uid in registered + unregistered)


def test_five_percent_faults_plus_throttling_lose_nothing(make_emulator, database_url: str) -> None:
    w = make_world(make_emulator, database_url, users=2000, seed=5)
    try:
        ids = w.candidates(700)
        before = states(w.emulator)
        # writes refill at 3,000 per 15 s (time_scale 0.1) from an empty bucket: ~3.5 s of throttling
        control(w.emulator, "PATCH", "/config", {"fault_rate": 0.05, "seed": 42, "time_scale": 0.1})
        control(w.emulator, "POST", "/stats/reset")
        # start at the write limit: the bucket stays empty until the first write, however slow the setup
        get_throttle(w.emulator.state).drain(w.emulator.client_id, WRITE, 0.0, hold=True)
        p = plan(w.frame, "enforced", ids, actor=w.actor)
        op = run_operation(w.store, w.gateway, p, tenant_id=w.tenant_id, actor=w.actor, options=FAST)
        stats = control(w.emulator, "GET", "/stats")
        report = operation_report(w.store, op)
        applied = applied_events(w.store, op)
        # every item applied or listed with its reason; nothing unknown, nothing pending
        assert report["applied"] + len(report["failed"]) + len(report["skipped"]) == 700
        assert (report["unknown"], report["pending"], report["cancelled"]) == (0, 0, 0)
        assert report["status"] == "complete" and report["applied"] == 700
        after = states(w.emulator)
        assert {uid for uid in after if after[uid] != before[uid]} == set(ids)
        assert set(applied) == set(ids) and set(applied.values()) == {1}
        assert stats["throttled"] > 0 and stats["faults"] > 0  # the run really met both
    finally:
        w.gateway.close()
        w.store.close()


def held(world: World) -> int:
    """Graph requests the demo tenant is holding at its door right now."""
    return control(world.emulator, "GET", "/stats")["held"]


def test_second_operation_on_overlapping_users_is_refused_then_cancel_and_resume(world: World) -> None:
    # The demo tenant lets exactly two chunks of 10 land, then holds the third chunk's write at its door:
    # the run is frozen mid-flight by a counter, not caught by a race against the clock.
    control(world.emulator, "POST", "/stats/reset")
    control(world.emulator, "PATCH", "/config", {"hold_after_writes": 20})
    first_ids = world.candidates(120, state="disabled")
    slow = ExecuteOptions(chunk_size=10, window=1, flush_interval_s=0.05, heartbeat_s=0.1)
    first = start_operation(world.store, world.gateway, plan(world.frame, "enforced", first_ids, actor=world.actor),
                            tenant_id=world.tenant_id, actor=world.actor, options=slow)
    try:
        wait_for(lambda: held(world) >= 1)
        others = world.candidates(130, state="disabled")[120:]
        second = plan(world.frame, "enabled", [*first_ids[100:], *others], actor=world.actor)
        with pytest.raises(OperationConflict) as raised:
            start_operation(world.store, world.gateway, second, tenant_id=world.tenant_id, actor=world.actor)
        assert raised.value.operation_id == first
        assert raised.value.message.startswith(f"refused: operation {first} (apply to enforced by MFA Rollout "
                                               "Console (demo, app-only), started ")
        assert ", running) is still working on 20 of these users (for example " in raised.value.message
        assert [o.id for o in list_operations(world.store, world.tenant_id)] == [first]  # nothing journaled
        wait_for(lambda: operation_progress(world.store, first).applied == 20)
        running = operation_progress(world.store, first)
        assert (running.status, running.live, running.unknown, running.remaining) == ("running", True, 10, 100)
    finally:
        cancelled = cancel_operation(world.store, first, actor=world.actor)
        control(world.emulator, "PATCH", "/config", {"hold_after_writes": None})
        assert wait_operation(first, timeout=30)
    assert cancelled.cancel_requested
    progress = operation_progress(world.store, first)
    # the write in flight at the cancel landed; nothing was sent after it
    assert (progress.status, progress.applied, progress.cancelled, progress.unknown) == ("cancelled", 30, 90, 0)
    assert control(world.emulator, "GET", "/stats")["writes"] == 30
    # resume finishes it: each user applied exactly once
    resume_operation(world.store, world.gateway, first, actor=world.actor, options=FAST)
    assert wait_operation(first, timeout=60)
    assert operation_progress(world.store, first).status == "complete"
    assert applied_events(world.store, first) == Counter(dict.fromkeys(first_ids, 1))
    now = states(world.emulator)
    assert all(now[uid] == "enforced" for uid in first_ids)


def test_read_only_actor_is_refused_before_anything_is_sent(world: World) -> None:
    ids = world.candidates(10)
    p = plan(world.frame, "enforced", ids, actor=READER)
    control(world.emulator, "POST", "/stats/reset")
    with pytest.raises(PermissionDenied) as raised:
        start_operation(world.store, world.gateway, p, tenant_id=world.tenant_id, actor=READER)
    assert str(raised.value) == ("Global Reader is a read-only role: changing MFA needs Global Administrator or "
                                 "Authentication Policy Administrator.")
    app = AppActor("reporting app", frozenset({"Policy.Read.All"}))
    with pytest.raises(PermissionDenied, match=r"The app reporting app lacks the application permission "
                                               r"Policy\.ReadWrite\.AuthenticationMethod"):
        start_operation(world.store, world.gateway, p, tenant_id=world.tenant_id, actor=app)
    with pytest.raises(PermissionDenied):
        resume_operation(world.store, world.gateway, 1, actor=READER)
    assert control(world.emulator, "GET", "/stats")["requests"] == 0
    assert list_operations(world.store, world.tenant_id) == []


def test_graph_refusing_the_write_stops_the_operation(world: World) -> None:
    """An actor that claims a role its token lacks: Graph says 403, the run stops at once, nothing changes."""
    tenant = world.emulator.state.tenant
    reader = App("0f0e0d0c-0000-4000-8000-00000000beef", "read-only app", "s3cret-s3cret",
                 frozenset({"Policy.Read.All", "User.Read.All"}))
    tenant.apps[reader.client_id] = reader
    credential = MsalClientCredential(reader.client_id, "s3cret-s3cret", world.emulator.authority,
                                      ca_cert=world.emulator.ca_cert)
    ids = world.candidates(60)
    before = states(world.emulator)
    with GraphGateway(world.emulator.graph_url, credential) as gateway:
        liar = AppActor("read-only app", frozenset({"Policy.ReadWrite.AuthenticationMethod"}))
        op = run_operation(world.store, gateway, plan(world.frame, "enforced", ids, actor=liar),
                           tenant_id=world.tenant_id, actor=liar, options=ExecuteOptions(chunk_size=20, window=1))
    record = get_operation(world.store, op)
    assert record.status == "failed"
    assert record.error.startswith("stopped: Microsoft Graph refused the change: ")
    assert states(world.emulator) == before
    report = operation_report(world.store, op)
    assert report["applied"] == 0 and {f["code"] for f in report["failed"]} == {"forbidden"}
    assert len(report["failed"]) == 20 and report["cancelled"] == 40


def test_protected_accounts_untouched_by_apply_csv_import_and_undo(world: World) -> None:
    ids = world.candidates(80, state="disabled")
    upn = dict(zip(world.frame["id"], world.frame["upn"], strict=True))
    for uid in ids[:3]:
        protect_account(world.store, world.tenant_id, upn[uid], reason="vip", owner="security")
    before = states(world.emulator)
    # apply: protected in the preview
    p = plan(world.frame, "enforced", ids[:40], protected=active_protection(world.store, world.tenant_id),
             actor=world.actor)
    assert p.skip_counts() == {"protected": 3}
    # a stale preview (made before a 4th protection): the protection still wins at start
    stale = plan(world.frame, "enforced", ids[:40], actor=world.actor)
    protect_account(world.store, world.tenant_id, upn[ids[3]], reason="joined the board", owner="ciso")
    op = run_operation(world.store, world.gateway, stale, tenant_id=world.tenant_id, actor=world.actor, options=FAST)
    skipped = operation_items_frame(world.store, op, statuses=["skipped"])
    assert sorted(skipped["user_id"]) == sorted(ids[:4]) and set(skipped["reason_code"]) == {"protected"}
    # CSV import
    csv = "UserPrincipalName\n" + "\n".join(upn[uid] for uid in [ids[0], ids[1], *ids[40:60]]) + "\n"
    imported = parse_users_csv(csv.encode(), world.frame, default_state="enabled")
    p_csv = plan_from_csv(world.frame, imported, protected=active_protection(world.store, world.tenant_id),
                          actor=world.actor)
    assert p_csv.skip_counts() == {"protected": 2}
    op_csv = run_operation(world.store, world.gateway, p_csv, tenant_id=world.tenant_id, actor=world.actor,
                           options=FAST)
    assert operation_progress(world.store, op_csv).applied == 20
    # undo: a user protected after the operation is not reverted
    protect_account(world.store, world.tenant_id, upn[ids[10]], reason="on leave", owner="hr")
    undo = undo_preview(world.store, world.gateway, op, frame=world.frame, actor=world.actor,
                        protected=active_protection(world.store, world.tenant_id))
    assert undo.skip_counts() == {"protected": 1} and len(undo.changes) == 35
    undo_op = run_operation(world.store, world.gateway, undo, tenant_id=world.tenant_id, actor=world.actor,
                            options=FAST)
    assert operation_progress(world.store, undo_op).applied == 35
    now = states(world.emulator)
    for uid in [*ids[:4]]:
        assert now[uid] == before[uid] == "disabled"
    assert now[ids[10]] == "enforced"  # protected after the apply: the undo left it alone


def test_worker_rechecks_protection_while_running(world: World) -> None:
    control(world.emulator, "POST", "/stats/reset")
    control(world.emulator, "PATCH", "/config", {"hold_after_writes": 50})
    ids = world.candidates(100)
    last = world.frame.set_index("id").loc[ids[-1], "upn"]
    slow = ExecuteOptions(chunk_size=10, window=1, flush_interval_s=0.05, heartbeat_s=0.05)
    op = start_operation(world.store, world.gateway, plan(world.frame, "enforced", ids, actor=world.actor),
                         tenant_id=world.tenant_id, actor=world.actor, options=slow)
    wait_for(lambda: held(world) >= 1)  # half the users are done; the next chunk's write waits at the door
    protect_account(world.store, world.tenant_id, last, reason="added mid-run", owner="security")
    # Two heartbeats after the protection: the reload that follows the first has finished.
    beats: list[Any] = []
    wait_for(lambda: beats.append(get_operation(world.store, op).heartbeat_at) or len(set(beats)) >= 3)
    control(world.emulator, "PATCH", "/config", {"hold_after_writes": None})
    assert wait_operation(op, timeout=60)
    item = operation_items_frame(world.store, op).set_index("user_id").loc[ids[-1]]
    assert (item["status"], item["reason_code"], item["reason"]) == (
        "skipped", "protected", "protected account (added mid-run; owner security)")
    assert states(world.emulator)[ids[-1]] != "enforced"
    assert operation_progress(world.store, op).applied == 99


def test_resume_rereads_unknown_items_and_never_sends_them_twice(world: World) -> None:
    ids = world.candidates(40, state="disabled")
    p = plan(world.frame, "enforced", ids, actor=world.actor)
    op = j.create_operation(world.store, p, tenant_id=world.tenant_id, actor=world.actor)
    # the process "died" after journaling every item 'sending'; half of the PATCHes had landed
    j.settle(world.store, op, [Outcome(uid, "sending", read_state="disabled") for uid in ids])
    tenant = world.emulator.state.tenant
    for uid in ids[:20]:
        tenant.set_mfa_state(tenant.by_id[uid], "enforced", "MFA Rollout Console (demo, app-only)")
    set_owner(world.store, op, dead_owner())
    assert get_operation(world.store, op).interrupted
    control(world.emulator, "POST", "/stats/reset")
    resume_operation(world.store, world.gateway, op, actor=world.actor, options=FAST)
    assert wait_operation(op, timeout=60)
    assert control(world.emulator, "GET", "/stats")["writes"] == 20  # only the ones that had not landed
    assert operation_progress(world.store, op).status == "complete"
    assert applied_events(world.store, op) == Counter(dict.fromkeys(ids, 1))
    events = item_events(world.store, op)
    confirmed = events[events["detail"] == "confirmed by re-reading the state (the earlier answer was lost)"]
    assert sorted(confirmed["user_id"]) == sorted(ids[:20])
    now = states(world.emulator)
    assert all(now[uid] == "enforced" for uid in ids)


def test_resume_skips_users_a_later_operation_changed(world: World) -> None:
    ids = world.candidates(10, state="disabled")
    first = j.create_operation(world.store, plan(world.frame, "enforced", ids, actor=world.actor),
                               tenant_id=world.tenant_id, actor=world.actor)
    assert j.finish_operation(world.store, first, cancelled=True, error=None) == "cancelled"  # nothing sent
    later = run_operation(world.store, world.gateway, plan(world.frame, "enabled", ids[:4], actor=world.actor),
                          tenant_id=world.tenant_id, actor=world.actor, options=FAST)
    resume_operation(world.store, world.gateway, first, actor=world.actor, options=FAST)
    assert wait_operation(first, timeout=60)
    items = operation_items_frame(world.store, first).set_index("user_id")
    assert items.loc[ids[:4], "reason_code"].tolist() == ["changed_by_later_operation"] * 4
    assert set(items.loc[ids[:4], "reason"]) == {f"operation {later} changed this user since: not re-sent"}
    assert items.loc[ids[4:], "status"].tolist() == ["applied"] * 6
    now = states(world.emulator)
    assert [now[uid] for uid in ids[4:]] == ["enforced"] * 6
    assert all(now[uid] in ("enabled", "enforced") for uid in ids[:4])  # as the later Enable left them


def test_undo_restores_before_states_and_shows_who_moved_on(world: World) -> None:
    f = world.frame
    pool = f[(f["account_kind"] == "person") & f["account_enabled"] & (f["state"] == "disabled")
             & ~f["registered"]]["id"].tolist()
    ids = pool[:100]
    assert len(ids) == 100
    op = run_operation(world.store, world.gateway, plan(f, "enabled", ids, actor=world.actor),
                       tenant_id=world.tenant_id, actor=world.actor, options=FAST)
    assert operation_progress(world.store, op).applied == 100
    advanced = control(world.emulator, "POST", "/clock/advance", {"days": 30})
    assert advanced["report"]["enforced"] > 0
    now = states(world.emulator)
    moved = {uid for uid in ids if now[uid] == "enforced"}
    assert 0 < len(moved) < 100
    undo = undo_preview(world.store, world.gateway, op, frame=f, actor=world.actor)
    assert (undo.kind, undo.undo_of, undo.source) == ("undo", op, "undo")
    assert set(undo.skipped["user_id"]) == moved and set(undo.skipped["code"]) == {"moved_on"}
    assert set(undo.skipped["reason"]) == {"moved on since the operation: it left Enabled, now Enforced; "
                                           "not reverted"}
    assert set(undo.changes["user_id"]) == set(ids) - moved
    assert set(undo.changes["requested"]) == {"disabled"} and set(undo.changes["before"]) == {"enabled"}
    undo_op = run_operation(world.store, world.gateway, undo, tenant_id=world.tenant_id, actor=world.actor,
                            options=FAST)
    report = operation_report(world.store, undo_op)
    assert (report["kind"], report["undo_of"], report["applied"]) == ("undo", op, 100 - len(moved))
    final = states(world.emulator)
    assert all(final[uid] == "disabled" for uid in set(ids) - moved)
    assert all(final[uid] == "enforced" for uid in moved)


def test_waves_import_progress_and_promotion(world: World) -> None:
    history = control(world.emulator, "GET", "/truth/history")
    waves = import_waves(world.store, world.tenant_id, history["waves"])
    expected = [(w["name"], len(w["user_ids"])) for w in history["waves"]]
    assert [(w.name, w.members) for w in waves] == expected
    assert [w.name for w in waves] == ["Pilot: IT and Finance", "Wave 2: Sales, Marketing and Support"]
    assert [w.source for w in import_waves(world.store, world.tenant_id, history["waves"])] == ["imported"] * 2
    progress = wave_progress(world.store, world.tenant_id, world.frame)
    f = world.frame.set_index("id")
    for row, wave in zip(progress.itertuples(), waves, strict=True):
        members = f.loc[[u for u in wave_member_ids(world.store, wave.id) if u in f.index]]
        assert (row.members, row.enforced, row.enabled, row.disabled) == (
            wave.members, int((members["state"] == "enforced").sum()), int((members["state"] == "enabled").sum()),
            int((members["state"] == "disabled").sum()))
        assert row.promotable == int(((members["state"] == "enabled") & members["registered"]).sum())
    pilot = waves[0]
    members = f.loc[wave_member_ids(world.store, pilot.id)]
    targets = sorted(members[(members["state"] == "enabled") & members["registered"]].index)
    promote = promote_plan(world.store, world.tenant_id, "Pilot: IT and Finance", world.frame, actor=world.actor)
    assert sorted(promote.change_ids) == targets and promote.requested_state == "enforced"
    assert promote.source == "wave_promotion"
    if targets:
        run_operation(world.store, world.gateway, promote, tenant_id=world.tenant_id, actor=world.actor, options=FAST)
        now = states(world.emulator)
        assert all(now[uid] == "enforced" for uid in targets)
    # a named Enable is a wave too, listed after the imported ones
    new = world.candidates(5, state="disabled")
    run_operation(world.store, world.gateway, plan(world.frame, "enabled", new, actor=world.actor),
                  tenant_id=world.tenant_id, actor=world.actor, wave="Wave 3: Engineering", options=FAST)
    assert [w.name for w in list_waves(world.store, world.tenant_id)][-1] == "Wave 3: Engineering"


# --- failure reasons and retries come from the error's attributes, never from its class name ------------


def bare_worker() -> OperationWorker:
    """A worker with only what ``_on_result`` and ``_decide`` touch (no thread, no journal, no Graph)."""
    worker = object.__new__(OperationWorker)
    worker._inflight, worker._buffer, worker._retryable = {}, [], set()
    return worker


class CustomServerError(GraphServerError):
    """A subclass no table anywhere lists."""


@pytest.mark.parametrize(("error", "reason", "retried"), [
    (Throttled("slow down", status=429), "throttled", True),
    (CustomServerError("boom", status=502), "server_error", True),
    (GraphUnavailable("no answer"), "unavailable", True),
    (Forbidden("no", status=403), "forbidden", False),
    (SessionExpired(code="invalid_grant"), "unauthorized", False),
    (TokenRefreshFailed(code="unreachable"), "unauthorized", False),
    (None, "graph_error", True),
])
def test_a_failed_write_is_journaled_and_retried_by_its_attributes(error: GraphError | None, reason: str,
                                                                   retried: bool) -> None:
    worker = bare_worker()
    worker._on_result(ItemResult(key="u1", outcome="failed", status=getattr(error, "status", None), attempts=1,
                                 error=error))
    [outcome] = worker._buffer
    assert (outcome.status, outcome.reason_code, "u1" in worker._retryable) == ("failed", reason, retried)
    assert _reason_of(error)[0] == reason and _worth_retrying(error) is retried


@pytest.mark.parametrize(("error", "retried"), [
    (CustomServerError("boom", status=500), True),
    (SessionExpired(), False),
])
def test_a_failed_read_is_retried_only_when_the_error_is_retryable(error: GraphError, retried: bool) -> None:
    worker = bare_worker()
    item = WorkItem("u1", "a@x.example", "disabled", "enforced", "enforced", "pending", 0, None)
    outcome = worker._decide(item, error, True)
    assert isinstance(outcome, Outcome) and outcome.reason_code == "read_failed"
    assert ("u1" in worker._retryable) is retried
