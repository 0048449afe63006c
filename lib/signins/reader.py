"""Read the sign-in log incrementally into the stored evidence: only what is new since the last read.

Each read starts where the previous one ended (``TenantEvidence.read_until``; a new tenant starts at the
log's 30-day retention) and walks to "now" in ``createdDateTime`` windows (a day, or longer for a tenant
whose log is small: :func:`window_size`), oldest first, as
Microsoft advises for the sign-in log (narrow windows; docs/graph.md, "Sign-in logs"). Pages come from
beta ``auditLogs/signIns`` (v1.0 lacks the MFA fields) through the gateway, which keeps to the reports
throttle (5 requests per 10 s) by honouring each 429's ``Retry-After``. Every finished window is folded
in at once, so raw sign-ins never pile up and a cancelled read keeps what it finished.

Without Entra ID P1 there is no sign-in log: the read says so, and the only evidence is the last sign-in
the users listing's ``signInActivity`` gives, where present (:func:`evidence_from_sign_in_activity`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pandas as pd

from lib.errors import describe
from lib.graph import CancelToken, GraphGateway, NoPremiumLicense, OperationCancelled
from lib.signins.events import event_from_graph
from lib.signins.evidence import RETENTION_DAYS, TenantEvidence, UserEvidence, fold
from lib.signins.saved import load_evidence, save_evidence
from lib.store import Store

SIGN_INS_PATH = "/auditLogs/signIns"
WINDOW = timedelta(days=1)
"""The narrowest window: a day of a large tenant's log is a few pages."""
WINDOW_SIGN_INS = 20_000
"""About how many sign-ins a window should hold: many full pages, so cutting the log into windows adds
few part-filled pages (each window ends in one), while a small tenant's month is one window and not
thirty one-page requests."""
SIGN_INS_PER_USER_DAY = 20 / 30
"""About 20 sign-ins per user a month: the estimate before a tenant's first read."""
PAGE_SIZE = 1000
"""The sign-in log's largest (and default) page."""
NEEDS_P1 = "Sign-in evidence needs Entra ID P1"

PATH_LOG = "sign-in log"
PATH_ACTIVITY = "signInActivity"
PATH_NONE = "none"

ProgressCallback = Callable[[int, int], None]
"""``(windows done, windows in all)``."""


@dataclass(frozen=True)
class SignInRead:
    """What one read of the sign-in evidence did, for the snapshot's report and the CLI."""

    path: str
    """``sign-in log`` (beta auditLogs/signIns), ``signInActivity`` (no P1: last sign-ins only) or ``none``."""
    read: int = 0
    """Sign-ins this run added (the ones at the previous read's end, which Graph returns again, not counted)."""
    pages: int = 0
    since: datetime | None = None
    until: datetime | None = None
    users: int = 0
    """Users with evidence after the read."""
    note: str | None = None
    """What a person should know: no P1, a failure, a cancel (None when all went well)."""
    evidence: TenantEvidence = field(default_factory=TenantEvidence, repr=False)

    def summary(self) -> dict[str, Any]:
        """The CLI's ``sign_ins`` object."""
        def stamp(at: datetime | None) -> str | None:
            return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {"path": self.path, "read": self.read, "pages": self.pages,
                "window": {"since": stamp(self.since), "until": stamp(self.until)}, "users": self.users,
                "note": self.note}


def windows(since: datetime, until: datetime, size: timedelta = WINDOW) -> list[tuple[datetime, datetime]]:
    """``[since, until]`` cut into equal consecutive windows of about ``size``, oldest first.

    Rounded, not ceiled: a day and a few minutes since the last read is one window, so a daily read
    costs the pages of one day's sign-ins and not an extra request for the few minutes."""
    if until <= since:
        return []
    count = max(1, round((until - since) / size))
    step = (until - since) / count
    edges = [since + step * i for i in range(count)] + [until]
    return list(pairwise(edges))


def daily_rate(evidence: TenantEvidence, users: int) -> float:
    """About how many sign-ins the log gains a day: from the stored evidence over the days it covers (a
    tenant whose evidence so far covers two days is not taken for one with a quiet month), or, before the
    first read, from the number of users."""
    counted, days = 0, set()
    for user in evidence.users.values():
        for day, count in user.days.items():
            counted += count.total
            days.add(day)
    if not counted:
        return users * SIGN_INS_PER_USER_DAY
    return counted / ((max(days) - min(days)).days + 1)


def window_size(evidence: TenantEvidence, users: int) -> timedelta:
    """A window holding about ``WINDOW_SIGN_INS`` sign-ins (:func:`daily_rate`), between one day and the
    30-day retention."""
    per_day = daily_rate(evidence, users)
    if per_day <= 0:
        return WINDOW
    return min(timedelta(days=RETENTION_DAYS), max(WINDOW, timedelta(days=WINDOW_SIGN_INS / per_day)))


