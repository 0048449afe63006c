"""The overview's charts: a users frame (or daily aggregates) in, a small table and a figure out.

Each chart is two pure functions: ``*_data`` reduces the users frame to the few rows the chart
draws (that table is also what the "figures behind every chart" CSV exports), and ``*_chart``
turns that table into a ``plotly.graph_objects.Figure``. Only those small tables reach a figure,
so a 100k-user tenant becomes a few kilobytes of chart, never its raw rows.

Colours, labels and the template come from ``lib.palette``: a state has one colour everywhere.
Text that came from the tenant (department, country and wave names) is escaped before it reaches
a figure, because plotly renders a subset of HTML in labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lib.columns import PHISHING_RESISTANT_METHODS, split_methods
from lib.countries import country_names
from lib.directory.rows import NOT_SECOND_FACTORS
from lib.kpis import normalise_aggregates, percent
from lib.palette import (
    NO_FACTOR_COLOUR,
    PHISHABLE_COLOUR,
    PHISHING_RESISTANT_COLOUR,
    REGISTERED_COLOUR,
    SCOPE_COLOUR,
    STATE_COLOURS,
    STATE_LABELS,
    STATE_ORDER,
    TEMPLATE,
    plain,
)

__all__ = [
    "BREAKDOWNS",
    "CHART_TITLES",
    "FUNNEL_STAGES",
    "METHOD_LABELS",
    "NOT_SET",
    "OTHER",
    "STRENGTHS",
    "adoption_trend_chart",
    "adoption_trend_data",
    "breakdown_chart",
    "breakdown_data",
    "method_strength_chart",
    "method_strength_data",
    "methods_chart",
    "methods_data",
    "overview_data",
    "overview_figures",
    "rollout_funnel_chart",
    "rollout_funnel_data",
    "state_distribution_chart",
    "state_distribution_data",
    "wave_label_groups",
    "wave_labels",
    "waves_data",
]

OTHER = "Other"
"""The group that collects everything outside a breakdown's top N."""
NOT_SET = "(not set)"
"""The group of users whose department or country is empty."""

BREAKDOWNS: dict[str, str] = {"department": "Department", "country": "Country", "user_type": "User type"}
"""Breakdown keys → axis titles. ``user_type`` is Member or Guest (from ``is_guest``)."""

FUNNEL_STAGES: dict[str, str] = {
    "in_scope": "Users in scope",
    "enabled_or_enforced": "Enabled or Enforced",
    "registered": "Registered",
    "enforced": "Enforced",
}

STRENGTHS: dict[str, str] = {
    "phishing_resistant": "Phishing-resistant",
    "phishable": "Phishable",
    "none": "None",
}
_STRENGTH_COLOURS = {"phishing_resistant": PHISHING_RESISTANT_COLOUR, "phishable": PHISHABLE_COLOUR,
                     "none": NO_FACTOR_COLOUR}

METHOD_LABELS: dict[str, str] = {
    "microsoftAuthenticatorPush": "Microsoft Authenticator (push)",
    "microsoftAuthenticatorPasswordless": "Microsoft Authenticator (passwordless)",
    "softwareOneTimePasscode": "Authenticator app code (OTP)",
    "hardwareOneTimePasscode": "Hardware token (OTP)",
    "mobilePhone": "Mobile phone (SMS/voice)",
    "alternateMobilePhone": "Alternate mobile phone",
    "officePhone": "Office phone",
    "fido2": "FIDO2 security key",
    "passKeyDeviceBound": "Passkey (device-bound)",
    "passKeySynced": "Passkey (synced)",
    "windowsHelloForBusiness": "Windows Hello for Business",
    "macOsSecureEnclaveKey": "macOS Platform Credential",
    "microsoftAuthenticatorPasswordlessPhoneSignIn": "Microsoft Authenticator (phone sign-in)",
    "temporaryAccessPass": "Temporary Access Pass",
    "email": "Email (password reset only)",
    "securityQuestion": "Security questions",
}
"""Graph's method names (userRegistrationDetails spelling) → what a manager reads."""

