"""The read-back after writes and the re-read before a plan use the users listing, and stay honest.

The demo tenant's counters say which path each read took: ``state_reads`` counts GETs of
``authentication/requirements``, ``user_listings`` pages of ``/users`` (batch items included).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib import console, rollout
from lib.graph.state_read import SAMPLE_SIZE
from lib.rollout import operation_report, plan, run_operation
from tests.test_rollout_execute import FAST, World, make_world, states
from tests.test_rollout_support import control


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=400, seed=23)
    yield w
    w.gateway.close()
    w.store.close()


def _reset(w: World) -> None:
    control(w.emulator, "POST", "/stats/reset", {})


def _stats(w: World) -> dict:
    return control(w.emulator, "GET", "/stats")


def _observed(w: World, op: int) -> dict[str, str | None]:
    return {o["user_id"]: o["after"] for o in operation_report(w.store, op)["outcomes"]}


def test_the_read_back_reads_the_listing_and_checks_a_sample(world: World) -> None:
    w = world
    ids = w.candidates(100, state="disabled", registered=False)
    _reset(w)
    op = run_operation(w.store, w.gateway, plan(w.frame, "enforced", ids, actor=w.actor), tenant_id=w.tenant_id,
                       actor=w.actor, options=FAST)
    counters = _stats(w)
    # 100 re-read one by one before sending (unchanged), then the read-back: 100 listed + 20 sampled.
    assert counters["writes"] == 100
    assert counters["state_reads"] == 100 + SAMPLE_SIZE
    assert counters["user_listings"] == 7  # ceil(100 / 15) filtered listings
    truth = states(w.emulator)
    assert _observed(w, op) == {uid: truth[uid] for uid in ids} == dict.fromkeys(ids, "enforced")


def test_a_read_back_the_listing_cannot_vouch_for_goes_user_by_user(world: World) -> None:
    w = world
    ids = w.candidates(100, state="disabled", registered=False)
    control(w.emulator, "PATCH", "/config", {"bulk_mfa_state_stale": 100})  # the just-written users lag
    _reset(w)
    op = run_operation(w.store, w.gateway, plan(w.frame, "enforced", ids, actor=w.actor), tenant_id=w.tenant_id,
                       actor=w.actor, options=FAST)
    counters = _stats(w)
    assert counters["state_reads"] == 100 + SAMPLE_SIZE + 100  # the sample disagreed: everyone read again
    assert _observed(w, op) == dict.fromkeys(ids, "enforced")  # what Graph's documented endpoint says
    assert operation_report(w.store, op)["differs_from_preview"] == 0


def test_without_the_property_the_read_back_is_what_it_was(world: World) -> None:
    w = world
    ids = w.candidates(60, state="disabled", registered=False)
    control(w.emulator, "PATCH", "/config", {"bulk_mfa_state": False})
    _reset(w)
    op = run_operation(w.store, w.gateway, plan(w.frame, "enforced", ids, actor=w.actor), tenant_id=w.tenant_id,
                       actor=w.actor, options=FAST)
    assert _stats(w)["state_reads"] == 60 + 60
    assert _observed(w, op) == dict.fromkeys(ids, "enforced")


def test_the_re_read_before_a_plan_uses_the_listing(world: World) -> None:
    w = world
    ids = w.candidates(60, state="disabled")
    moved = w.emulator.state.tenant.by_id[ids[0]]
    w.emulator.state.tenant.set_mfa_state(moved, "enforced", "someone else")  # behind the snapshot's back
    ws = console.Workspace(w.store, w.gateway, w.tenant_id, w.actor)
    _reset(w)
    preview = console.preview_change(ws, w.frame, ids, "enforced")
    counters = _stats(w)
    assert counters["state_reads"] == SAMPLE_SIZE and counters["user_listings"] == 4  # ceil(60 / 15)
    assert counters["writes"] == 0
    skipped = dict(zip(preview.skipped["user_id"], preview.skipped["code"], strict=True))
    assert skipped.get(moved.id) == "already_in_state"
    assert moved.id not in preview.change_ids


def test_a_plan_re_read_the_sample_contradicts_is_read_user_by_user(world: World) -> None:
    w = world
    ids = w.candidates(60, state="disabled")
    tenant = w.emulator.state.tenant
    for uid in ids:
        tenant.set_mfa_state(tenant.by_id[uid], "enforced", "someone else")
    control(w.emulator, "PATCH", "/config", {"bulk_mfa_state_stale": 60})  # the listing still says disabled
    ws = console.Workspace(w.store, w.gateway, w.tenant_id, w.actor)
    _reset(w)
    preview = console.preview_change(ws, w.frame, ids, "enforced")
    assert _stats(w)["state_reads"] == SAMPLE_SIZE + 60
    assert preview.change_ids == [] and set(preview.skipped["user_id"]) == set(ids)
    fresh = rollout.with_current_states(w.gateway, w.frame, ids)
    assert set(fresh.loc[fresh["id"].isin(ids), "state"]) == {"enforced"}
