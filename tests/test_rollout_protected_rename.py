"""Protections follow the account, not its name: matched by object id, so renaming a protected user's UPN in
the tenant keeps it protected, in a plan and in the worker's re-check while an operation runs; a UPN protected
before the tenant had it gets its id from the first snapshot that shows it; an old (version 2) database is
upgraded and its protections keep working."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from lib.directory.refresh import refresh_snapshot
from lib.rollout import (
    ExecuteOptions,
    active_protection,
    get_operation,
    list_protected,
    operation_items_frame,
    operation_progress,
    plan,
    protect_account,
    protected_frame,
    start_operation,
    unprotect_account,
    wait_operation,
)
from lib.store import MIGRATIONS, open_store
from lib.store.schema import protected_accounts
from tests.test_rollout_execute import World, held, make_world, states, wait_for
from tests.test_rollout_support import control
from tests.test_store import T0, TENANT, snapshot, user


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=120)
    yield w
    w.gateway.close()
    w.store.close()


def rename(w: World, user_id: str, new_upn: str) -> None:
    """Change the user's userPrincipalName in the demo tenant, as an admin renaming the account would."""
    tenant = w.emulator.state.tenant
    tenant.by_id[user_id].upn = new_upn
    tenant.revision += 1
    tenant.reindex()


def refresh(w: World) -> None:
    """A new snapshot of the tenant; the world's frame becomes it."""
    refresh_snapshot(w.store, w.gateway, mode="demo")
    w.frame = w.store.load_users(w.tenant_id)


def upn_of(w: World, user_id: str) -> str:
    return str(w.frame.set_index("id").loc[user_id, "upn"])


def test_a_renamed_protected_user_is_still_skipped_by_a_plan(world: World) -> None:
    guarded, other, *rest = world.candidates(12, state="disabled")
    old = upn_of(world, guarded)
    protect_account(world.store, world.tenant_id, old, reason="break-glass", owner="security")
    assert [a.user_id for a in list_protected(world.store, world.tenant_id)] == [guarded]
    new = "renamed." + old
    rename(world, guarded, new)
    rename(world, other, old)  # someone else now has the old name: the protection is not theirs
    refresh(world)
    assert upn_of(world, guarded) == new and upn_of(world, other) == old
    frame = protected_frame(world.store, world.tenant_id)
    assert frame[["upn", "current_upn", "user_id"]].values.tolist() == [[old, new, guarded]]
    protection = active_protection(world.store, world.tenant_id)
    p = plan(world.frame, "enforced", [guarded, other, *rest], protected=protection, actor=world.actor)
    assert p.skip_counts() == {"protected": 1}
    assert p.skipped.set_index("user_id").loc[guarded, "reason"] == "protected account (break-glass; owner security)"
    assert other in set(p.changes["user_id"])
    # removing it by its current UPN finds the same record
    assert unprotect_account(world.store, world.tenant_id, new) is True
    assert list_protected(world.store, world.tenant_id) == []


def test_the_worker_recheck_matches_a_renamed_user_by_object_id(world: World) -> None:
    control(world.emulator, "POST", "/stats/reset")
    control(world.emulator, "PATCH", "/config", {"hold_after_writes": 20})
    ids = world.candidates(40)
    last = ids[-1]
    journaled_upn = upn_of(world, last)
    slow = ExecuteOptions(chunk_size=10, window=1, flush_interval_s=0.05, heartbeat_s=0.05)
    op = start_operation(world.store, world.gateway, plan(world.frame, "enforced", ids, actor=world.actor),
                         tenant_id=world.tenant_id, actor=world.actor, options=slow)
    wait_for(lambda: held(world) >= 1)  # half the users are done; the next chunk's write waits at the door
    # Mid-run the account is renamed, a new snapshot shows the new name, and it is protected under it: the
    # journal still has the old UPN, so only the object id ties the two.
    new = "bg-renamed." + journaled_upn
    rename(world, last, new)
    refresh(world)
    protect_account(world.store, world.tenant_id, new, reason="renamed mid-run", owner="security")
    beats: list[Any] = []
    wait_for(lambda: beats.append(get_operation(world.store, op).heartbeat_at) or len(set(beats)) >= 3)
    control(world.emulator, "PATCH", "/config", {"hold_after_writes": None})
    assert wait_operation(op, timeout=60)
    item = operation_items_frame(world.store, op).set_index("user_id").loc[last]
    assert item["upn"] == journaled_upn
    assert (item["status"], item["reason_code"], item["reason"]) == (
        "skipped", "protected", "protected account (renamed mid-run; owner security)")
    assert states(world.emulator)[last] != "enforced"
    assert operation_progress(world.store, op).applied == 39


