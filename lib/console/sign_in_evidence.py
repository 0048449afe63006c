"""The tenant's sign-in evidence as pages and the CLI show it: the stored aggregates and what they cover.

Read from the store only (each snapshot reads the new sign-ins, lib.signins.reader); nothing here calls
Graph. The evidence of a large tenant is tens of thousands of small rows, so ``load_evidence`` keeps it once
per read, shared by every admin of the tenant and by the next read.

Without Entra ID P1 there is no sign-in log: the latest snapshot then read registration user by user
(``registration_source`` ``methods``), and the status says so, with the users listing's last sign-in
(``signInActivity``) as the only evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from lib.console.workspace import Workspace
from lib.scope import Scope, scope_mask
from lib.signins.columns import with_evidence
from lib.signins.evidence import TenantEvidence
from lib.signins.figures import SignInFigures, sign_in_figures
from lib.signins.reader import NEEDS_P1
from lib.signins.saved import last_read_at, load_evidence
from lib.store import Snapshot
from lib.store.memo import LatestMemo

__all__ = ["NOT_READ_YET", "SignInEvidence", "SignInOverview", "evidence_frame", "sign_in_evidence",
           "sign_in_overview"]

NOT_READ_YET = "Sign-ins not read yet: the next snapshot reads the last 30 days of the sign-in log."

_figures: LatestMemo[SignInFigures] = LatestMemo("sign-in figures", per_version=16)


@dataclass(frozen=True)
class SignInEvidence:
    """The evidence and the words that qualify it."""

    evidence: TenantEvidence = field(default_factory=TenantEvidence)
    read_at: datetime | None = None
    """When the sign-in log was last read (None: never, or no P1)."""
    now: datetime | None = None
    has_log: bool = False
    """True when the evidence comes from the sign-in log (Entra ID P1); False: none, or no P1."""
    message: str | None = None
    """What a page says instead of, or above, the figures (None when the log was read)."""

    @property
    def as_of(self) -> datetime | None:
        """The moment the evidence reaches (the end of the last read's window): the 30 days the columns and
        figures cover end here, so they are fixed per read whatever the clock says since."""
        if not self.has_log:
            return None
        return self.evidence.read_until or self.read_at

    @property
    def version(self) -> int:
        """Changes with each read (0: no read), for caches of views joined with the evidence."""
        return 0 if self.read_at is None else int(self.read_at.timestamp() * 1_000_000)


def _no_premium(snapshot: Snapshot | None) -> bool:
    return snapshot is not None and snapshot.registration_source == "methods"


def sign_in_evidence(ws: Workspace, snapshot: Snapshot | None = None) -> SignInEvidence:
    """The stored evidence of ``ws``'s tenant; ``snapshot`` (the latest one) tells whether P1 is missing."""
    now = ws.clock()
    if _no_premium(snapshot):
        return SignInEvidence(now=now, message=f"{NEEDS_P1}: the sign-in log is not available on this tenant, "
                                               "so only each user's last sign-in (from the users listing) is shown.")
    read_at = last_read_at(ws.store, ws.tenant_id)
    if read_at is None:
        return SignInEvidence(now=now, message=NOT_READ_YET)
    read = SignInEvidence(read_at=read_at, now=now, has_log=True)
    return dataclasses.replace(read, evidence=load_evidence(ws.store, ws.tenant_id))


def evidence_frame(seen: SignInEvidence, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a users frame) with the evidence columns when the log was read; else ``frame`` as it is.

    Pages cache the result per (snapshot, ``seen.version``): the join walks every user once."""
    if seen.as_of is None:
        return frame
    return with_evidence(frame, seen.evidence, seen.as_of)


@dataclass(frozen=True)
class SignInOverview:
    """The overview's sign-in section for one scope: the figures, and the users they are counted over."""

    seen: SignInEvidence
    figures: SignInFigures | None
    """None when there is nothing to count (``seen.message`` says why)."""
    users: int = 0
    """Users in scope (the figures are theirs)."""
    tenant_users: int = 0
    """Users in the snapshot."""

    @property
    def whole_tenant(self) -> bool:
        return self.users == self.tenant_users


def sign_in_overview(ws: Workspace, snapshot: Snapshot, scope: Scope) -> SignInOverview:
    """The sign-in figures over the users of ``snapshot`` that ``scope`` counts, kept per (snapshot, read,
    scope) for the tenant's latest snapshot."""
    seen = sign_in_evidence(ws, snapshot)
    if seen.as_of is None:
        return SignInOverview(seen, None)
    frame = ws.store.load_users(snapshot.tenant_id, snapshot.id)
    in_scope = scope_mask(frame, scope).to_numpy()

    def build() -> SignInFigures:
        return sign_in_figures(seen.evidence, seen.as_of, frame["id"].astype("string")[in_scope].tolist())

    figures = _figures.get((ws.store.where, ws.tenant_id), snapshot.id, (seen.version, scope), build)
    return SignInOverview(seen, figures, users=int(in_scope.sum()), tenant_users=len(frame))

