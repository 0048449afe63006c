"""The overview's headline numbers from a (scoped) users frame, and their change over a week.

Every number is computed from the frame it is given: pass ``apply_scope(users, scope)`` and the
tiles agree with the users page for the same scope. Percentages are floats from 0.0 to 100.0,
never rounded here (the page and the report format them); a frame with no rows gives zeros.

The weekly change compares like with like: either two users frames scoped the same way (exact
for the scope), or two rows of the store's daily aggregates (which always count *all* users of a
snapshot — see ``lib.store.aggregates`` — so ``KpiChange.basis`` says ``"all users"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from lib.columns import STATES, UNKNOWN_STATE

__all__ = [
    "AGGREGATE_ALIASES",
    "KpiChange",
    "KpiTile",
    "Kpis",
    "aggregate_counts",
    "compute_kpis",
    "kpi_tiles",
    "normalise_aggregates",
    "previous_week_row",
]

AGGREGATE_ALIASES: dict[str, str] = {
    "disabled": "state_disabled",
    "enabled": "state_enabled",
    "enforced": "state_enforced",
    "unknown": "state_unknown",
}
"""Short count names some callers use → the store's column names (``lib.store.schema``)."""


def percent(part: int | float, whole: int | float) -> float:
    """``100 * part / whole``, and 0.0 when ``whole`` is 0 (an empty scope is 0 %, not an error)."""
    return 100.0 * float(part) / float(whole) if whole else 0.0


@dataclass(frozen=True)
class KpiChange:
    """Current minus previous, for the tiles' "since last week" line.

    Counts are differences in users; ``pct_*`` are differences in percentage points.
    ``since`` is the baseline's day (aggregates) or read time (users frame), when known.
    ``basis`` is ``"scope"`` (two scoped users frames) or ``"all users"`` (daily aggregates).
    """

    since: pd.Timestamp | None
    basis: str
    users: int
    pct_registered: float
    pct_capable: float
    disabled: int
    enabled: int
    enforced: int
    unknown: int
    guests: int
    admins_unregistered: int


@dataclass(frozen=True)
class Kpis:
    """The overview's tiles for one users frame.

    - ``users``: rows of the frame (users in scope).
    - ``registered`` / ``capable``: users with ``registered`` / ``capable`` True.
    - ``pct_registered`` = 100 × registered / users; ``pct_capable`` = 100 × capable / users
      (0.0 when users is 0).
    - ``disabled`` / ``enabled`` / ``enforced``: users in that per-user MFA state; ``unknown``:
      every other user (state unread, missing, or a value Graph added later). The four add up to
      ``users``.
    - ``admins``: users with ``is_admin``; ``admins_unregistered``: admins whose ``registered`` is
      False, with their ids and UPNs (frame order) for the link to the users page.
    - ``guests``: users with ``is_guest``.
    - ``change``: since about a week ago, or None when there is no history that old.
    """

    users: int
    registered: int
    capable: int
    pct_registered: float
    pct_capable: float
    disabled: int
    enabled: int
    enforced: int
    unknown: int
    admins: int
    admins_unregistered: int
    admins_unregistered_ids: tuple[str, ...]
    admins_unregistered_upns: tuple[str, ...]
    guests: int
    change: KpiChange | None = None


def _frame_counts(frame: pd.DataFrame) -> dict[str, int]:
    state = frame["state"]
    counts = {
        "users": len(frame),
        "registered": int(frame["registered"].sum()),
        "capable": int(frame["capable"].sum()),
        "guests": int(frame["is_guest"].sum()),
        "admins": int(frame["is_admin"].sum()),
        "admins_unregistered": int((frame["is_admin"] & ~frame["registered"]).sum()),
    }
    known = 0
    for name in STATES:
        count = int((state == name).fillna(False).sum())
        counts[name] = count
        known += count
    counts[UNKNOWN_STATE] = len(frame) - known
    return counts


