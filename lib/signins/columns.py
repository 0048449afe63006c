"""Sign-in evidence as columns of a users frame (``lib.columns``), and the Users page's evidence filters.

The columns describe the 30 days up to the read of the sign-in log (``as_of``), not up to the wall clock:
the log says nothing about the time since, and columns fixed per read can be joined once per (snapshot,
read) and shared by every session. The window is the 30 calendar days (UTC) ending on ``as_of``'s day,
the same one :mod:`lib.signins.figures` counts, so a figure and the filter behind it agree.

A user absent from the evidence did not sign in during the window: NaT, "" and 0, and an MFA share of NA
(nothing to judge), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from lib.columns import UTC_TIMESTAMP
from lib.signins.evidence import RETENTION_DAYS, TenantEvidence, UserEvidence, epoch_ns

__all__ = [
    "EVIDENCE_COLUMNS",
    "EVIDENCE_FILTERS",
    "SINGLE_FACTOR_DAYS",
    "evidence_columns",
    "evidence_mask",
    "legacy_words",
    "midnight",
    "window_start",
    "with_evidence",
]

SINGLE_FACTOR_DAYS = 14
"""The "signed in with one factor" filter looks this many days back (a wave's readiness window)."""

EVIDENCE_COLUMNS: dict[str, str] = {
    "last_mfa_sign_in": UTC_TIMESTAMP,
    "last_single_factor_sign_in": UTC_TIMESTAMP,
    "legacy_clients": "string",
    "last_legacy_sign_in": UTC_TIMESTAMP,
    "mfa_share": "Float64",
    "sign_ins_30d": "int32",
}
"""Column → dtype. ``legacy_clients`` is in words ("IMAP4 (28 Nov), POP3 (20 Nov)", newest first, "" if none);
``mfa_share`` is 0..1 over successful sign-ins whose requirement the log states; ``sign_ins_30d`` counts
successful sign-ins."""

EVIDENCE_FILTERS: dict[str, str] = {
    "legacy_30": "Signed in with a legacy client (30 days)",
    "single_factor_14": f"Signed in with one factor (last {SINGLE_FACTOR_DAYS} days)",
    "no_sign_in_30": "No sign-in in 30 days",
}
"""Evidence filter code → the words the Users page shows. Several chosen: a user must match every one."""

_NAT = np.iinfo(np.int64).min


def window_start(as_of: datetime, days: int = RETENTION_DAYS) -> date:
    """The first day of the ``days`` calendar days (UTC) that end on ``as_of``'s day."""
    return as_of.astimezone(UTC).date() - timedelta(days=days - 1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _ns(at: datetime | None) -> int:
    found = epoch_ns(at)
    return _NAT if found is None else found


def legacy_words(clients: Mapping[str, datetime], since: datetime) -> str:
    """The legacy clients used at or after ``since``, newest first, each with its last day: "IMAP4 (28 Nov)"."""
    recent = sorted(((at, client) for client, at in clients.items() if at >= since), reverse=True)
    return ", ".join(f"{client} ({at.astimezone(UTC):%-d %b})" for at, client in recent)


def evidence_columns(user_ids: pd.Series, evidence: TenantEvidence, as_of: datetime) -> pd.DataFrame:
    """One row per id of ``user_ids`` (same index) with :data:`EVIDENCE_COLUMNS`, over the 30 days up to ``as_of``."""
    first = window_start(as_of)
    since = midnight(first)
    users = evidence.users
    n = len(user_ids)
    last_mfa = np.full(n, _NAT, dtype=np.int64)
    last_single = np.full(n, _NAT, dtype=np.int64)
    last_legacy = np.full(n, _NAT, dtype=np.int64)
    share = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int32)
    legacy = [""] * n
    for i, user_id in enumerate(user_ids.astype(object).tolist()):
        user: UserEvidence | None = users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            continue
        last_mfa[i] = _ns(user.last_mfa_sign_in)
        last_single[i] = _ns(user.last_single_factor_sign_in)
        if user.legacy_clients:
            recent = [at for at in user.legacy_clients.values() if at >= since]
            if recent:
                last_legacy[i] = _ns(max(recent))
                legacy[i] = legacy_words(user.legacy_clients, since)
        total = known = mfa = 0
        for day, c in user.days.items():
            if day >= first:
                total += c.total
                known += c.total - c.unknown
                mfa += c.mfa
        count[i] = total
        if known:
            share[i] = mfa / known
    def stamps(values: np.ndarray) -> pd.Series:
        return pd.Series(pd.to_datetime(values, unit="ns", utc=True), index=user_ids.index).astype(UTC_TIMESTAMP)

    return pd.DataFrame({
        "last_mfa_sign_in": stamps(last_mfa),
        "last_single_factor_sign_in": stamps(last_single),
        "legacy_clients": pd.Series(legacy, index=user_ids.index, dtype="string"),
        "last_legacy_sign_in": stamps(last_legacy),
        "mfa_share": pd.Series(share, index=user_ids.index, dtype="Float64"),
        "sign_ins_30d": pd.Series(count, index=user_ids.index, dtype="int32"),
    }, index=user_ids.index)


def with_evidence(frame: pd.DataFrame, evidence: TenantEvidence, as_of: datetime) -> pd.DataFrame:
    """``frame`` with the evidence columns appended (replaced if already there); ``frame`` is left as it is."""
    columns = evidence_columns(frame["id"], evidence, as_of)
    out = frame.drop(columns=[c for c in EVIDENCE_COLUMNS if c in frame.columns])
    return pd.concat([out, columns], axis=1)


def evidence_mask(frame: pd.DataFrame, code: str, as_of: datetime) -> np.ndarray:
    """The rows one evidence filter keeps (``frame`` carries :data:`EVIDENCE_COLUMNS`, joined for ``as_of``)."""
    if code not in EVIDENCE_FILTERS:
        raise ValueError(f"unknown sign-in evidence filter {code!r}: use {', '.join(EVIDENCE_FILTERS)}")
    missing = [c for c in EVIDENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError("sign-in evidence filters need the evidence columns (the sign-in log was not read)")
    if code == "legacy_30":
        since = pd.Timestamp(midnight(window_start(as_of)))
        return (frame["last_legacy_sign_in"] >= since).to_numpy(dtype=bool, na_value=False)
    if code == "single_factor_14":
        since = pd.Timestamp(midnight(window_start(as_of, SINGLE_FACTOR_DAYS)))
        return (frame["last_single_factor_sign_in"] >= since).to_numpy(dtype=bool, na_value=False)
    return (frame["sign_ins_30d"] == 0).to_numpy(dtype=bool, na_value=False)
