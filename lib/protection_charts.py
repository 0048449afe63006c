"""The overview's protection charts: who is protected by which source, and the protected share over time.

Pure, like ``lib.charts``: a small table in, a figure out. The trend is replayed from the stored versions of
each user's ``covered_by`` (a version holds until the user's next one), at each day's last snapshot; days whose
snapshot did not read protection have no value, and the chart leaves them out instead of drawing a zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lib.palette import NO_FACTOR_COLOUR, SCOPE_COLOUR, STATE_COLOURS, TEMPLATE, plain
from lib.protection import PROTECTED
from lib.protection_kpis import NOT_READ, coverage_values

__all__ = ["PROTECTION_CHART_TITLES", "coverage_chart", "protection_trend_chart", "protection_trend_data"]

PROTECTION_CHART_TITLES: dict[str, str] = {
    "coverage": "Protected by",
    "protection_trend": "Effectively protected over time",
}

PROTECTED_COLOUR = STATE_COLOURS["enforced"]
UNPROTECTED_COLOUR = STATE_COLOURS["disabled"]


def _wrap(text: str, width: int = 36) -> str:
    """``text`` broken into lines of at most ``width`` characters at spaces (plotly breaks lines at ``<br>``)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def coverage_chart(data: pd.DataFrame) -> go.Figure:
    """Horizontal bars per source (``lib.protection_kpis.coverage_group_data``), in the table's order; protected
    sources in the Enforced colour, the rest in the Disabled colour, "not read" grey, with the legend saying so.

    Each source's name is written above its bar, not beside the axis: the names are long, and beside the axis
    they would leave no room for the bars at 420 px."""
    figure = go.Figure(layout={"template": TEMPLATE, "height": max(320, 150 + 78 * len(data))})
    labels = [plain(v) for v in data["label"]]
    kinds = np.where(data["group"] == NOT_READ, "not_read", np.where(data["protected"], "protected", "open"))
    for kind, name, colour in (("protected", "Protected on every sign-in", PROTECTED_COLOUR),
                               ("open", "Not protected on every sign-in", UNPROTECTED_COLOUR),
                               ("not_read", "Not read", NO_FACTOR_COLOUR)):
        rows = kinds == kind
        if not rows.any():
            continue
        figure.add_bar(
            y=[lab for lab, keep in zip(labels, rows, strict=True) if keep], x=data.loc[rows, "users"].tolist(),
            orientation="h", name=name, marker_color=colour, cliponaxis=False, textposition="outside",
            text=[f"{u:,} ({p:.1f}%)" for u, p in zip(data.loc[rows, "users"], data.loc[rows, "percent"],
                                                       strict=True)],
            width=0.45, hovertemplate="%{y}: %{x:,} users<extra></extra>",
        )
    for text in labels:
        figure.add_annotation(x=0, xref="x", y=text, yref="y", xanchor="left", yanchor="bottom", yshift=13,
                              text=_wrap(text), showarrow=False, align="left", font={"size": 15, "color": "#1A1A1A"})
    top = int(data["users"].max()) if len(data) else 0
    figure.update_layout(
        xaxis={"tickformat": ",", "nticks": 4, "tickangle": 0, "title": ""},
        xaxis_range=[0, top * 1.6] if top else None,  # room for "1,234 (56.7%)" beside the longest bar at 420 px
        barmode="overlay",
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed", "showticklabels": False},
        legend={"orientation": "h", "yanchor": "top", "y": -0.06, "x": 0.0},
        margin={"l": 10, "r": 10, "t": 20, "b": 20},
    )
    if data.empty:
        figure.add_annotation(text="No users in scope", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                              font={"size": 20, "color": SCOPE_COLOUR})
    return figure


def protection_trend_data(versions: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """The protected share at each day's last snapshot, replayed from the users' stored versions.

    ``versions``: ``id``, ``snapshot_id``, ``removed`` and ``covered_by`` (``Store.versions_for_users``);
    ``days``: ``day`` and ``snapshot_id`` (the store's daily aggregates). Columns: ``day``, ``users``, ``read``
    (users whose snapshot read protection), ``protected`` and ``pct_protected`` (of ``users``; NaN on a day whose
    snapshot read nobody's protection, so it is not drawn as 0 %).
    """
    out_days = pd.to_datetime(days["day"]) if len(days) else pd.Series([], dtype="datetime64[ns]")
    day_ids = days["snapshot_id"].to_numpy(dtype=np.int64) if len(days) else np.array([], dtype=np.int64)
    order = np.argsort(day_ids, kind="stable")
    sorted_ids = day_ids[order]
    n = len(sorted_ids)
    totals = {name: np.zeros(n + 1, dtype=np.int64) for name in ("users", "read", "protected")}
    if len(versions) and n:
        v = versions.sort_values(["id", "snapshot_id"], kind="stable")
        start = v["snapshot_id"].to_numpy(dtype=np.int64)
        following = v.groupby("id", sort=False)["snapshot_id"].shift(-1).to_numpy(dtype=float, na_value=np.nan)
        end = np.where(np.isnan(following), sorted_ids[-1] + 1, np.nan_to_num(following)).astype(np.int64)
        first = np.searchsorted(sorted_ids, start, side="left")
        last = np.searchsorted(sorted_ids, end, side="left")
        present = ~v["removed"].to_numpy(dtype=bool, na_value=False)
        coverage = coverage_values(v)
        read = present & (coverage != NOT_READ).to_numpy(dtype=bool)
        protected = present & coverage.isin([str(c) for c in PROTECTED]).to_numpy(dtype=bool)
        for name, weight in (("users", present), ("read", read), ("protected", protected)):
            np.add.at(totals[name], first, weight.astype(np.int64))
            np.add.at(totals[name], last, -weight.astype(np.int64))
    counts = {name: np.cumsum(totals[name])[:n] for name in totals}
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)  # the days in their own order again
    users, read, protected = (counts[k][back] for k in ("users", "read", "protected"))
    pct = np.where(read > 0, 100.0 * protected / np.maximum(users, 1), np.nan)
    return pd.DataFrame({"day": out_days.reset_index(drop=True), "users": users, "read": read,
                         "protected": protected, "pct_protected": pct.astype(float)})


def protection_trend_chart(data: pd.DataFrame) -> go.Figure:
    """One line of the protected share on a 0–100 % axis; days without protection facts are gaps, not zeros."""
    figure = go.Figure(layout={"template": TEMPLATE, "height": 400})
    known = data.dropna(subset=["pct_protected"])
    figure.add_scatter(
        x=data["day"].tolist(), y=[None if pd.isna(p) else p for p in data["pct_protected"]], mode="lines+markers",
        name="% effectively protected", connectgaps=False, line={"color": PROTECTED_COLOUR, "width": 4},
        marker={"color": PROTECTED_COLOUR, "size": 8}, hovertemplate="%{x|%Y-%m-%d}: %{y:.1f}%<extra></extra>",
    )
    figure.update_layout(
        yaxis={"title": "Share of all users", "range": [0, 100], "ticksuffix": "%"},
        xaxis={"title": "", "type": "date", "tickangle": 0, "nticks": 4, "tickformatstops": [
            {"dtickrange": [None, "M1"], "value": "%b %d"}, {"dtickrange": ["M1", None], "value": "%b"}]},
        showlegend=False, margin={"t": 30},
    )
    if known.empty:
        figure.add_annotation(text="No snapshot has read protection yet", showarrow=False, xref="paper",
                              yref="paper", x=0.5, y=0.5, font={"size": 20, "color": SCOPE_COLOUR})
    return figure
