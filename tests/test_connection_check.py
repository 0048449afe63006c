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
