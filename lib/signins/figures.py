"""The overview's sign-in figures: single-factor sign-ins over 30 days and their trend, the share with MFA,
and who still signs in with legacy clients. Pure: evidence and the users counted in, numbers and words out.

Every figure covers the 30 calendar days (UTC) ending on the day the sign-in log was last read
(:func:`lib.signins.columns.window_start`), the window the Users page's evidence columns and filters use,
so a tile's count is exactly the rows its filter lists. Counted from each user's daily counts, so the
figures follow the overview's scope (the tenant-wide ``single_factor_by_day`` holds the same totals).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from lib.columns import UTC_TIMESTAMP
from lib.palette import STATE_COLOURS, TEMPLATE
from lib.signins.columns import midnight, window_start
from lib.signins.evidence import RETENTION_DAYS, TenantEvidence

__all__ = ["SignInFigures", "sign_in_figures", "single_factor_chart", "trend_words"]

WEEK = 7


@dataclass(frozen=True)
class SignInFigures:
    """What the overview's "Sign-ins, last 30 days" section shows."""

    single_factor: int
    """Successful sign-ins with one factor in the 30 days."""
    daily: pd.DataFrame
    """``day`` (datetime64, UTC midnight) and ``single_factor`` (int64) for each of the 30 days, none missing."""
    last_week: int
    """Single-factor sign-ins in the 7 full days before the read's day (that day is cut short by the read)."""
    week_before: int
    """The same over the 7 days before those."""
    sign_ins: int
    """Successful sign-ins in the 30 days."""
    judged: int
    """Of those, the ones whose requirement the log states (the base of ``mfa_share``)."""
    mfa: int
    legacy_user_ids: tuple[str, ...]
    """Users with a legacy-client attempt in the 30 days, sorted."""
    legacy_by_client: dict[str, int]
    """Legacy client → users who used it in the 30 days, most users first (then by name)."""

    @property
    def mfa_share(self) -> float | None:
        return self.mfa / self.judged if self.judged else None

    @property
    def legacy_users(self) -> int:
        return len(self.legacy_user_ids)

    @property
    def trend(self) -> str:
        return trend_words(self.last_week, self.week_before)


def trend_words(last_week: int, week_before: int) -> str:
    """A week against the one before, as a person says it ("down 23% on the week before")."""
    if week_before == 0:
        return "none in either of the last two weeks" if last_week == 0 else "up from none the week before"
    change = round(100 * (last_week - week_before) / week_before)
    if change == 0:
        return "about the same as the week before"
    return f"{'up' if change > 0 else 'down'} {abs(change)}% on the week before"


def sign_in_figures(evidence: TenantEvidence, as_of: datetime, user_ids: Iterable[str] | None = None
                    ) -> SignInFigures:
    """The figures over ``user_ids`` (None: every user in the evidence), for the 30 days up to ``as_of``."""
    first = window_start(as_of)
    since = midnight(first)
    days = [first + timedelta(days=n) for n in range(RETENTION_DAYS)]
    per_day = dict.fromkeys(days, 0)
    users = evidence.users
    ids = users.keys() if user_ids is None else user_ids
    total = judged = mfa = 0
    legacy: list[str] = []
    by_client: dict[str, int] = {}
    for user_id in ids:
        user = users.get(user_id)
        if user is None:
            continue
        for day, c in user.days.items():
            if day in per_day:
                single = c.total - c.mfa - c.unknown
                per_day[day] += single
                total += c.total
                judged += c.total - c.unknown
                mfa += c.mfa
        recent = [client for client, at in user.legacy_clients.items() if at >= since]
        if recent:
            legacy.append(user_id)
            for client in recent:
                by_client[client] = by_client.get(client, 0) + 1
    counts = [per_day[d] for d in days]
    daily = pd.DataFrame({"day": pd.to_datetime(days).tz_localize("UTC").astype(UTC_TIMESTAMP),
                          "single_factor": counts})
    daily["single_factor"] = daily["single_factor"].astype("int64")
    return SignInFigures(
        single_factor=sum(counts), daily=daily, last_week=sum(counts[-WEEK - 1:-1]),
        week_before=sum(counts[-2 * WEEK - 1:-WEEK - 1]), sign_ins=total, judged=judged, mfa=mfa,
        legacy_user_ids=tuple(sorted(legacy)),
        legacy_by_client=dict(sorted(by_client.items(), key=lambda kv: (-kv[1], kv[0].casefold()))))


SINGLE_FACTOR_COLOUR = STATE_COLOURS["disabled"]
"""Single-factor sign-ins are the risk the rollout removes: the Disabled colour."""


def single_factor_chart(daily: pd.DataFrame) -> go.Figure:
    """Bars of single-factor sign-ins per day (``SignInFigures.daily``), days without any drawn as 0."""
    figure = go.Figure(layout={"template": TEMPLATE, "height": 320})
    figure.add_bar(x=daily["day"], y=daily["single_factor"], marker_color=SINGLE_FACTOR_COLOUR,
                   name="Single-factor sign-ins", hovertemplate="%{x|%-d %b}: %{y:,} single-factor sign-ins"
                                                                "<extra></extra>")
    figure.update_layout(showlegend=False, margin={"l": 56, "r": 16, "t": 16, "b": 48}, bargap=0.2)
    figure.update_xaxes(tickformat="%-d %b", dtick=7 * 86_400_000, tick0=daily["day"].iloc[0] if len(daily) else None)
    figure.update_yaxes(title_text="Sign-ins", rangemode="tozero", tickformat=",d")
    return figure
