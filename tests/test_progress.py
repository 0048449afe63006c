"""Registration progress on constructed histories, with exact expected figures (lib.progress),
and the bulk history read it stands on (Store.versions_for_users) against a real SQLite file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pytest

from lib.columns import USER_COLUMNS, coerce_users
from lib.progress import (
    FUNNEL_COLUMNS,
    MAILTO_LIMIT,
    MEMBER_DISPLAY,
    STRAGGLER_DISPLAY,
    STUCK_FLAGS,
    TIMELINE_COLUMNS,
    USER_PROGRESS_COLUMNS,
    counts_at,
    days_text,
    funnel_chart,
    funnel_over_time,
    history_timeline,
    journal_timeline,
    median_days_to_register,
    progress_display,
    projected_completion,
    registration_pace,
    reminder_addresses,
    reminder_csv,
    reminder_mailto,
    snapshot_spacing,
    spacing_text,
    state_since,
    stragglers,
    user_progress,
    user_timeline,
    wave_summary,
    wave_timeline,
    waves_table,
)
from lib.store import HISTORY_DTYPES, open_store

LAUNCH = pd.Timestamp("2026-03-01T09:00:00Z")
"""The wave's launch: 09:00, three hours before that day's snapshot."""
PUSH = "microsoftAuthenticatorPush"


def S(day: int) -> pd.Timestamp:
    """The daily snapshot ``day`` days after the launch day, at 12:00 UTC."""
    return pd.Timestamp("2026-03-01T12:00:00Z") + pd.Timedelta(days=day)


SNAPSHOTS = [S(d) for d in range(-2, 11)]
AS_OF = S(10)  # 2026-03-11 12:00
MEMBERS = ["u1", "u2", "u3", "u4", "u5", "u6"]
"""u6 is a member the store never saw (e.g. deleted before the first snapshot)."""


def version(uid: str, day: int, state: str, methods: str = "", *, removed: bool = False,
            account_enabled: bool = True) -> dict[str, Any]:
    registered = any(m not in ("email", "") for m in methods.split(","))
    return {"id": uid, "snapshot_id": day + 3, "snapshot_at": S(day), "removed": removed, "state": state,
            "registered": registered, "methods": methods or None, "account_enabled": account_enabled}


def versions(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def cohort_versions() -> pd.DataFrame:
    """u1, u2, u5 register on days 2, 5, 8; u3 registered before the wave; u4 never; u9 is no member."""
    return versions([
        version("u1", -2, "disabled"), version("u1", 0, "enabled"), version("u1", 2, "enforced", PUSH),
        version("u2", -2, "disabled"), version("u2", 0, "enabled"), version("u2", 5, "enforced", PUSH),
        version("u3", -2, "disabled", "fido2"), version("u3", 0, "enforced", "fido2"),
        version("u4", -2, "disabled"), version("u4", 0, "enabled"),
        version("u5", -2, "disabled"), version("u5", 0, "enabled"), version("u5", 8, "enforced", PUSH),
        version("u9", -2, "disabled"), version("u9", 3, "enforced", PUSH),
    ])


def user(uid: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in USER_COLUMNS}
    row.update({"id": uid, "upn": f"{uid}@contoso.example", "display_name": f"User {uid}",
                "mail": f"{uid}@contoso.example", "department": "Sales", "account_enabled": True,
                "account_kind": "person", "state": "disabled", "registered": False, "method_count": 0,
                "last_sign_in": pd.Timestamp("2026-03-10T08:00:00Z")})
    row.update(overrides)
    return row


def users(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return coerce_users(pd.DataFrame(rows, columns=list(USER_COLUMNS)))


def cohort_users() -> pd.DataFrame:
    return users([
        user("u1", state="enforced", registered=True, methods=PUSH),
        user("u2", state="enforced", registered=True, methods=PUSH),
        user("u3", state="enforced", registered=True, methods="fido2", display_name="Ann Early"),
        user("u4", state="enabled", display_name="Zed Late"),
        user("u5", state="enforced", registered=True, methods=PUSH),
        user("u9", state="enforced", registered=True, methods=PUSH),
    ])


# --- the funnel ----------------------------------------------------------------------------------


def test_funnel_counts_each_day_from_the_latest_version_at_or_before_its_end() -> None:
    funnel = funnel_over_time(cohort_versions(), MEMBERS, LAUNCH, AS_OF)
    assert {name: str(dtype) for name, dtype in funnel.dtypes.items()} == FUNNEL_COLUMNS
    assert funnel["day"].dt.strftime("%Y-%m-%d").tolist() == [f"2026-03-{d:02d}" for d in range(1, 12)]
    assert funnel["day_number"].tolist() == list(range(11))
    assert funnel["members"].tolist() == [6] * 11
    assert funnel["present"].tolist() == [5] * 11
    assert funnel["enabled"].tolist() == [5] * 11
    assert funnel["registered"].tolist() == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert funnel["enforced"].tolist() == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert funnel["pct_registered"].tolist() == pytest.approx([100 * n / 6 for n in (1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4)])
    assert funnel["pct_enabled"].iloc[0] == pytest.approx(500 / 6)
    # The last day stops at as_of; the others at the end of their day.
    assert funnel["as_of"].iloc[-1] == AS_OF
    assert funnel["as_of"].iloc[0] == pd.Timestamp("2026-03-01T23:59:59.999999999Z")


def test_funnel_days_without_a_snapshot_repeat_the_previous_one_and_a_tombstone_leaves_every_stage() -> None:
    rows = versions([
        version("a", -1, "disabled"), version("a", 0, "enabled"), version("a", 4, "enforced", PUSH),
        version("a", 6, "enforced", PUSH, removed=True),
        version("b", 0, "enforced", PUSH), version("b", 3, "disabled", PUSH),  # an admin turned MFA off again
    ])
    funnel = funnel_over_time(rows, ["a", "b"], LAUNCH, S(7))
    assert funnel["present"].tolist() == [2, 2, 2, 2, 2, 2, 1, 1]
    assert funnel["enabled"].tolist() == [2, 2, 2, 1, 1, 1, 0, 0]
    assert funnel["registered"].tolist() == [1, 1, 1, 0, 1, 1, 0, 0]
    assert funnel["enforced"].tolist() == [1, 1, 1, 0, 1, 1, 0, 0]


def test_funnel_has_a_row_per_snapshot_since_the_launch_when_given_the_snapshot_times() -> None:
    rows = versions([version("a", -1, "disabled"), version("a", 0, "enabled"), version("a", 3, "enforced", PUSH)])
    taken = [S(-1), S(0), S(3), S(5) + pd.Timedelta(hours=20)]  # the last one is after as_of: not shown
    funnel = funnel_over_time(rows, ["a"], LAUNCH, S(5), snapshot_times=taken)
    assert {name: str(dtype) for name, dtype in funnel.dtypes.items()} == FUNNEL_COLUMNS
    assert funnel["as_of"].tolist() == [S(0), S(3)]  # counted at the snapshots' own times
    assert funnel["day_number"].tolist() == [0, 3]
    assert (funnel["enabled"].tolist(), funnel["registered"].tolist()) == ([1, 1], [0, 1])
    # A snapshot before the launch saw nothing of the wave; two on one day are two points.
    before = funnel_over_time(rows, ["a"], LAUNCH, S(5), snapshot_times=[LAUNCH - pd.Timedelta(hours=1)])
    assert before.empty
    twice = funnel_over_time(rows, ["a"], LAUNCH, S(5), snapshot_times=[S(3), S(3) + pd.Timedelta(hours=6)])
    assert twice["day_number"].tolist() == [3, 3]


def test_funnel_is_empty_before_the_launch_and_counts_at_any_instant() -> None:
    assert funnel_over_time(cohort_versions(), MEMBERS, LAUNCH, LAUNCH - pd.Timedelta(hours=1)).empty
    assert counts_at(cohort_versions(), MEMBERS, S(5) - pd.Timedelta(seconds=1)) == {
        "members": 6, "present": 5, "enabled": 5, "registered": 2, "enforced": 2, "registered_any": 2}
    assert counts_at(cohort_versions(), MEMBERS, S(5))["registered"] == 3
    # Before the wave: u3 already had a second factor, but was not in the funnel's registered stage.
    assert counts_at(cohort_versions(), MEMBERS, LAUNCH) == {
        "members": 6, "present": 5, "enabled": 0, "registered": 0, "enforced": 0, "registered_any": 1}
    assert counts_at(cohort_versions(), MEMBERS, S(-3)) == {
        "members": 6, "present": 0, "enabled": 0, "registered": 0, "enforced": 0, "registered_any": 0}


def test_funnel_refuses_a_single_string_for_the_members() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        funnel_over_time(cohort_versions(), "u1", LAUNCH, AS_OF)


def test_funnel_chart_draws_three_series_in_the_state_colours() -> None:
    figure = funnel_chart(funnel_over_time(cohort_versions(), MEMBERS, LAUNCH, AS_OF))
    traces = {trace.name: trace for trace in figure.data}
    assert sorted(traces, key=lambda n: traces[n].legendrank) == ["Enabled or Enforced", "Registered", "Enforced"]
    assert [traces[n].line.color for n in ("Enabled or Enforced", "Registered", "Enforced")] == [
        "#E69F00", "#0072B2", "#009E73"]
    assert figure.data[-1].name == "Registered" and figure.data[-1].line.dash == "dash"  # on top, still visible
    assert traces["Registered"].y[-1] == pytest.approx(400 / 6)
    counts = funnel_chart(funnel_over_time(cohort_versions(), MEMBERS, LAUNCH, AS_OF), as_percent=False)
    assert list(counts.data[1].y) == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]


def test_funnel_chart_draws_steps_at_the_snapshot_times_never_slopes_across_gaps() -> None:
    taken = [S(0), S(2), S(9)]  # a week without a snapshot
    funnel = funnel_over_time(cohort_versions(), MEMBERS, LAUNCH, AS_OF, snapshot_times=taken)
    figure = funnel_chart(funnel)
    for trace in figure.data:
        assert trace.line.shape == "hv" and "markers" in trace.mode
        assert [pd.Timestamp(x) for x in trace.x] == taken


# --- median, pace, projection --------------------------------------------------------------------


def test_median_time_to_register_counts_only_members_who_registered_after_the_launch() -> None:
    # u1, u2, u5 first seen registered at S(2), S(5), S(8): 2.125, 5.125, 8.125 days after 09:00 on day 0.
    median, measured = median_days_to_register(cohort_versions(), MEMBERS, LAUNCH)
    assert (median, measured) == (5.125, 3)
    median, measured = median_days_to_register(cohort_versions(), ["u1", "u2"], LAUNCH)
    assert (median, measured) == (3.625, 2)
    assert median_days_to_register(cohort_versions(), ["u3", "u4"], LAUNCH) == (None, 0)


def test_pace_is_the_registered_gain_over_the_last_seven_days_per_day() -> None:
    # At S(10): 4 registered; at S(3): 2 (u3 and u1). 2 in 7 days.
    pace, window = registration_pace(cohort_versions(), MEMBERS, LAUNCH, AS_OF)
    assert (pace, window) == (pytest.approx(2 / 7), 7.0)
    # A wave younger than the window: the window starts at the launch. u3 had a second factor
    # before the wave (enabling them is no registration), so only u1 counts: 1 in 4 days.
    pace, window = registration_pace(cohort_versions(), MEMBERS, LAUNCH, S(4) - pd.Timedelta(hours=3))
    assert (pace, window) == (pytest.approx(1 / 4), 4.0)
    assert registration_pace(cohort_versions(), MEMBERS, LAUNCH, LAUNCH) == (0.0, 0.0)


def test_projection_divides_the_remaining_by_the_pace() -> None:
    projection = projected_completion(1, 2 / 7, AS_OF)
    assert projection.days == pytest.approx(3.5)
    assert projection.at == pd.Timestamp("2026-03-15T00:00:00Z")
    assert projection.reason == "1 left at 0.3 registrations a day (the last 7 days)"


def test_numbers_of_days_are_rounded_for_people() -> None:
    assert [days_text(d) for d in (1.0, 0.96, 6.73407, 7.0, 9.96, 12.4, 1234.5)] == [
        "1 day", "1 day", "6.7 days", "7 days", "10 days", "12 days", "1,234 days"]
    young = projected_completion(3, 0.0, AS_OF, window_days=6.73407)
    assert young.reason == "no member registered in the last 6.7 days: there is no pace to project from"
    assert projected_completion(3, 0.0, AS_OF, window_days=0).reason.startswith("no member registered since the launch")
    assert projected_completion(2, 0.5, AS_OF, window_days=6.73407).reason.endswith("(the last 6.7 days)")


def test_the_median_says_how_far_apart_the_snapshots_that_dated_it_are() -> None:
    assert snapshot_spacing(SNAPSHOTS, LAUNCH, AS_OF) == (1.0, 1.0)
    assert spacing_text(snapshot_spacing(SNAPSHOTS, LAUNCH, AS_OF)) == "snapshots 1 day apart"
    weekly = [S(-2), S(0), S(7)]  # the one before the launch counts: it bounds the first registrations
    assert snapshot_spacing(weekly, LAUNCH, AS_OF) == (2.0, 7.0)
    spacing = snapshot_spacing([S(-1), S(2), S(9)], LAUNCH, AS_OF)
    assert spacing == (3.0, 7.0)
    assert spacing_text(spacing) == "snapshots ≤ 7 days apart"
    assert snapshot_spacing([S(0)], LAUNCH, AS_OF) is None
    assert spacing_text(None) == "one snapshot since launch"
    progress = user_progress(cohort_users(), cohort_versions(), MEMBERS, AS_OF)
    summary = wave_summary(cohort_versions(), MEMBERS, LAUNCH, AS_OF, progress, snapshot_times=SNAPSHOTS)
    assert summary.snapshot_spacing == (1.0, 1.0)
    assert wave_summary(cohort_versions(), MEMBERS, LAUNCH, AS_OF, progress).snapshot_spacing is None


def test_projection_is_none_with_the_reason_when_the_pace_is_zero_or_nobody_is_left() -> None:
    stalled = projected_completion(3, 0.0, AS_OF)
    assert (stalled.at, stalled.days, stalled.remaining) == (None, None, 3)
    assert stalled.reason == "no member registered in the last 7 days: there is no pace to project from"
    done = projected_completion(0, 1.5, AS_OF)
    assert done.at is None and done.reason == "complete: every member who can register has registered"
    with pytest.raises(ValueError, match="remaining"):
        projected_completion(-1, 1.0, AS_OF)


def test_wave_summary_puts_the_figures_together() -> None:
    progress = user_progress(cohort_users(), cohort_versions(), MEMBERS, AS_OF, wave="Pilot")
    summary = wave_summary(cohort_versions(), MEMBERS, LAUNCH, AS_OF, progress,
                           now=pd.Timestamp("2026-03-12T10:00:00Z"))
    assert (summary.members, summary.present, summary.enabled, summary.registered, summary.enforced) == (6, 5, 5, 4, 4)
    assert summary.pct_registered == pytest.approx(400 / 6)
    assert summary.days_since_launch == 11
    assert (summary.median_days_to_register, summary.registered_after_launch) == (5.125, 3)
    assert summary.projection.remaining == 1  # u4: Enabled, account enabled, no second factor
    assert summary.projection.at == pd.Timestamp("2026-03-15T00:00:00Z")
    assert summary.stragglers == 0  # u4 has been Enabled 10 days: not stuck yet
    assert summary.flag_counts == dict.fromkeys(STUCK_FLAGS, 0)


def test_waves_table_puts_waves_side_by_side_newest_first() -> None:
    progress = user_progress(cohort_users(), cohort_versions(), MEMBERS, AS_OF)
    summary = wave_summary(cohort_versions(), MEMBERS, LAUNCH, AS_OF, progress)
    older = SimpleNamespace(name="Pilot", launched_at=LAUNCH - pd.Timedelta(days=30))
    newer = SimpleNamespace(name="Wave 2", launched_at=LAUNCH)
    table = waves_table([(older, summary), (newer, summary)])
    assert table["wave"].tolist() == ["Wave 2", "Pilot"]
    assert table.iloc[0][["members", "days", "stragglers"]].tolist() == [6, 10, 0]
    assert table["median_days_to_register"].tolist() == [5.125, 5.125]
    assert table["projected_completion"].iloc[0] == pd.Timestamp("2026-03-15T00:00:00Z")
    assert waves_table([]).empty


def test_wave_summary_before_a_snapshot_after_the_launch_has_no_projection() -> None:
    progress = user_progress(cohort_users(), cohort_versions(), MEMBERS, S(-1))
    summary = wave_summary(cohort_versions(), MEMBERS, LAUNCH, S(-1), progress)
    assert summary.projection.at is None and summary.days_since_launch == 0
    assert summary.projection.reason == "no snapshot since the launch yet: refresh the data to follow the wave"


def test_wave_summary_without_pace_says_why() -> None:
    stalled = versions([version("u4", -2, "disabled"), version("u4", 0, "enabled")])
    progress = user_progress(cohort_users(), stalled, ["u4"], S(20))
    summary = wave_summary(stalled, ["u4"], LAUNCH, S(20), progress)
    assert summary.projection.at is None
    assert summary.projection.reason.startswith("no member registered in the last 7 days")
    assert summary.stragglers == 1 and summary.flag_counts["enabled_unregistered"] == 1
    assert summary.days_since_launch == 20


# --- per user ------------------------------------------------------------------------------------


def test_state_since_is_the_start_of_the_final_run_of_the_current_state() -> None:
    rows = versions([
        version("a", -2, "disabled"), version("a", 0, "enabled"), version("a", 3, "enabled", "email"),
        version("b", -2, "enabled"), version("b", 4, "enabled", "email"),
        version("c", -2, "enabled"), version("c", 1, "disabled"), version("c", 2, "enabled"),
    ])
    since = state_since(rows).set_index("id")
    assert since.loc["a", "state_since"] == S(0) and not since.loc["a", "since_history_start"]
    assert since.loc["b", "state_since"] == S(-2) and since.loc["b", "since_history_start"]
    assert since.loc["c", "state_since"] == S(2) and not since.loc["c", "since_history_start"]
    assert since.loc["c", "state"] == "enabled"


def test_user_progress_rows_days_in_state_and_stuck_flags() -> None:
    history = versions([
        version("late", -2, "disabled"), version("late", 0, "enabled"),
        version("fresh", -2, "disabled"), version("fresh", 1, "enabled"),
        version("ghost", -2, "disabled"), version("ghost", 0, "enabled"),
        version("gone", -2, "disabled"), version("gone", 0, "enabled"),
        version("gone", 3, "enabled", account_enabled=False),
        version("reset", -2, "enforced", PUSH), version("reset", 1, "disabled", PUSH),
        version("reset", 2, "enabled", PUSH),
        version("old", -2, "enabled"),
    ])
    current = users([
        user("late", state="enabled"),
        user("fresh", state="enabled"),
        user("ghost", state="enabled", last_sign_in=None),
        user("gone", state="enabled", account_enabled=False),
        user("reset", state="enabled", registered=True, methods=PUSH),
        user("old", state="enabled"),
    ])
    as_of = S(15)  # late: 15 days Enabled; fresh: exactly 14
    members = ["late", "fresh", "ghost", "gone", "reset", "old", "never-seen"]
    progress = user_progress(current, history, members, as_of, wave="W")
    assert {name: str(dtype) for name, dtype in progress.dtypes.items()} == USER_PROGRESS_COLUMNS
    rows = progress.set_index("id")
    assert "never-seen" not in rows.index
    assert rows.loc["late", "days_in_state"] == 15 and rows.loc["fresh", "days_in_state"] == 14
    assert rows.loc["old", "days_in_state"] == 17 and rows.loc["old", "since_history_start"]
    assert rows.loc["reset", "days_in_state"] == 13
    flagged = {uid: [f for f in STUCK_FLAGS if rows.loc[uid, f]] for uid in rows.index}
    assert flagged == {
        "late": ["enabled_unregistered"],
        "fresh": [],
        "ghost": ["enabled_unregistered", "never_signed_in"],
        "gone": ["enabled_unregistered", "account_disabled"],
        "reset": ["reenabled_unregistered"],
        "old": ["enabled_unregistered"],
    }
    assert rows.loc["ghost", "flags"] == "Enabled > 14 days, not registered; Never signed in"
    assert rows.loc["reset", "flags"] == "Re-enabled, not re-registered"
    assert rows.loc["fresh", "flags"] == "" and not rows.loc["fresh", "stuck"]
    assert set(progress["wave"]) == {"W"}
    assert sorted(stragglers(progress)["id"]) == ["ghost", "gone", "late", "old", "reset"]


def test_progress_display_labels_states_methods_and_the_start_of_the_state() -> None:
    history = versions([version("u1", -2, "enabled", "email"), version("u2", -2, "disabled"),
                        version("u2", 0, "enforced", f"fido2,{PUSH}")])
    current = users([user("u1", state="enabled", methods="email"),
                     user("u2", state="enforced", registered=True, methods=f"fido2,{PUSH}")])
    shown = progress_display(user_progress(current, history, ["u1", "u2"], S(3), wave="W"))
    assert list(shown.columns) == list(MEMBER_DISPLAY)
    assert shown[["state", "since", "methods"]].values.tolist() == [
        ["Enabled", "before 2026-02-27", "Email (password reset only)"],
        ["Enforced", "2026-03-01", "FIDO2 security key, Microsoft Authenticator (push)"],
    ]
    assert list(progress_display(user_progress(current, history, ["u1"], S(3)), STRAGGLER_DISPLAY).columns) == \
        list(STRAGGLER_DISPLAY)


def test_never_signed_in_is_off_when_the_tenant_reports_no_sign_ins() -> None:
    history = versions([version("ghost", 0, "enabled")])
    current = users([user("ghost", state="enabled", last_sign_in=None)])
    known = user_progress(current, history, ["ghost"], S(2))
    unknown = user_progress(current, history, ["ghost"], S(2), sign_ins_known=False)
    assert known["never_signed_in"].tolist() == [True]
    assert unknown["never_signed_in"].tolist() == [False] and not unknown["stuck"].iloc[0]


def test_user_progress_is_sorted_by_display_name() -> None:
    progress = user_progress(cohort_users(), cohort_versions(), MEMBERS, AS_OF)
    assert progress["display_name"].tolist() == ["Ann Early", "User u1", "User u2", "User u5", "Zed Late"]


# --- timelines -----------------------------------------------------------------------------------


def test_history_timeline_names_what_changed_between_which_snapshots() -> None:
    history = versions([
        version("u", -2, "disabled", "email"), version("u", 0, "enabled", "email"),
        version("u", 2, "enforced", f"email,{PUSH}"), version("u", 6, "enforced", PUSH),
        version("u", 7, "enforced", PUSH, account_enabled=False), version("u", 9, "enforced", PUSH, removed=True),
    ])
    timeline = history_timeline(history, SNAPSHOTS)
    assert {name: str(dtype) for name, dtype in timeline.dtypes.items()} == TIMELINE_COLUMNS
    assert timeline["text"].tolist() == [
        "Disabled, no second factor (in the first snapshot)",
        "State Disabled → Enabled between 2026-02-28 12:00 and 2026-03-01 12:00",
        "Registered Microsoft Authenticator (push) between 2026-03-02 12:00 and 2026-03-03 12:00",
        "Became Enforced on registering (Entra promotes a registering Enabled user) between 2026-03-02 12:00 "
        "and 2026-03-03 12:00",
        "Removed Email (password reset only) between 2026-03-06 12:00 and 2026-03-07 12:00",
        "Account disabled between 2026-03-07 12:00 and 2026-03-08 12:00",
        "No longer in the tenant: left between 2026-03-09 12:00 and 2026-03-10 12:00",
    ]
    assert timeline["event"].tolist() == ["first_seen", "state_enabled", "registered", "state_enforced",
                                          "method_removed", "account_disabled", "removed"]
    assert timeline["after"].iloc[2] == S(1) and timeline["at"].iloc[2] == S(2)
    assert set(timeline["source"]) == {"history"}


def test_history_timeline_of_a_user_first_seen_later_says_between() -> None:
    timeline = history_timeline(versions([version("n", 3, "enabled", "fido2")]), SNAPSHOTS)
    assert timeline["text"].tolist() == [
        "Enabled, FIDO2 security key (first seen between 2026-03-03 12:00 and 2026-03-04 12:00)"]


def _operation(op_id: int, requested: str, *, kind: str = "apply", undo_of: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=op_id, kind=kind, requested_state=requested, actor="admin@contoso.example",
                           label=None, undo_of=undo_of)


def _event(op_id: int, at: pd.Timestamp, event: str, state: str | None = None, detail: str | None = None
           ) -> dict[str, Any]:
    return {"id": 1, "user_id": "u", "at": at, "event": event, "state": state, "detail": detail,
            "operation_id": op_id}


def test_journal_timeline_says_who_did_what_in_which_operation_and_what_graph_reported() -> None:
    operations = [_operation(4, "enabled"), _operation(7, "enforced"), _operation(9, None, kind="undo", undo_of=7),
                  _operation(11, "enforced"), _operation(12, "enabled"), _operation(13, "enforced")]
    later = pd.Timedelta(seconds=2)
    events = pd.DataFrame([
        _event(4, S(0), "sending", "enabled"),
        _event(4, S(0) + later, "applied", None, "Graph accepted the change"),
        _event(4, S(0) + 2 * later, "observed", "enforced", "as previewed"),
        _event(7, S(3), "applied"),
        _event(7, S(3) + later, "observed", "enforced", "as previewed"),
        _event(9, S(4), "applied"),
        _event(9, S(4) + later, "observed", "enabled", "as previewed"),
        _event(11, S(5), "failed", None, "throttled by Graph"),
        _event(12, S(6), "applied"),
        _event(12, S(6) + later, "observed", "enabled",
               "differs from the preview: expected Enforced, Graph says Enabled"),
        _event(13, S(7), "applied"),
    ])
    timeline = journal_timeline(operations, events, wave_names={4: "Wave 3"})
    assert timeline["text"].tolist() == [
        'MFA Enabled by admin@contoso.example (operation 4, wave "Wave 3"); Graph reports Enforced (a second '
        "factor was already registered, so Entra made it Enforced at once)",
        "Set to Enforced by admin@contoso.example (operation 7); Graph reports Enforced",
        "Set to Enabled by admin@contoso.example (operation 9, undo of operation 7); Graph reports Enabled",
        "Change by admin@contoso.example failed (operation 11): throttled by Graph",
        "MFA Enabled by admin@contoso.example (operation 12); Graph reports Enabled: differs from the preview: "
        "expected Enforced, Graph says Enabled",
        "Set to Enforced by admin@contoso.example (operation 13); the state Graph reports was not read back",
    ]
    assert timeline["actor"].tolist() == ["admin@contoso.example"] * 6
    assert journal_timeline(operations, None).empty


def test_user_timeline_merges_wave_journal_and_history_in_time_order() -> None:
    imported = SimpleNamespace(name="Pilot", source="imported", launched_at=LAUNCH, actor="admin@contoso.example")
    launched_here = SimpleNamespace(name="Wave 3", source="operation", launched_at=S(1), actor="x")
    history = history_timeline(cohort_versions().query("id == 'u1'"), SNAPSHOTS)
    journal = journal_timeline([_operation(7, "enforced")], pd.DataFrame([_event(7, S(1), "applied", "enforced")]))
    timeline = user_timeline(wave_timeline([imported, launched_here]), journal, history)
    assert timeline["source"].tolist() == ["history", "wave", "history", "journal", "history", "history"]
    assert timeline["text"].iloc[1] == ('Wave "Pilot" launched by admin@contoso.example: MFA Enabled for its members '
                                        "(imported from the tenant's past)")
    assert timeline["at"].is_monotonic_increasing
    assert user_timeline().empty


# --- reminders -----------------------------------------------------------------------------------


def test_reminder_mailto_puts_everyone_in_bcc_with_subject_and_body() -> None:
    mail = reminder_mailto(["a@contoso.example", "b@contoso.example", "a@contoso.example"],
                           "Set up MFA", "Hello & welcome,\nsign in.")
    assert mail.url == ("mailto:?bcc=a@contoso.example,b@contoso.example&subject=Set%20up%20MFA"
                        "&body=Hello%20%26%20welcome%2C%0Asign%20in.")
    assert (mail.recipients, mail.length, mail.reason) == (2, len(mail.url), "")
    assert unquote(mail.url.split("&body=")[1]) == "Hello & welcome,\nsign in."


def test_reminder_mailto_refuses_a_link_longer_than_mail_programs_accept() -> None:
    many = [f"person.number{n:04d}@contoso.example" for n in range(80)]
    mail = reminder_mailto(many, "Set up MFA", "Please.")
    assert mail.url is None and mail.recipients == 80 and mail.length > MAILTO_LIMIT
    assert mail.reason.startswith("80 addresses make a link of ")
    assert "download the CSV" in mail.reason
    assert reminder_mailto([], "s", "b").reason.startswith("no one to write to")


def test_reminder_addresses_prefer_mail_then_upn() -> None:
    frame = pd.DataFrame({"mail": ["a@x.example", None, "", "a@x.example"],
                          "upn": ["a@x.example", "b@x.example", "c@x.example", "dup@x.example"]})
    assert reminder_addresses(frame) == ["a@x.example", "b@x.example", "c@x.example"]


def test_reminder_csv_neutralises_formulas() -> None:
    current = users([user("u4", state="enabled", display_name="=HYPERLINK(\"http://evil\")")])
    progress = user_progress(current, versions([version("u4", 0, "enabled")]), ["u4"], S(20), wave="W")
    text = reminder_csv(progress).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(text)))[:2]
    assert header == ["display_name", "upn", "mail", "department", "wave", "state", "flags", "days_in_state",
                      "last_sign_in"]
    assert row[:2] == ["'=HYPERLINK(\"http://evil\")", "u4@contoso.example"]
    assert row[4:] == ["W", "enabled", "Enabled > 14 days, not registered", "20", "2026-03-10 08:00:00"]


# --- the store's bulk history --------------------------------------------------------------------

TENANT = "11111111-2222-3333-4444-555555555555"


def test_versions_for_users_reads_many_users_history_at_once(database_url: str) -> None:
    store = open_store(database_url)
    try:
        at = datetime(2026, 3, 1, 12, tzinfo=UTC)
        store.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=at)
        days = [
            [user("u1"), user("u2"), user("u3")],
            [user("u1", state="enabled"), user("u2"), user("u3")],
            [user("u1", state="enforced", registered=True, methods=PUSH), user("u2", state="enabled")],
        ]
        for n, rows in enumerate(days):
            snapshot_id = store.begin_snapshot(TENANT, "reports", started_at=at + timedelta(days=n))
            store.complete_snapshot(snapshot_id, users(rows), users_read_at=at, registration_read_at=at,
                                    state_read_at=at, stats={}, finished_at=at + timedelta(days=n))
        wanted = ["u3", "u1", *(f"x{n}" for n in range(1200))]  # more ids than one IN (...) takes
        found = store.versions_for_users(TENANT, wanted)
        assert {name: str(dtype) for name, dtype in found.dtypes.items()} == HISTORY_DTYPES
        assert list(zip(found["id"], found["snapshot_id"], found["state"], found["removed"], strict=True)) == [
            ("u1", 1, "disabled", False), ("u1", 2, "enabled", False), ("u1", 3, "enforced", False),
            ("u3", 1, "disabled", False), ("u3", 3, "disabled", True),
        ]
        assert found["snapshot_at"].iloc[2] == pd.Timestamp(at + timedelta(days=2))
        for uid in ("u1", "u3"):
            single = store.user_history(TENANT, uid)
            pd.testing.assert_frame_equal(found[found["id"] == uid].reset_index(drop=True), single)
        assert len(store.versions_for_users(TENANT)) == 7
        assert store.versions_for_users(TENANT, []).empty
        assert store.versions_for_users("another-tenant", ["u1"]).empty
        with pytest.raises(TypeError, match="not a single string"):
            store.versions_for_users(TENANT, "u1")
    finally:
        store.close()
