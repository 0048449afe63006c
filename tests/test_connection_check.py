"""Connection checks: granted scopes from the token, live probes against the demo tenant."""

from __future__ import annotations

from collections.abc import Callable

import jwt

from lib.connection_check import REQUIRED_SCOPES, granted_scopes, graph_checks, scope_checks
from lib.emulator.server import RunningEmulator
from lib.emulator.tokens import mint_access_token
from lib.graph import GraphGateway, StaticTokenCredential


def test_granted_scopes_come_from_the_scp_claim() -> None:
    token = jwt.encode({"scp": "User.Read.All Policy.Read.All"}, "k" * 32, algorithm="HS256")
    assert granted_scopes(token) == {"User.Read.All", "Policy.Read.All"}
    assert granted_scopes("not a token") == frozenset()


def test_missing_scopes_name_the_fix_and_readwrite_covers_read() -> None:
    checks = {c.name: c for c in scope_checks(frozenset({"User.ReadWrite.All", "AuditLog.Read.All"}))}
    assert len(checks) == len(REQUIRED_SCOPES)
    assert checks["Permission User.Read.All"].ok
    write = checks["Permission Policy.ReadWrite.AuthenticationMethod"]
    assert not write.ok and "Grant admin consent" in write.fix and "Policy.ReadWrite.AuthenticationMethod" in write.fix


def delegated_gateway(emu: RunningEmulator, local: str, scopes: frozenset[str]) -> GraphGateway:
    tenant = emu.state.tenant
    public = next(a for a in tenant.apps.values() if a.public_client)
    token, _ = mint_access_token(emu.state, public, scopes, tenant.lookup(f"{local}@{tenant.domain}"))
    return GraphGateway(emu.graph_url, StaticTokenCredential(token))


def test_live_probes_pass_with_permissions_and_fail_with_a_fix_without(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=60, seed=2, premium=False)
    full = frozenset({"User.Read.All", "AuditLog.Read.All", "RoleManagement.Read.Directory"})
    with delegated_gateway(emu, "admin", full) as gw:
        checks = graph_checks(gw)
    assert [c.ok for c in checks] == [True, True, True]
    assert "no Entra ID P1" in checks[1].detail
    with delegated_gateway(emu, "admin", frozenset({"User.Read"})) as gw:
        checks = graph_checks(gw)
    assert [c.ok for c in checks] == [False, False, True]
    assert "User.Read.All" in checks[0].fix


def test_the_protection_permissions_are_listed_and_the_demo_app_registration_holds_every_one() -> None:
    from lib.emulator.generator import APP_PERMISSIONS, DELEGATED_SCOPES

    new = {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "RoleManagement.Read.Directory",
           "GroupMember.Read.All"}
    assert new <= set(REQUIRED_SCOPES)
    assert "Conditional Access" in REQUIRED_SCOPES["Policy.Read.All"]
    assert "registration campaign" in REQUIRED_SCOPES["Policy.ReadWrite.AuthenticationMethod"]
    assert set(REQUIRED_SCOPES) <= DELEGATED_SCOPES and set(REQUIRED_SCOPES) <= APP_PERMISSIONS
    assert all(c.ok for c in scope_checks(DELEGATED_SCOPES))
    only_groups = {c.name: c for c in scope_checks(frozenset({"Directory.Read.All"}))}
    assert only_groups["Permission GroupMember.Read.All"].ok  # Directory.Read.All reads group members too
    missing = {c.name: c for c in scope_checks(frozenset({"User.Read.All"}))}["Permission GroupMember.Read.All"]
    assert not missing.ok and "GroupMember.Read.All" in missing.fix
