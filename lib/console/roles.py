"""The role check at the moment of acting: every use case that changes something calls :func:`acting_writer`.

Roles read at sign-in go stale: an admin demoted, or whose PIM activation expired, would otherwise keep
changing MFA until sign-out. So a signed-in admin's directory roles are read again from Graph
(``/me`` and ``/me/transitiveMemberOf/microsoft.graph.directoryRole``, docs/graph.md) each time they
act, and the fresh roles are handed to ``Workspace.on_roles`` so the session turns read-only at once.
An app acting alone (the CLI) has no directory role: its permission is the token's ``roles`` claim,
which Graph itself checks on every PATCH.
"""

from __future__ import annotations

from typing import Any

from lib.auth import PermissionDenied, read_signed_in_admin
from lib.console.workspace import Workspace
from lib.errors import ConsoleError, describe
from lib.rollout.actor import actor_kind, require_writer

__all__ = ["RoleLost", "RolesUnreadable", "acting_writer"]


class RoleLost(PermissionDenied):
    """The admin held a role that may change MFA at sign-in, and Graph says they no longer do."""

    code = "role_lost"


class RolesUnreadable(PermissionDenied):
    """Graph could not say which roles the admin holds now: nothing is changed on a guess."""

    code = "roles_unreadable"


def _same_person(before: Any, after: Any) -> bool:
    known = getattr(before, "user_id", None)
    if known:
        return known == after.user_id
    return str(getattr(before, "upn", "")).casefold() == after.upn.casefold()


def acting_writer(ws: Workspace) -> Any:
    """The actor who may change MFA *now*, or PermissionDenied; nothing is journaled or sent before this.

    The actor's known role is checked first (a read-only admin is refused without asking Graph); a
    signed-in admin's roles are then re-read from Graph, and the fresh admin is returned (and passed to
    ``ws.on_roles``), so the journal names who acted with the roles they held at that moment.
    """
    actor = require_writer(ws.actor)
    if actor_kind(actor) == "app":
        return actor
    try:
        fresh = read_signed_in_admin(ws.require_gateway(), ws.tenant_id or getattr(actor, "tenant_id", ""))
    except (ConsoleError, ValueError) as err:  # Graph failed, or answered without the admin's id
        raise RolesUnreadable(f"Your directory roles could not be checked, so nothing was changed: "
                              f"{describe(err)}") from err
    if not _same_person(actor, fresh):
        raise PermissionDenied("This session's Graph connection acts for someone else than the signed-in admin: "
                               "sign out and sign in again. Nothing was changed.")
    if ws.on_roles is not None:
        ws.on_roles(fresh)
    if not fresh.can_change_mfa:
        raise RoleLost(f"Your directory roles changed since you signed in: {fresh.read_only_reason} "
                       "Nothing was changed.")
    return fresh
