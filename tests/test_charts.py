"""lib.charts and lib.palette: exact tables behind every chart, and figure smoke checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from lib.charts import (
    CHART_TITLES,
    NOT_SET,
    WAVE_LABEL_GAP,
    adoption_trend_chart,
    adoption_trend_data,
    breakdown_chart,
    breakdown_data,
    method_strength_chart,
    method_strength_data,
    methods_chart,
    methods_data,
    overview_data,
    overview_figures,
    rollout_funnel_chart,
    rollout_funnel_data,
    state_distribution_chart,
    state_distribution_data,
    wave_label_groups,
    waves_data,
)
from lib.columns import coerce_users, empty_users_frame
from lib.palette import (
    NO_FACTOR_COLOUR,
    OKABE_ITO,
    PHISHABLE_COLOUR,
    PHISHING_RESISTANT_COLOUR,
    REGISTERED_COLOUR,
    SCOPE_COLOUR,
    STATE_COLOURS,
    STATE_COLOURS_BY_LABEL,
    TEMPLATE,
)

T = pd.Timestamp("2026-03-10 06:00", tz="UTC")


def users(*rows: dict) -> pd.DataFrame:
    base = {
        "display_name": "", "mail": None, "department": None, "country": None, "job_title": None,
        "is_guest": False, "account_enabled": True, "is_admin": False, "account_kind": "person",
        "state": "disabled", "registered": False, "capable": False, "methods": "", "method_count": 0,
        "preferred_method": "", "created": None, "last_sign_in": None,
        "users_read_at": T, "registration_read_at": T, "state_read_at": T,
    }
    records = [{**base, "id": f"u{i}", "upn": f"u{i}@contoso.com", **row} for i, row in enumerate(rows)]
    return coerce_users(pd.DataFrame(records)) if records else empty_users_frame()


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(r) for r in frame[columns].itertuples(index=False)]


# --- state distribution and funnel ---------------------------------------------------------------

MIXED = [
    {"state": "disabled"},
    {"state": "disabled", "registered": True},
    {"state": "enabled"},
    {"state": "enabled", "registered": True},
    {"state": "enabled", "registered": True},
    {"state": "enforced", "registered": True},
    {"state": "enforced"},  # enforced, not registered yet
    {"state": "unknownFutureValue"},
]


def test_state_distribution_data() -> None:
    data = state_distribution_data(users(*MIXED, {"state": None}))
    assert records(data, ["state", "label", "users", "percent"]) == [
        ("disabled", "Disabled", 2, pytest.approx(200 / 9)),
        ("enabled", "Enabled", 3, pytest.approx(300 / 9)),
        ("enforced", "Enforced", 2, pytest.approx(200 / 9)),
        ("unknown", "Unknown", 2, pytest.approx(200 / 9)),
    ]


def test_state_distribution_of_nothing_has_four_zero_rows() -> None:
    data = state_distribution_data(empty_users_frame())
    assert list(data["users"]) == [0, 0, 0, 0]
    assert list(data["percent"]) == [0.0, 0.0, 0.0, 0.0]


def test_rollout_funnel_data() -> None:
    data = rollout_funnel_data(users(*MIXED))
    assert records(data, ["stage", "users", "percent"]) == [
        ("in_scope", 8, 100.0),
        ("enabled_or_enforced", 5, 62.5),
        ("registered", 3, 37.5),  # two enabled + one enforced; the disabled registered user is not counted
        ("enforced", 2, 25.0),
    ]
    assert list(rollout_funnel_data(empty_users_frame())["users"]) == [0, 0, 0, 0]


# --- methods ------------------------------------------------------------------------------------


METHODS = [
    {"methods": "microsoftAuthenticatorPush,mobilePhone"},
    {"methods": "fido2,microsoftAuthenticatorPush"},
    {"methods": "microsoftAuthenticatorPush"},
    {"methods": "email"},
    {"methods": "email,mobilePhone"},
    {"methods": "passKeySynced"},
    {"methods": ""},
    {"methods": None},
    {"methods": "someFutureMethod"},
]


def test_methods_data_counts_users_per_method() -> None:
    data = methods_data(users(*METHODS))
    assert records(data, ["method", "label", "users", "second_factor", "phishing_resistant"]) == [
        ("microsoftAuthenticatorPush", "Microsoft Authenticator (push)", 3, True, False),
        ("email", "Email (password reset only)", 2, False, False),
        ("mobilePhone", "Mobile phone (SMS/voice)", 2, True, False),
        ("fido2", "FIDO2 security key", 1, True, True),
        ("passKeySynced", "Passkey (synced)", 1, True, True),
        ("someFutureMethod", "someFutureMethod", 1, True, False),
    ]
    assert list(data["percent"]) == pytest.approx([300 / 9, 200 / 9, 200 / 9, 100 / 9, 100 / 9, 100 / 9])


def test_methods_data_of_nothing() -> None:
    data = methods_data(empty_users_frame())
    assert data.empty
    assert list(data.columns) == ["method", "label", "users", "percent", "second_factor", "phishing_resistant"]


def test_method_strength_data() -> None:
    data = method_strength_data(users(*METHODS))
    assert records(data, ["strength", "label", "users"]) == [
        ("phishing_resistant", "Phishing-resistant", 2),  # fido2+push, passKeySynced
        ("phishable", "Phishable", 4),  # push+phone, push, email+phone, someFutureMethod
        ("none", "None", 3),  # email only, "" and missing
    ]
    assert list(data["percent"]) == pytest.approx([200 / 9, 400 / 9, 300 / 9])


# --- breakdowns ----------------------------------------------------------------------------------


def department_frame() -> pd.DataFrame:
    rows = (
        [{"department": "Sales", "state": "enforced", "registered": True}] * 3
        + [{"department": "Sales", "state": "enabled"}] * 2
        + [{"department": "IT", "state": "enabled", "registered": True}] * 3
        + [{"department": "HR"}] * 3
        + [{"department": "Legal", "state": "bogus"}]
        + [{"department": None}, {"department": ""}, {"department": "  ", "registered": True}]
    )
    return users(*rows)


def test_breakdown_top_n_and_other() -> None:
    data = breakdown_data(department_frame(), "department", top_n=2)
    # Sales 5; then a three-way tie at 3 (HR, IT, "(not set)") broken by name: "(not set)" sorts first.
    assert records(data, ["group", "users", "registered", "disabled", "enabled", "enforced", "unknown", "groups",
                          "is_other"]) == [
        ("Sales", 5, 3, 0, 2, 3, 0, 1, False),
        (NOT_SET, 3, 1, 3, 0, 0, 0, 1, False),
        ("Other", 7, 3, 3, 3, 0, 1, 3, True),  # HR 3 + IT 3 + Legal 1
    ]
    assert list(data["pct_registered"]) == pytest.approx([60.0, 100 / 3, 300 / 7])


def test_breakdown_without_other_when_groups_fit() -> None:
    data = breakdown_data(department_frame(), "department")
    assert list(data["group"]) == ["Sales", NOT_SET, "HR", "IT", "Legal"]
    assert list(data["users"]) == [5, 3, 3, 3, 1]
    assert not data["is_other"].any()


def test_breakdown_other_does_not_collide_with_a_real_other() -> None:
    frame = users(*([{"country": "Other"}] * 2 + [{"country": "SE"}] + [{"country": "NO"}]))
    assert list(breakdown_data(frame, "country", top_n=1)["group"]) == ["Other", "Other (remaining)"]


def test_breakdown_by_user_type() -> None:
    frame = users({"is_guest": True, "registered": True}, {"is_guest": True}, {}, {}, {"registered": True})
    data = breakdown_data(frame, "user_type")
    assert records(data, ["group", "users", "registered"]) == [("Member", 3, 1), ("Guest", 2, 1)]


def test_breakdown_of_nothing_and_bad_arguments() -> None:
    assert breakdown_data(empty_users_frame(), "country").empty
    with pytest.raises(ValueError, match="unknown breakdown"):
        breakdown_data(department_frame(), "job_title")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_n"):
            breakdown_data(department_frame(), "department", top_n=bad)  # type: ignore[arg-type]


# --- adoption over time --------------------------------------------------------------------------


def test_adoption_trend_data_keeps_only_stored_days() -> None:
    aggregates = pd.DataFrame({
        "day": pd.to_datetime(["2026-03-03", "2026-03-01", "2026-03-01", "2026-03-06"]),
        "users": [200, 100, 100, 0],
        "registered": [150, 10, 40, 0],
        "state_enforced": [50, 5, 20, 0],
    })
    data = adoption_trend_data(aggregates)
    assert [str(d.date()) for d in data["day"]] == ["2026-03-01", "2026-03-03", "2026-03-06"]  # 03-02 not invented
    assert records(data, ["users", "registered", "enforced", "pct_registered", "pct_enforced"]) == [
        (100, 40, 20, 40.0, 20.0),  # the later row of 03-01 wins
        (200, 150, 50, 75.0, 25.0),
        (0, 0, 0, 0.0, 0.0),
    ]


def test_adoption_trend_data_accepts_short_names_and_nothing() -> None:
    data = adoption_trend_data(pd.DataFrame({"day": ["2026-03-01"], "users": [4], "registered": [1], "enforced": [3]}))
    assert list(data["pct_enforced"]) == [75.0]
    assert adoption_trend_data(None).empty
    assert list(adoption_trend_data(pd.DataFrame()).columns) == list(data.columns)
    with pytest.raises(ValueError, match="registered"):
        adoption_trend_data(pd.DataFrame({"day": ["2026-03-01"], "users": [4], "state_enforced": [3]}))


def test_waves_data() -> None:
    data = waves_data([("Wave 2", "2026-02-01"), ("Wave 1", pd.Timestamp("2026-01-10 09:00", tz="Europe/Stockholm"))])
    assert records(data, ["name", "launched_at"]) == [
        ("Wave 1", pd.Timestamp("2026-01-10 08:00")),
        ("Wave 2", pd.Timestamp("2026-02-01")),
    ]
    with pytest.raises(ValueError, match="pair"):
        waves_data(["Wave 1"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="launch"):
        waves_data([("Wave 1", None)])


# --- figures -------------------------------------------------------------------------------------


def marker_colours(figure: go.Figure) -> dict[str, str]:
    """Trace name → its single colour, for bar and line traces."""
    out = {}
    for trace in figure.data:
        colour = trace.marker.color if trace.type == "bar" else trace.line.color
        out[trace.name] = colour
    return out


def test_figure_traces_and_colours() -> None:
    frame = users(*MIXED, *METHODS, *[{"department": "Sales"}] * 2)
    state = state_distribution_chart(state_distribution_data(frame))
    assert [t.name for t in state.data] == ["Disabled", "Enabled", "Enforced", "Unknown"]
    assert marker_colours(state) == STATE_COLOURS_BY_LABEL

    funnel = rollout_funnel_chart(rollout_funnel_data(frame))
    assert len(funnel.data) == 1
    assert list(funnel.data[0].marker.color) == [SCOPE_COLOUR, STATE_COLOURS["enabled"], REGISTERED_COLOUR,
                                                 STATE_COLOURS["enforced"]]

    breakdown = breakdown_chart(breakdown_data(frame, "department"))
    assert [t.name for t in breakdown.data] == ["Disabled", "Enabled", "Enforced", "Unknown", "% registered"]
    colours = marker_colours(breakdown)
    assert {k: colours[k] for k in STATE_COLOURS_BY_LABEL} == STATE_COLOURS_BY_LABEL
    assert breakdown.data[4].marker.color == REGISTERED_COLOUR
    assert breakdown.data[4].xaxis == "x2"  # in a panel of its own: a diamond never covers a segment's label

    methods = methods_chart(methods_data(frame))
    assert marker_colours(methods) == {"Phishing-resistant": PHISHING_RESISTANT_COLOUR,
                                       "Phishable": PHISHABLE_COLOUR, "Not a second factor": NO_FACTOR_COLOUR}
    assert sorted(methods.data[0].y) == ["FIDO2 security key", "Passkey (synced)"]
    strength = method_strength_chart(method_strength_data(frame))
    assert [t.marker.color for t in strength.data] == [PHISHING_RESISTANT_COLOUR, PHISHABLE_COLOUR, NO_FACTOR_COLOUR]

    trend = adoption_trend_chart(
        adoption_trend_data(pd.DataFrame({"day": ["2026-03-01", "2026-03-02"], "users": [10, 10],
                                          "registered": [1, 2], "state_enforced": [0, 1]})),
        [("Wave 1", "2026-03-01"), ("Wave <b>2</b>", "2026-03-02")],
    )
    assert marker_colours(trend) == {"% registered": REGISTERED_COLOUR, "% enforced": STATE_COLOURS["enforced"],
                                     "1 · Wave 1": SCOPE_COLOUR, "2 · Wave &lt;b&gt;2&lt;/b&gt;": SCOPE_COLOUR}
    assert list(trend.data[1].y) == [0.0, 10.0]
    assert len(trend.layout.shapes) == 2
    # A day apart on a one-day trend: the two ends of the axis, room for a tag each; names in the legend.
    assert [(a.text, a.hovertext) for a in trend.layout.annotations] == [
        ("1", "Wave 1"), ("2", "Wave &lt;b&gt;2&lt;/b&gt;")]

    for figure in (state, funnel, breakdown, methods, strength, trend):
        assert figure.layout.template == TEMPLATE
        assert figure.layout.template.layout.font.size >= 18


def _words_repeat(text: str) -> bool:
    words = text.replace("<br>", " ").split()
    return any(a == b for a, b in itertools.pairwise(words))


def test_wave_labels_never_overlap_or_repeat_words() -> None:
    days = pd.date_range("2026-01-01", "2026-03-31", freq="D")
    trend = adoption_trend_data(pd.DataFrame({"day": days, "users": 100, "registered": 50, "state_enforced": 20}))
    waves = [("Pilot: IT", "2026-01-10"), ("Wave 2: Sales", "2026-02-10"), ("Wave 3: Engineering", "2026-03-20"),
             ("Wave 4: Legal", "2026-03-20"), ("Wave 5: HR", "2026-03-21")]
    figure = adoption_trend_chart(trend, waves)
    tags = [a.text for a in figure.layout.annotations]
    assert tags == ["1", "2", "3"]  # one per group, above the plot (never on the data)
    assert all(a.yref == "paper" and a.y == 1 and a.yanchor == "bottom" for a in figure.layout.annotations)
    named = [t.name for t in figure.data[2:]]
    assert named == ["1 · Pilot: IT", "2 · Wave 2: Sales", "3 · Wave 3: Engineering · Wave 4: Legal · Wave 5: HR"]
    assert len(figure.layout.shapes) == 5  # every launch keeps its dashed line
    assert not any(_words_repeat(t) for t in named)
    span = days[-1] - days[0]
    xs = sorted(pd.Timestamp(a.x) for a in figure.layout.annotations)
    assert all(later - earlier >= span * WAVE_LABEL_GAP for earlier, later in itertools.pairwise(xs))
    assert wave_label_groups([]) == []
    one_day = [pd.Timestamp("2026-03-20"), pd.Timestamp("2026-03-20 18:00")]
    assert wave_label_groups(one_day) == [[0, 1]]


def test_breakdown_labels_do_not_overlap_the_registered_markers() -> None:
    frame = users({"department": "Sales", "registered": True, "state": "enforced"},
                  {"department": "Sales", "state": "disabled"}, {"department": "IT", "state": "enabled"})
    figure = breakdown_chart(breakdown_data(frame, "department"))
    bars, marker = figure.data[:4], figure.data[4]
    assert all(t.xaxis in (None, "x") for t in bars) and marker.xaxis == "x2"
    bar_end, marker_start = figure.layout.xaxis.domain[1], figure.layout.xaxis2.domain[0]
    assert bar_end < marker_start
    assert list(marker.text) == ["50%", "0%"]
    assert marker.textposition == "middle right"  # labels right of their diamond, inside the panel's range
    assert figure.layout.xaxis2.range[1] >= 140


def test_state_colours_are_distinct_and_reserved() -> None:
    state = set(STATE_COLOURS.values())
    assert len(state) == 4
    others = {REGISTERED_COLOUR, SCOPE_COLOUR, PHISHING_RESISTANT_COLOUR, PHISHABLE_COLOUR, NO_FACTOR_COLOUR}
    assert not state & others
    assert {STATE_COLOURS["disabled"], STATE_COLOURS["enabled"], STATE_COLOURS["enforced"]} <= set(OKABE_ITO)


def test_group_names_are_escaped_in_figures() -> None:
    frame = users({"department": "<img src=x onerror=alert(1)>"})
    figure = breakdown_chart(breakdown_data(frame, "department"))
    assert list(figure.data[0].y) == ["&lt;img src=x onerror=alert(1)&gt; (1)"]


def test_empty_figures_say_so() -> None:
    empty = empty_users_frame()
    for figure in (state_distribution_chart(state_distribution_data(empty)),
                   methods_chart(methods_data(empty)),
                   breakdown_chart(breakdown_data(empty, "department")),
                   adoption_trend_chart(adoption_trend_data(None))):
        assert len(figure.layout.annotations) == 1
    assert len(breakdown_chart(breakdown_data(empty, "department")).data) == 5


def test_overview_from_a_big_frame_is_small() -> None:
    n = 100_000
    rng = np.random.default_rng(5)
    frame = coerce_users(pd.DataFrame({
        "id": np.arange(n).astype(str), "upn": np.arange(n).astype(str), "display_name": "", "mail": None,
        "department": rng.choice([f"D{i}" for i in range(30)], n), "country": rng.choice(["SE", "NO", "FI"], n),
        "job_title": None, "is_guest": rng.random(n) < 0.1, "account_enabled": True, "is_admin": False,
        "account_kind": "person", "state": rng.choice(["disabled", "enabled", "enforced"], n),
        "registered": rng.random(n) < 0.5, "capable": False,
        "methods": rng.choice(["", "fido2", "mobilePhone,microsoftAuthenticatorPush"], n), "method_count": 0,
        "preferred_method": "", "created": T, "last_sign_in": T, "users_read_at": T, "registration_read_at": T,
        "state_read_at": T,
    }))
    aggregates = pd.DataFrame({"day": pd.date_range("2026-01-01", periods=60), "users": n, "registered": n // 2,
                               "state_enforced": n // 3})
    data = overview_data(frame, aggregates, waves=[("Wave 1", "2026-01-15")])
    assert list(data) == list(CHART_TITLES)
    assert int(data["state_distribution"]["users"].sum()) == n
    assert int(data["by_department"]["users"].sum()) == n
    assert len(data["by_department"]) == 11
    figures = overview_figures(data)
    assert list(figures) == [k for k in CHART_TITLES if k != "waves"]
    total_json = sum(len(f.to_json()) for f in figures.values())
    assert total_json < 150_000  # aggregates only: no per-user rows reach the browser