CHART_TITLES: dict[str, str] = {
    "state_distribution": "Per-user MFA state",
    "rollout_funnel": "Rollout funnel",
    "methods": "Methods registered",
    "method_strength": "Phishing-resistant vs phishable",
    "by_department": "By department",
    "by_country": "By country",
    "by_user_type": "Members and guests",
    "adoption_trend": "Adoption over time",
    "waves": "Rollout waves",
}
"""The overview's tables/figures by key, in display order, with their headings."""


# --- helpers -----------------------------------------------------------------------------------


def _state_codes(frame: pd.DataFrame) -> np.ndarray:
    """Each user's index in ``STATE_ORDER``; anything not a known state is Unknown (the last)."""
    codes, uniques = pd.factorize(frame["state"])  # a handful of distinct values: map those, not rows
    unknown = len(STATE_ORDER) - 1
    lookup = np.array([STATE_ORDER.index(v) if v in STATE_ORDER else unknown for v in uniques] + [unknown],
                      dtype=np.int64)
    return lookup[codes]  # NA has code -1, which picks the trailing Unknown


def _figure(height: int = 440) -> go.Figure:
    return go.Figure(layout={"template": TEMPLATE, "height": height})


def _headroom(values: Iterable[int], share: float) -> list[float] | None:
    """An axis range with room for the labels beside the longest bar: at 420 px wide a label drawn past the
    plot area is cut ("1,82"), so the axis reaches ``share`` beyond the largest value."""
    top = max((int(v) for v in values), default=0)
    return [0, top * (1 + share)] if top > 0 else None


def _note_if_empty(figure: go.Figure, empty: bool, text: str) -> go.Figure:
    if empty:
        figure.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                              font={"size": 20, "color": SCOPE_COLOUR})
    return figure


def _count_text(users: Iterable[int], pct: Iterable[float]) -> list[str]:
    return [f"{u:,} ({p:.1f}%)" for u, p in zip(users, pct, strict=True)]


def _method_combos(frame: pd.DataFrame) -> pd.Series:
    """How many users hold each distinct ``methods`` cell: a few hundred combinations at most,
    so per-method work loops over combinations, never over users."""
    return frame["methods"].fillna("").value_counts(sort=False)


def _strength(methods: list[str]) -> str:
    if any(m in PHISHING_RESISTANT_METHODS for m in methods):
        return "phishing_resistant"
    if any(m not in NOT_SECOND_FACTORS for m in methods):
        return "phishable"
    return "none"


# --- state distribution --------------------------------------------------------------------------


