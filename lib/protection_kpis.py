"""The overview's protection tiles from a (scoped) users frame: who is effectively protected, and by what.

Pure: a users frame with the protection columns a snapshot stores (``covered_by``, ``covered_by_policies``,
``protection_conflict``, ``method_class``, ``sms_voice_deadline``) in, counts out. Every count is of the rows
it is given, so ``apply_scope(users, scope)`` here and on the Users page give the same numbers; each tile's
``preset`` is the Users page filter that lists exactly the users it counts.

A snapshot taken before the console read protection has no value in ``covered_by`` (or no such column): those
users are "not read", never "not covered", and the tiles say so instead of showing a zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

import numpy as np
import pandas as pd

from lib.protection import (
    LATER_DEADLINE,
    PROTECTED,
    SMS_VOICE_DEADLINE,
    Conflict,
    CoveredBy,
    MethodClass,
    days_left,
    label,
)

__all__ = [
    "COVERAGE_GROUPS",
    "DEADLINES",
    "NOT_READ",
    "CoverageGroup",
    "DeadlineCount",
    "ProtectionKpis",
    "coverage_group_data",
    "coverage_values",
    "deadline_values",
    "protection_kpis",
    "with_clock",
]

NOT_READ = "not_read"
"""The coverage group of users whose snapshot did not read protection (no ``covered_by`` value)."""

DEADLINES: tuple[date, ...] = (SMS_VOICE_DEADLINE, LATER_DEADLINE)
"""The SMS/voice deadlines, earliest first (1 Feb 2027 for most users, 1 Jul 2027 for Global Admins and guests)."""



NOTHING_ASKS: tuple[CoveredBy, ...] = (CoveredBy.NOT_COVERED, CoveredBy.CA_REPORT_ONLY)
"""Users nothing asks for MFA: covered by nothing, or only by report-only policies, which never require it (the
same users the "close the gap" plan targets where Conditional Access is available)."""

@dataclass(frozen=True)
class CoverageGroup:
    """A source of protection as the overview's chart groups it (a few ``CoveredBy`` values under one name)."""

    key: str
    label: str
    members: tuple[str, ...]
    """The ``covered_by`` values it stands for (``NOT_READ``: no value)."""
    protected: bool


def _group(key: str, words: str, *members: CoveredBy) -> CoverageGroup:
    protected = {m in PROTECTED for m in members}
    if len(protected) != 1:
        raise ValueError(f"coverage group {key!r} mixes protected and unprotected sources")
    return CoverageGroup(key, words, tuple(str(m) for m in members), protected.pop())


COVERAGE_GROUPS: tuple[CoverageGroup, ...] = (
    _group("conditional_access", "Conditional Access (all cloud apps, or blocked)", CoveredBy.CA_ALL_APPS,
           CoveredBy.BLOCKED),
    _group("security_defaults", label(CoveredBy.SECURITY_DEFAULTS), CoveredBy.SECURITY_DEFAULTS),
    _group("per_user_enforced", label(CoveredBy.PER_USER_ENFORCED), CoveredBy.PER_USER_ENFORCED),
    _group("per_user_enabled", label(CoveredBy.PER_USER_ENABLED_REGISTERED), CoveredBy.PER_USER_ENABLED_REGISTERED),
    _group("per_user_unregistered", label(CoveredBy.PER_USER_ENABLED_UNREGISTERED),
           CoveredBy.PER_USER_ENABLED_UNREGISTERED),
    _group("partial", label(CoveredBy.CA_PARTIAL), CoveredBy.CA_PARTIAL),
    _group("report_only", label(CoveredBy.CA_REPORT_ONLY), CoveredBy.CA_REPORT_ONLY),
    _group("excluded", label(CoveredBy.CA_EXCLUDED), CoveredBy.CA_EXCLUDED),
    _group("ca_unavailable", label(CoveredBy.CA_UNAVAILABLE), CoveredBy.CA_UNAVAILABLE),
    _group("unknown", "Unknown: the policies could not be read", CoveredBy.CA_NOT_READABLE,
           CoveredBy.DEFAULTS_UNKNOWN),
    _group("not_covered", label(CoveredBy.NOT_COVERED), CoveredBy.NOT_COVERED),
    CoverageGroup(NOT_READ, "Protection not read (snapshot from before)", (NOT_READ,), False),
)
"""Every ``CoveredBy`` value is in exactly one group, protected sources first (tests check both)."""


def coverage_values(frame: pd.DataFrame) -> pd.Series:
    """Each user's ``covered_by`` as text, ``NOT_READ`` where the snapshot has none (or no such column)."""
    if "covered_by" not in frame.columns:
        return pd.Series(NOT_READ, index=frame.index, dtype="string")
    values = frame["covered_by"].astype("string").str.strip()
    return values.mask(values.isna() | (values == ""), NOT_READ)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").fillna("").str.strip()


