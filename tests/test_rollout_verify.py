"""Verified outcomes: after each chunk's writes the worker reads the users back (batched) and journals what
Graph reports; a user not in the state the preview expected is flagged in the journal, the report, the
progress figures and the timeline. Against the demo tenant over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest

from lib import console
from lib.rollout import (
    item_events,
    item_outcomes,
    operation_items_frame,
    operation_progress,
    operation_report,
    plan,
    resume_operation,
    run_operation,
    wait_operation,
)
from tests.test_rollout_execute import FAST, World, make_world
from tests.test_rollout_support import control, truth


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=400, seed=31)
    yield w
    w.gateway.close()
    w.store.close()


def test_a_state_graph_did_not_leave_as_previewed_is_flagged_everywhere(world: World) -> None:
    w = world
    registered = w.candidates(10, state="disabled", registered=True)
    unregistered = w.candidates(10, state="disabled", registered=False)
    # A stale snapshot that has not seen the first ten register: the preview expects Enabled for all.
    stale = w.frame.copy()
    stale.loc[stale["id"].isin(registered), "registered"] = False
    preview = plan(stale, "enabled", registered + unregistered, actor=w.actor)
    assert set(preview.changes["expected"]) == {"enabled"}
    control(w.emulator, "POST", "/stats/reset")
    op = run_operation(w.store, w.gateway, preview, tenant_id=w.tenant_id, actor=w.actor, options=FAST)
    now = {uid: row["mfa_state"] for uid, row in truth(w.emulator).items()}
    assert {now[uid] for uid in registered} == {"enforced"}  # Entra: registered + Enabled → Enforced

    report = operation_report(w.store, op)
    assert (report["status"], report["applied"], report["differs_from_preview"]) == ("complete", 20, 10)
    assert [(o["user_id"], o["expected"], o["after"], o["matches_preview"]) for o in report["outcomes"]] == [
        (uid, "enabled", now[uid], uid in unregistered) for uid in registered + unregistered]
    items = operation_items_frame(w.store, op).set_index("user_id")
    assert all(items.loc[uid, "after_state"] == now[uid] for uid in registered + unregistered)  # observed
    outcomes = item_outcomes(operation_items_frame(w.store, op)).set_index("user_id")
    assert set(outcomes.loc[registered, "difference"]) == {
        "differs from the preview: expected Enabled, Graph says Enforced"}
    assert outcomes.loc[unregistered, "difference"].isna().all()
    progress = operation_progress(w.store, op)
    assert (progress.differs_from_preview, progress.unobserved) == (10, 0)

    events = item_events(w.store, op)
    observed = events[events["event"] == "observed"]
    assert Counter(observed["user_id"]) == Counter(dict.fromkeys(registered + unregistered, 1))
    applied = events[events["event"] == "applied"]
    assert applied["state"].isna().all()  # "Graph accepted": the state comes from the read-back
    ws = console.Workspace(w.store, w.gateway, w.tenant_id, w.actor)
    texts = console.user_timeline(ws, registered[0])["text"].tolist()
    assert any("Graph reports Enforced" in t and "differs from the preview: expected Enabled, Graph says Enforced"
               in t for t in texts), texts

    # Verification costs reads, never writes: 1 re-read + 1 write + 1 read-back $batch per 20 users.
    stats = control(w.emulator, "GET", "/stats")
    assert (stats["writes"], stats["requests"], stats["batch_items"]) == (20, 3, 60)


def test_a_user_not_read_back_is_read_back_by_resume_without_sending_again(world: World) -> None:
    w = world
    ids = w.candidates(25, state="disabled", registered=False)
    preview = plan(w.frame, "enforced", ids, actor=w.actor)
    # As if the process died after the answers were journaled, before the read-back.
    op = run_operation(w.store, w.gateway, preview, tenant_id=w.tenant_id, actor=w.actor,
                       options=replace(FAST, verify=False))
    progress = operation_progress(w.store, op)
    assert (progress.status, progress.applied, progress.unobserved) == ("complete", 25, 25)
    report = operation_report(w.store, op)
    assert {(o["after"], o["matches_preview"]) for o in report["outcomes"]} == {(None, None)}
    assert report["differs_from_preview"] == 0

    control(w.emulator, "POST", "/stats/reset")
    assert resume_operation(w.store, w.gateway, op, actor=w.actor, options=FAST) == op
    assert wait_operation(op, timeout=60)
    stats = control(w.emulator, "GET", "/stats")
    # Reads only: the 25 read back from the users listing (2 filtered requests of 15 ids at most) and a
    # sample of 20 checked through authentication/requirements, all in 2 $batch requests.
    assert (stats["writes"], stats["requests"], stats["user_listings"], stats["state_reads"]) == (0, 2, 2, 20)
    report = operation_report(w.store, op)
    assert (report["status"], report["differs_from_preview"]) == ("complete", 0)
    assert [(o["user_id"], o["after"], o["matches_preview"]) for o in report["outcomes"]] == [
        (uid, "enforced", True) for uid in ids]
    assert operation_progress(w.store, op).unobserved == 0
