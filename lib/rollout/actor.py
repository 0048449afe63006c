"""Who acts: the signed-in admin (``lib.auth.SignedInAdmin``) or an app acting alone (the CLI).

The engine needs two things from an actor: ``upn`` (journaled as who did it, and compared with
the targets so an admin cannot lock themselves out) and ``can_change_mfa`` (the server-side role
check, :func:`require_writer`). An app has no directory role: for app-only (client credentials)
tokens the check is the application permission ``Policy.ReadWrite.AuthenticationMethod`` carried
in the token's ``roles`` claim — the permission Graph itself demands for the PATCH.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lib.auth.errors import PermissionDenied
from lib.auth.roles import require_writer as _require_admin_writer

__all__ = [
    "MFA_WRITE_PERMISSION",
    "Actor",
    "AppActor",
    "actor_kind",
    "app_actor_from_token",
    "require_writer",
]

MFA_WRITE_PERMISSION = "Policy.ReadWrite.AuthenticationMethod"


@runtime_checkable
class Actor(Protocol):
    """What the engine reads from whoever acts."""

    @property
    def upn(self) -> str: ...

    @property
    def can_change_mfa(self) -> bool: ...


@dataclass(frozen=True)
class AppActor:
    """An application acting with its own (app-only) permissions, e.g. the unattended CLI."""

    name: str
    """The app's display name or client id: journaled as the actor."""
    permissions: frozenset[str] = field(default_factory=frozenset)
    """Application permissions granted (the token's ``roles`` claim)."""
    kind: str = "app"

    @property
    def upn(self) -> str:
        return self.name

    @property
    def can_change_mfa(self) -> bool:
        return MFA_WRITE_PERMISSION in self.permissions

    @property
    def read_only_reason(self) -> str | None:
        if self.can_change_mfa:
            return None
        return (f"The app {self.name} lacks the application permission {MFA_WRITE_PERMISSION}: "
                "grant it (with admin consent) to change per-user MFA.")


def actor_kind(actor: Any) -> str:
    """``'app'`` for an app acting alone, else ``'user'`` (a signed-in admin)."""
    return "app" if getattr(actor, "kind", "") == "app" else "user"


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def app_actor_from_token(token: str, *, name: str | None = None) -> AppActor:
    """The app behind an app-only access token, with the permissions its ``roles`` claim lists.

    The token is only *read* (never trusted for anything but refusing early): Graph checks the same
    permission on every PATCH. An unreadable token gives an actor without permissions.
    """
    claims = _claims(token)
    roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    label = name or str(claims.get("app_displayname") or claims.get("appid") or "app")
    return AppActor(label, frozenset(str(r) for r in roles))


def require_writer(actor: Any) -> Any:
    """The server-side check every MFA-changing path makes: returns ``actor`` or raises PermissionDenied.

    A signed-in admin goes through ``lib.auth.require_writer`` (Global Administrator or
    Authentication Policy Administrator); an app needs ``Policy.ReadWrite.AuthenticationMethod``.
    """
    if actor is not None and not getattr(actor, "can_change_mfa", False) and not hasattr(actor, "read_only_reason"):
        raise PermissionDenied()
    return _require_admin_writer(actor)
