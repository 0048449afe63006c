"""Roles at the moment of acting: every use case that changes something re-reads a signed-in admin's
directory roles from Graph, refuses once the role is gone, and leaves the store and the tenant as they were.

Real parts throughout: the demo tenant over HTTP, a real MSAL sign-in through its authorize page, the
admin's own delegated Graph gateway, SQLite and PostgreSQL. Losing a role is done in the demo tenant
itself (as a demotion in Entra, or a PIM activation running out, would do it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lib import console, rollout
from lib.auth import AuthSession, PermissionDenied
from lib.demo import DemoTenant, demo_auth_config, tenant_clock
from lib.directory.refresh import refresh_snapshot
from lib.emulator.generator import demo_public_app
from lib.emulator.server import RunningEmulator
from lib.graph import GraphGateway
from lib.rollout import journal
from lib.store import Store, open_store
from tests.auth_fixtures import AUTHPOLICY, READER, REDIRECT_URI, PageBrowser, upn
from tests.read_only_support import role_lost, store_fingerprint, tenant_fingerprint
from tests.test_rollout_execute import FAST, states
from tests.test_rollout_support import control, gateway_for

LOST = ("Your directory roles changed since you signed in: Global Reader is a read-only role: changing MFA "
        "needs Global Administrator or Authentication Policy Administrator. Nothing was changed.")
READ_ONLY = ("Global Reader is a read-only role: changing MFA needs Global Administrator or Authentication "
             "Policy Administrator.")


@dataclass
class Desk:
    """One signed-in admin at the console: their session, their own Graph gateway, the store."""

    emulator: RunningEmulator
    store: Store
    session: AuthSession
    gateway: GraphGateway
    frame: Any

    @property
    def tenant_id(self) -> str:
        return self.emulator.tenant_id

    def workspace(self) -> console.Workspace:
        return console.Workspace(self.store, self.gateway, self.tenant_id, self.session.admin,
                                 on_roles=self.session.update_roles)

    def people(self, count: int, state: str = "disabled") -> list[str]:
        f = self.frame
        mask = (f["account_kind"] == "person") & f["account_enabled"] & ~f["is_guest"] & (f["state"] == state)
        ids = f.loc[mask, "id"].tolist()[:count]
        assert len(ids) == count
        return ids


def _sign_in(emulator: RunningEmulator, local: str) -> AuthSession:
    session = AuthSession(demo_auth_config(emulator, REDIRECT_URI))
    browser = PageBrowser(emulator)
    try:
        session.complete_sign_in(browser.sign_in(session.begin_sign_in(), local))
    finally:
        browser.close()
    return session


@pytest.fixture
def desk_for(make_emulator, database_url: str) -> Iterator[Callable[[str], Desk]]:
    """``desk_for(identity)``: that demo admin signed in to one demo tenant with its first snapshot taken."""
    emulator = make_emulator(users=120, seed=5)
    store = open_store(database_url)
    with gateway_for(emulator) as app_gateway:
        refresh_snapshot(store, app_gateway, mode="demo")
    opened: list[Desk] = []

    def make(local: str) -> Desk:
        session = _sign_in(emulator, local)
        desk = Desk(emulator, store, session, GraphGateway(emulator.graph_url, session.credential()),
                    store.load_users(emulator.tenant_id))
        opened.append(desk)
        return desk

    yield make
    for desk in opened:
        desk.gateway.close()
        desk.session.close()
    store.close()


def _apply(ws: console.Workspace, ids: list[str], state: str, frame: Any) -> int:
    operation_id = console.start_change(ws, console.preview_change(ws, frame, ids, state), options=FAST)
    assert rollout.wait_operation(operation_id, 60)
    return operation_id


def _refused(desk: Desk, act: Callable[[console.Workspace], Any], message: str,
             kind: type[Exception] = PermissionDenied) -> None:
    """``act`` is refused with ``message``; no table of the store and no user of the tenant changed."""
    store_before, tenant_before = store_fingerprint(desk.store), tenant_fingerprint(desk.emulator)
    writes = control(desk.emulator, "GET", "/stats")["writes"]
    with pytest.raises(kind) as refused:
        act(desk.workspace())
    assert refused.value.message == message
    assert store_fingerprint(desk.store) == store_before
    assert tenant_fingerprint(desk.emulator) == tenant_before
    assert control(desk.emulator, "GET", "/stats")["writes"] == writes


def _all_changes(desk: Desk, prepared: tuple[int, int, DemoTenant]) -> dict[str, Callable[[console.Workspace], Any]]:
    """Every use case that changes something, each with something it would change."""
    done, interrupted, demo = prepared
    ids = desk.people(2)
    return {
        "start": lambda ws: console.start_change(ws, console.preview_change(ws, desk.frame, ids, "enforced")),
        "resume": lambda ws: console.resume(ws, interrupted),
        "cancel": lambda ws: console.cancel(ws, interrupted),
        "undo": lambda ws: console.start_change(ws, console.preview_undo(ws, desk.frame, done)),
        "protect": lambda ws: console.protect(ws, upn(desk.emulator, "breakglass01"), reason="break-glass",
                                              owner="someone@example.com"),
        "unprotect": lambda ws: console.unprotect(ws, [upn(desk.emulator, "emergency-access02")]),
        "demo clock": lambda ws: console.advance_demo_clock(ws, demo, 7),
        "campaign": lambda ws: console.enable_campaign(ws),
    }


def _prepared(desk: Desk) -> tuple[int, int, DemoTenant]:
    """A finished operation (to undo), an interrupted one (journaled running, its worker gone: to resume or
    cancel), a protection (to remove) and the demo tenant (its clock to move)."""
    ws = desk.workspace()
    done = _apply(ws, desk.people(2, "enabled"), "enforced", desk.frame)
    held = desk.people(6)[2:]
    interrupted = journal.create_operation(desk.store, rollout.plan(desk.frame, "enabled", held, actor=ws.actor),
                                           tenant_id=desk.tenant_id, actor=ws.actor)
    assert rollout.operation_progress(desk.store, interrupted).status == "interrupted"
    console.protect(ws, upn(desk.emulator, "emergency-access02"), reason="break-glass", owner="owner@example.com")
    return done, interrupted, DemoTenant(desk.emulator, demo_public_app(desk.emulator.state.tenant).client_id,
                                         tenant_clock(desk.emulator))


def test_a_role_lost_mid_session_stops_every_change_and_says_why(desk_for) -> None:
    desk = desk_for(AUTHPOLICY)
    prepared = _prepared(desk)
    with role_lost(desk.emulator, AUTHPOLICY):
        for name, act in _all_changes(desk, prepared).items():
            # each starts from the session's stale "writer" record: only re-reading Graph can catch it
            desk.session.update_roles(_as_writer(desk))
            assert desk.session.admin.can_change_mfa, name
            _refused(desk, act, LOST, console.RoleLost)
            assert not desk.session.admin.can_change_mfa, name  # the session is read-only from now on
            assert desk.session.admin.role_names == ("Global Reader",)


def _as_writer(desk: Desk) -> Any:
    from dataclasses import replace

    from lib.graph.roles import ROLE_TEMPLATE_IDS

    name = "Authentication Policy Administrator"
    return replace(desk.session.admin, roles=frozenset({ROLE_TEMPLATE_IDS[name]}), role_names=(name,))


def test_the_read_only_role_is_refused_before_graph_is_asked(desk_for) -> None:
    writer = desk_for(AUTHPOLICY)
    prepared = _prepared(writer)
    reader = desk_for(READER)
    for name, act in _all_changes(reader, prepared).items():
        requests = control(reader.emulator, "GET", "/stats")["requests"]
        _refused(reader, act, READ_ONLY)
        if name not in ("start", "undo"):  # those two read the users' states for their preview first
            assert control(reader.emulator, "GET", "/stats")["requests"] == requests, name


def test_a_writer_acts_with_the_roles_graph_gives_now(desk_for) -> None:
    desk = desk_for(AUTHPOLICY)
    ids = desk.people(3)
    ws = desk.workspace()
    # the demo tenant promotes the admin to Global Administrator after sign-in: the journal records who acted
    with role_lost(desk.emulator, AUTHPOLICY, now=("62e90394-69f5-4237-9190-012177145e10",)):
        fresh = console.acting_writer(ws)
        assert fresh.role_names == ("Global Administrator",)
        assert desk.session.admin.role_names == ("Global Administrator",)
        operation_id = _apply(ws, ids, "enforced", desk.frame)
    assert {uid: states(desk.emulator)[uid] for uid in ids} == dict.fromkeys(ids, "enforced")
    assert rollout.get_operation(desk.store, operation_id).actor == upn(desk.emulator, AUTHPOLICY)


def test_roles_that_cannot_be_read_refuse_the_change(desk_for) -> None:
    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    preview = console.preview_change(ws, desk.frame, desk.people(2), "enforced")
    tenant = desk.emulator.state.tenant  # the admin's account is deleted: Graph no longer accepts their token
    tenant.users.remove(tenant.lookup(upn(desk.emulator, AUTHPOLICY)))
    tenant.reindex()
    store_before, tenant_before = store_fingerprint(desk.store), tenant_fingerprint(desk.emulator)
    with pytest.raises(console.RolesUnreadable) as refused:
        console.start_change(ws, preview)
    assert refused.value.message.startswith("Your directory roles could not be checked, so nothing was changed: "
                                            "Microsoft Graph: ")
    assert (store_fingerprint(desk.store), tenant_fingerprint(desk.emulator)) == (store_before, tenant_before)
    assert desk.session.admin.can_change_mfa  # not read, so not changed either