def deadline_values(frame: pd.DataFrame) -> pd.Series:
    """Each user's SMS/voice deadline as ISO text (``YYYY-MM-DD``), ``""`` when none applies."""
    if "sms_voice_deadline" not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    column = frame["sms_voice_deadline"]
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.strftime("%Y-%m-%d").astype("string").fillna("")
    return column.map(lambda v: v.isoformat()[:10] if isinstance(v, date | datetime) else v).astype(
        "string").fillna("").str.strip().str.slice(0, 10)


@dataclass(frozen=True)
class DeadlineCount:
    """Users relying on SMS/voice alone whose SMS/voice ends on ``deadline``, and the days left to it."""

    deadline: date
    users: int
    days_left: int


@dataclass(frozen=True)
class ProtectionKpis:
    """The protection tiles for one users frame (counts of its rows)."""

    users: int
    read: int
    """Users whose snapshot read protection (the rest are ``NOT_READ``)."""
    protected: int
    by_group: Mapping[str, int]
    """Users per ``COVERAGE_GROUPS`` key, every key present."""
    not_covered: int
    ca_unavailable: int
    conflicts: int
    phishing_resistant: int
    sms_voice_only: int
    deadlines: tuple[DeadlineCount, ...]
    """One entry per ``DEADLINES`` (zeros included), earliest first."""

    @property
    def protection_read(self) -> bool:
        return self.read > 0

    @property
    def pct_protected(self) -> float:
        """Percent of the users (all rows, as every tile) protected on every sign-in."""
        return 100.0 * self.protected / self.users if self.users else 0.0

    @property
    def pct_phishing_resistant(self) -> float:
        return 100.0 * self.phishing_resistant / self.users if self.users else 0.0


def protection_kpis(frame: pd.DataFrame, now: datetime | date) -> ProtectionKpis:
    """Count ``frame``'s protection facts; ``now`` (the console's clock) gives the days left to each deadline."""
    coverage = coverage_values(frame)
    read = (coverage != NOT_READ).to_numpy(dtype=bool)
    counts = coverage.value_counts()
    by_group = {g.key: int(sum(int(counts.get(m, 0)) for m in g.members)) for g in COVERAGE_GROUPS}
    method = _text(frame, "method_class")
    sms = (method == str(MethodClass.SMS_VOICE_ONLY)).to_numpy(dtype=bool) & read
    deadline = deadline_values(frame).to_numpy()
    conflict = _text(frame, "protection_conflict").isin([str(c) for c in Conflict]).to_numpy(dtype=bool)
    return ProtectionKpis(
        users=len(frame),
        read=int(read.sum()),
        protected=int(coverage.isin([str(c) for c in PROTECTED]).sum()),
        by_group=by_group,
        not_covered=int(sum(int(counts.get(str(c), 0)) for c in NOTHING_ASKS)),
        ca_unavailable=int(counts.get(str(CoveredBy.CA_UNAVAILABLE), 0)),
        conflicts=int((conflict & read).sum()),
        phishing_resistant=int(((method == str(MethodClass.PHISHING_RESISTANT)).to_numpy(dtype=bool) & read).sum()),
        sms_voice_only=int(sms.sum()),
        deadlines=tuple(DeadlineCount(d, int((sms & (deadline == d.isoformat())).sum()), days_left(d, now))
                        for d in DEADLINES),
    )


def coverage_group_data(kpis: ProtectionKpis) -> pd.DataFrame:
    """The chart-by-source table: ``group``, ``label``, ``users``, ``percent`` (of all users), ``protected``.

    Groups with nobody in them are left out; "not read" only appears when some users were not read."""
    rows = [(g.key, g.label, kpis.by_group[g.key], g.protected) for g in COVERAGE_GROUPS if kpis.by_group[g.key]]
    base = kpis.users
    return pd.DataFrame({
        "group": pd.Series([r[0] for r in rows], dtype="string"),
        "label": pd.Series([r[1] for r in rows], dtype="string"),
        "users": np.array([r[2] for r in rows], dtype=np.int64),
        "percent": np.array([100.0 * r[2] / base if base else 0.0 for r in rows], dtype=float),
        "protected": np.array([r[3] for r in rows], dtype=bool),
    })


def with_clock(kpis: ProtectionKpis, now: datetime | date) -> ProtectionKpis:
    """``kpis`` with the days left to each deadline counted from ``now`` (the counts stay those of the snapshot)."""
    return replace(kpis, deadlines=tuple(replace(d, days_left=days_left(d.deadline, now)) for d in kpis.deadlines))
