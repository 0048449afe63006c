"""Previews of large selections in the background (lib.console.plan_jobs) against the demo tenant over HTTP.

Promises checked here: above the threshold the re-read runs in a worker and counts users read of total;
its plan is the one the inline preview makes; a cancel (frozen mid-read by the demo tenant's
``hold_requests``, or at an exact count) ends with no plan and nothing sent; one job per session and
tenant, a newer one cancelling the older; errors come back as one line; a small selection stays inline.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from lib import console, rollout
from lib.errors import describe
from lib.graph import CancelToken
from tests.test_rollout_execute import World, make_world, states, wait_for
from tests.test_rollout_support import control, gateway_for

OWNER = "session-a"


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=1_200, seed=5)
    yield w
    w.gateway.close()
    w.store.close()


def _ws(world: World, gateway=None) -> console.Workspace:
    return console.Workspace(world.store, gateway or world.gateway, world.tenant_id, world.actor)


def _people(world: World) -> list[str]:
    f = world.frame
    return f.loc[f["account_kind"] == "person", "id"].astype(str).tolist()


def _builder(ws: console.Workspace, frame: pd.DataFrame, ids: list[str], state: str):
    return lambda progress, cancel: console.preview_change(ws, frame, ids, state, on_progress=progress,
                                                           cancel=cancel)


def _stats(world: World) -> dict:
    return control(world.emulator, "GET", "/stats")


def _same_plan(a: rollout.Plan, b: rollout.Plan) -> None:
    """Two previews of one selection agree on every user: who changes from what to what, who is skipped why."""
    columns = ["user_id", "before", "expected"]
    assert a.changes[columns].sort_values("user_id").reset_index(drop=True).equals(
        b.changes[columns].sort_values("user_id").reset_index(drop=True))
    assert a.skipped[["user_id", "code"]].sort_values("user_id").reset_index(drop=True).equals(
        b.skipped[["user_id", "code"]].sort_values("user_id").reset_index(drop=True))
    assert (a.selected, a.requested_state, a.warnings) == (b.selected, b.requested_state, b.warnings)


def test_a_large_preview_reads_in_the_background_counting_users_and_equals_the_inline_plan(world: World) -> None:
    ids = _people(world)[:1_000]
    ws = _ws(world)
    world.gateway.write_mfa_states({ids[0]: "enforced"})  # changed since the snapshot: the re-read must see it
    inline = console.preview_change(ws, world.frame, ids, "enforced")
    control(world.emulator, "POST", "/stats/reset")
    control(world.emulator, "PATCH", "/config", {"hold_requests": True})
    try:
        job = console.start_preview(OWNER, world.tenant_id, _builder(ws, world.frame, ids, "enforced"),
                                    place="users:selection", selection=("key", 1), size=len(ids),
                                    meta={"title": "Enforce 1,000"})
        assert job.background and not job.finished
        wait_for(lambda: _stats(world)["held"] >= 1)  # the read is at the demo tenant's door, frozen there
        assert (job.done, job.total, job.fraction, job.plan) == (0, 1_000, 0.0, None)
        assert job.label == "Reading the current MFA state: 0 of 1,000 users"
        assert console.preview_job(OWNER, world.tenant_id) is job
        assert console.preview_job("another-session", world.tenant_id) is None  # found only by its own session
    finally:
        control(world.emulator, "PATCH", "/config", {"hold_requests": False})
    assert job.wait(120)
    assert (job.done, job.total, job.error, job.cancelled) == (1_000, 1_000, "", False)
    assert job.is_for("users:selection", ("key", 1)) and not job.is_for("users:selection", ("key", 2))
    assert not job.is_for("users:csv", ("key", 1))
    _same_plan(job.plan, inline)
    assert job.plan.skipped.set_index("user_id").loc[ids[0], "code"] == "already_in_state"
    # The fast read: the users listing (the whole of it is fewer requests than 67 filters of 15 ids), then a
    # sample of 20 checked against authentication/requirements; no user read one by one beyond it.
    assert _stats(world)["state_reads"] == 20 and _stats(world)["batch_items"] == 20
    assert _stats(world)["writes"] == 0  # a preview sends no change


def test_cancel_while_the_read_is_held_leaves_no_plan_and_sends_nothing(world: World) -> None:
    ids = _people(world)[:900]
    before = states(world.emulator)
    control(world.emulator, "POST", "/stats/reset")
    control(world.emulator, "PATCH", "/config", {"hold_requests": True})
    try:
        job = console.start_preview(OWNER, world.tenant_id, _builder(_ws(world), world.frame, ids, "disabled"),
                                    place="users:selection", selection="all", size=len(ids))
        wait_for(lambda: _stats(world)["held"] >= 1)  # the users listing's first page, held at the door
        in_flight = _stats(world)["requests"]
        assert in_flight == 1  # the listing is paged: nothing else is sent until it answers
        job.cancel()
        assert job.wait(0)  # the job ends at once, while its read is still held at the door
        assert (job.cancelled, job.plan, job.error, job.done) == (True, None, "", 0)
    finally:
        control(world.emulator, "PATCH", "/config", {"hold_requests": False})
    assert job.join(60)  # the batches that were in flight came back; the worker sent nothing after them
    assert _stats(world)["requests"] == in_flight and _stats(world)["held"] == 0
    assert (job.cancelled, job.plan, job.done) == (True, None, 0)  # what they brought was dropped
    assert _stats(world)["writes"] == 0 and states(world.emulator) == before
    assert rollout.list_operations(world.store, world.tenant_id) == []  # nothing journaled
    console.discard_preview(OWNER, world.tenant_id)
    assert console.preview_job(OWNER, world.tenant_id) is None


def test_cancel_at_an_exact_count_stops_the_read_there(world: World) -> None:
    ids = _people(world)[:800]
    one_at_a_time = gateway_for(world.emulator, max_concurrency=1)  # one $batch of 20 in flight at a time
    try:
        ws = _ws(world, one_at_a_time)
        seen: list[int] = []

        def build(progress, cancel: CancelToken) -> rollout.Plan:
            def told(done: int, total: int) -> None:
                progress(done, total)
                seen.append(done)
                if done >= 200:
                    cancel.cancel()
            return console.preview_change(ws, world.frame, ids, "enabled", on_progress=told, cancel=cancel)

        control(world.emulator, "PATCH", "/config", {"bulk_mfa_state": False})  # user by user, a batch at a time
        control(world.emulator, "POST", "/stats/reset")
        job = console.start_preview(OWNER, world.tenant_id, build, place="users:selection", selection="x",
                                    size=len(ids))
        assert job.wait(120)
        assert (job.cancelled, job.plan, job.done, job.total) == (True, None, 200, 800)
        assert seen == sorted(seen) and sorted(set(seen)) == list(range(0, 201, 20))  # per batch answered
        assert _stats(world)["batch_items"] == 200  # nothing read after the cancel
    finally:
        one_at_a_time.close()


def test_a_newer_preview_of_the_same_session_cancels_the_older(world: World) -> None:
    ids = _people(world)[:700]
    ws = _ws(world)
    control(world.emulator, "PATCH", "/config", {"hold_requests": True})
    try:
        first = console.start_preview(OWNER, world.tenant_id, _builder(ws, world.frame, ids, "enforced"),
                                      place="users:selection", selection="first", size=len(ids))
        other = console.start_preview("session-b", world.tenant_id, _builder(ws, world.frame, ids, "enabled"),
                                      place="users:selection", selection="other", size=len(ids))
        second = console.start_preview(OWNER, world.tenant_id, _builder(ws, world.frame, ids[:600], "enabled"),
                                       place="users:selection", selection="second", size=600)
        assert first.wait(30) and first.cancelled and first.plan is None
        assert console.preview_job(OWNER, world.tenant_id) is second and not second.finished
        assert console.preview_job("session-b", world.tenant_id) is other and not other.finished  # left alone
    finally:
        control(world.emulator, "PATCH", "/config", {"hold_requests": False})
    assert second.wait(120) and other.wait(120)
    assert (second.cancelled, second.plan.requested_state, second.plan.selected) == (False, "enabled", 600)
    assert other.plan.selected == 700


def test_a_small_selection_is_previewed_at_once_on_the_same_path(world: World) -> None:
    ids = _people(world)[:30]
    ws = _ws(world)
    control(world.emulator, "POST", "/stats/reset")
    job = console.start_preview(OWNER, world.tenant_id, _builder(ws, world.frame, ids, "enforced"),
                                place="users:selection", selection="few", size=len(ids))
    assert job.finished and not job.background and (job.done, job.total) == (30, 30)
    assert console.preview_job(OWNER, world.tenant_id) is None  # nothing left to poll
    _same_plan(job.plan, console.preview_change(ws, world.frame, ids, "enforced"))


def test_a_failed_read_is_one_line_and_no_plan(world: World) -> None:
    ids = _people(world)[:600]
    signed_out = console.Workspace(world.store, None, world.tenant_id, world.actor)  # no Graph connection
    job = console.start_preview(OWNER, world.tenant_id, _builder(signed_out, world.frame, ids, "enforced"),
                                place="users:selection", selection="s", size=len(ids))
    assert job.wait(30)
    assert job.plan is None and not job.cancelled
    assert job.error == describe(console.NoGraphConnection())
