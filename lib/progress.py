"""Registration progress of rollout waves and of their members: pure functions, frames in, frames out.

The facts come from the store's *versions* (``Store.versions_for_users``): a row per user per
snapshot at which any of the user's facts changed, with the snapshot's time (``snapshot_at``).
A user's facts at an instant ``t`` are their latest version with ``snapshot_at <= t``; a
``removed`` version (tombstone) means the user was no longer in the tenant. Because versions are
written only when something changed, an instant between two snapshots shows what the earlier one
saw, and an event that a version reveals happened *between* the snapshot before it and its own.

Stages of the funnel, the same as the overview's rollout funnel (``lib.charts``):

* **enabled** — state Enabled or Enforced (per-user MFA is on);
* **registered** — of those, the users with a registered second factor;
* **enforced** — state Enforced.

Percentages are of the wave's members (its cohort), 0.0 to 100.0, never rounded here.

Stuck flags (``STUCK_FLAGS``) mark the members a security lead should chase; a *straggler* is a
member with at least one. Times are UTC; "days" are 24-hour days as floats unless said otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lib.charts import METHOD_LABELS
from lib.columns import split_methods
from lib.directory.rows import NOT_SECOND_FACTORS
from lib.exports import to_csv_bytes
from lib.kpis import percent
from lib.palette import REGISTERED_COLOUR, SCOPE_COLOUR, STATE_COLOURS, STATE_LABELS, TEMPLATE, plain

__all__ = [
    "FUNNEL_COLUMNS",
    "MAILTO_LIMIT",
    "MEMBER_DISPLAY",
    "PACE_WINDOW_DAYS",
    "REMINDER_COLUMNS",
    "STRAGGLER_DISPLAY",
    "STUCK_AFTER_DAYS",
    "STUCK_FLAGS",
    "TIMELINE_COLUMNS",
    "TIMELINE_SOURCES",
    "USER_PROGRESS_COLUMNS",
    "Mailto",
    "Projection",
    "WaveSummary",
    "counts_at",
    "days_text",
    "funnel_chart",
    "funnel_over_time",
    "history_timeline",
    "journal_timeline",
    "median_days_to_register",
    "method_label",
    "progress_display",
    "projected_completion",
    "registration_pace",
    "reminder_addresses",
    "reminder_csv",
    "reminder_frame",
    "reminder_mailto",
    "snapshot_spacing",
    "spacing_text",
    "state_since",
    "stragglers",
    "timeline_display",
    "user_progress",
    "user_timeline",
    "wave_summary",
    "wave_timeline",
    "waves_table",
]

STUCK_AFTER_DAYS = 14
"""An Enabled member who has not registered after this many days in the state is stuck."""

PACE_WINDOW_DAYS = 7
"""The current pace is the registrations per day over this many days (fewer for a younger wave)."""

MAILTO_LIMIT = 2000
"""Longest ``mailto:`` link offered: browsers and mail programs cut longer ones (often silently)."""

STUCK_FLAGS: dict[str, str] = {
    "enabled_unregistered": f"Enabled > {STUCK_AFTER_DAYS} days, not registered",
    "never_signed_in": "Never signed in",
    "account_disabled": "Account disabled",
    "reenabled_unregistered": "Re-enabled, not re-registered",
}
"""Stuck flag → its label. What each means:

* ``enabled_unregistered``: Enabled for more than ``STUCK_AFTER_DAYS`` days without a registered
  second factor (days counted from the snapshot that first saw the state: never more than the truth);
* ``never_signed_in``: no sign-in on record and no second factor, so never asked to register (only
  when the tenant reports sign-ins at all, which needs Entra ID P1);
* ``account_disabled``: the member's account is disabled: they cannot sign in to register;
* ``reenabled_unregistered``: Enabled although a second factor is registered. Entra promotes a
  registering user to Enforced by itself, except one re-enabled after an admin disabled them, who
  must register again: Graph will not promote them, the admin must set Enforced.
