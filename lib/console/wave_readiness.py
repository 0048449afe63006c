"""A wave's readiness to be Enforced, from the latest snapshot's ``registered`` and the sign-in evidence.

Members already Enforced are done; the others are ready when registered, with no legacy-client sign-in
and no single-factor sign-in in the last 14 days (lib/signins/readiness.py). Without the sign-in log
only registration can be judged, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib import rollout
from lib.console.legacy_warnings import tenant_evidence
from lib.console.workspace import Workspace
from lib.signins.readiness import READINESS_COLUMNS, READY_WINDOW_DAYS, members_readiness

__all__ = ["WaveReadiness", "wave_readiness"]


@dataclass(frozen=True)
class WaveReadiness:
    """How many of a wave's members still to enforce are ready, and who is not, with why."""

    ready: int
    to_enforce: int
    """Members in the snapshot not Enforced yet."""
    not_ready: pd.DataFrame
    """:data:`lib.signins.readiness.READINESS_COLUMNS`, the members not ready, in member order."""
    message: str | None = None
    """Why the sign-in evidence could not be used (None when it was)."""


def wave_readiness(ws: Workspace, frame: pd.DataFrame, wave_id: int) -> WaveReadiness:
    """The readiness of wave ``wave_id``'s members in ``frame`` (the latest snapshot's users)."""
    members = set(rollout.wave_member_ids(ws.store, wave_id))
    pending = frame[frame["id"].isin(members) & (frame["state"].astype("string") != "enforced")]
    found = tenant_evidence(ws)
    if not found.has_log or found.now is None:
        registered = pending["registered"].fillna(False).astype(bool)
        held = pending.loc[~registered]
        not_ready = pd.DataFrame({
            "user_id": held["id"], "upn": held["upn"], "display_name": held["display_name"], "state": held["state"],
            "ready": False, "reasons": "not registered for MFA yet"}, columns=list(READINESS_COLUMNS))
        message = (f"{found.message} Readiness then rests on registration alone: legacy clients and "
                   f"single-factor sign-ins of the last {READY_WINDOW_DAYS} days could not be checked.")
        return WaveReadiness(int(registered.sum()), len(pending), not_ready.astype(READINESS_COLUMNS)
                             .reset_index(drop=True), message)
    verdicts = members_readiness(pending, found.evidence.users, now=found.now)
    not_ready = verdicts[~verdicts["ready"]].reset_index(drop=True)
    return WaveReadiness(int(verdicts["ready"].sum()), len(verdicts), not_ready)