def state_distribution_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Users per per-user MFA state: always four rows (Disabled, Enabled, Enforced, Unknown).

    Columns ``state``, ``label``, ``users``, ``percent`` (of all rows of ``frame``).
    """
    counts = np.bincount(_state_codes(frame), minlength=len(STATE_ORDER))
    total = int(counts.sum())
    return pd.DataFrame({
        "state": list(STATE_ORDER),
        "label": [STATE_LABELS[s] for s in STATE_ORDER],
        "users": counts.astype(np.int64),
        "percent": [percent(c, total) for c in counts],
    })


def state_distribution_chart(data: pd.DataFrame) -> go.Figure:
    """One bar per state (one trace each, coloured by state)."""
    figure = _figure()
    for row in data.itertuples(index=False):
        figure.add_bar(
            x=[row.label], y=[row.users], name=row.label, marker_color=STATE_COLOURS[row.state],
            text=[f"{row.users:,}<br>{row.percent:.1f}%"], textposition="outside", cliponaxis=False,
            constraintext="none", hovertemplate="%{x}: %{y:,} users<extra></extra>",
        )
    figure.update_layout(showlegend=False, yaxis_title="Users", yaxis_rangemode="tozero", yaxis_tickformat=",",
                         yaxis_range=_headroom(data["users"], 0.25))
    return _note_if_empty(figure, int(data["users"].sum()) == 0, "No users in scope")


# --- rollout funnel ------------------------------------------------------------------------------


def rollout_funnel_data(frame: pd.DataFrame) -> pd.DataFrame:
    """The rollout funnel, four stages:

    1. ``in_scope``: every user of ``frame``;
    2. ``enabled_or_enforced``: state Enabled or Enforced;
    3. ``registered``: of stage 2, those with ``registered`` True;
    4. ``enforced``: state Enforced (registered or not — an Enforced user without a method is
       made to register at next sign-in, so this stage can exceed stage 3).

    Columns ``stage``, ``label``, ``users``, ``percent`` (of stage 1).
    """
    codes = _state_codes(frame)
    enabled = codes == STATE_ORDER.index("enabled")
    enforced = codes == STATE_ORDER.index("enforced")
    active = enabled | enforced
    registered = frame["registered"].to_numpy(dtype=bool, na_value=False)
    users = [len(frame), int(active.sum()), int((active & registered).sum()), int(enforced.sum())]
    return pd.DataFrame({
        "stage": list(FUNNEL_STAGES),
        "label": list(FUNNEL_STAGES.values()),
        "users": np.array(users, dtype=np.int64),
        "percent": [percent(u, users[0]) for u in users],
    })


_FUNNEL_COLOURS = {"in_scope": SCOPE_COLOUR, "enabled_or_enforced": STATE_COLOURS["enabled"],
                   "registered": REGISTERED_COLOUR, "enforced": STATE_COLOURS["enforced"]}


def rollout_funnel_chart(data: pd.DataFrame) -> go.Figure:
    """A plotly funnel (one trace); Enabled and Enforced stages take their state's colour."""
    figure = _figure()
    figure.add_trace(go.Funnel(
        name="Rollout funnel", y=list(data["label"]), x=list(data["users"]),
        text=_count_text(data["users"], data["percent"]), textinfo="text", textfont={"size": 16},
        textposition="inside", constraintext="both",  # shrinks to fit its stage, never cut at a narrow width
        marker={"color": [_FUNNEL_COLOURS[s] for s in data["stage"]]},
        connector={"fillcolor": "#EEEEEE", "line": {"color": "#DDDDDD"}},
        hovertemplate="%{y}: %{x:,} users<extra></extra>",
    ))
    figure.update_layout(showlegend=False)
    return _note_if_empty(figure, int(data["users"].iloc[0]) == 0, "No users in scope")


# --- methods -------------------------------------------------------------------------------------


