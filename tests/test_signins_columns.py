"""Evidence columns of a users frame, the evidence filters and the overview's sign-in figures, on constructed
evidence with the exact values expected."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lib.columns import UTC_TIMESTAMP
from lib.signins.columns import (
    EVIDENCE_COLUMNS,
    evidence_columns,
    evidence_mask,
    legacy_words,
    window_start,
    with_evidence,
)
from lib.signins.evidence import DayCount, TenantEvidence, UserEvidence
from lib.signins.figures import sign_in_figures, single_factor_chart, trend_words

AS_OF = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
FIRST = date(2026, 11, 4)  # the 30 days end on 3 Dec


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def evidence() -> TenantEvidence:
    alice = UserEvidence(
        last_sign_in=at(date(2026, 12, 3), 8), last_mfa_sign_in=at(date(2026, 12, 3), 8),
        last_single_factor_sign_in=at(date(2026, 11, 28)),
        legacy_clients={"POP3": at(date(2026, 11, 20)), "IMAP4": at(date(2026, 11, 28)),
                        "Exchange ActiveSync": at(date(2026, 11, 3))},  # 3 Nov: a day before the window
        days={date(2026, 11, 3): DayCount(5, 0, 0),  # outside the window: not counted
              date(2026, 11, 20): DayCount(2, 0, 0), date(2026, 11, 28): DayCount(3, 1, 0),
              date(2026, 12, 3): DayCount(4, 4, 0)})
    bob = UserEvidence(  # v1.0-like: some sign-ins with an unknown requirement
        last_sign_in=at(date(2026, 11, 30)), last_mfa_sign_in=None, last_single_factor_sign_in=at(date(2026, 11, 19)),
        days={date(2026, 11, 19): DayCount(1, 0, 0), date(2026, 11, 30): DayCount(2, 0, 2)})
    carol = UserEvidence(  # only unknown: nothing to judge
        last_sign_in=at(date(2026, 12, 1)), days={date(2026, 12, 1): DayCount(3, 0, 3)})
    dave = UserEvidence(legacy_clients={"Authenticated SMTP": at(date(2026, 11, 4), 0)})  # failed attempts only
    return TenantEvidence(users={"alice": alice, "bob": bob, "carol": carol, "dave": dave},
                          read_until=AS_OF)


def frame(*ids: str | None) -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series(list(ids), dtype="string"), "upn": [f"{i}@x" for i in ids]})


def test_the_window_is_the_30_days_ending_on_the_read_day() -> None:
    assert window_start(AS_OF) == FIRST
    assert window_start(AS_OF, 14) == date(2026, 11, 20)
    assert window_start(datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == FIRST


def test_columns_hold_each_users_evidence_with_exact_dtypes() -> None:
    cols = evidence_columns(frame("alice", "bob", "carol", "dave", "erin", None)["id"], evidence(), AS_OF)
    assert {c: str(cols[c].dtype) for c in cols} == EVIDENCE_COLUMNS
    assert cols["last_mfa_sign_in"].tolist()[:2] == [pd.Timestamp("2026-12-03 08:00", tz="UTC"), pd.NaT]
    assert cols["last_single_factor_sign_in"].tolist()[:3] == [
        pd.Timestamp("2026-11-28 09:00", tz="UTC"), pd.Timestamp("2026-11-19 09:00", tz="UTC"), pd.NaT]
    assert cols["legacy_clients"].tolist() == ["IMAP4 (28 Nov), POP3 (20 Nov)", "", "", "Authenticated SMTP (4 Nov)",
                                               "", ""]
    assert cols["last_legacy_sign_in"].tolist() == [
        pd.Timestamp("2026-11-28 09:00", tz="UTC"), pd.NaT, pd.NaT, pd.Timestamp("2026-11-04 00:00", tz="UTC"),
        pd.NaT, pd.NaT]
    assert cols["mfa_share"].tolist()[:3] == [5 / 9, 0.0, pd.NA]  # alice 5 of 9; bob 0 of 1 known
    assert cols["mfa_share"].isna().tolist() == [False, False, True, True, True, True]
    assert cols["sign_ins_30d"].tolist() == [9, 3, 3, 0, 0, 0]


def test_with_evidence_appends_and_replaces_without_touching_the_frame() -> None:
    users = frame("bob", "alice")
    users.index = [10, 11]
    joined = with_evidence(users, evidence(), AS_OF)
    assert list(joined.columns) == ["id", "upn", *EVIDENCE_COLUMNS]
    assert list(joined.index) == [10, 11] and joined["sign_ins_30d"].tolist() == [3, 9]
    assert list(users.columns) == ["id", "upn"]
    again = with_evidence(joined, TenantEvidence(), AS_OF)
    assert list(again.columns) == list(joined.columns) and again["sign_ins_30d"].tolist() == [0, 0]


def test_legacy_words_are_newest_first_from_since() -> None:
    clients = {"POP3": at(date(2026, 11, 20)), "IMAP4": at(date(2026, 11, 28)), "Other clients": at(date(2026, 10, 1))}
    assert legacy_words(clients, at(date(2026, 11, 1), 0)) == "IMAP4 (28 Nov), POP3 (20 Nov)"
    assert legacy_words({}, AS_OF) == ""


def test_the_evidence_filters_keep_exactly_their_users() -> None:
    joined = with_evidence(frame("alice", "bob", "carol", "dave", "erin"), evidence(), AS_OF)

    def kept(code: str) -> list[str]:
        return joined.loc[evidence_mask(joined, code, AS_OF), "id"].tolist()

    assert kept("legacy_30") == ["alice", "dave"]  # dave's one attempt is at the window's first midnight
    assert kept("single_factor_14") == ["alice"]  # bob's was on 19 Nov, a day before the 14 days
    assert kept("no_sign_in_30") == ["dave", "erin"]
    with pytest.raises(ValueError, match="unknown sign-in evidence filter 'nope'"):
        evidence_mask(joined, "nope", AS_OF)
    with pytest.raises(ValueError, match="the sign-in log was not read"):
        evidence_mask(frame("alice"), "legacy_30", AS_OF)


def test_columns_for_100k_users_take_under_5_cpu_seconds() -> None:
    day = date(2026, 12, 1)
    users = {f"u{n}": UserEvidence(last_sign_in=at(day), last_mfa_sign_in=at(day),
                                   legacy_clients={"IMAP4": at(day)} if n % 10 == 0 else {},
                                   days={day - timedelta(days=d): DayCount(2, 1, 0) for d in range(20)})
             for n in range(100_000)}
    ids = pd.Series([f"u{n}" for n in range(100_000)], dtype="string")
    began = time.process_time()
    cols = evidence_columns(ids, TenantEvidence(users=users), AS_OF)
    spent = time.process_time() - began
    assert int(cols["sign_ins_30d"].sum()) == 100_000 * 40
    assert int((cols["legacy_clients"] == "IMAP4 (1 Dec)").sum()) == 10_000
    assert spent < 5.0, spent  # CPU time, not wall-clock: a loaded machine does not make it fail


# --- figures ---------------------------------------------------------------------------------------


def test_figures_count_single_factor_sign_ins_per_day_with_missing_days_as_zero() -> None:
    fig = sign_in_figures(evidence(), AS_OF)
    assert fig.daily["day"].tolist()[0] == pd.Timestamp("2026-11-04", tz="UTC")
    assert fig.daily["day"].tolist()[-1] == pd.Timestamp("2026-12-03", tz="UTC")
    assert len(fig.daily) == 30 and str(fig.daily["day"].dtype) == UTC_TIMESTAMP
    assert str(fig.daily["single_factor"].dtype) == "int64"
    by_day = dict(zip(fig.daily["day"].dt.date, fig.daily["single_factor"], strict=True))
    assert {d: n for d, n in by_day.items() if n} == {date(2026, 11, 19): 1, date(2026, 11, 20): 2,
                                                       date(2026, 11, 28): 2}
    assert fig.single_factor == 5
    assert (fig.last_week, fig.week_before) == (2, 3)  # 26 Nov..2 Dec holds 28 Nov; 19..25 Nov holds 19 and 20 Nov
    assert (fig.sign_ins, fig.judged, fig.mfa) == (15, 10, 5)
    assert fig.mfa_share == 0.5
    assert fig.legacy_user_ids == ("alice", "dave") and fig.legacy_users == 2
    assert fig.legacy_by_client == {"Authenticated SMTP": 1, "IMAP4": 1, "POP3": 1}


def test_the_trend_compares_the_last_full_week_with_the_one_before() -> None:
    days = {date(2026, 11, 18): DayCount(50, 0, 0),  # before both weeks
            date(2026, 11, 19): DayCount(4, 0, 0), date(2026, 11, 25): DayCount(9, 0, 0),  # 19..25 Nov
            date(2026, 11, 26): DayCount(10, 0, 0), date(2026, 12, 2): DayCount(1, 0, 0),  # 26 Nov..2 Dec
            date(2026, 12, 3): DayCount(99, 0, 0)}  # the read's own day: in the count and the chart, not the trend
    fig = sign_in_figures(TenantEvidence(users={"x": UserEvidence(days=days)}), AS_OF)
    assert (fig.last_week, fig.week_before, fig.single_factor) == (11, 13, 173)
    assert fig.trend == "down 15% on the week before"


def test_figures_follow_the_users_counted() -> None:
    fig = sign_in_figures(evidence(), AS_OF, ["bob", "carol", "zed"])
    assert (fig.single_factor, fig.sign_ins, fig.judged, fig.mfa) == (1, 6, 1, 0)
    assert fig.mfa_share == 0.0 and fig.legacy_users == 0 and fig.legacy_by_client == {}
    empty = sign_in_figures(evidence(), AS_OF, [])
    assert (empty.single_factor, empty.mfa_share, empty.trend) == (0, None, "none in either of the last two weeks")
    assert np.array_equal(empty.daily["single_factor"].to_numpy(), np.zeros(30, dtype=np.int64))


@pytest.mark.parametrize(("last", "before", "words"), [
    (77, 100, "down 23% on the week before"), (150, 100, "up 50% on the week before"),
    (100, 100, "about the same as the week before"), (1001, 1000, "about the same as the week before"),
    (3, 0, "up from none the week before"), (0, 0, "none in either of the last two weeks"),
    (0, 8, "down 100% on the week before"),
])
def test_trend_words(last: int, before: int, words: str) -> None:
    assert trend_words(last, before) == words


def test_the_chart_draws_every_day() -> None:
    fig = sign_in_figures(evidence(), AS_OF)
    chart = single_factor_chart(fig.daily)
    (bars,) = chart.data
    assert len(bars.x) == 30 and list(bars.y)[15:17] == [1, 2]
    assert bars.marker.color == "#D55E00"
