"""lib.kpis: the overview's tiles, exact numbers on constructed frames."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.columns import coerce_users, empty_users_frame
from lib.kpis import (
    KpiChange,
    Kpis,
    aggregate_counts,
    compute_kpis,
    kpi_tiles,
    normalise_aggregates,
    percent,
    previous_week_row,
)

T = pd.Timestamp("2026-03-10 06:00", tz="UTC")


def users(*rows: dict, read_at: pd.Timestamp = T) -> pd.DataFrame:
    base = {
        "display_name": "", "mail": None, "department": None, "country": None, "job_title": None,
        "is_guest": False, "account_enabled": True, "is_admin": False, "account_kind": "person",
        "state": "disabled", "registered": False, "capable": False, "methods": "", "method_count": 0,
        "preferred_method": "", "created": None, "last_sign_in": None,
        "users_read_at": read_at, "registration_read_at": read_at, "state_read_at": read_at,
    }
    records = [{**base, "id": f"u{i}", "upn": f"u{i}@contoso.com", **row} for i, row in enumerate(rows)]
    return coerce_users(pd.DataFrame(records)) if records else empty_users_frame()


@pytest.fixture
def eight() -> pd.DataFrame:
    return users(
        {"state": "disabled"},
        {"state": "disabled", "registered": True, "capable": True},
        {"state": "enabled", "registered": True, "capable": False},
        {"state": "enabled", "is_admin": True},  # admin without a method: u3
        {"state": "enforced", "registered": True, "capable": True, "is_admin": True},
        {"state": "enforced", "registered": True, "capable": True, "is_guest": True},
        {"state": "unknownFutureValue", "is_guest": True, "is_admin": True},  # admin without a method: u6
        {"state": None},
    )


def test_exact_counts_and_percentages(eight: pd.DataFrame) -> None:
    k = compute_kpis(eight)
    assert k == Kpis(
        users=8, registered=4, capable=3, pct_registered=50.0, pct_capable=37.5,
        disabled=2, enabled=2, enforced=2, unknown=2,
        admins=3, admins_unregistered=2, admins_unregistered_ids=("u3", "u6"),
        admins_unregistered_upns=("u3@contoso.com", "u6@contoso.com"),
        guests=2, change=None,
    )
    assert k.disabled + k.enabled + k.enforced + k.unknown == k.users


def test_empty_frame_gives_zeros() -> None:
    k = compute_kpis(empty_users_frame())
    assert (k.users, k.registered, k.pct_registered, k.pct_capable) == (0, 0, 0.0, 0.0)
    assert (k.disabled, k.enabled, k.enforced, k.unknown, k.guests, k.admins_unregistered) == (0, 0, 0, 0, 0, 0)
    assert k.admins_unregistered_ids == ()
    assert [t.value for t in kpi_tiles(k)] == ["0", "0.0%", "0.0%", "0", "0", "0", "0", "0", "0"]


def test_all_guests() -> None:
    k = compute_kpis(users({"is_guest": True, "registered": True}, {"is_guest": True}, {"is_guest": True}))
    assert (k.users, k.guests, k.registered) == (3, 3, 1)
    assert k.pct_registered == pytest.approx(100 / 3)


def test_percent_helper() -> None:
    assert percent(1, 4) == 25.0
    assert percent(5, 0) == 0.0


def aggregates(rows: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    """(day, users, registered, enforced) → a frame shaped like Store.daily_aggregates()."""
    return pd.DataFrame({
        "day": pd.to_datetime([r[0] for r in rows]),
        "snapshot_id": range(1, len(rows) + 1),
        "users": [r[1] for r in rows],
        "enabled_accounts": [r[1] for r in rows],
        "guests": [10] * len(rows),
        "admins": [5] * len(rows),
        "registered": [r[2] for r in rows],
        "capable": [r[2] for r in rows],
        "state_disabled": [r[1] - r[3] - 20 for r in rows],
        "state_enabled": [20] * len(rows),
        "state_enforced": [r[3] for r in rows],
        "state_unknown": [0] * len(rows),
        "admins_unregistered": [3, 3, 2, 1][: len(rows)] if len(rows) <= 4 else [1] * len(rows),
    })


HISTORY = [("2026-03-01", 200, 50, 10), ("2026-03-02", 200, 60, 20), ("2026-03-05", 210, 84, 30),
           ("2026-03-10", 220, 110, 55)]


def test_previous_week_row_takes_the_last_day_on_or_before_a_week_ago() -> None:
    row = previous_week_row(aggregates(HISTORY))  # latest 03-10 → target 03-03 → 03-02 (03-03/04 missing)
    assert row is not None
    assert row["day"] == pd.Timestamp("2026-03-02")
    assert int(row["snapshot_id"]) == 2


def test_previous_week_row_none_without_enough_history() -> None:
    assert previous_week_row(aggregates(HISTORY[2:])) is None  # 03-05 and 03-10 only
    assert previous_week_row(aggregates([])) is None
    wide_gap = aggregates([("2026-02-01", 100, 10, 1), ("2026-03-10", 100, 20, 2)])
    assert previous_week_row(wide_gap) is None  # 03-03 minus 7 days is 02-24: 02-01 is too old
    assert previous_week_row(wide_gap, max_gap_days=30)["day"] == pd.Timestamp("2026-02-01")
    with pytest.raises(ValueError):
        previous_week_row(wide_gap, days=0)


def test_change_from_daily_aggregates(eight: pd.DataFrame) -> None:
    k = compute_kpis(eight, aggregates(HISTORY))
    assert k.change == KpiChange(
        since=pd.Timestamp("2026-03-02"), basis="all users", users=20,
        pct_registered=pytest.approx(110 / 220 * 100 - 30.0), pct_capable=pytest.approx(20.0),
        disabled=(220 - 55 - 20) - (200 - 20 - 20), enabled=0, enforced=35, unknown=0, guests=0,
        admins_unregistered=1 - 3,
    )
    assert k.users == 8  # the tiles themselves still come from the frame


def test_no_change_without_history(eight: pd.DataFrame) -> None:
    assert compute_kpis(eight, aggregates(HISTORY[3:])).change is None
    assert compute_kpis(eight, None).change is None


def test_change_from_a_previous_users_frame_is_exact_for_the_scope(eight: pd.DataFrame) -> None:
    week_ago = users({"state": "disabled"}, {"state": "disabled"}, {"state": "enabled", "registered": True,
                     "is_admin": True}, read_at=pd.Timestamp("2026-03-03 06:00", tz="UTC"))
    change = compute_kpis(eight, week_ago).change
    assert change == KpiChange(
        since=pd.Timestamp("2026-03-03 06:00", tz="UTC"), basis="scope", users=5,
        pct_registered=pytest.approx(50.0 - 100 / 3), pct_capable=37.5, disabled=0, enabled=1, enforced=2,
        unknown=2, guests=2, admins_unregistered=2,
    )


def test_aggregates_are_normalised() -> None:
    raw = pd.DataFrame({
        "day": ["2026-03-02", "2026-03-01 00:00", "2026-03-01 18:00", "not a day"],
        "users": [3, 1, 2, 9], "enforced": [1, 0, 1, 9],
    })
    daily = normalise_aggregates(raw)
    assert list(daily["day"]) == [pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-02")]
    assert list(daily["users"]) == [2, 3]  # the later row of 03-01 wins; the unparsable one is dropped
    assert list(daily.columns) == ["day", "users", "state_enforced"]
    with pytest.raises(ValueError, match="'day'"):
        normalise_aggregates(pd.DataFrame({"users": [1]}))


def test_zone_aware_days_become_utc_days() -> None:
    day = pd.Series(pd.to_datetime(["2026-03-02 00:30"]).tz_localize("Europe/Stockholm"))
    daily = normalise_aggregates(pd.DataFrame({"day": day, "users": [1]}))
    assert list(daily["day"]) == [pd.Timestamp("2026-03-01")]  # 00:30 CET is 23:30 UTC the day before


def test_aggregate_counts_accepts_short_names_and_mappings() -> None:
    counts = aggregate_counts({"users": 5, "registered": 2, "enforced": 1, "state_enabled": 3})
    assert counts == {"users": 5, "registered": 2, "capable": 0, "guests": 0, "admins": 0, "admins_unregistered": 0,
                      "disabled": 0, "enabled": 3, "enforced": 1, "unknown": 0}


def test_tiles_text(eight: pd.DataFrame) -> None:
    tiles = kpi_tiles(compute_kpis(eight, aggregates(HISTORY)))
    assert [(t.key, t.value, t.delta, t.highlight) for t in tiles] == [
        ("users", "8", "+20", False),
        ("pct_registered", "50.0%", "+20.0 pp", False),
        ("pct_capable", "37.5%", "+20.0 pp", False),
        ("disabled", "2", "-15", False),
        ("enabled", "2", "±0", False),
        ("enforced", "2", "+35", False),
        ("unknown", "2", "±0", False),
        ("admins_unregistered", "2", "-2", True),
        ("guests", "2", "±0", False),
    ]
    assert tiles[7].label == "Admins without a registered method"


def test_big_numbers_are_grouped() -> None:
    k = compute_kpis(users(*[{"registered": i % 3 == 0} for i in range(1234)]))
    tiles = {t.key: t for t in kpi_tiles(k)}
    assert tiles["users"].value == "1,234"
    assert tiles["pct_registered"].value == "33.4%"  # 412 / 1234
    assert tiles["users"].delta is None
