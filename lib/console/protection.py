"""Protect an account from every bulk change, or stop protecting it: writers only, checked as they act.

The list decides whom no plan, CSV import or undo may touch, so changing it is as much a change as
changing MFA itself: the role is re-read from Graph first (:func:`lib.console.roles.acting_writer`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from lib import rollout
from lib.console.roles import acting_writer
from lib.console.workspace import Workspace


def protect(ws: Workspace, upn: str, *, reason: str, owner: str,
            expires_at: datetime | pd.Timestamp | None = None, known_upns: Iterable[str] | None = None,
            confirm_unknown: bool = False) -> rollout.ProtectedAccount:
    """Protect ``upn`` (or update its reason, owner and expiry); the one who acts is recorded. A UPN not in
    ``known_upns`` (the latest snapshot) is refused unless ``confirm_unknown``: a typo protects no one."""
    actor = acting_writer(ws)
    return rollout.protect_account(ws.store, ws.tenant_id, upn, reason=reason, owner=owner,
                                   expires_at=expires_at, by=actor.upn, known_upns=known_upns,
                                   confirm_unknown=confirm_unknown)


def unprotect(ws: Workspace, upns: Iterable[str]) -> list[str]:
    """Stop protecting ``upns``; returns those that were protected (the records stay, marked removed)."""
    chosen = list(upns)
    actor = acting_writer(ws)
    return [upn for upn in chosen if rollout.unprotect_account(ws.store, ws.tenant_id, upn, by=actor.upn)]
