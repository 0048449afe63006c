"""What the sign-in evidence adds to a preview: the legacy clients an Enforce breaks, and who is not ready.

Plans stay pure (lib/rollout/plan.py): this use case reads the stored evidence once
(:func:`lib.console.sign_in_evidence.sign_in_evidence`) and hands the plan per-user facts. Without the
sign-in log (no Entra ID P1, or not read yet) the preview says it could not be checked, never "no
legacy clients".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pandas as pd

from lib import rollout
from lib.console.sign_in_evidence import SignInEvidence, sign_in_evidence
from lib.console.workspace import Workspace
from lib.signins.evidence import RETENTION_DAYS
from lib.signins.readiness import LEGACY_EFFECT, legacy_warning, members_readiness

__all__ = ["legacy_facts", "not_ready_members", "tenant_evidence", "with_legacy_warnings"]


def tenant_evidence(ws: Workspace) -> SignInEvidence:
    """The stored evidence, qualified by the latest snapshot (which says whether P1 is missing)."""
    return sign_in_evidence(ws, ws.store.latest_snapshot(ws.tenant_id))


def legacy_facts(found: SignInEvidence, user_ids: Iterable[str]) -> dict[str, list[rollout.LegacyUse]] | None:
    """Each user's legacy clients of the last 30 days, worded; None when the log was not read."""
    if not found.has_log or found.now is None:
        return None
    since = found.now - timedelta(days=RETENTION_DAYS)
    users = found.evidence.users
    out: dict[str, list[rollout.LegacyUse]] = {}
    for uid in user_ids:
        evidence = users.get(uid)
        if evidence is not None and evidence.legacy_clients:
            uses = [rollout.LegacyUse(client, at, legacy_warning(client, at), LEGACY_EFFECT)
                    for client, at in evidence.legacy_since(since).items()]
            if uses:
                out[uid] = uses
    return out


def with_legacy_warnings(ws: Workspace, preview: rollout.Plan, found: SignInEvidence | None = None) -> rollout.Plan:
    """``preview`` with a per-user warning for every user it leaves Enforced who used a legacy client lately."""
    enforced = preview.enforced_ids()
    if not enforced:
        return preview
    found = found or tenant_evidence(ws)
    return preview.with_legacy_use(legacy_facts(found, enforced), unchecked=found.message)


def not_ready_members(found: SignInEvidence, frame: pd.DataFrame, user_ids: Iterable[str]) -> dict[str, str] | None:
    """Member id → why not ready to enforce, for those of ``user_ids`` that are not; None without the log
    (readiness cannot be judged, so nobody is held back)."""
    if not found.has_log or found.now is None:
        return None
    wanted = set(user_ids)
    members = frame[frame["id"].isin(wanted)]
    verdicts = members_readiness(members, found.evidence.users, now=found.now)
    held = verdicts[~verdicts["ready"]]
    return dict(zip(held["user_id"].astype(str), held["reasons"].astype(str), strict=True))
