"""One sign-in, reduced to what the evidence needs: who, when, with which client, with MFA or not.

Graph's beta sign-in object carries ``authenticationRequirement`` (whether the sign-in demanded MFA);
v1.0 lacks it, so an event read from v1.0 has ``mfa=None`` ("not known") rather than a guess. Some
versions of Microsoft's examples spell the value ``MultifactorAuthentication``, so it is compared
without regard to case (docs/graph.md, "Sign-in logs").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

LEGACY_CLIENTS: frozenset[str] = frozenset({
    "Authenticated SMTP",
    "Autodiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI over HTTP",
    "Offline Address Book",
    "Outlook Anywhere (RPC over HTTP)",
    "Outlook Service",
    "POP3",
    "Reporting Web Services",
    "Other clients",
})
"""``clientAppUsed`` values of legacy (basic) authentication, from Microsoft's sign-in log filter
reference; every other value (``Browser``, ``Mobile Apps and Desktop clients``) is modern."""

_LEGACY_FOLDED = {name.casefold(): name for name in LEGACY_CLIENTS}


def is_legacy_client(client: str | None) -> bool:
    return bool(client) and client.casefold() in _LEGACY_FOLDED


def _parse_time(text: str) -> datetime:
    """Graph's ``createdDateTime``: ISO 8601 in UTC, with a ``Z`` and up to seven fractional digits."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class SignInEvent:
    """A sign-in attempt. ``succeeded`` is from ``status.errorCode`` (0 = success)."""

    id: str
    user_id: str
    at: datetime
    client: str
    succeeded: bool
    mfa: bool | None
    """True: multi-factor; False: single-factor; None: the log did not say (v1.0)."""

    @property
    def legacy(self) -> bool:
        return is_legacy_client(self.client)


def event_from_graph(item: Mapping[str, Any]) -> SignInEvent | None:
    """The event for one Graph sign-in object, or None when it names no user or time (nothing to keep)."""
    user_id = item.get("userId")
    created = item.get("createdDateTime")
    if not user_id or not isinstance(created, str):
        return None
    try:
        at = _parse_time(created)
    except ValueError:
        return None
    status = item.get("status") or {}
    requirement = item.get("authenticationRequirement")
    mfa = None if not isinstance(requirement, str) else requirement.casefold() == "multifactorauthentication"
    client = item.get("clientAppUsed")
    canonical = _LEGACY_FOLDED.get(client.casefold(), client) if isinstance(client, str) else ""
    return SignInEvent(id=str(item.get("id") or ""), user_id=str(user_id), at=at, client=canonical,
                       succeeded=status.get("errorCode", 0) in (0, None), mfa=mfa)
