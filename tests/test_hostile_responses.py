"""Hostile answers (a proxy's HTML page, a cut-off body, a 200 that is an error, a $batch that leaves
items out): snapshots and operations record a clear error, lose nothing, and finish once it stops.

Each fault is switched on through the demo tenant's ``/_emulator/config`` at a rate of 1.0 and aimed
with ``fault_paths`` / ``fault_on`` at exactly the requests the test means, so nothing is left to
chance; the gateway retries quickly (``FAST_RETRY``) so that every retry is spent in a fraction of a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from lib.directory.refresh import refresh_snapshot
from lib.emulator.server import RunningEmulator
from lib.errors import describe
from lib.graph import GraphError, RetryPolicy
from lib.rollout import (
    active_protection,
    item_events,
    operation_items_frame,
    operation_report,
    plan,
    resume_operation,
    run_operation,
    wait_operation,
)
from lib.store import open_store
from tests.test_rollout_execute import FAST, applied_events, make_world, states
from tests.test_rollout_support import control, gateway_for, truth

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base_s=0.005, backoff_max_s=0.02)

KINDS = {
    # kind: (what the recorded error says, whether the request ran before its answer was spoiled)
    "truncated": ("broken JSON: it ends in the middle", True),
    "html_502": ('an HTML page ("502 Bad Gateway")', False),
    "wrong_content_type": ("came as text/html", False),
    "error_200": ("error body under HTTP 200: generalException", False),
    "batch_missing": ("left this item out", True),
}


def hostile(emulator: RunningEmulator, kind: str, **aim: Any) -> None:
    control(emulator, "PATCH", "/config", {"fault_rate": 1.0, "fault_kinds": [kind], **aim})


def calm(emulator: RunningEmulator) -> None:
    control(emulator, "PATCH", "/config", {"fault_rate": 0.0, "fault_kinds": None, "fault_paths": None,
                                           "fault_on": "any"})


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    volatile = ["users_read_at", "registration_read_at", "state_read_at", "last_sign_in"]
    return frame.drop(columns=volatile, errors="ignore").sort_values("id").reset_index(drop=True)


# -- snapshots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_snapshot_meets_a_hostile_answer_with_a_recorded_error_then_completes(
    kind: str, make_emulator: Callable[..., RunningEmulator], database_url: str,
) -> None:
    emulator = make_emulator(users=120, seed=31)
    store = open_store(database_url)
    with gateway_for(emulator, retry=FAST_RETRY) as gateway:
        first = refresh_snapshot(store, gateway, mode="demo")
        kept = by_id(store.load_users(emulator.tenant_id))
        # the users listing is the first read after the tenant's own row; $batch carries the MFA states
        hostile(emulator, kind, fault_paths=["/$batch"] if kind == "batch_missing" else ["/users"])
        with pytest.raises(GraphError) as raised:
            refresh_snapshot(store, gateway, mode="demo")
        assert KINDS[kind][0] in str(raised.value)
        assert "Traceback" not in describe(raised.value) and "<html" not in describe(raised.value)
        failed = store.list_snapshots(emulator.tenant_id)[-1]
        assert failed.status == "failed" and failed.error == describe(raised.value)
        assert store.latest_snapshot(emulator.tenant_id).id == first.snapshot_id  # the last good one stays current
        pd.testing.assert_frame_equal(by_id(store.load_users(emulator.tenant_id)), kept)  # nothing lost

        calm(emulator)
        again = refresh_snapshot(store, gateway, mode="demo")
    assert store.latest_snapshot(emulator.tenant_id).id == again.snapshot_id
    now = store.load_users(emulator.tenant_id).set_index("id")["state"].to_dict()
    assert now == {uid: row["mfa_state"] for uid, row in truth(emulator).items()}
    store.close()


# -- operations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_operation_meets_a_hostile_answer_journals_the_truth_and_resume_completes(
    kind: str, make_emulator: Callable[..., RunningEmulator], database_url: str,
) -> None:
    world = make_world(make_emulator, database_url, users=200, seed=13)
    message, ran = KINDS[kind]
    emulator = world.emulator
    ids = world.candidates(30)
    before = states(emulator)
    the_plan = plan(world.frame, "enforced", ids, protected=active_protection(world.store, world.tenant_id),
                    actor=world.actor)
    assert len(the_plan.changes) == 30
    with gateway_for(emulator, retry=FAST_RETRY) as gateway:
        hostile(emulator, kind, fault_on="writes")  # reads pass: the worker can check what really happened
        op = run_operation(world.store, gateway, the_plan, tenant_id=world.tenant_id, actor=world.actor,
                           options=FAST)
        after = states(emulator)
        assert {uid for uid in after if after[uid] != before[uid]} <= set(ids)  # no one else touched
        items = operation_items_frame(world.store, op).set_index("user_id")
        assert sorted(items.index) == sorted(ids)  # every planned user is still in the journal
        for uid in ids:  # verified, not predicted: the journal says what Graph shows
            status = items.loc[uid, "status"]
            assert status in ("applied", "failed"), (uid, status)
            assert (status == "applied") == (after[uid] == "enforced"), (uid, status, after[uid])
        assert all(after[uid] == ("enforced" if ran else before[uid]) for uid in ids)
        events = item_events(world.store, op)
        failures = events.loc[events["event"] == "failed", "detail"].dropna().tolist()
        assert failures and all(message in text for text in failures), failures[:3]
        report = operation_report(world.store, op)
        if ran:  # every change landed; re-reading them proved it, so the operation is already complete
            assert (report["status"], report["applied"], report["failed"]) == ("complete", 30, [])
        else:
            assert report["status"] != "complete" and len(report["failed"]) == 30
            assert all(message in f["reason"] and "<html" not in f["reason"] for f in report["failed"])

        calm(emulator)
        writes = control(emulator, "GET", "/stats")["writes"]
        # resuming finished work is a no-op that succeeds; unfinished work is re-read, then sent
        assert resume_operation(world.store, gateway, op, actor=world.actor, options=FAST) == op
        assert wait_operation(op, timeout=120)
        report = operation_report(world.store, op)
        assert (report["status"], report["applied"], report["failed"]) == ("complete", 30, [])
        final = states(emulator)
        assert all(final[uid] == "enforced" for uid in ids)
        assert {uid for uid in final if final[uid] != before[uid]} == set(ids)
        assert applied_events(world.store, op) == Counter(dict.fromkeys(ids, 1))
        # changes that had landed were confirmed by reading them back, never sent again
        assert control(emulator, "GET", "/stats")["writes"] - writes == (0 if ran else 30)
    world.gateway.close()
    world.store.close()


@pytest.mark.parametrize("kind", ["error_200", "truncated"])
def test_a_hostile_answer_to_the_re_read_sends_nothing(
    kind: str, make_emulator: Callable[..., RunningEmulator], database_url: str,
) -> None:
    """Before sending, the worker re-reads each user's state; an answer it cannot trust is no state at all."""
    world = make_world(make_emulator, database_url, users=200, seed=17)
    emulator = world.emulator
    ids = world.candidates(20)
    before = states(emulator)
    the_plan = plan(world.frame, "enforced", ids, actor=world.actor)
    with gateway_for(emulator, retry=FAST_RETRY) as gateway:
        hostile(emulator, kind, fault_on="reads", fault_paths=["/$batch"])
        control(emulator, "POST", "/stats/reset", {})
        op = run_operation(world.store, gateway, the_plan, tenant_id=world.tenant_id, actor=world.actor,
                           options=FAST)
        assert control(emulator, "GET", "/stats")["writes"] == 0 and states(emulator) == before
        report = operation_report(world.store, op)
        assert report["status"] != "complete" and report["applied"] == 0 and len(report["failed"]) == 20
        assert all(f["code"] == "read_failed" and KINDS[kind][0] in f["reason"] for f in report["failed"])

        calm(emulator)
        resume_operation(world.store, gateway, op, actor=world.actor, options=FAST)
        assert wait_operation(op, timeout=120)
    report = operation_report(world.store, op)
    assert (report["status"], report["applied"], report["failed"]) == ("complete", 20, [])
    assert control(emulator, "GET", "/stats")["writes"] == 20
    assert applied_events(world.store, op) == Counter(dict.fromkeys(ids, 1))
    world.gateway.close()
    world.store.close()
