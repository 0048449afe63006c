"""Replaying event timelines into daily frames."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lib.directory.history import TimelineEvent, daily_frames, history_days
from lib.directory.rows import Registration, UserRecord, build_users_frame

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
D = timedelta(days=1)


def current_frame():
    users = [
        {"id": "a", "userPrincipalName": "a@x", "accountEnabled": True, "createdDateTime": "2020-01-01T00:00:00Z",
         "signInActivity": {"lastSignInDateTime": (NOW - 2 * D).isoformat()}},
        {"id": "b", "userPrincipalName": "b@x", "accountEnabled": False, "createdDateTime": "2020-01-01T00:00:00Z"},
        {"id": "c", "userPrincipalName": "c@x", "accountEnabled": True, "createdDateTime": (NOW - D).isoformat()},
    ]
    regs = {"a": Registration(("mobilePhone",), True, True, "sms"), "b": Registration(("fido2",), True, False)}
    records = [UserRecord.from_graph(u) for u in users]
    return build_users_frame(records, regs, {"a": "enforced", "b": "enabled", "c": "disabled"}, None,
                             users_read_at=NOW, registration_read_at=NOW, state_read_at=NOW)


TIMELINES = {
    "a": [TimelineEvent(NOW - 5 * D, "state", "enabled", "admin@x"),
          TimelineEvent(NOW - 3 * D, "method", "mobilePhone"),
          TimelineEvent(NOW - 3 * D, "state", "enforced")],
    "b": [TimelineEvent(NOW - 10 * D, "method", "email"),
          TimelineEvent(NOW - 4 * D, "method", "fido2"),
          TimelineEvent(NOW - 4 * D, "state", "enabled"),
          TimelineEvent(NOW - 2 * D, "account", "disabled")],
}


def test_history_days_end_before_now_oldest_first() -> None:
    days = history_days(NOW + timedelta(hours=5), 3)
    assert days == [NOW - 2 * D - timedelta(seconds=1), NOW - D - timedelta(seconds=1), NOW - timedelta(seconds=1)]


def test_replay_gives_each_days_facts() -> None:
    days = [NOW - 6 * D, NOW - 4 * D, NOW - 2.5 * D, NOW - 0.5 * D]
    frames = dict(daily_frames(current_frame(), TIMELINES, days))
    six, four, two, zero = (frames[d].set_index("id") for d in days)
    assert list(six.index) == ["a", "b"]  # c was created a day ago
    assert six.loc["a", ["state", "registered", "methods"]].tolist() == ["disabled", False, ""]
    assert six.loc["b", ["state", "registered", "methods", "account_enabled"]].tolist() == [
        "disabled", False, "email", True]
    assert four.loc["a", "state"] == "enabled"
    assert four.loc["b", ["state", "registered", "capable", "methods"]].tolist() == [
        "enabled", True, True, "email,fido2"]
    assert two.loc["a", ["state", "registered", "preferred_method"]].tolist() == ["enforced", True, "sms"]
    assert zero.loc["b", ["account_enabled", "capable"]].tolist() == [False, False]
    assert list(zero.index) == ["a", "b", "c"]
    assert zero.loc["c", "state"] == "disabled"
    assert str(four["last_sign_in"].iloc[0]) == "NaT"  # signed in after that day
    assert zero.loc["a", "last_sign_in"] == current_frame().loc[0, "last_sign_in"]
    assert (zero["users_read_at"] == zero["users_read_at"].iloc[0]).all()
