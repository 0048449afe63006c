"""Each use case of lib.console against the demo tenant, called the way the pages and the CLI call it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib import console, rollout
from lib.columns import empty_users_frame
from tests.test_rollout_execute import FAST, World, make_world, states
from tests.test_rollout_support import READER


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=200, seed=5)
    yield w
    w.gateway.close()
    w.store.close()


def _ws(world: World, actor=None) -> console.Workspace:
    return console.Workspace(world.store, world.gateway, world.tenant_id, actor or world.actor)


def _apply(ws: console.Workspace, preview: rollout.Plan, **kw) -> int:
    operation_id = console.start_change(ws, preview, options=FAST, **kw)
    assert rollout.wait_operation(operation_id, 60)
    return operation_id


def test_take_snapshot_stores_what_the_tenant_holds(world: World) -> None:
    result = console.take_snapshot(_ws(world), mode="demo")
    assert result.snapshot_id == world.store.latest_snapshot(world.tenant_id).id
    stored = world.store.load_users(world.tenant_id)
    assert dict(zip(stored["id"], stored["state"], strict=True)) == states(world.emulator)


def test_preview_change_plans_from_the_states_graph_gives_now(world: World) -> None:
    ids = world.candidates(4, state="disabled")
    world.gateway.write_mfa_states({ids[0]: "enforced"})  # changed since the snapshot
    preview = console.preview_change(_ws(world), world.frame, ids, "enabled")
    assert sorted(preview.changes["user_id"]) == sorted(ids[1:])
    skipped = preview.skipped.set_index("user_id")
    assert skipped.loc[ids[0], "before"] == "enforced"  # the snapshot said disabled


def test_start_change_applies_and_the_timeline_and_undo_follow(world: World) -> None:
    ids = world.candidates(3, state="disabled", registered=False)
    ws = _ws(world)
    operation_id = _apply(ws, console.preview_change(ws, world.frame, ids, "enabled"), label="three")
    assert {uid: states(world.emulator)[uid] for uid in ids} == dict.fromkeys(ids, "enabled")
    timeline = console.user_timeline(ws, ids[0])
    assert any(f"(operation {operation_id})" in text for text in timeline["text"]), timeline
    undo = console.preview_undo(ws, world.frame, operation_id)
    assert sorted(undo.changes["user_id"]) == sorted(ids) and set(undo.changes["expected"]) == {"disabled"}
    _apply(ws, undo)
    assert {uid: states(world.emulator)[uid] for uid in ids} == dict.fromkeys(ids, "disabled")


def test_preview_csv_rereads_the_states_unless_told_not_to(world: World) -> None:
    ids = world.candidates(2, state="disabled")
    upns = world.frame.set_index("id").loc[ids, "upn"].tolist()
    imported = rollout.parse_users_csv("\n".join(upns).encode(), world.frame, default_state="enforced")
    world.gateway.write_mfa_states({ids[0]: "enforced"})
    fresh = console.preview_csv(_ws(world), world.frame, imported)
    stale = console.preview_csv(_ws(world), world.frame, imported, reread=False)
    assert list(fresh.changes["user_id"]) == [ids[1]]
    assert sorted(stale.changes["user_id"]) == sorted(ids)
    assert rollout.parse_users_csv(b"nobody@x.example\n", empty_users_frame(), default_state="enabled").errors


def test_one_wave_enforcement_for_promotion_and_for_chosen_members(world: World) -> None:
    ws = _ws(world)
    ids = world.candidates(4, state="disabled", registered=False)
    _apply(ws, console.preview_change(ws, world.frame, ids, "enabled"), wave="Wave X")
    wave = rollout.get_wave(world.store, world.tenant_id, "Wave X")
    # Nobody registered yet: promotion has no one; chosen members are planned to Enforced.
    assert console.preview_wave_enforcement(ws, world.frame, wave.id).changes.empty
    chosen = console.preview_wave_enforcement(ws, world.frame, wave.id, member_ids=[*ids[:2], "not-a-member"])
    assert sorted(chosen.changes["user_id"]) == sorted(ids[:2]) and chosen.source == "wave_stragglers"
    assert set(chosen.changes["expected"]) == {"enforced"}


def test_cancel_and_resume_check_the_role_and_the_tenant(world: World) -> None:
    ws = _ws(world)
    ids = world.candidates(2, state="disabled")
    operation_id = _apply(ws, console.preview_change(ws, world.frame, ids, "enforced"))
    with pytest.raises(rollout.PermissionDenied):
        console.cancel(_ws(world, READER), operation_id)
    with pytest.raises(rollout.PermissionDenied):
        console.resume(_ws(world, READER), operation_id)
    elsewhere = console.Workspace(world.store, world.gateway, "another-tenant", world.actor)
    with pytest.raises(rollout.OperationNotFound, match="belongs to tenant"):
        console.cancel(elsewhere, operation_id)
    assert rollout.get_operation(world.store, operation_id).status == "complete"
    with pytest.raises(rollout.PermissionDenied):
        console.start_change(_ws(world, READER), console.preview_change(ws, world.frame, ids, "disabled"))