def methods_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Users per registered method (a user with three methods counts once under each).

    Columns ``method`` (Graph's name), ``label``, ``users``, ``percent`` (of all rows of ``frame``),
    ``second_factor`` (False for email, security questions, TAP, password), ``phishing_resistant``
    (``lib.columns.PHISHING_RESISTANT_METHODS``); most users first, then by name.
    """
    per_method: dict[str, int] = {}
    for combo, users in _method_combos(frame).items():
        for method in split_methods(combo):
            per_method[method] = per_method.get(method, 0) + int(users)
    rows = sorted(per_method.items(), key=lambda item: (-item[1], item[0]))
    total = len(frame)
    return pd.DataFrame({
        "method": pd.Series([m for m, _ in rows], dtype="string"),
        "label": pd.Series([METHOD_LABELS.get(m, m) for m, _ in rows], dtype="string"),
        "users": pd.Series([u for _, u in rows], dtype=np.int64),
        "percent": pd.Series([percent(u, total) for _, u in rows], dtype=float),
        "second_factor": pd.Series([m not in NOT_SECOND_FACTORS for m, _ in rows], dtype=bool),
        "phishing_resistant": pd.Series([m in PHISHING_RESISTANT_METHODS for m, _ in rows], dtype=bool),
    })


def _method_category(data: pd.DataFrame) -> pd.Series:
    weak = np.where(data["second_factor"], "phishable", "none")
    return pd.Series(np.where(data["phishing_resistant"], "phishing_resistant", weak), index=data.index)


def methods_chart(data: pd.DataFrame) -> go.Figure:
    """Horizontal bars, most used method on top; one trace per strength (phishing-resistant,
    phishable, not a second factor), so the legend explains the colours."""
    figure = _figure(height=max(320, 120 + 44 * len(data)))
    labels = [plain(label) for label in data["label"]]
    category = _method_category(data)
    names = {"phishing_resistant": "Phishing-resistant", "phishable": "Phishable",
             "none": "Not a second factor"}
    for key, name in names.items():
        rows = (category == key).to_numpy()
        figure.add_bar(
            y=[lab for lab, keep in zip(labels, rows, strict=True) if keep], x=data.loc[rows, "users"].tolist(),
            orientation="h", name=name, marker_color=_STRENGTH_COLOURS[key],
            text=_count_text(data.loc[rows, "users"], data.loc[rows, "percent"]), textposition="outside",
            cliponaxis=False, hovertemplate="%{y}: %{x:,} users<extra></extra>",
        )
    figure.update_layout(
        xaxis_title="Users", xaxis_tickformat=",", barmode="overlay", xaxis_range=_headroom(data["users"], 0.6),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
    )
    return _note_if_empty(figure, data.empty, "No methods registered")


def method_strength_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Users by their strongest registered method, three rows:

    - ``phishing_resistant``: at least one method in ``PHISHING_RESISTANT_METHODS``;
    - ``phishable``: a second factor, none of them phishing-resistant;
    - ``none``: no second factor (no method, or only email / security questions / TAP).

    Columns ``strength``, ``label``, ``users``, ``percent`` (of all rows of ``frame``).
    """
    users = dict.fromkeys(STRENGTHS, 0)
    for combo, count in _method_combos(frame).items():
        users[_strength(split_methods(combo))] += int(count)
    total = len(frame)
    return pd.DataFrame({
        "strength": list(STRENGTHS),
        "label": list(STRENGTHS.values()),
        "users": np.array([users[k] for k in STRENGTHS], dtype=np.int64),
        "percent": [percent(users[k], total) for k in STRENGTHS],
    })


def method_strength_chart(data: pd.DataFrame) -> go.Figure:
    """One bar per strength (a trace each)."""
    figure = _figure()
    for row in data.itertuples(index=False):
        figure.add_bar(
            x=[row.label], y=[row.users], name=row.label, marker_color=_STRENGTH_COLOURS[row.strength],
            text=[f"{row.users:,}<br>{row.percent:.1f}%"], textposition="outside", cliponaxis=False,
            constraintext="none", hovertemplate="%{x}: %{y:,} users<extra></extra>",
        )
    figure.update_layout(showlegend=False, yaxis_title="Users", yaxis_rangemode="tozero", yaxis_tickformat=",",
                         yaxis_range=_headroom(data["users"], 0.25))
    return _note_if_empty(figure, int(data["users"].sum()) == 0, "No users in scope")


# --- breakdowns ----------------------------------------------------------------------------------


def _group_key(frame: pd.DataFrame, by: str) -> pd.Series:
    if by == "user_type":
        guest = frame["is_guest"].to_numpy(dtype=bool, na_value=False)
        return pd.Series(np.where(guest, "Guest", "Member"), index=frame.index, dtype="string")
    key = frame[by].astype("string").str.strip()
    if by == "country":
        key = country_names(key)  # a usageLocation code ("SE") counts with the country's name ("Sweden")
    return key.mask(key.isna() | (key == ""), NOT_SET)


def breakdown_data(frame: pd.DataFrame, by: str, top_n: int = 10) -> pd.DataFrame:
    """Users per group of ``by`` (``department``, ``country`` or ``user_type``), the ``top_n``
    largest groups (ties by name) and, when there are more, one ``Other`` row with the rest.

    Empty or missing values form the ``(not set)`` group. Columns: ``group``, ``users``,
    ``registered``, ``pct_registered`` (100 × registered / users of the group), one count per
    state (``disabled``, ``enabled``, ``enforced``, ``unknown``, adding up to ``users``),
    ``groups`` (how many distinct values the row stands for) and ``is_other``.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}; expected one of {', '.join(BREAKDOWNS)}")
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer, got {top_n!r}")
    codes, names = pd.factorize(_group_key(frame, by), sort=True)
    sizes = np.bincount(codes, minlength=len(names))
    order = np.lexsort((np.arange(len(names)), -sizes))  # biggest first; names are sorted, so ties by name
    top = order[:top_n]
    rank = np.full(len(names), len(top), dtype=np.int64)
    rank[top] = np.arange(len(top))
    has_other = len(names) > len(top)
    n_rows = len(top) + int(has_other)
    row = rank[codes]
    n_states = len(STATE_ORDER)
    state_counts = np.bincount(row * n_states + _state_codes(frame), minlength=n_rows * n_states)
    state_counts = state_counts.reshape(n_rows, n_states)
    registered = np.bincount(row, weights=frame["registered"].to_numpy(dtype=float, na_value=0.0),
                             minlength=n_rows).astype(np.int64)
    users = state_counts.sum(axis=1)
    group_names = [str(names[i]) for i in top]
    if has_other:
        group_names.append(OTHER if OTHER not in group_names else f"{OTHER} (remaining)")
    data = pd.DataFrame({
        "group": pd.Series(group_names, dtype="string"),
        "users": users.astype(np.int64),
        "registered": registered,
        "pct_registered": [percent(r, u) for r, u in zip(registered, users, strict=True)],
    })
    for i, state in enumerate(STATE_ORDER):
        data[state] = state_counts[:, i].astype(np.int64)
    data["groups"] = np.array([1] * len(top) + ([len(names) - len(top)] if has_other else []), dtype=np.int64)
    data["is_other"] = np.array([False] * len(top) + ([True] if has_other else []), dtype=bool)
    return data


def breakdown_chart(data: pd.DataFrame, by: str = "department") -> go.Figure:
    """100 %-stacked horizontal bars of the state mix per group (one trace per state) and, in a narrow panel
    of its own to their right, a diamond with its label at each group's % registered (one more trace), so a
    marker never covers a segment's label; the largest group on top."""
    labels = [f"{plain(g)} ({u:,})" for g, u in zip(data["group"], data["users"], strict=True)]
    figure = _figure(height=max(320, 140 + 46 * len(data)))
    users = data["users"].to_numpy(dtype=float)
    for state in STATE_ORDER:
        counts = data[state].to_numpy(dtype=float)
        share = np.divide(100.0 * counts, users, out=np.zeros_like(counts), where=users > 0)
        figure.add_bar(
            y=labels, x=share, orientation="h", name=STATE_LABELS[state], marker_color=STATE_COLOURS[state],
            customdata=data[state].to_numpy(), texttemplate="%{x:.0f}%", textposition="inside", textangle=0,
            insidetextanchor="middle",
            hovertemplate="%{y}<br>" + STATE_LABELS[state] + ": %{customdata:,} (%{x:.1f}%)<extra></extra>",
        )
    registered = data["pct_registered"].tolist()
    figure.add_scatter(
        y=labels, x=registered, xaxis="x2", mode="markers+text", name="% registered",
        text=[f"{p:.0f}%" for p in registered], textposition="middle right",
        textfont={"size": 14, "color": REGISTERED_COLOUR}, cliponaxis=False,
        marker={"symbol": "diamond", "size": 14, "color": REGISTERED_COLOUR, "line": {"color": "white", "width": 2}},
        hovertemplate="%{y}<br>Registered: %{x:.1f}%<extra></extra>",
    )
    figure.update_layout(
        barmode="stack", uniformtext={"minsize": 14, "mode": "hide"}, legend={"traceorder": "normal"},
        xaxis={"title": "", "range": [0, 100.5], "tickmode": "array", "domain": [0, 0.74],
               "tickvals": [0, 20, 40, 60, 80, 100], "ticktext": ["0%", "20%", "40%", "60%", "80%", "100%"]},
        # The registered panel (the legend names it): 0–100 % over its first part, the rest is room for the labels.
        xaxis2={"title": "", "range": [-6, 175], "domain": [0.8, 1], "anchor": "y", "showticklabels": False,
                "showgrid": False, "zeroline": False},
        margin={"r": 36},
        yaxis={"title": BREAKDOWNS.get(by, ""), "categoryorder": "array", "categoryarray": labels,
               "autorange": "reversed"},
    )
    return _note_if_empty(figure, data.empty, "No users in scope")


# --- adoption over time --------------------------------------------------------------------------


def adoption_trend_data(aggregates: pd.DataFrame | None) -> pd.DataFrame:
    """% registered and % enforced per stored day, from the store's daily aggregates.

    Only days that have a row appear (a missing day is a gap, never an invented value); several
    rows for one day keep the last. ``pct_registered`` = 100 × registered / users and
    ``pct_enforced`` = 100 × state_enforced / users (0.0 on a day with no users). The aggregates
    count all users of each snapshot, whatever the page's scope. Columns: ``day``, ``users``,
    ``registered``, ``enforced``, ``pct_registered``, ``pct_enforced``.
    """
    columns = {"day": "datetime64[ns]", "users": "int64", "registered": "int64", "enforced": "int64",
               "pct_registered": "float64", "pct_enforced": "float64"}
    if aggregates is None or aggregates.empty:
        return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})
    daily = normalise_aggregates(aggregates)
    missing = [c for c in ("users", "registered", "state_enforced") if c not in daily.columns]
    if missing:
        raise ValueError(f"daily aggregates are missing columns: {', '.join(missing)}")
    users = daily["users"].fillna(0).to_numpy(dtype=np.int64)
    registered = daily["registered"].fillna(0).to_numpy(dtype=np.int64)
    enforced = daily["state_enforced"].fillna(0).to_numpy(dtype=np.int64)
    safe = np.where(users > 0, users, 1)
    return pd.DataFrame({
        "day": daily["day"].astype("datetime64[ns]"),
        "users": users,
        "registered": registered,
        "enforced": enforced,
        "pct_registered": np.where(users > 0, 100.0 * registered / safe, 0.0),
        "pct_enforced": np.where(users > 0, 100.0 * enforced / safe, 0.0),
    })


