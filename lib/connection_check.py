"""Check that the console can do its job in this tenant, and say exactly what to fix when it can't.

Each check is one line on the Connection page: what was checked, whether it passed, and the fix.
Granted permissions are read from the signed-in admin's own access token (its ``scp`` claim),
which is what Graph itself checks; the token is decoded here and never shown or kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jwt

from lib.graph import GraphError, GraphGateway, NoPremiumLicense

REQUIRED_SCOPES: dict[str, str] = {
    "User.Read.All": "list users and their properties",
    "AuditLog.Read.All": "read the registration report and last sign-in dates",
    "UserAuthenticationMethod.Read.All": "read authentication methods (tenants without Entra ID P1)",
    "Policy.Read.All": "read each user's per-user MFA state, the Conditional Access policies and security defaults",
    "Policy.ReadWrite.AuthenticationMethod": "change per-user MFA state (Enable, Enforce, Disable), and read and "
                                             "change the authentication methods policy's registration campaign",
    "Directory.Read.All": "let the reports API check the tenant's licence (without it, reports fail at random)",
    "RoleManagement.Read.Directory": "read the signed-in admin's directory roles, and who holds the roles "
                                     "Conditional Access policies name",
    "GroupMember.Read.All": "read the members of the groups Conditional Access policies name",
}
"""Delegated Graph permissions the console's app registration needs, and why."""

ALSO_GRANTED_BY: dict[str, tuple[str, ...]] = {
    "GroupMember.Read.All": ("Group.Read.All", "Directory.Read.All"),
}
"""Broader permissions that grant the same read (docs/graph.md, "Protection policies": groups)."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def granted_scopes(access_token: str) -> frozenset[str]:
    """The delegated scopes in a Graph access token (unverified decode: we only read our own token)."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False, "verify_aud": False})
    except jwt.PyJWTError:
        return frozenset()
    return frozenset(str(claims.get("scp", "")).split())


def scope_checks(scopes: frozenset[str], app_name: str = "the console's app registration") -> list[Check]:
    checks = []
    for scope, why in REQUIRED_SCOPES.items():
        ok = (scope in scopes or (scope.endswith(".Read.All") and scope.replace(".Read.", ".ReadWrite.") in scopes)
              or any(other in scopes for other in ALSO_GRANTED_BY.get(scope, ())))
        checks.append(Check(
            f"Permission {scope}", ok, f"needed to {why}",
            "" if ok else f"In Entra admin center → App registrations → {app_name} → API permissions, add the "
            f"delegated Microsoft Graph permission {scope}, then select 'Grant admin consent'.",
        ))
    return checks


def _probe(name: str, call: Callable[[], object], fix: str) -> Check:
    try:
        call()
    except NoPremiumLicense:
        return Check(name, True, "This tenant has no Entra ID P1: registration is read from each user's "
                     "authentication methods instead (slower, same answer).")
    except GraphError as err:
        return Check(name, False, err.message, fix)
    return Check(name, True, "works")


def graph_checks(gateway: GraphGateway) -> list[Check]:
    """Live calls that prove the permissions work (each reads a single item)."""
    return [
        _probe("Read users", lambda: gateway.get_json("/users", params={"$top": 1, "$select": "id"}),
               "Grant User.Read.All and make sure you signed in to the right tenant."),
        _probe("Read the registration report",
               lambda: gateway.get_json("/reports/authenticationMethods/userRegistrationDetails",
                                        params={"$top": 1}),
               "Grant AuditLog.Read.All; the signed-in admin also needs a role that may read reports "
               "(e.g. Global Reader, Security Reader, Reports Reader)."),
        _probe("Read your directory roles", gateway.my_directory_roles,
               "Grant RoleManagement.Read.Directory (or Directory.Read.All)."),
    ]
