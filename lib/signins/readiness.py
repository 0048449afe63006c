"""Whether a wave member is ready to be Enforced, and if not, why, in words an admin acts on.

Enforced per-user MFA stops legacy clients (IMAP, POP, SMTP AUTH, ActiveSync, old Office) unless the
user has app passwords, and a user who still signs in with one factor has not yet met MFA in practice.
Ready therefore means: registered, no legacy-client sign-in in the last 14 days, and MFA at every
sign-in in that window whose requirement the log states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from lib.signins.evidence import UserEvidence

READY_WINDOW_DAYS = 14


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b}"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]
    """Why not (empty when ready), or, when ready, a note such as "no sign-ins in 14 days"."""


LEGACY_EFFECT = "Enforced breaks this client unless an app password is set up"


def legacy_warning(client: str, at: datetime) -> str:
    """The per-user warning an Enforce preview shows for a legacy client still in use."""
    return f"signed in with {client} on {_day(at)}: {LEGACY_EFFECT}"


def readiness(evidence: UserEvidence | None, *, registered: bool, now: datetime,
              window_days: int = READY_WINDOW_DAYS) -> Readiness:
    """Ready or not, with reasons; ``evidence`` None means the log holds no sign-in of the user."""
    since = now - timedelta(days=window_days)
    reasons: list[str] = []
    if not registered:
        reasons.append("not registered for MFA yet")
    evidence = evidence or UserEvidence()
    reasons.extend(legacy_warning(client, at) for client, at in evidence.legacy_since(since).items())
    single = evidence.last_single_factor_sign_in
    if single is not None and single >= since:
        reasons.append(f"signed in with one factor on {_day(single)}")
    if reasons:
        return Readiness(False, tuple(reasons))
    if evidence.last_sign_in is None or evidence.last_sign_in < since:
        return Readiness(True, (f"no sign-ins in the last {window_days} days",))
    recent = [count for day, count in evidence.days.items() if day >= since.date()]
    if recent and all(count.unknown == count.total for count in recent):
        return Readiness(True, ("the sign-in log does not say whether recent sign-ins used MFA",))
    return Readiness(True, ())


READINESS_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "state": "string",
    "ready": "bool",
    "reasons": "string",
}
"""Columns of :func:`members_readiness`; ``reasons`` joins a member's reasons with "; "."""


def members_readiness(members: pd.DataFrame, users: Mapping[str, UserEvidence], *, now: datetime,
                      window_days: int = READY_WINDOW_DAYS) -> pd.DataFrame:
    """Each member's readiness (``members`` is a users frame: ``id``, ``upn``, ``display_name``, ``state``,
    ``registered``), in the frame's order; ``users`` is the tenant's evidence by user id."""
    rows = []
    for uid, upn, name, state, registered in zip(
            members["id"], members["upn"], members["display_name"], members["state"],
            members["registered"].fillna(False).astype(bool), strict=True):
        verdict = readiness(users.get(str(uid)), registered=bool(registered), now=now, window_days=window_days)
        rows.append({"user_id": uid, "upn": upn, "display_name": name, "state": state, "ready": verdict.ready,
                     "reasons": "; ".join(verdict.reasons)})
    out = pd.DataFrame(rows, columns=list(READINESS_COLUMNS))
    return out.astype(READINESS_COLUMNS).reset_index(drop=True)