def _instant(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value) if isinstance(value, str | date | datetime | pd.Timestamp | np.datetime64) else None
    if stamp is None or pd.isna(stamp):
        raise ValueError(f"a wave needs a launch date or time, got {value!r}")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def waves_data(waves: Iterable[tuple[str, object]]) -> pd.DataFrame:
    """Rollout waves as ``(name, launched_at)`` pairs → columns ``name``, ``launched_at`` (UTC,
    without a zone, like the trend's days), oldest first. Raises ValueError on a bad pair."""
    rows = []
    for item in waves:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"a wave is a (name, launched_at) pair, got {item!r}")
        rows.append((str(item[0]), _instant(item[1])))
    rows.sort(key=lambda r: r[1])
    return pd.DataFrame({
        "name": pd.Series([r[0] for r in rows], dtype="string"),
        "launched_at": pd.Series([r[1] for r in rows], dtype="datetime64[ns]"),
    })


WAVE_LABEL_GAP = 0.06
"""Waves launched closer together than this share of the trend's time span share one label."""


def wave_label_groups(launches: Sequence[pd.Timestamp], span_start: pd.Timestamp | None = None,
                      span_end: pd.Timestamp | None = None) -> list[list[int]]:
    """Indexes of ``launches`` (oldest first) grouped so that no two labels land on one another: a wave
    within :data:`WAVE_LABEL_GAP` of the span (at least a day) of the previous group's first wave joins it."""
    if not launches:
        return []
    start = min([*launches, *([span_start] if span_start is not None else [])])
    end = max([*launches, *([span_end] if span_end is not None else [])])
    gap = max(pd.Timedelta(days=1), (end - start) * WAVE_LABEL_GAP)
    groups: list[list[int]] = []
    for index, at in enumerate(launches):
        if groups and at - launches[groups[-1][0]] < gap:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def wave_labels(data: pd.DataFrame, waves: Iterable[tuple[str, object]] | pd.DataFrame = ()
                ) -> list[tuple[str, pd.Timestamp, str]]:
    """The trend's wave labels: ``(tag, launched_at, names)`` per group of waves launched close together
    (:func:`wave_label_groups`), tagged 1, 2, … oldest first; ``names`` joins the group's names with " · "."""
    table = waves if isinstance(waves, pd.DataFrame) else waves_data(waves)
    launches = [pd.Timestamp(at) for at in table["launched_at"]] if len(table) else []
    names = [str(name) for name in table["name"]] if len(table) else []
    days = list(data["day"]) if len(data) else []
    groups = wave_label_groups(launches, min(days) if days else None, max(days) if days else None)
    return [(str(number), launches[group[0]], " · ".join(names[i] for i in group))
            for number, group in enumerate(groups, start=1)]