def normalise_aggregates(aggregates: pd.DataFrame) -> pd.DataFrame:
    """Daily aggregates with the store's column names, ``day`` as a zone-less midnight, one row per
    day (the last one wins), sorted by day. Accepts ``disabled``/``enabled``/… as aliases.

    Raises ValueError when there is no ``day`` column.
    """
    if "day" not in aggregates.columns:
        raise ValueError("daily aggregates need a 'day' column")
    out = aggregates.rename(columns={k: v for k, v in AGGREGATE_ALIASES.items()
                                     if k in aggregates.columns and v not in aggregates.columns})
    raw = out["day"]
    textual = pd.api.types.is_string_dtype(raw.dtype) or raw.dtype == object
    # utc=True: zone-less days are taken as UTC days (the store's), zone-aware ones converted to UTC.
    day = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed" if textual else None)
    day = day.dt.tz_localize(None)
    out = out.assign(day=day.dt.normalize()).dropna(subset=["day"])
    out = out.sort_values("day", kind="stable").drop_duplicates("day", keep="last")
    return out.reset_index(drop=True)


def previous_week_row(aggregates: pd.DataFrame, *, days: int = 7, max_gap_days: int = 7) -> pd.Series | None:
    """The aggregates row to compare the latest one with: the last day on or before
    ``latest - days``, as long as it is no more than ``max_gap_days`` older than that.

    Missing days are fine (the nearest earlier day is taken); None when the history is shorter
    than ``days`` or has a hole wider than ``max_gap_days`` there. The row keeps ``snapshot_id``
    when the store gave one, so a caller can load that snapshot's users for an exact scoped change.
    """
    if days < 1 or max_gap_days < 0:
        raise ValueError("days must be >= 1 and max_gap_days >= 0")
    daily = normalise_aggregates(aggregates)
    if daily.empty:
        return None
    target = daily["day"].iloc[-1] - timedelta(days=days)
    earlier = daily[(daily["day"] <= target) & (daily["day"] >= target - timedelta(days=max_gap_days))]
    return None if earlier.empty else earlier.iloc[-1]


def aggregate_counts(row: pd.Series | Mapping) -> dict[str, int]:
    """One aggregates row as the counts ``compute_kpis`` compares (missing counts are 0)."""
    def count(*names: str) -> int:
        for name in names:
            value = row.get(name)
            if value is not None and not pd.isna(value):
                return int(value)
        return 0

    return {
        "users": count("users"),
        "registered": count("registered"),
        "capable": count("capable"),
        "guests": count("guests"),
        "admins": count("admins"),
        "admins_unregistered": count("admins_unregistered"),
        **{name: count(f"state_{name}", name) for name in (*STATES, UNKNOWN_STATE)},
    }


def _change(now: dict[str, int], before: dict[str, int], since: pd.Timestamp | None, basis: str) -> KpiChange:
    return KpiChange(
        since=since,
        basis=basis,
        users=now["users"] - before["users"],
        pct_registered=percent(now["registered"], now["users"]) - percent(before["registered"], before["users"]),
        pct_capable=percent(now["capable"], now["users"]) - percent(before["capable"], before["users"]),
        disabled=now["disabled"] - before["disabled"],
        enabled=now["enabled"] - before["enabled"],
        enforced=now["enforced"] - before["enforced"],
        unknown=now[UNKNOWN_STATE] - before[UNKNOWN_STATE],
        guests=now["guests"] - before["guests"],
        admins_unregistered=now["admins_unregistered"] - before["admins_unregistered"],
    )