def test_a_upn_protected_before_any_snapshot_had_it_gets_its_id_later(world: World) -> None:
    newcomer, bystander = world.candidates(2, state="disabled")
    planned = "newcomer@" + upn_of(world, newcomer).split("@")[1]
    protect_account(world.store, world.tenant_id, planned, reason="new emergency account", owner="security",
                    known_upns=world.frame["upn"], confirm_unknown=True)
    assert [a.user_id for a in list_protected(world.store, world.tenant_id)] == [None]
    # until an id is known it matches by UPN
    assert active_protection(world.store, world.tenant_id).find("any-id", planned) is not None
    rename(world, newcomer, planned)  # the account appears under that name
    refresh(world)
    assert [a.user_id for a in list_protected(world.store, world.tenant_id)] == [newcomer]
    rename(world, newcomer, "second." + planned)  # and is renamed once more
    refresh(world)
    protection = active_protection(world.store, world.tenant_id)
    p = plan(world.frame, "enforced", [newcomer, bystander], protected=protection, actor=world.actor)
    assert p.skip_counts() == {"protected": 1} and list(p.changes["user_id"]) == [bystander]


def test_the_migration_upgrades_an_old_database_and_its_protections_keep_working(database_url: str) -> None:
    version_2 = MIGRATIONS[:2]
    with open_store(database_url, migrations=version_2) as old:
        assert old.schema_version == 2
        old.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo")
        with old.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO protected_accounts (tenant_id, upn_key, upn, reason, owner, created_at, updated_at) "
                "VALUES (:t, 'user1@contoso.example', 'User1@contoso.example', 'vip', 'it', 1, 1)"), {"t": TENANT})
        columns = {c["name"] for c in sa.inspect(old.engine).get_columns("protected_accounts")}
        assert "user_id" not in columns
    with open_store(database_url) as upgraded:
        assert upgraded.schema_version == len(MIGRATIONS) >= 3
        with upgraded.engine.connect() as conn:
            assert conn.execute(sa.select(protected_accounts.c.upn, protected_accounts.c.user_id)).all() == [
                ("User1@contoso.example", None)]
        # no snapshot yet: it matches by UPN, as before the upgrade
        assert "user1@contoso.example" in active_protection(upgraded, TENANT)
        assert snapshot(upgraded, [user(1), user(2)], T0).user_count == 2
        assert [a.user_id for a in list_protected(upgraded, TENANT)] == ["u001"]
        renamed = snapshot(upgraded, [user(1, upn="emergency1@contoso.example"), user(2)], T0 + timedelta(days=1))
        assert renamed.changed == 1
        protection = active_protection(upgraded, TENANT)
        assert protection.find("u001", "emergency1@contoso.example") is not None
        assert protection.find("u002", "user2@contoso.example") is None



def test_a_upn_renamed_away_and_taken_by_someone_else_protects_both_accounts(database_url: str) -> None:
    with open_store(database_url) as store:
        store.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo")
        snapshot(store, [user(1), user(2)], T0)
        protect_account(store, TENANT, "user1@contoso.example", reason="break-glass", owner="security")
        # user 1 is renamed; user 2 takes user 1's former UPN, and is protected under it too
        snapshot(store, [user(1, upn="bg@contoso.example"), user(2, upn="user1@contoso.example")],
                 T0 + timedelta(days=1))
        protect_account(store, TENANT, "user1@contoso.example", reason="board member", owner="hr")
        listed = {a.user_id: (a.upn, a.current_upn, a.reason) for a in list_protected(store, TENANT)}
        assert listed == {"u001": ("user1@contoso.example", "bg@contoso.example", "break-glass"),
                          "u002": ("user1@contoso.example", "user1@contoso.example", "board member")}
        protection = active_protection(store, TENANT)
        assert protection.find("u001", "bg@contoso.example").reason == "break-glass"
        assert protection.find("u002", "user1@contoso.example").reason == "board member"
        # updating user 1 under its new UPN changes its own record; removing user 2 leaves user 1 protected
        protect_account(store, TENANT, "bg@contoso.example", reason="emergency access", owner="security")
        assert unprotect_account(store, TENANT, "user1@contoso.example") is True
        assert [(a.user_id, a.upn, a.reason) for a in list_protected(store, TENANT)] == [
            ("u001", "bg@contoso.example", "emergency access")]