def adoption_trend_chart(data: pd.DataFrame, waves: Iterable[tuple[str, object]] | pd.DataFrame = ()) -> go.Figure:
    """Two lines, % registered (blue) and % enforced (the Enforced colour), on a 0–100 % axis, with a
    dashed vertical line at each wave's launch.

    Waves are tagged with a number above the plot (one per group launched close together) and named in the
    legend ("1 · Pilot: IT"), so no label ever lies on the data or on another label, at any width."""
    figure = _figure(height=480)
    for column, name, colour in (("pct_registered", "% registered", REGISTERED_COLOUR),
                                 ("pct_enforced", "% enforced", STATE_COLOURS["enforced"])):
        figure.add_scatter(
            x=data["day"].tolist(), y=data[column].tolist(), mode="lines+markers", name=name,
            line={"color": colour, "width": 4}, marker={"color": colour, "size": 8},
            hovertemplate="%{x|%Y-%m-%d}: %{y:.1f}%<extra>" + name + "</extra>",
        )
    table = waves if isinstance(waves, pd.DataFrame) else waves_data(waves)
    for at in (pd.Timestamp(x) for x in table["launched_at"]):
        figure.add_shape(type="line", xref="x", yref="paper", x0=at, x1=at,
                         y0=0, y1=1, line={"color": SCOPE_COLOUR, "width": 2, "dash": "dash"})
    for tag, at, names in wave_labels(data, table):
        figure.add_annotation(x=at, xref="x", y=1, yref="paper", yanchor="bottom", yshift=4, text=tag,
                              hovertext=plain(names), showarrow=False, font={"size": 16, "color": SCOPE_COLOUR},
                              bordercolor=SCOPE_COLOUR, borderwidth=1, borderpad=3, bgcolor="white")
        figure.add_scatter(x=[None], y=[None], mode="lines", name=f"{tag} · {plain(names)}", hoverinfo="skip",
                           line={"color": SCOPE_COLOUR, "width": 2, "dash": "dash"})
    figure.update_layout(
        yaxis={"title": "Share of all users", "range": [0, 100], "ticksuffix": "%"},
        # Level date ticks, few enough for a phone, and the legend well below them: nothing is drawn on them.
        xaxis={"title": "", "type": "date", "tickangle": 0, "nticks": 5, "tickformatstops": [
            {"dtickrange": [None, "M1"], "value": "%b %d"}, {"dtickrange": ["M1", None], "value": "%b"}]},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0},
        margin={"t": 40},
    )
    return _note_if_empty(figure, data.empty, "No history yet: the trend starts with the second day of snapshots")