def compute_kpis(frame: pd.DataFrame, previous: pd.DataFrame | None = None) -> Kpis:
    """The tiles for ``frame`` (a users frame, already scoped) and, optionally, the weekly change.

    ``previous`` is one of:

    - None: ``change`` is None.
    - the store's daily aggregates (a frame with a ``day`` column): ``change`` is the latest row
      minus ``previous_week_row`` (basis ``"all users"``); None when there is no such row.
    - a users frame from about a week ago, scoped like ``frame``: ``change`` is ``frame`` minus
      it (basis ``"scope"``), ``since`` its latest ``users_read_at``.
    """
    counts = _frame_counts(frame)
    admins = frame.loc[(frame["is_admin"] & ~frame["registered"]).to_numpy(), ["id", "upn"]]
    change = None
    if previous is not None:
        if "day" in previous.columns:
            daily = normalise_aggregates(previous)
            baseline = previous_week_row(daily)
            if baseline is not None:
                change = _change(aggregate_counts(daily.iloc[-1]), aggregate_counts(baseline),
                                 pd.Timestamp(baseline["day"]), "all users")
        else:
            since = None
            if "users_read_at" in previous.columns and len(previous):
                read_at = previous["users_read_at"].max()
                since = None if pd.isna(read_at) else pd.Timestamp(read_at)
            change = _change(counts, _frame_counts(previous), since, "scope")
    return Kpis(
        users=counts["users"],
        registered=counts["registered"],
        capable=counts["capable"],
        pct_registered=percent(counts["registered"], counts["users"]),
        pct_capable=percent(counts["capable"], counts["users"]),
        disabled=counts["disabled"],
        enabled=counts["enabled"],
        enforced=counts["enforced"],
        unknown=counts[UNKNOWN_STATE],
        admins=counts["admins"],
        admins_unregistered=counts["admins_unregistered"],
        admins_unregistered_ids=tuple(str(v) for v in admins["id"].dropna()),
        admins_unregistered_upns=tuple(str(v) for v in admins["upn"].dropna()),
        guests=counts["guests"],
        change=change,
    )


@dataclass(frozen=True)
class KpiTile:
    """One tile as the page and the HTML report show it (already formatted text)."""

    key: str
    label: str
    value: str
    delta: str | None = None
    highlight: bool = False
    """True for a number that needs attention (admins without a registered method, when > 0)."""
    basis: str = ""
    """What a percentage is a share of, in words ("of 2,780 users in scope"); '' for counts."""


def format_count(value: int) -> str:
    """``12345`` → ``'12,345'``."""
    return f"{value:,}"


def format_percent(value: float) -> str:
    """``87.456`` → ``'87.5%'``."""
    return f"{value:.1f}%"


def _signed(value: float, unit: str = "", digits: int = 0) -> str:
    text = f"{abs(value):,.{digits}f}"
    if text.strip("0.,") == "":
        return f"±0{unit}"
    return f"{'+' if value > 0 else '-'}{text}{unit}"


def kpi_tiles(kpis: Kpis) -> list[KpiTile]:
    """The overview's tiles in display order, with "since last week" deltas when there is history."""
    c = kpis.change

    def delta(name: str, unit: str = "", digits: int = 0) -> str | None:
        return None if c is None else _signed(getattr(c, name), unit, digits)

    basis = f"of {kpis.users:,} users in scope"

    return [
        KpiTile("users", "Users in scope", format_count(kpis.users), delta("users")),
        KpiTile("pct_registered", "Registered for MFA", format_percent(kpis.pct_registered),
                delta("pct_registered", " pp", 1), basis=f"{kpis.registered:,} {basis}"),
        KpiTile("pct_capable", "MFA capable", format_percent(kpis.pct_capable), delta("pct_capable", " pp", 1),
                basis=f"{kpis.capable:,} {basis}"),
        KpiTile("disabled", "Disabled", format_count(kpis.disabled), delta("disabled")),
        KpiTile("enabled", "Enabled", format_count(kpis.enabled), delta("enabled")),
        KpiTile("enforced", "Enforced", format_count(kpis.enforced), delta("enforced")),
        KpiTile("unknown", "State unknown", format_count(kpis.unknown), delta("unknown")),
        KpiTile("admins_unregistered", "Admins without a registered method", format_count(kpis.admins_unregistered),
                delta("admins_unregistered"), highlight=kpis.admins_unregistered > 0),
        KpiTile("guests", "Guests", format_count(kpis.guests), delta("guests")),
    ]
