"""Who signed in and what their directory roles let them do.

Roles are read at sign-in through the Graph gateway
(``GET /me/transitiveMemberOf/microsoft.graph.directoryRole``, ``ConsistencyLevel: eventual``) and
compared by ``roleTemplateId`` (fixed across tenants; docs/graph.md), and read again the same way at the
moment of acting (``lib.console.roles``), since an admin may be demoted mid-session. Global Administrator
and Authentication Policy Administrator may change per-user MFA; every other role is read-only here.
Pages disable controls with :attr:`SignedInAdmin.read_only_reason` as the explanation, and every
action path calls :func:`require_writer` on the server side as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.auth.errors import PermissionDenied
from lib.graph.roles import ROLE_TEMPLATE_IDS, WRITE_ROLE_TEMPLATE_IDS

__all__ = [
    "GLOBAL_READER_REASON",
    "NO_ROLE_REASON",
    "SignedInAdmin",
    "admin_from_graph",
    "read_signed_in_admin",
    "require_writer",
]

_NEEDS = "changing MFA needs Global Administrator or Authentication Policy Administrator."
GLOBAL_READER_REASON = f"Global Reader is a read-only role: {_NEEDS}"
NO_ROLE_REASON = f"You have no directory role: {_NEEDS}"
_NAMES_BY_ID = {template_id: name for name, template_id in ROLE_TEMPLATE_IDS.items()}
_ORDER = list(ROLE_TEMPLATE_IDS.values())


@dataclass(frozen=True)
class SignedInAdmin:
    """The signed-in admin: identity from ``/me``, roles from ``transitiveMemberOf``. No token in here."""

    name: str
    upn: str
    user_id: str
    tenant_id: str
    roles: frozenset[str]
    """``roleTemplateId`` of every directory role held (transitively)."""
    role_names: tuple[str, ...]
    """Display names of those roles, the MFA-writing ones first."""

    @property
    def can_change_mfa(self) -> bool:
        """Global Administrator or Authentication Policy Administrator."""
        return bool(self.roles & WRITE_ROLE_TEMPLATE_IDS)

    @property
    def read_only_reason(self) -> str | None:
        """Why MFA controls are disabled for this admin (None when they may change MFA)."""
        if self.can_change_mfa:
            return None
        if ROLE_TEMPLATE_IDS["Global Reader"] in self.roles:
            return GLOBAL_READER_REASON
        if not self.role_names:
            return NO_ROLE_REASON
        names = self.role_names
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "is a read-only role" if len(names) == 1 else "are read-only roles"
        return f"{listed} {verb} here: {_NEEDS}"

    @property
    def role_label(self) -> str:
        """The one role to show beside the name (the most powerful held), or "No directory role"."""
        return self.role_names[0] if self.role_names else "No directory role"


def _role_sort_key(template_id: str) -> tuple[int, int, str]:
    writer = 0 if template_id in WRITE_ROLE_TEMPLATE_IDS else 1
    known = _ORDER.index(template_id) if template_id in _ORDER else len(_ORDER)
    return writer, known, template_id


def admin_from_graph(me: Mapping[str, Any], roles: Iterable[Mapping[str, Any]], tenant_id: str) -> SignedInAdmin:
    """Build the admin from ``/me`` and the ``directoryRole`` list (entries without a template id are skipped)."""
    user_id = str(me.get("id") or "")
    if not user_id:
        raise ValueError("/me returned no id")
    names: dict[str, str] = {}
    for role in roles:
        template_id = str(role.get("roleTemplateId") or "").lower()
        if template_id:
            names[template_id] = _NAMES_BY_ID.get(template_id) or str(role.get("displayName") or template_id)
    ordered = sorted(names, key=_role_sort_key)
    upn = str(me.get("userPrincipalName") or "")
    return SignedInAdmin(
        name=str(me.get("displayName") or upn or user_id),
        upn=upn,
        user_id=user_id,
        tenant_id=tenant_id,
        roles=frozenset(ordered),
        role_names=tuple(names[t] for t in ordered),
    )


def read_signed_in_admin(gateway: Any, tenant_id: str) -> SignedInAdmin:
    """``/me`` and the admin's directory roles through a :class:`lib.graph.GraphGateway`.

    Raises ``lib.graph.GraphError`` (e.g. ``Forbidden`` when the app lacks the permission to read roles).
    """
    me = gateway.me(["id", "displayName", "userPrincipalName"])
    roles = gateway.my_directory_roles()
    return admin_from_graph(me, roles, tenant_id)


def require_writer(admin: SignedInAdmin | None) -> SignedInAdmin:
    """The server-side check every MFA-changing path makes: returns ``admin`` or raises PermissionDenied."""
    if admin is None:
        raise PermissionDenied("Sign in first: changing MFA needs a signed-in administrator.")
    if not admin.can_change_mfa:
        raise PermissionDenied(admin.read_only_reason or PermissionDenied.default_message)
    return admin