# --- the whole overview --------------------------------------------------------------------------


def overview_data(
    frame: pd.DataFrame,
    aggregates: pd.DataFrame | None = None,
    *,
    waves: Iterable[tuple[str, object]] = (),
    top_n: int = 10,
) -> dict[str, pd.DataFrame]:
    """Every table behind the overview's charts, keyed like ``CHART_TITLES``, from a scoped users
    frame and the tenant's daily aggregates. This is also the "figures behind every chart" export."""
    return {
        "state_distribution": state_distribution_data(frame),
        "rollout_funnel": rollout_funnel_data(frame),
        "methods": methods_data(frame),
        "method_strength": method_strength_data(frame),
        "by_department": breakdown_data(frame, "department", top_n),
        "by_country": breakdown_data(frame, "country", top_n),
        "by_user_type": breakdown_data(frame, "user_type", top_n),
        "adoption_trend": adoption_trend_data(aggregates),
        "waves": waves_data(waves),
    }


def overview_figures(data: Mapping[str, pd.DataFrame]) -> dict[str, go.Figure]:
    """The overview's figures from ``overview_data``'s tables (waves are drawn on the trend)."""
    return {
        "state_distribution": state_distribution_chart(data["state_distribution"]),
        "rollout_funnel": rollout_funnel_chart(data["rollout_funnel"]),
        "methods": methods_chart(data["methods"]),
        "method_strength": method_strength_chart(data["method_strength"]),
        "by_department": breakdown_chart(data["by_department"], "department"),
        "by_country": breakdown_chart(data["by_country"], "country"),
        "by_user_type": breakdown_chart(data["by_user_type"], "user_type"),
        "adoption_trend": adoption_trend_chart(data["adoption_trend"], data.get("waves", ())),
    }
