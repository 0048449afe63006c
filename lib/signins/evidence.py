"""Per-user sign-in evidence, folded from events and extended by each incremental read.

Raw sign-ins are not kept (about 20 per user per month): each user keeps the last sign-in, the last
one with MFA, the last with a single factor, the last date of each legacy client, and daily counts for
the share of sign-ins with MFA. Everything older than the log's retention (30 days with Entra ID P1) is
dropped, so the evidence stays the size of the tenant, not of its log.

A read is described by the window it covered; the next read starts at ``read_until``. Graph filters
``createdDateTime`` with ``ge``/``le`` only, so a window may return again the sign-ins stamped exactly at
its start: the ids seen at ``read_until`` are kept so they are not counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

from lib.signins.events import SignInEvent

RETENTION_DAYS = 30
"""Days the sign-in log keeps with Entra ID P1/P2 (Microsoft's data retention reference)."""


@dataclass(frozen=True, slots=True)
class DayCount:
    """Successful sign-ins on one day: all of them, those with MFA, and those the log left unknown."""

    total: int = 0
    mfa: int = 0
    unknown: int = 0

    @classmethod
    def of(cls, total: int, mfa: int = 0, unknown: int = 0) -> DayCount:
        """The shared instance of these counts. A day's counts are small numbers, so a 100k-user tenant's
        1.4 million days hold a few hundred distinct values: one object each keeps the evidence's memory, and
        what every full garbage collection walks (Streamlit runs one after each rerun), that much smaller."""
        key = (total, mfa, unknown)
        found = _DAY_COUNTS.get(key)
        if found is None:
            found = _DAY_COUNTS.setdefault(key, cls(total, mfa, unknown))
        return found


_DAY_COUNTS: dict[tuple[int, int, int], DayCount] = {}


@dataclass(frozen=True, slots=True)
class UserEvidence:
    """What the log says about one user over the retention window."""

    last_sign_in: datetime | None = None
    last_mfa_sign_in: datetime | None = None
    last_single_factor_sign_in: datetime | None = None
    legacy_clients: Mapping[str, datetime] = field(default_factory=dict)
    """Legacy client → the last attempt with it (failed attempts count: the client is in use)."""
    days: Mapping[date, DayCount] = field(default_factory=dict)

    def mfa_share(self, now: datetime, days: int = RETENTION_DAYS) -> float | None:
        """Share of successful sign-ins with a known requirement that used MFA; None with none to judge."""
        since = (now - timedelta(days=days)).date()
        known = mfa = 0
        for day, count in self.days.items():
            if day >= since:
                known += count.total - count.unknown
                mfa += count.mfa
        return mfa / known if known else None

    def legacy_since(self, since: datetime) -> dict[str, datetime]:
        """Legacy clients used at or after ``since``, newest first."""
        recent = {client: at for client, at in self.legacy_clients.items() if at >= since}
        return dict(sorted(recent.items(), key=lambda kv: kv[1], reverse=True))


@dataclass(frozen=True)
class TenantEvidence:
    """Every user's evidence, the tenant's single-factor sign-ins per day, and where the next read starts."""

    users: Mapping[str, UserEvidence] = field(default_factory=dict)
    single_factor_by_day: Mapping[date, int] = field(default_factory=dict)
    read_until: datetime | None = None
    seen_at_read_until: frozenset[str] = frozenset()

    def single_factor_since(self, since: date) -> int:
        return sum(n for day, n in self.single_factor_by_day.items() if day >= since)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ns(at: datetime | None) -> int | None:
    """``at`` as nanoseconds since the epoch (None stays None): how the store and the columns keep instants."""
    if at is None:
        return None
    delta = at.astimezone(UTC) - _EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


def from_epoch_ns(ns: int | None) -> datetime | None:
    return None if ns is None else _EPOCH + timedelta(microseconds=int(ns) // 1000)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


class _Builder:
    """The mutable working copy of one user's evidence while a batch of events is folded in.

    Only the days the batch touches are copied into counters: a read walks the log in windows, and each
    window touches most users, so rebuilding every user's 30 days per window was most of a read's CPU."""

    __slots__ = ("changed", "days", "last", "last_mfa", "last_single", "legacy")

    def __init__(self, start: UserEvidence) -> None:
        self.last, self.last_mfa = start.last_sign_in, start.last_mfa_sign_in
        self.last_single = start.last_single_factor_sign_in
        self.legacy = dict(start.legacy_clients)
        self.days = start.days
        self.changed: dict[date, list[int]] = {}

    def add(self, event: SignInEvent) -> None:
        if event.legacy:
            self.legacy[event.client] = _later(self.legacy.get(event.client), event.at)
        if not event.succeeded:
            return
        self.last = _later(self.last, event.at)
        day = event.at.date()
        count = self.changed.get(day)
        if count is None:
            old = self.days.get(day)
            count = self.changed[day] = [old.total, old.mfa, old.unknown] if old is not None else [0, 0, 0]
        count[0] += 1
        if event.mfa is None:
            count[2] += 1
        elif event.mfa:
            count[1] += 1
            self.last_mfa = _later(self.last_mfa, event.at)
        else:
            self.last_single = _later(self.last_single, event.at)

    def freeze(self, since: datetime) -> UserEvidence:
        keep_day = since.date()
        return UserEvidence(
            last_sign_in=self.last, last_mfa_sign_in=self.last_mfa, last_single_factor_sign_in=self.last_single,
            legacy_clients=MappingProxyType({c: at for c, at in self.legacy.items() if at >= since}),
            days=MappingProxyType(dict(sorted(
                {**{d: c for d, c in self.days.items() if d >= keep_day},
                 **{d: DayCount.of(*c) for d, c in self.changed.items() if d >= keep_day}}.items()))))


def _has_expired(user: UserEvidence, since: datetime) -> bool:
    return any(at < since for at in user.legacy_clients.values()) or any(
        day < since.date() for day in user.days)


def fold(evidence: TenantEvidence, events: Iterable[SignInEvent], *, read_until: datetime,
         now: datetime) -> TenantEvidence:
    """The evidence after one more read that covered sign-ins up to ``read_until``.

    Events already folded (the ones stamped exactly at the previous ``read_until``) are skipped; days
    and legacy clients older than the retention window (counted back from ``now``) are dropped."""
    since = now - timedelta(days=RETENTION_DAYS)
    seen = evidence.seen_at_read_until
    builders: dict[str, _Builder] = {}
    single = dict(evidence.single_factor_by_day)
    at_end: set[str] = set(seen) if evidence.read_until == read_until else set()
    for event in events:
        if evidence.read_until is not None and (
                event.at < evidence.read_until or (event.at == evidence.read_until and event.id in seen)):
            continue
        if event.at > read_until:
            continue
        if event.at == read_until:
            at_end.add(event.id)
        builder = builders.get(event.user_id)
        if builder is None:
            builder = builders[event.user_id] = _Builder(evidence.users.get(event.user_id, UserEvidence()))
        builder.add(event)
        if event.succeeded and event.mfa is False:
            day = event.at.date()
            single[day] = single.get(day, 0) + 1
    keep_day = since.date()
    users = {user_id: _Builder(old).freeze(since) if _has_expired(old, since) else old
             for user_id, old in evidence.users.items()}
    for user_id, builder in builders.items():
        users[user_id] = builder.freeze(since)
    return replace(evidence, users=users, read_until=read_until, seen_at_read_until=frozenset(at_end),
                   single_factor_by_day={d: n for d, n in sorted(single.items()) if d >= keep_day})
