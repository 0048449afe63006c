"""Rebuild daily users frames from per-user event timelines.

The demo tenant ships 90 days of simulated past as events (state changes, registrations,
accounts disabled). Replaying them day by day gives the snapshots a console would have taken had
it been running, so the adoption trend is there on first start. Pure: events in, frames out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from lib.columns import PROTECTION_COLUMNS, UNKNOWN_STATE, coerce_users, join_methods
from lib.directory.rows import NOT_SECOND_FACTORS


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    """'state' | 'method' | 'account' | 'wave'."""
    value: str
    actor: str = ""


def _facts_at(events: Sequence[TimelineEvent], day_end: datetime, enabled_now: bool) -> tuple[str, list[str], bool]:
    state, methods, enabled = "disabled", [], True
    later_account_change = None
    for event in events:
        if event.at > day_end:
            if event.kind == "account" and later_account_change is None:
                later_account_change = event.value
            continue
        if event.kind == "state":
            state = event.value
        elif event.kind == "method":
            methods.append(event.value)
        elif event.kind == "account":
            enabled = event.value == "enabled"
    if later_account_change is None:
        enabled = enabled_now
    return state, methods, enabled


def daily_frames(
    current: pd.DataFrame, timelines: Mapping[str, Sequence[TimelineEvent]], days: Sequence[datetime],
    *, not_capable: Collection[str] = (),
) -> Iterator[tuple[datetime, pd.DataFrame]]:
    """For each day end in ``days``, the users frame as it stood then.

    Who the users are and their static facts come from ``current``; state, methods, registration
    and account status come from replaying each user's events up to that moment. Users created
    after a day are absent from it. ``not_capable`` are second factors the tenant's policy does not
    allow: registered with only those, a user is registered but not MFA capable (as Graph reports it).
    The protection columns are left unevaluated: the past's policies were never read, so today's answer
    must not be drawn as the past's.
    """
    base = current.set_index("id", drop=False)
    off = frozenset(not_capable)
    ordered = {uid: sorted(evts, key=lambda e: e.at) for uid, evts in timelines.items()}
    for day_end in days:
        stamp = pd.Timestamp(day_end)
        alive = base[base["created"].isna() | (base["created"] <= stamp)].copy()
        states, methods_col, registered, capable, enabled_col, counts, preferred = [], [], [], [], [], [], []
        for uid, enabled_now, pref, cur_state in zip(
            alive["id"], alive["account_enabled"], alive["preferred_method"], alive["state"], strict=True
        ):
            events = ordered.get(uid)
            if events is None:
                state, methods, enabled = cur_state, [], bool(enabled_now)
            else:
                state, methods, enabled = _facts_at(events, day_end, bool(enabled_now))
            is_registered = any(m not in NOT_SECOND_FACTORS for m in methods)
            is_capable = any(m not in NOT_SECOND_FACTORS and m not in off for m in methods)
            states.append(state if events is not None else cur_state or UNKNOWN_STATE)
            methods_col.append(join_methods(methods))
            counts.append(len(set(methods)))
            registered.append(is_registered)
            capable.append(is_capable and enabled)
            enabled_col.append(enabled)
            preferred.append(pref if is_registered else "")
        alive["state"] = states
        alive["methods"] = methods_col
        alive["method_count"] = counts
        alive["registered"] = registered
        alive["capable"] = capable
        alive["account_enabled"] = enabled_col
        alive["preferred_method"] = preferred
        alive["last_sign_in"] = alive["last_sign_in"].where(alive["last_sign_in"] <= stamp)
        for column in ("users_read_at", "registration_read_at", "state_read_at"):
            alive[column] = stamp
        for column in PROTECTION_COLUMNS:  # nobody evaluated the policies of that day: not evaluated, not today's
            if column in alive.columns:
                alive[column] = pd.NA
        yield day_end, coerce_users(alive.reset_index(drop=True))


def history_days(now: datetime, days: int) -> list[datetime]:
    """The end of each of the ``days`` days before ``now`` (oldest first), ending just before ``now``."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [midnight - timedelta(days=n) - timedelta(seconds=1) for n in range(days - 1, -1, -1)]