def page_budget(evidence: TenantEvidence, users: int, now: datetime, catch_up_pages: int) -> int:
    """Pages one snapshot may read: those the log gained since the last read (so daily snapshots keep
    pace, however large the tenant), plus ``catch_up_pages`` of what is older (a new tenant's 30 days)."""
    if evidence.read_until is None:
        return catch_up_pages
    days = max(0.0, (now - evidence.read_until) / timedelta(days=1))
    return catch_up_pages + math.ceil(min(days, RETENTION_DAYS) * daily_rate(evidence, users) / PAGE_SIZE)


def _odata_time(at: datetime) -> str:
    """A ``createdDateTime`` literal: UTC, to the microsecond, unquoted (OData DateTimeOffset)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_window(gateway: GraphGateway, since: datetime, until: datetime, *,
                cancel: CancelToken | None = None) -> tuple[list, int]:
    """Every sign-in in ``[since, until]`` as events, and the pages it took."""
    params = {"$top": PAGE_SIZE,
              "$filter": f"createdDateTime ge {_odata_time(since)} and createdDateTime le {_odata_time(until)}"}

    async def collect() -> tuple[list, int]:
        events, pages = [], 0
        async for page in gateway.aio.iter_pages(SIGN_INS_PATH, version="beta", params=params, cancel=cancel):
            pages += 1
            events.extend(e for e in map(event_from_graph, page) if e is not None)
        return events, pages

    return gateway.submit(collect()).result()


def evidence_from_sign_in_activity(users: pd.DataFrame | None) -> TenantEvidence:
    """The evidence the users listing gives without a sign-in log: each user's last sign-in, if present."""
    if users is None or "last_sign_in" not in users.columns:
        return TenantEvidence()
    found: dict[str, UserEvidence] = {}
    for user_id, last in zip(users["id"], users["last_sign_in"], strict=True):
        if last is not None and not pd.isna(last):
            found[str(user_id)] = UserEvidence(last_sign_in=pd.Timestamp(last).to_pydatetime())
    return TenantEvidence(users=found)


def read_sign_ins(
    gateway: GraphGateway,
    store: Store,
    tenant_id: str,
    *,
    now: datetime,
    users: pd.DataFrame | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    catch_up_pages: int | None = None,
) -> SignInRead:
    """Read the sign-ins since the last read (at most the 30-day retention) and save the evidence.

    ``users`` (the snapshot's frame) feeds the fallback without P1. With ``catch_up_pages``, the read stops
    after the window in which it reached its :func:`page_budget` (the log allows 5 pages per 10 s), and the
    next read continues from there. Raises ``OperationCancelled`` only before anything was read; a cancel later
    saves the finished windows and says so in ``note``. Graph and store errors propagate (the snapshot
    reports them without failing)."""
    old = load_evidence(store, tenant_id)
    floor = now - timedelta(days=RETENTION_DAYS)
    since = max(old.read_until, floor) if old.read_until is not None else floor
    population = 0 if users is None else len(users)
    parts = windows(since, now, window_size(old, population))
    max_pages = None if catch_up_pages is None else page_budget(old, population, now, catch_up_pages)
    evidence, read, pages, done_until = old, 0, 0, since
    note: str | None = None
    if on_progress:
        on_progress(0, len(parts))
    try:
        for index, (start, end) in enumerate(parts):
            events, got = read_window(gateway, start, end, cancel=cancel)
            seen = evidence.seen_at_read_until if evidence.read_until == start else frozenset()
            read += sum(1 for e in events if not (e.at == start and e.id in seen))  # not the boundary's again
            pages += got
            newest = max((e.at for e in events), default=None)
            # The next read starts at the newest sign-in seen (Graph may still add older-stamped ones a
            # little late); with none in the window, at the window's end.
            until = newest if newest is not None and index == len(parts) - 1 else end
            evidence = fold(evidence, events, read_until=until, now=now)
            done_until = end
            if on_progress:
                on_progress(index + 1, len(parts))
            if max_pages is not None and pages >= max_pages and index < len(parts) - 1:
                note = (f"read up to {end:%d %b %H:%M} UTC within this snapshot's share of the sign-in log's "
                        "throttle; the next snapshot continues")
                break
    except NoPremiumLicense:
        fallback = evidence_from_sign_in_activity(users)
        note = (f"{NEEDS_P1}: the last sign-in of {len(fallback.users):,} users comes from the users "
                "listing (signInActivity)" if fallback.users else
                f"{NEEDS_P1}; without it the users listing has no sign-in dates either")
        return SignInRead(PATH_ACTIVITY if fallback.users else PATH_NONE, note=note, users=len(fallback.users),
                          evidence=fallback)
    except OperationCancelled:
        if evidence is old:
            raise
        note = f"cancelled: sign-ins read up to {done_until:%d %b %H:%M} UTC; the next snapshot continues"
    if evidence is not old or old.read_until is None:
        save_evidence(store, tenant_id, old, evidence, now)
    return SignInRead(PATH_LOG, read=read, pages=pages, since=since, until=done_until, users=len(evidence.users),
                      note=note, evidence=evidence)


def describe_failure(err: BaseException) -> SignInRead:
    """A failed read, as the snapshot reports it (the snapshot itself stands)."""
    return SignInRead(PATH_NONE, note=f"sign-in evidence not read: {describe(err)}")
