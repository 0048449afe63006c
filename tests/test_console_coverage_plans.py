"""The two protection plans end to end: the demo tenant's policies → a snapshot's coverage → the preview →
the journaled change, verified by reading back → undo. Real HTTP, SQLite and PostgreSQL.

The demo tenant (lib/emulator/protection_seed.py) requires MFA for Sales by a nested group and for admins by
role (all cloud apps), for Exchange only (partial), and for all users in report-only; its break-glass
accounts are excluded. So it has users to move off per-user MFA and users in the gap.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from lib import console, rollout
from lib.directory.refresh import refresh_snapshot
from lib.rollout.actor import app_actor_from_token
from lib.store import open_store
from tests.test_rollout_execute import FAST, World, make_world, states
from tests.test_rollout_support import gateway_for


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=300, seed=11)
    yield w
    w.gateway.close()
    w.store.close()


def ws_of(world: World) -> console.Workspace:
    return console.Workspace(world.store, world.gateway, world.tenant_id, world.actor)


def run(ws: console.Workspace, preview: rollout.Plan) -> int:
    operation_id = console.start_change(ws, preview, options=FAST)
    assert rollout.wait_operation(operation_id, 120)
    return operation_id


def ids_where(frame: pd.DataFrame, mask: pd.Series) -> set[str]:
    return set(frame.loc[mask.fillna(False).astype(bool), "id"])


def test_move_off_disables_exactly_the_cleanly_covered_and_undo_restores(world: World) -> None:
    f, ws = world.frame, ws_of(world)
    on = f["state"].isin(["enabled", "enforced"])
    clean = ids_where(f, on & f["registered"] & (f["covered_by"] == "ca_all_apps"))
    assert len(clean) > 20, "the demo tenant should have Sales users Enforced under its Sales policy"
    guarded = sorted(clean)[0]
    console.protect(ws, f.set_index("id").loc[guarded, "upn"], reason="pilot", owner="owner@example.com")

    cover = console.preview_move_off_per_user(ws, f)
    preview = cover.plan
    assert set(preview.change_ids) == clean - {guarded}
    assert set(preview.changes["expected"]) == {"disabled"}
    skipped = preview.skipped.set_index("user_id")
    assert skipped.loc[guarded, "code"] == "protected"
    assert set(skipped.index) == ids_where(f, on) - set(preview.change_ids)
    assert set(skipped.loc[list(ids_where(f, on & (f["covered_by"] == "ca_partial"))), "code"]) == {"coverage_partial"}
    assert set(skipped.loc[list(ids_where(f, on & ~f["registered"] & (f["covered_by"] == "ca_all_apps"))),
                           "code"]) == {"not_registered_yet"}
    named = cover.coverage_of_changes().set_index("user_id")["coverage"]
    assert set(named.index) == set(preview.change_ids)
    assert all(text.startswith("Conditional Access: all cloud apps (Require MFA for") for text in named)

    before = states(world.emulator)
    operation_id = run(ws, preview)
    after = states(world.emulator)
    assert {uid for uid in after if after[uid] != before[uid]} == set(preview.change_ids)
    assert all(after[uid] == "disabled" for uid in preview.change_ids)
    assert after[guarded] == before[guarded]
    report = rollout.operation_report(world.store, operation_id)
    assert rollout.get_operation(world.store, operation_id).source == "move_off_per_user"
    assert report["differs_from_preview"] == 0
    assert {o["after"] for o in report["outcomes"]} == {"disabled"}

    undo = console.preview_undo(ws, f, operation_id)
    assert set(undo.change_ids) == set(preview.change_ids)
    run(ws, undo)
    assert states(world.emulator) == before


def test_close_gap_recommends_conditional_access_enforces_and_undoes(world: World) -> None:
    f, ws = world.frame, ws_of(world)
    people = (f["account_kind"] == "person") & f["account_enabled"]
    gap = sorted(ids_where(f, people & (f["covered_by"] == "ca_report_only")))[:6]
    covered = sorted(ids_where(f, people & (f["covered_by"] == "ca_all_apps")))[:1]
    excluded = sorted(ids_where(f, f["covered_by"] == "ca_excluded"))[:1]
    assert len(gap) == 6 and covered and excluded
    cover = console.preview_close_gap(ws, f, "enforced", [*gap, *covered, *excluded])
    assert cover.route == "conditional_access"
    assert cover.recommendation.startswith("Your tenant has Conditional Access: add these users to a policy")
    assert "report-only policies (Require MFA for all users)" in cover.recommendation
    assert cover.plan.change_ids == gap and set(cover.plan.changes["expected"]) == {"enforced"}
    codes = cover.plan.skipped.set_index("user_id")["code"].to_dict()
    assert codes[covered[0]] == "already_covered"
    assert codes[excluded[0]] in ("coverage_excluded", "protected", "likely_break_glass")
    listed = cover.gap_list()
    assert len(listed) == 6 and set(listed["coverage"]) == {
        "Conditional Access in report-only mode only (not enforced)"}
    assert cover.gap_list_csv().decode("utf-8-sig").splitlines()[0] == '"upn","display_name","coverage"'

    before = states(world.emulator)
    operation_id = run(ws, cover.plan)
    after = states(world.emulator)
    assert {uid for uid in after if after[uid] != before[uid]} == set(gap)
    assert all(after[uid] == "enforced" for uid in gap)
    assert rollout.get_operation(world.store, operation_id).source == "close_gap"
    run(ws, console.preview_undo(ws, f, operation_id))
    assert states(world.emulator) == before


def test_close_gap_without_p1_is_per_user(make_emulator, database_url: str) -> None:
    emulator = make_emulator(users=150, seed=4, premium=False)
    with gateway_for(emulator) as gateway, open_store(database_url) as store:
        refresh_snapshot(store, gateway, mode="demo")
        frame = store.load_users(emulator.tenant_id)
        actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
        ws = console.Workspace(store, gateway, emulator.tenant_id, actor)
        assert set(frame["covered_by"].dropna()) <= {"ca_unavailable", "per_user_enforced",
                                                     "per_user_enabled_registered", "per_user_enabled_unregistered"}
        cover = console.preview_close_gap(ws, frame, "enabled")
        assert cover.route == "per_user" and "no Entra ID P1" in cover.recommendation
        gap = ids_where(frame, frame["covered_by"] == "ca_unavailable")
        assert set(cover.selection.target_ids) == gap and len(gap) > 20
        changes = set(cover.plan.change_ids)
        assert changes and changes <= gap
        assert set(cover.plan.skipped["code"]) <= {"account_disabled", "likely_break_glass", "protected"}
        before = states(emulator)
        operation_id = console.start_change(ws, cover.plan, options=FAST)
        assert rollout.wait_operation(operation_id, 120)
        after = states(emulator)
        assert {uid for uid in after if after[uid] != before[uid]} == changes
        expected = cover.plan.changes.set_index("user_id")["expected"].to_dict()
        assert {uid: after[uid] for uid in changes} == expected


def test_the_read_only_role_previews_but_cannot_start(world: World) -> None:
    from tests.test_rollout_support import READER

    ws = console.Workspace(world.store, world.gateway, world.tenant_id, READER)
    cover = console.preview_move_off_per_user(ws, world.frame)
    assert cover.plan.change_ids and not cover.plan.actor_can_apply
    before = states(world.emulator)
    with pytest.raises(rollout.PermissionDenied):
        console.start_change(ws, cover.plan)
    assert states(world.emulator) == before


def test_move_off_in_a_security_defaults_tenant(make_emulator, database_url: str) -> None:
    from lib.emulator.generator import generate_tenant

    emulator = make_emulator(tenant=generate_tenant(150, 6, security_defaults=True))
    with gateway_for(emulator) as gateway, open_store(database_url) as store:
        refresh_snapshot(store, gateway, mode="demo")
        frame = store.load_users(emulator.tenant_id)
        actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
        ws = console.Workspace(store, gateway, emulator.tenant_id, actor)
        on = frame["state"].isin(["enabled", "enforced"])
        clean = ids_where(frame, on & frame["registered"] & (frame["covered_by"] == "security_defaults"))
        assert len(clean) > 10
        cover = console.preview_move_off_per_user(ws, frame)
        assert set(cover.plan.change_ids) == clean - set(cover.plan.skipped["user_id"])
        assert set(cover.coverage_of_changes()["coverage"]) == {"Security defaults"}
        before = states(emulator)
        operation_id = console.start_change(ws, cover.plan, options=FAST)
        assert rollout.wait_operation(operation_id, 120)
        after = states(emulator)
        assert {uid for uid in after if after[uid] != before[uid]} == set(cover.plan.change_ids)
        assert {after[uid] for uid in cover.plan.change_ids} == {"disabled"}