"""

FUNNEL_COLUMNS: dict[str, str] = {
    "day": "datetime64[ns]",
    "as_of": "datetime64[ns, UTC]",
    "day_number": "int64",
    "members": "int64",
    "present": "int64",
    "enabled": "int64",
    "registered": "int64",
    "enforced": "int64",
    "pct_enabled": "float64",
    "pct_registered": "float64",
    "pct_enforced": "float64",
}
"""Columns of :func:`funnel_over_time`: one row per UTC day from the launch day (``day_number`` 0), or one
per snapshot since the launch (``as_of`` = the snapshot's time) when the snapshot times are given."""

USER_PROGRESS_COLUMNS: dict[str, str] = {
    "wave": "string",
    "id": "string",
    "display_name": "string",
    "upn": "string",
    "mail": "string",
    "department": "string",
    "state": "string",
    "registered": "bool",
    "methods": "string",
    "account_enabled": "bool",
    "last_sign_in": "datetime64[ns, UTC]",
    "state_since": "datetime64[ns, UTC]",
    "days_in_state": "Int64",
    "since_history_start": "bool",
    **{name: "bool" for name in STUCK_FLAGS},
    "stuck": "bool",
    "flags": "string",
}
"""Columns of :func:`user_progress`. ``days_in_state`` is whole days (floor); when
``since_history_start`` is True the state was already there in the user's first stored version,
so the true time is longer. ``flags`` joins the labels of the stuck flags that are set."""

TIMELINE_COLUMNS: dict[str, str] = {
    "at": "datetime64[ns, UTC]",
    "after": "datetime64[ns, UTC]",
    "source": "string",
    "event": "string",
    "text": "string",
    "actor": "string",
}
"""Columns of the timelines. ``at`` is when it happened or, for what a snapshot revealed, the
snapshot that first saw it; ``after`` (when known) is the snapshot before, so it happened between
``after`` and ``at``. ``source`` is ``journal``, ``wave`` or ``history``."""

REMINDER_COLUMNS: tuple[str, ...] = (
    "display_name", "upn", "mail", "department", "wave", "state", "flags", "days_in_state", "last_sign_in",
)

_ACTIVE = ("enabled", "enforced")
_DAY = pd.Timedelta(days=1)


# --- helpers -------------------------------------------------------------------------------------


def _utc(value: Any, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value) if value is not None else pd.NaT
    if stamp is pd.NaT or pd.isna(stamp):
        raise ValueError(f"{name} must be a time, got {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _member_set(member_ids: Iterable[str]) -> list[str]:
    if isinstance(member_ids, str):
        raise TypeError("member_ids must be a collection of user ids, not a single string")
    return list(dict.fromkeys(str(uid) for uid in member_ids))


def _check_versions(versions: pd.DataFrame) -> None:
    missing = [c for c in ("id", "snapshot_at", "removed", "state", "registered") if c not in versions.columns]
    if missing:
        raise ValueError(f"versions are missing columns: {', '.join(missing)}")


def _member_versions(versions: pd.DataFrame, members: Sequence[str]) -> pd.DataFrame:
    """The members' versions, each user's oldest first, with typed ``snapshot_at``."""
    _check_versions(versions)
    out = versions[versions["id"].isin(members)].copy()
    out["snapshot_at"] = pd.to_datetime(out["snapshot_at"], utc=True)
    sort = ["id", "snapshot_at", "snapshot_id"] if "snapshot_id" in out.columns else ["id", "snapshot_at"]
    return out.sort_values(sort, kind="stable", ignore_index=True)


def _stage_values(v: pd.DataFrame) -> pd.DataFrame:
    """0/1 per version and stage (a tombstone is in no stage)."""
    present = ~v["removed"].to_numpy(dtype=bool)
    state = v["state"].astype("string").fillna("").to_numpy(dtype=object)
    active = present & np.isin(state, _ACTIVE)
    registered = v["registered"].to_numpy(dtype=bool)
    return pd.DataFrame({
        "present": present.astype(np.int64),
        "enabled": active.astype(np.int64),
        "registered": (active & registered).astype(np.int64),
        "enforced": (present & (state == "enforced")).astype(np.int64),
        "registered_any": (present & registered).astype(np.int64),
    })


_STAGES = ("present", "enabled", "registered", "enforced", "registered_any")


@dataclass(frozen=True)
class _Cumulative:
    """Stage counts over time: ``counts[i]`` holds from ``times[i]`` until the next time."""

    times: np.ndarray  # int64 ns, sorted
    counts: np.ndarray  # shape (len(times), 4)

    def at(self, instants: Sequence[pd.Timestamp]) -> np.ndarray:
        ns = np.array([pd.Timestamp(t).value for t in instants], dtype=np.int64)
        index = np.searchsorted(self.times, ns, side="right") - 1
        out = np.zeros((len(ns), len(_STAGES)), dtype=np.int64)
        seen = index >= 0
        out[seen] = self.counts[index[seen]]
        return out


def _cumulative(v: pd.DataFrame) -> _Cumulative:
    """Each version's change to every stage count, summed over time (one pass, any number of days)."""
    if v.empty:
        return _Cumulative(np.zeros(0, dtype=np.int64), np.zeros((0, len(_STAGES)), dtype=np.int64))
    values = _stage_values(v)
    previous = values.groupby(v["id"].to_numpy(dtype=object), sort=False).shift(1).fillna(0).astype(np.int64)
    deltas = values - previous
    deltas["t"] = v["snapshot_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    per_time = deltas.groupby("t", sort=True)[list(_STAGES)].sum()
    return _Cumulative(per_time.index.to_numpy(dtype=np.int64), per_time.to_numpy(dtype=np.int64).cumsum(axis=0))


def counts_at(versions: pd.DataFrame, member_ids: Iterable[str], at: datetime | pd.Timestamp) -> dict[str, int]:
    """The members' stage counts at instant ``at`` (each member's latest version at or before it).

    Keys: ``members``, ``present``, ``enabled``, ``registered``, ``enforced`` (the funnel's stages),
    and ``registered_any``: members with a second factor whatever their state (what the pace counts).
    """
    members = _member_set(member_ids)
    row = _cumulative(_member_versions(versions, members)).at([_utc(at, "at")])[0]
    return {"members": len(members), **{stage: int(row[i]) for i, stage in enumerate(_STAGES)}}


# --- per wave ------------------------------------------------------------------------------------


def funnel_over_time(
    versions: pd.DataFrame,
    member_ids: Iterable[str],
    launched_at: datetime | pd.Timestamp,
    as_of: datetime | pd.Timestamp,
    *,
    snapshot_times: Iterable[datetime | pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """The wave's funnel over time (``FUNNEL_COLUMNS``); no rows when ``as_of`` is before the launch.

    Given the tenant's ``snapshot_times``: one row per snapshot taken from the launch to ``as_of``, counted
    at that snapshot's time, since only a snapshot knows anything (a chart draws these as points or steps,
    never as lines across days no snapshot saw). Without them: one row per UTC day from the launch day to
    ``as_of``'s day, each counting every member's latest version at or before the end of that day (the last
    day: at ``as_of``), so a day without a snapshot repeats what the previous snapshot saw.
    """
    members = _member_set(member_ids)
    launched, until = _utc(launched_at, "launched_at"), _utc(as_of, "as_of")
    if until < launched:
        return _typed(pd.DataFrame(columns=list(FUNNEL_COLUMNS)), FUNNEL_COLUMNS)
    if snapshot_times is not None:
        taken = pd.DatetimeIndex(sorted({_utc(t, "snapshot time") for t in snapshot_times}), tz="UTC")
        cutoffs = pd.DatetimeIndex(taken[(taken >= launched) & (taken <= until)], tz="UTC")
    else:
        days = pd.date_range(launched.normalize(), until.normalize(), freq="D")
        cutoffs = pd.DatetimeIndex([min(day + _DAY - pd.Timedelta(1, "ns"), until) for day in days], tz="UTC")
    counts = _cumulative(_member_versions(versions, members)).at(list(cutoffs))
    total = len(members)
    day = cutoffs.normalize()
    frame = pd.DataFrame({
        "day": day.tz_localize(None),
        "as_of": cutoffs,
        "day_number": ((day - launched.normalize()) // _DAY).to_numpy(dtype=np.int64),
        "members": np.full(len(cutoffs), total, dtype=np.int64),
        **{stage: counts[:, i] for i, stage in enumerate(_STAGES)},
    })
    for stage in ("enabled", "registered", "enforced"):
        frame[f"pct_{stage}"] = [percent(int(n), total) for n in frame[stage]]
    return _typed(frame, FUNNEL_COLUMNS)


def snapshot_spacing(snapshot_times: Iterable[datetime | pd.Timestamp], launched_at: datetime | pd.Timestamp,
                     as_of: datetime | pd.Timestamp) -> tuple[float, float] | None:
    """(shortest, longest) gap in days between the snapshots that can have seen a registration since the
    launch: the last one at or before the launch, then each one up to ``as_of``. A registration is dated by
    the first snapshot that saw it, so this is how coarse "time to register" is. None with fewer than two."""
    launched, until = _utc(launched_at, "launched_at"), _utc(as_of, "as_of")
    taken = sorted({_utc(t, "snapshot time") for t in snapshot_times if _utc(t, "snapshot time") <= until})
    before = [t for t in taken if t <= launched]
    used = before[-1:] + [t for t in taken if t > launched]
    if len(used) < 2:
        return None
    gaps = [(later - earlier) / _DAY for earlier, later in itertools.pairwise(used)]
    return min(gaps), max(gaps)


def days_text(days: float) -> str:
    """A number of days as a person says it: one decimal under 10 days (none when whole), else whole."""
    amount = f"{days:,.0f}" if days >= 9.95 else f"{days:.1f}".removesuffix(".0")
    return f"{amount} day" if amount == "1" else f"{amount} days"


def spacing_text(spacing: tuple[float, float] | None) -> str:
    """How far apart the snapshots are, short enough for a tile: "snapshots 1 day apart", or "snapshots ≤ 7 days
    apart" when the gaps differ (the longest one bounds how late a registration can be dated)."""
    if spacing is None:
        return "one snapshot since launch"
    low, high = (days_text(d) for d in spacing)
    return f"snapshots {high} apart" if low == high else f"snapshots ≤ {high} apart"


def median_days_to_register(
    versions: pd.DataFrame, member_ids: Iterable[str], launched_at: datetime | pd.Timestamp
) -> tuple[float | None, int]:
    """Median days from launch to registration, over members who registered after the launch.

    A member counts when their latest version at or before the launch shows no second factor (or
    they have none yet) and a later version shows one; the time is that version's snapshot, so it
    can overstate by up to the gap between two snapshots. Returns ``(median, members measured)``;
    ``(None, 0)`` when nobody registered after the launch.
    """
    members = _member_set(member_ids)
    launched = _utc(launched_at, "launched_at")
    v = _member_versions(versions, members)
    if v.empty:
        return None, 0
    registered = v["registered"].to_numpy(dtype=bool) & ~v["removed"].to_numpy(dtype=bool)
    before = v[v["snapshot_at"] <= launched]
    at_launch = before.groupby("id", sort=False).tail(1)
    already = set(at_launch.loc[registered[at_launch.index], "id"])
    later = v[(v["snapshot_at"] > launched) & registered & ~v["id"].isin(already)]
    first_seen = later.groupby("id", sort=False)["snapshot_at"].min()
    if first_seen.empty:
        return None, 0
    days = (first_seen - launched) / _DAY
    return float(np.median(days.to_numpy(dtype=float))), len(days)


def registration_pace(
    versions: pd.DataFrame,
    member_ids: Iterable[str],
    launched_at: datetime | pd.Timestamp,
    as_of: datetime | pd.Timestamp,
    *,
    window_days: float = PACE_WINDOW_DAYS,
) -> tuple[float, float]:
    """Registrations per day over the last ``window_days`` before ``as_of`` (since launch if younger).

    Members with a second factor (whatever their state, so enabling an already registered member
    is not counted as a registration) at ``as_of`` minus at the window's start, divided by the
    window's length in days. Returns ``(per_day, window in days)``; ``(0.0, 0.0)`` at the
    launch instant or before. A negative net change (methods removed) gives 0.0.
    """
    members = _member_set(member_ids)
    launched, until = _utc(launched_at, "launched_at"), _utc(as_of, "as_of")
    start = max(until - pd.Timedelta(days=window_days), launched)
    length = (until - start) / _DAY
    if length <= 0:
        return 0.0, 0.0
    cumulative = _cumulative(_member_versions(versions, members))
    begin, end = cumulative.at([start, until])
    column = _STAGES.index("registered_any")
    gained = int(end[column] - begin[column])
    return max(0.0, gained / length), float(length)


@dataclass(frozen=True)
class Projection:
    """When the members still expected to register will all have, at the current pace."""

    at: pd.Timestamp | None
    """The projected completion time; None when there is nothing to project (see ``reason``)."""
    days: float | None
    remaining: int
    """Members Enabled or Enforced, account enabled, without a second factor."""
    pace_per_day: float
    window_days: float
    reason: str
    """Why ``at`` is None, or how it was projected."""


def projected_completion(remaining: int, pace_per_day: float, as_of: datetime | pd.Timestamp, *,
                         window_days: float = PACE_WINDOW_DAYS) -> Projection:
    """``as_of + remaining / pace``; None with the reason when done or when the pace is zero."""
    until = _utc(as_of, "as_of")
    if remaining < 0:
        raise ValueError(f"remaining must be >= 0, got {remaining}")
    if remaining == 0:
        return Projection(None, None, 0, pace_per_day, window_days,
                          "complete: every member who can register has registered")
    if pace_per_day <= 0:
        span = f"in the last {days_text(window_days)}" if window_days else "since the launch"
        return Projection(None, None, remaining, 0.0, window_days,
                          f"no member registered {span}: there is no pace to project from")
    days = remaining / pace_per_day
    return Projection(until + pd.Timedelta(days=days), days, remaining, pace_per_day, window_days,
                      f"{remaining:,} left at {pace_per_day:.1f} registrations a day "
                      f"(the last {days_text(window_days)})")


def state_since(versions: pd.DataFrame) -> pd.DataFrame:
    """Per user: since when their latest state holds, from the versions.

    ``state_since`` is the snapshot time of the first version of the final run of versions with
    the latest state; ``since_history_start`` says that run starts at the user's first version
    (the state may be older). Columns ``id``, ``state``, ``state_since``, ``since_history_start``.
    """
    _check_versions(versions)
    if versions.empty:
        return pd.DataFrame({"id": pd.Series(dtype="string"), "state": pd.Series(dtype="string"),
                             "state_since": pd.Series(dtype="datetime64[ns, UTC]"),
                             "since_history_start": pd.Series(dtype="bool")})
    v = versions.copy()
    v["snapshot_at"] = pd.to_datetime(v["snapshot_at"], utc=True)
    sort = ["id", "snapshot_at", "snapshot_id"] if "snapshot_id" in v.columns else ["id", "snapshot_at"]
    v = v.sort_values(sort, kind="stable", ignore_index=True)
    state = v["state"].astype("string").fillna("").mask(v["removed"].astype(bool), "(removed)")
    user = v["id"].astype("string")
    new_run = (state != state.groupby(user).shift(1)).fillna(True).to_numpy(dtype=bool)
    run = pd.Series(np.cumsum(new_run), index=v.index)
    last_run = run.groupby(user).transform("max")
    first_run = run.groupby(user).transform("min")
    in_last = run == last_run
    out = v.loc[in_last].groupby("id", sort=True).agg(state_since=("snapshot_at", "min"))
    out["state"] = state[in_last].groupby(v.loc[in_last, "id"]).last()
    out["since_history_start"] = (last_run == first_run).groupby(v["id"]).last()
    out = out.reset_index()
    out["state"] = out["state"].astype("string")
    out["id"] = out["id"].astype("string")
    return out[["id", "state", "state_since", "since_history_start"]]


def user_progress(
    current: pd.DataFrame,
    versions: pd.DataFrame,
    member_ids: Iterable[str],
    as_of: datetime | pd.Timestamp,
    *,
    wave: str = "",
    sign_ins_known: bool = True,
    stuck_after_days: int = STUCK_AFTER_DAYS,
) -> pd.DataFrame:
    """One row per member present in ``current`` (the latest users frame): ``USER_PROGRESS_COLUMNS``.

    ``versions`` give how long each member has been in their state (see :func:`state_since`);
    ``sign_ins_known`` False (no Entra ID P1: no sign-in activity) turns ``never_signed_in`` off.
    Members no longer in the tenant have no row. Sorted by display name.
    """
    members = _member_set(member_ids)
    until = _utc(as_of, "as_of")
    rows = current[current["id"].isin(members)].copy()
    since = state_since(_member_versions(versions, members))
    rows = rows.merge(since.rename(columns={"state": "_history_state"}), on="id", how="left")
    # A state that differs from the stored history's (should not happen) has no known start.
    agree = rows["_history_state"].astype("string").fillna("") == rows["state"].astype("string").fillna("")
    rows["state_since"] = pd.to_datetime(rows["state_since"], utc=True).where(agree.to_numpy(dtype=bool))
    rows["since_history_start"] = rows["since_history_start"].astype("boolean").fillna(False).astype(bool) & agree
    age = (until - rows["state_since"]) / _DAY
    rows["days_in_state"] = np.floor(age.astype("float64")).astype("Int64")

    state = rows["state"].astype("string").fillna("")
    registered = rows["registered"].astype(bool)
    rows["enabled_unregistered"] = (state == "enabled") & ~registered & (age > stuck_after_days).fillna(False)
    no_sign_in = pd.to_datetime(rows["last_sign_in"], utc=True).isna()
    rows["never_signed_in"] = no_sign_in & ~registered & bool(sign_ins_known)
    rows["account_disabled"] = ~rows["account_enabled"].astype(bool)
    rows["reenabled_unregistered"] = (state == "enabled") & registered
    flags = rows[list(STUCK_FLAGS)].to_numpy(dtype=bool)
    rows["stuck"] = flags.any(axis=1)
    labels = list(STUCK_FLAGS.values())
    rows["flags"] = ["; ".join(label for label, on in zip(labels, row, strict=True) if on) for row in flags]
    rows["wave"] = wave
    out = _typed(rows, USER_PROGRESS_COLUMNS)
    key = out["display_name"].fillna("").str.casefold()
    return out.iloc[np.argsort(key.to_numpy(dtype=object), kind="stable")].reset_index(drop=True)


def stragglers(progress: pd.DataFrame) -> pd.DataFrame:
    """The members of :func:`user_progress` with at least one stuck flag."""
    return progress[progress["stuck"]].reset_index(drop=True)


@dataclass(frozen=True)
class WaveSummary:
    """A wave's headline figures (see :func:`wave_summary`)."""

    members: int
    present: int
    """Members still in the tenant at ``as_of``."""
    enabled: int
    registered: int
    enforced: int
    pct_enabled: float
    pct_registered: float
    pct_enforced: float
    days_since_launch: int
    median_days_to_register: float | None
    registered_after_launch: int
    snapshot_spacing: tuple[float, float] | None
    """(shortest, longest) days between the snapshots that dated the registrations (None: unknown or fewer
    than two): how coarse ``median_days_to_register`` is."""
    projection: Projection
    stragglers: int
    flag_counts: dict[str, int]


def wave_summary(
    versions: pd.DataFrame,
    member_ids: Iterable[str],
    launched_at: datetime | pd.Timestamp,
    as_of: datetime | pd.Timestamp,
    progress: pd.DataFrame,
    *,
    now: datetime | pd.Timestamp | None = None,
    window_days: float = PACE_WINDOW_DAYS,
    snapshot_times: Iterable[datetime | pd.Timestamp] = (),
) -> WaveSummary:
    """The figures of one wave at ``as_of`` (the data's time); ``progress`` is its :func:`user_progress`.

    ``days_since_launch`` counts whole days to ``now`` (default ``as_of``); ``snapshot_times`` (the tenant's
    complete snapshots) say how coarse the median time to register is. The projection's
    ``remaining`` are the members in ``progress`` who are Enabled or Enforced, account enabled,
    with no second factor.
    """
    members = _member_set(member_ids)
    launched, until = _utc(launched_at, "launched_at"), _utc(as_of, "as_of")
    counts = counts_at(versions, members, until)
    median, measured = median_days_to_register(versions, members, launched)
    pace, window = registration_pace(versions, members, launched, until, window_days=window_days)
    active = progress["state"].isin(_ACTIVE) & progress["account_enabled"] & ~progress["registered"]
    if until <= launched:
        projection = Projection(None, None, int(active.sum()), 0.0, 0.0,
                                "no snapshot since the launch yet: refresh the data to follow the wave")
    else:
        projection = projected_completion(int(active.sum()), pace, until, window_days=window)
    clock = until if now is None else _utc(now, "now")
    total = len(members)
    return WaveSummary(
        members=total, present=counts["present"], enabled=counts["enabled"], registered=counts["registered"],
        enforced=counts["enforced"], pct_enabled=percent(counts["enabled"], total),
        pct_registered=percent(counts["registered"], total), pct_enforced=percent(counts["enforced"], total),
        days_since_launch=max(0, int((clock - launched) // _DAY)), median_days_to_register=median,
        registered_after_launch=measured, snapshot_spacing=snapshot_spacing(snapshot_times, launched, until),
        projection=projection, stragglers=int(progress["stuck"].sum()),
        flag_counts={name: int(progress[name].sum()) for name in STUCK_FLAGS},
    )


STRAGGLER_DISPLAY: tuple[str, ...] = (
    "display_name", "upn", "flags", "state", "days_in_state", "since", "last_sign_in", "department", "registered",
    "methods",
)
"""Columns of :func:`progress_display` for the stragglers table (why they are stuck comes first)."""

MEMBER_DISPLAY: tuple[str, ...] = (
    "display_name", "upn", "wave", "state", "registered", "flags", "days_in_state", "since", "last_sign_in",
    "department", "methods",
)
"""Columns of :func:`progress_display` for the members table."""


def progress_display(progress: pd.DataFrame, columns: Sequence[str] = MEMBER_DISPLAY) -> pd.DataFrame:
    """:func:`user_progress` rows as a person reads them: state and method labels, and ``since`` as
    text (``before 2026-01-02`` when the state predates the stored history)."""
    since = progress["state_since"].dt.strftime("%Y-%m-%d").astype("string").fillna("")
    since = since.where(~progress["since_history_start"].astype(bool), "before " + since)
    methods = progress["methods"].astype("string").fillna("").map(
        lambda cell: ", ".join(method_label(m) for m in split_methods(cell)))
    state = progress["state"].astype("string").map(_state_label, na_action="ignore").fillna("Unknown")
    shown = progress.assign(since=since.astype("string"), methods=methods.astype("string"),
                            state=state.astype("string"))
    return shown.loc[:, list(columns)].reset_index(drop=True)


def waves_table(waves: Iterable[tuple[Any, WaveSummary]]) -> pd.DataFrame:
    """Waves side by side, newest launch first: ``(wave, summary)`` pairs (a wave has ``name`` and
    ``launched_at``) → one row each with the headline figures."""
    rows = [{
        "wave": wave.name, "launched": _utc(wave.launched_at, "launched_at"), "members": summary.members,
        "days": summary.days_since_launch, "pct_registered": summary.pct_registered,
        "pct_enforced": summary.pct_enforced, "median_days_to_register": summary.median_days_to_register,
        "projected_completion": summary.projection.at, "stragglers": summary.stragglers,
    } for wave, summary in waves]
    columns = {"wave": "string", "launched": "datetime64[ns, UTC]", "members": "int64", "days": "int64",
               "pct_registered": "float64", "pct_enforced": "float64", "median_days_to_register": "float64",
               "projected_completion": "datetime64[ns, UTC]", "stragglers": "int64"}
    frame = _typed(pd.DataFrame(rows, columns=list(columns)), columns)
    return frame.sort_values("launched", ascending=False, kind="stable", ignore_index=True)


# --- the chart -----------------------------------------------------------------------------------


def funnel_chart(data: pd.DataFrame, *, as_percent: bool = True, title: str = "") -> go.Figure:
    """The funnel over time: Enabled (orange), Enforced (green) and Registered (blue, dashed, on top); the
    legend lists them in funnel order.

    A point per row at its ``as_of`` (a snapshot's time), joined as steps: each snapshot's figure holds until
    the next snapshot, which is all the data knows, rather than a slope suggesting a steady change between."""
    figure = go.Figure(layout={"template": TEMPLATE, "height": 440})
    series = (("enabled", "Enabled or Enforced", STATE_COLOURS["enabled"], "solid", 1),
              ("enforced", STATE_LABELS["enforced"], STATE_COLOURS["enforced"], "solid", 3),
              ("registered", "Registered", REGISTERED_COLOUR, "dash", 2))
    for stage, name, colour, dash, rank in series:  # Registered drawn last, dashed: it often runs on Enforced
        column = f"pct_{stage}" if as_percent else stage
        hover = "%{x|%Y-%m-%d %H:%M}: %{y:.1f}%" if as_percent else "%{x|%Y-%m-%d %H:%M}: %{y:,} members"
        figure.add_scatter(
            x=data["as_of"].tolist(), y=data[column].tolist(), mode="lines+markers", name=name, legendrank=rank,
            line={"color": colour, "width": 3 if dash == "dash" else 4, "dash": dash, "shape": "hv"},
            marker={"color": colour, "size": 6 if dash == "dash" else 7},
            hovertemplate=hover + "<extra>" + name + "</extra>",
        )
    yaxis: dict[str, Any] = ({"title": "Share of the wave", "range": [0, 100], "ticksuffix": "%"} if as_percent
                             else {"title": "Members", "rangemode": "tozero"})
    figure.update_layout(yaxis=yaxis, xaxis={"title": "", "type": "date"}, hovermode="x unified",
                         title={"text": plain(title)} if title else None)
    if data.empty:
        figure.add_annotation(text="No snapshot since the launch yet", showarrow=False, xref="paper", yref="paper",
                              x=0.5, y=0.5, font={"size": 20, "color": SCOPE_COLOUR})
    return figure


# --- the user detail timeline --------------------------------------------------------------------


def method_label(name: str) -> str:
    """A method's name as a manager reads it (Graph's spelling when unknown)."""
    return METHOD_LABELS.get(name, name)


def _state_label(state: Any) -> str:
    if state is None or state is pd.NA or (isinstance(state, float) and np.isnan(state)) or not str(state):
        return "Unknown"
    return STATE_LABELS.get(str(state), str(state))


def _when(at: pd.Timestamp | None) -> str:
    return "—" if at is None or pd.isna(at) else pd.Timestamp(at).strftime("%Y-%m-%d %H:%M")


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _between(after: pd.Timestamp | None, at: pd.Timestamp) -> str:
    if after is None or pd.isna(after):
        return f"by {_when(at)} (first snapshot)"
    return f"between {_when(after)} and {_when(at)}"


def history_timeline(versions: pd.DataFrame, snapshot_times: Iterable[datetime | pd.Timestamp]) -> pd.DataFrame:
    """What one user's stored versions reveal, oldest first (``TIMELINE_COLUMNS``, source ``history``).

    The first version says how the user was first seen; each later one says what changed —
    state, second factors registered or removed, account enabled or disabled, gone or back — and
    that it happened between the snapshot before it (from ``snapshot_times``, the tenant's
    complete snapshots) and its own.
    """
    _check_versions(versions)
    times = np.sort(np.array([_utc(t, "snapshot time").value for t in snapshot_times], dtype=np.int64))
    v = versions.copy()
    v["snapshot_at"] = pd.to_datetime(v["snapshot_at"], utc=True)
    v = v.sort_values("snapshot_at", kind="stable", ignore_index=True)
    rows: list[dict[str, Any]] = []

    def add(at: pd.Timestamp, after: pd.Timestamp | None, event: str, text: str) -> None:
        rows.append({"at": at, "after": after, "source": "history", "event": event, "text": text, "actor": None})

    previous: Any = None
    for version in v.itertuples(index=False):
        at = version.snapshot_at
        index = int(np.searchsorted(times, at.value, side="left")) - 1
        after = pd.Timestamp(int(times[index]), unit="ns", tz="UTC") if index >= 0 else None
        methods = [m for m in split_methods(_text(getattr(version, "methods", "")))]
        factors = [m for m in methods if m not in NOT_SECOND_FACTORS]
        if previous is None:
            listed = ", ".join(method_label(m) for m in factors) or "no second factor"
            account = "" if getattr(version, "account_enabled", True) else ", account disabled"
            where = "in the first snapshot" if after is None else f"first seen {_between(after, at)}"
            add(at, after, "first_seen", f"{_state_label(version.state)}, {listed}{account} ({where})")
            previous = version
            continue
        when = _between(after, at)
        if bool(version.removed) and not bool(previous.removed):
            add(at, after, "removed", f"No longer in the tenant: left {when}")
            previous = version
            continue
        if bool(previous.removed) and not bool(version.removed):
            add(at, after, "returned", f"Back in the tenant {when}")
        before_methods = set(split_methods(_text(getattr(previous, "methods", ""))))
        added = [m for m in methods if m not in before_methods]
        dropped = sorted(before_methods - set(methods))
        added_factors = [m for m in added if m not in NOT_SECOND_FACTORS]
        if added_factors and not bool(previous.registered):
            add(at, after, "registered",
                f"Registered {', '.join(method_label(m) for m in added_factors)} {when}")
        elif added:
            add(at, after, "method_added", f"Added {', '.join(method_label(m) for m in added)} {when}")
        if dropped:
            lost = " (no second factor any more)" if bool(previous.registered) and not bool(version.registered) else ""
            add(at, after, "method_removed", f"Removed {', '.join(method_label(m) for m in dropped)}{lost} {when}")
        if _text(version.state) != _text(previous.state):
            if version.state == "enforced" and previous.state == "enabled" and added_factors:
                text = f"Became Enforced on registering (Entra promotes a registering Enabled user) {when}"
            else:
                text = f"State {_state_label(previous.state)} → {_state_label(version.state)} {when}"
            add(at, after, f"state_{_text(version.state) or 'unknown'}", text)
        if "account_enabled" in v.columns and bool(version.account_enabled) != bool(previous.account_enabled):
            word = "enabled" if bool(version.account_enabled) else "disabled"
            add(at, after, f"account_{word}", f"Account {word} {when}")
        previous = version
    return _timeline(rows)


def journal_timeline(operations: Iterable[Any], events: pd.DataFrame, *, wave_names: Mapping[int, str] | None = None
                     ) -> pd.DataFrame:
    """One user's journaled changes (``TIMELINE_COLUMNS``, source ``journal``).

    ``operations`` are ``lib.rollout.Operation`` records (or objects with ``id``, ``kind``,
    ``requested_state``, ``actor``, ``label``, ``undo_of``); ``events`` the user's journal events
    (``lib.rollout.EVENT_COLUMNS`` plus ``operation_id``); ``wave_names`` maps an operation that
    launched a wave to the wave's name. Only outcomes are listed (applied, failed, skipped,
    cancelled), not the "sending" step. An applied change says the state Graph reported when it was
    read back (the ``observed`` event), and whether that differs from the preview.
    """
    by_id = {int(op.id): op for op in operations}
    waves = dict(wave_names or {})
    rows: list[dict[str, Any]] = []
    if events is None or events.empty:
        return _timeline(rows)
    ordered = events.sort_values("at", kind="stable")
    observed: dict[int, tuple[str, str]] = {}
    for event in ordered.itertuples(index=False):
        if _text(event.event) == "observed":
            observed[int(event.operation_id)] = (_text(event.state), _text(event.detail))
    for event in ordered.itertuples(index=False):
        kind = _text(event.event)
        if kind in ("sending", "observed"):
            continue
        op = by_id.get(int(event.operation_id))
        if op is None:
            continue
        actor = _text(getattr(op, "actor", ""))
        requested = _text(getattr(op, "requested_state", ""))
        wave = waves.get(int(op.id))
        where = f"operation {op.id}" + (f', wave "{wave}"' if wave else "")
        if getattr(op, "kind", "apply") == "undo":
            where += f", undo of operation {op.undo_of}" if getattr(op, "undo_of", None) else ", undo"
        detail = _text(event.detail)
        if kind == "applied":
            text = _applied_text(actor, where, requested, _text(event.state), observed.get(int(op.id)))
        elif kind == "failed":
            text = f"Change by {actor} failed ({where})" + (f": {detail}" if detail else "")
        elif kind == "skipped":
            text = f"Left unchanged by {actor}'s {where}" + (f": {detail}" if detail else "")
        elif kind == "cancelled":
            text = f"Change by {actor} cancelled before it was sent ({where})"
        else:
            text = f"{kind} ({where})"
        rows.append({"at": event.at, "after": None, "source": "journal", "event": kind, "text": text,
                     "actor": actor or None})
    return _timeline(rows)


def _applied_text(actor: str, where: str, requested: str, recorded: str, observed: tuple[str, str] | None) -> str:
    """"MFA Enabled by … (operation 7); Graph reports Enabled" and, when so, how it differs from the preview."""
    asked = requested or recorded or (observed[0] if observed else "")
    text = f"Set to {_state_label(asked)} by {actor} ({where})" if asked else f"Changed by {actor} ({where})"
    text = text.replace("Set to Enabled", "MFA Enabled") if requested == "enabled" else text
    if observed is None:  # journaled before read-backs existed, or not read back (yet)
        return text + ("; the state Graph reports was not read back" if not recorded else "")
    state, detail = observed
    text += f"; Graph reports {_state_label(state)}"
    if asked == "enabled" and state == "enforced":
        text += " (a second factor was already registered, so Entra made it Enforced at once)"
    if detail.startswith("differs"):
        text += f": {detail}"
    return text


def wave_timeline(waves: Iterable[Any]) -> pd.DataFrame:
    """The launches of the imported waves a user belongs to (source ``wave``): an imported wave has
    no journal, so its launch is the record of who enabled its members and when. Objects with
    ``name``, ``source``, ``launched_at``, ``actor`` (``lib.rollout.Wave``)."""
    rows = []
    for wave in waves:
        if getattr(wave, "source", "imported") != "imported":
            continue  # a wave launched from the console is in the journal, with its operation
        actor = _text(getattr(wave, "actor", ""))
        by = f" by {actor}" if actor else ""
        rows.append({"at": wave.launched_at, "after": None, "source": "wave", "event": "wave_launched",
                     "text": f'Wave "{wave.name}" launched{by}: MFA Enabled for its members '
                             "(imported from the tenant's past)", "actor": actor or None})
    return _timeline(rows)


def user_timeline(*parts: pd.DataFrame) -> pd.DataFrame:
    """Timelines merged, oldest first (at equal times: wave, journal, then history)."""
    frames = [p for p in parts if p is not None and not p.empty]
    if not frames:
        return _timeline([])
    merged = pd.concat(frames, ignore_index=True)
    order = merged["source"].map({"wave": 0, "journal": 1, "history": 2}).fillna(3)
    merged = merged.assign(_order=order).sort_values(["at", "_order"], kind="stable").drop(columns="_order")
    return _typed(merged.reset_index(drop=True), TIMELINE_COLUMNS)


TIMELINE_SOURCES: dict[str, str] = {"wave": "Wave", "journal": "Journal", "history": "Snapshots"}


def timeline_display(timeline: pd.DataFrame) -> pd.DataFrame:
    """A timeline as a person reads it: ``When (UTC)``, ``From``, ``What``, ``By`` (text columns)."""
    return pd.DataFrame({
        "When (UTC)": timeline["at"].dt.strftime("%Y-%m-%d %H:%M").astype("string"),
        "From": timeline["source"].map(TIMELINE_SOURCES).fillna(timeline["source"]).astype("string"),
        "What": timeline["text"].astype("string"),
        "By": timeline["actor"].astype("string").fillna(""),
    })


def _timeline(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    return _typed(frame, TIMELINE_COLUMNS)


# --- reminders -----------------------------------------------------------------------------------


def reminder_frame(progress: pd.DataFrame) -> pd.DataFrame:
    """The reminder list: who to chase, with why (``REMINDER_COLUMNS``)."""
    return progress.loc[:, list(REMINDER_COLUMNS)].reset_index(drop=True)


def reminder_csv(progress: pd.DataFrame) -> bytes:
    """:func:`reminder_frame` as CSV (formula cells neutralised, UTF-8 with BOM: ``lib.exports``)."""
    return to_csv_bytes(reminder_frame(progress))


@dataclass(frozen=True)
class Mailto:
    """A reminder e-mail as a ``mailto:`` link, or why there is none."""

    url: str | None
    recipients: int
    length: int
    """The link's length in characters (also when too long)."""
    reason: str
    """Empty when ``url`` is set."""


def reminder_addresses(progress: pd.DataFrame) -> list[str]:
    """Each member's mail address (their UPN when no mail is set), without duplicates, in order."""
    mail = progress["mail"].astype("string").fillna("").str.strip()
    upn = progress["upn"].astype("string").fillna("").str.strip()
    chosen = mail.where(mail != "", upn)
    return list(dict.fromkeys(a for a in chosen.tolist() if a and "@" in a))


def reminder_mailto(addresses: Sequence[str], subject: str, body: str, *, limit: int = MAILTO_LIMIT) -> Mailto:
    """``mailto:?bcc=…&subject=…&body=…`` (RFC 6068, percent-encoded), or None when longer than ``limit``.

    The recipients go in Bcc so they do not see one another. A link longer than ``limit``
    characters is not offered: mail programs and browsers cut long links, often silently.
    """
    clean = list(dict.fromkeys(a.strip() for a in addresses if a and a.strip()))
    if not clean:
        return Mailto(None, 0, 0, "no one to write to: none of these members has an e-mail address")
    bad = [a for a in clean if any(c in a for c in ",;<>\"\r\n ") or "@" not in a]
    if bad:
        clean = [a for a in clean if a not in bad]
        if not clean:
            return Mailto(None, 0, 0, "none of these addresses can go in a mailto: link")
    url = ("mailto:?bcc=" + quote(",".join(clean), safe="@,") + "&subject=" + quote(subject, safe="")
           + "&body=" + quote(body, safe=""))
    if len(url) > limit:
        return Mailto(None, len(clean), len(url),
                      f"{len(clean):,} addresses make a link of {len(url):,} characters; mail programs and "
                      f"browsers cut links longer than about {limit:,}: download the CSV and paste the "
                      "addresses into Bcc instead")
    return Mailto(url, len(clean), len(url), "")


# --- typing --------------------------------------------------------------------------------------


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    out = frame.reindex(columns=list(columns)).copy()
    for name, dtype in columns.items():
        if dtype.startswith("datetime64[ns, UTC]"):
            out[name] = pd.to_datetime(out[name], utc=True).astype(dtype)
        elif dtype == "datetime64[ns]":
            out[name] = pd.to_datetime(out[name]).astype(dtype)
        elif dtype == "bool":
            out[name] = out[name].astype("boolean").fillna(False).astype(bool)
        else:
            out[name] = out[name].astype(dtype)
    return out.reset_index(drop=True)
