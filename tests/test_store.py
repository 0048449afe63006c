"""The history store against real databases: rows written, snapshots read back, migrations, locks.

Tests taking ``store`` or ``database_url`` run twice, on a SQLite file and on PostgreSQL; the rest
are about SQLite itself (its file, WAL mode, a foreign client's lock) or the PostgreSQL URL form.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.columns import USER_COLUMNS, coerce_users
from lib.store import (
    AGGREGATE_DTYPES,
    DATA_ENV,
    HISTORY_DTYPES,
    MIGRATIONS,
    MigrationError,
    NotFoundError,
    SchemaTooNewError,
    SnapshotStateError,
    Store,
    StoreLockedError,
    default_database_url,
    open_store,
)
from lib.store.engine import normalise_url, write_transaction
from lib.store.schema import metadata

TENANT = "11111111-2222-3333-4444-555555555555"
T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def user(n: int, **overrides: Any) -> dict[str, Any]:
    """A plain user row; tests override only what they are about."""
    row: dict[str, Any] = {
        "id": f"u{n:03d}",
        "upn": f"user{n}@contoso.example",
        "display_name": f"User {n}",
        "mail": f"user{n}@contoso.example",
        "department": "Sales",
        "country": "SE",
        "job_title": None,
        "is_guest": False,
        "account_enabled": True,
        "is_admin": False,
        "account_kind": "person",
        "state": "disabled",
        "registered": False,
        "capable": False,
        "methods": None,
        "method_count": 0,
        "preferred_method": None,
        "created": pd.Timestamp("2024-01-02T03:04:05Z"),
        "last_sign_in": None,
        "users_read_at": T0,
        "registration_read_at": T0,
        "state_read_at": T0,
    }
    row.update(overrides)
    return row


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return coerce_users(pd.DataFrame(rows, columns=list(USER_COLUMNS)))


def expected(rows: list[dict[str, Any]], at: datetime) -> pd.DataFrame:
    """What ``load_users`` must return for ``rows`` stored by a snapshot read at ``at``."""
    stamped = [{**r, "users_read_at": at, "registration_read_at": at, "state_read_at": at} for r in rows]
    return frame(stamped).sort_values("id", ignore_index=True)


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "console.db"


@pytest.fixture
def store(database_url: str) -> Store:
    opened = open_store(database_url)
    opened.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=T0)
    yield opened
    opened.close()


def snapshot(store: Store, rows: list[dict[str, Any]], at: datetime, **stats: Any):
    """One refresh as the console does it: begin, then complete with the full frame."""
    snapshot_id = store.begin_snapshot(TENANT, "reports", started_at=at)
    return store.complete_snapshot(
        snapshot_id,
        frame(rows),
        users_read_at=at,
        registration_read_at=at,
        state_read_at=at,
        stats=stats or {"requests": 3},
        finished_at=at + timedelta(minutes=1),
    )


def query(store: Store, sql: str) -> list[tuple]:
    """Rows of a plain SQL query on the store's database, as tuples (booleans come back as bool or 0/1)."""
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def count_rows(store: Store, table: str) -> int:
    return query(store, f"SELECT count(*) FROM {table}")[0][0]


# -- opening -------------------------------------------------------------------------------------------


def test_open_creates_the_file_in_wal_mode_with_foreign_keys(db_path: Path) -> None:
    with open_store(url_of(db_path)) as opened:
        assert opened.schema_version == len(MIGRATIONS)
        assert opened.where == str(db_path)
        with opened.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert db_path.is_file()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = raw.execute("SELECT version FROM schema_version").fetchall()
        assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


def test_migrated_database_matches_schema_module(database_url: str) -> None:
    """Catches a change to lib/store/schema.py (or lib/columns.py) that no migration performs."""
    with open_store(database_url) as opened:
        inspector = sa.inspect(opened.engine)
        assert set(inspector.get_table_names()) == set(metadata.tables)
        for table in metadata.tables.values():
            actual = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
            wanted = {c.name: c.nullable for c in table.columns}
            assert actual == wanted, table.name
            pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name


def test_default_database_url_uses_env_then_dot_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'elsewhere' / 'console.db'}"
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.chdir(tmp_path)
    assert default_database_url() == f"sqlite:///{tmp_path / '.data' / 'console.db'}"
    with open_store() as opened:
        assert opened.where == str(tmp_path / ".data" / "console.db")
    assert (tmp_path / ".data" / "console.db").is_file()


# -- writing only changes ------------------------------------------------------------------------------


def test_first_snapshot_writes_every_user(store: Store) -> None:
    summary = snapshot(store, [user(n) for n in range(1, 8)], T0)
    assert (summary.new, summary.changed, summary.removed, summary.rows_written) == (7, 0, 0, 7)
    assert summary.user_count == 7
    assert count_rows(store, "user_versions") == 7
    assert count_rows(store, "user_latest") == 7


def test_second_snapshot_writes_exactly_the_changed_users(store: Store) -> None:
    rows = [user(n) for n in range(1, 11)]
    snapshot(store, rows, T0)
    later = [dict(r) for r in rows]
    later[1]["state"] = "enabled"  # a string fact
    later[3].update(registered=True, methods="mobilePhone", method_count=1)  # NA → value
    later[5]["created"] = pd.Timestamp("2024-01-02T03:04:05.000000001Z")  # one nanosecond
    later[7]["last_sign_in"] = T0  # volatile: not a change
    later[8]["job_title"] = None  # NA stays NA: not a change
    summary = snapshot(store, later, T0 + DAY)
    assert (summary.new, summary.changed, summary.removed) == (0, 3, 0)
    assert count_rows(store, "user_versions") == 13
    written = query(store, "SELECT user_id FROM user_versions WHERE snapshot_id = 2 ORDER BY user_id")
    assert written == [("u002",), ("u004",), ("u006",)]
    pd.testing.assert_frame_equal(store.load_users(TENANT), expected(later, T0 + DAY), check_exact=True)


def test_tenant_emptied_removes_everyone(store: Store) -> None:
    snapshot(store, [user(1), user(2)], T0)
    summary = snapshot(store, [], T0 + DAY)
    assert (summary.new, summary.changed, summary.removed, summary.user_count) == (0, 0, 2, 0)
    assert store.load_users(TENANT).empty
    assert store.daily_aggregates(TENANT)["users"].tolist() == [2, 0]


def test_unchanged_refresh_writes_nothing(store: Store) -> None:
    rows = [user(n, last_sign_in=T0 - DAY) for n in range(1, 6)]
    snapshot(store, rows, T0)
    summary = snapshot(store, rows, T0 + DAY)
    assert summary.rows_written == 0
    assert count_rows(store, "user_versions") == 5


def test_removed_user_gets_a_tombstone_and_leaves_load_users(store: Store) -> None:
    rows = [user(n) for n in range(1, 5)]
    snapshot(store, rows, T0)
    summary = snapshot(store, rows[:2] + rows[3:], T0 + DAY)
    assert (summary.new, summary.changed, summary.removed) == (0, 0, 1)
    assert query(store, "SELECT user_id, removed FROM user_versions WHERE snapshot_id = 2") == [("u003", True)]
    assert store.load_users(TENANT)["id"].tolist() == ["u001", "u002", "u004"]
    back = snapshot(store, rows, T0 + 2 * DAY)  # the user comes back: a new row, not a change
    assert (back.new, back.changed, back.removed) == (1, 0, 0)
    assert store.load_users(TENANT)["id"].tolist() == ["u001", "u002", "u003", "u004"]
    history = store.user_history(TENANT, "u003")
    assert history["snapshot_id"].tolist() == [1, 2, 3]
    assert history["removed"].tolist() == [False, True, False]


def test_older_snapshot_returns_the_old_values(store: Store) -> None:
    first = [user(1), user(2, state="enabled"), user(3)]
    second = [user(1, state="enforced", registered=True), user(2, state="enabled"), user(4)]
    third = [user(1, state="enforced", registered=True, capable=True), user(4), user(5)]
    ids = [snapshot(store, rows, T0 + i * DAY).snapshot_id for i, rows in enumerate((first, second, third))]
    for snapshot_id, rows, i in zip(ids, (first, second, third), range(3), strict=True):
        pd.testing.assert_frame_equal(
            store.load_users(TENANT, snapshot_id), expected(rows, T0 + i * DAY), check_exact=True
        )
    pd.testing.assert_frame_equal(store.load_users(TENANT), expected(third, T0 + 2 * DAY), check_exact=True)


def test_last_sign_in_is_latest_value_without_history_rows(store: Store) -> None:
    signed = [T0 - 3 * DAY, T0 - DAY, T0 + DAY]
    snapshot(store, [user(1, last_sign_in=signed[0]), user(2, last_sign_in=signed[0])], T0)
    snapshot(store, [user(1, last_sign_in=signed[1]), user(2, last_sign_in=signed[0])], T0 + DAY)
    snapshot(store, [user(1, last_sign_in=signed[2]), user(2, last_sign_in=signed[0])], T0 + 2 * DAY)
    assert count_rows(store, "user_versions") == 2
    latest = store.load_users(TENANT).set_index("id")["last_sign_in"]
    assert latest.tolist() == [pd.Timestamp(signed[2]), pd.Timestamp(signed[0])]
    # u002's value was first seen at snapshot 1, so it is exact there; u001's changed since, so
    # snapshot 1 shows the value its version was written with.
    first = store.load_users(TENANT, 1).set_index("id")["last_sign_in"]
    assert first.tolist() == [pd.Timestamp(signed[0]), pd.Timestamp(signed[0])]
    assert query(store, "SELECT user_id, snapshot_id FROM user_latest ORDER BY user_id") == [
        ("u001", 3),
        ("u002", 1),
    ]


def test_dtypes_round_trip_exactly(store: Store) -> None:
    rows = [
        user(
            1,
            display_name="Åsa Öberg — 山田",
            job_title="Chef",
            is_guest=True,
            is_admin=True,
            state="enforced",
            registered=True,
            capable=True,
            methods="fido2,microsoftAuthenticatorPush",
            method_count=2,
            preferred_method="push",
            created=pd.Timestamp("1970-01-01T00:00:00Z"),
            last_sign_in=pd.Timestamp("2025-02-28T23:59:59.123456789Z"),
        ),
        user(2, mail=None, department=None, country=None, account_kind=None, state=None, created=None),
        user(3, account_enabled=False, method_count=32767, state="unknown", methods=""),
    ]
    snapshot(store, rows, T0)
    loaded = store.load_users(TENANT)
    assert {name: str(dtype) for name, dtype in loaded.dtypes.items()} == USER_COLUMNS
    pd.testing.assert_frame_equal(loaded, expected(rows, T0), check_exact=True)
    # A frame straight from records (object columns, shuffled order) is the same users: no rows.
    untyped = pd.DataFrame(rows[::-1]).astype(object)
    again = store.begin_snapshot(TENANT, "reports", started_at=T0 + DAY)
    summary = store.complete_snapshot(
        again, untyped, users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={}
    )
    assert summary.rows_written == 0
    pd.testing.assert_frame_equal(store.load_users(TENANT), expected(rows, T0), check_exact=True)


# -- snapshot lifecycle ----------------------------------------------------------------------------------


def test_failed_or_cancelled_snapshot_never_becomes_latest(store: Store) -> None:
    rows = [user(1), user(2)]
    done = snapshot(store, rows, T0).snapshot_id
    failed = store.begin_snapshot(TENANT, "methods", started_at=T0 + DAY)
    store.fail_snapshot(failed, "Graph returned 503 three times")
    cancelled = store.begin_snapshot(TENANT, "reports", started_at=T0 + 2 * DAY)
    store.fail_snapshot(cancelled, "admin cancelled", status="cancelled")
    running = store.begin_snapshot(TENANT, "reports", started_at=T0 + 3 * DAY)
    assert store.latest_snapshot(TENANT).id == done
    assert [(s.id, s.status) for s in store.list_snapshots(TENANT)] == [
        (done, "complete"),
        (failed, "failed"),
        (cancelled, "cancelled"),
        (running, "running"),
    ]
    assert store.get_snapshot(failed).error == "Graph returned 503 three times"
    pd.testing.assert_frame_equal(store.load_users(TENANT), expected(rows, T0), check_exact=True)
    with pytest.raises(SnapshotStateError, match=f"snapshot {failed} is failed; only a running snapshot"):
        store.complete_snapshot(
            failed, frame(rows), users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={}
        )
    with pytest.raises(SnapshotStateError, match=f"snapshot {cancelled} is cancelled; only a complete"):
        store.load_users(TENANT, cancelled)


def test_snapshot_overtaken_by_a_newer_one_is_cancelled(store: Store) -> None:
    older = store.begin_snapshot(TENANT, "reports", started_at=T0)
    newer = store.begin_snapshot(TENANT, "reports", started_at=T0 + timedelta(minutes=5))
    store.complete_snapshot(
        newer, frame([user(1)]), users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={}
    )
    with pytest.raises(SnapshotStateError, match=f"snapshot {older} was overtaken by snapshot {newer}"):
        store.complete_snapshot(
            older, frame([user(2)]), users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={}
        )
    assert store.get_snapshot(older).status == "cancelled"
    assert store.load_users(TENANT)["id"].tolist() == ["u001"]


def test_two_stores_on_one_database_stay_correct(store: Store, database_url: str) -> None:
    """Another process (a second app replica) refreshing in between must not be missed."""
    other = open_store(database_url)
    try:
        snapshot(store, [user(1), user(2), user(3)], T0)
        by_other = snapshot(other, [user(1, state="enabled"), user(2), user(3)], T0 + DAY)
        assert (by_other.new, by_other.changed) == (0, 1)
        mine = snapshot(store, [user(1, state="enabled"), user(2, state="enabled"), user(3)], T0 + 2 * DAY)
        assert (mine.new, mine.changed, mine.removed) == (0, 1, 0)
        assert other.load_users(TENANT)["state"].tolist() == ["enabled", "enabled", "disabled"]
    finally:
        other.close()


def test_a_large_snapshot_is_written_in_bulk_and_read_back_exactly(store: Store) -> None:
    """More values than one statement may carry (PostgreSQL: 65,535 parameters; old SQLite: 999)."""
    rows = [user(n, id=f"u{n:05d}", state=("disabled", "enabled", "enforced")[n % 3],
                 last_sign_in=T0 - n * timedelta(seconds=1)) for n in range(3000)]
    summary = snapshot(store, rows, T0)
    assert (summary.new, summary.user_count) == (3000, 3000)
    assert count_rows(store, "user_versions") == count_rows(store, "user_latest") == 3000
    pd.testing.assert_frame_equal(store.load_users(TENANT), expected(rows, T0), check_exact=True)
    changed = [dict(r, department="IT", last_sign_in=T0) if n % 2 else r for n, r in enumerate(rows)]
    assert snapshot(store, changed, T0 + DAY).changed == 1500
    assert store.load_users(TENANT)["last_sign_in"].eq(pd.Timestamp(T0)).sum() == 1501  # and u00000 already
    assert store.load_users(TENANT, summary.snapshot_id)["department"].eq("Sales").all()


def test_snapshot_records_times_counts_and_stats(store: Store) -> None:
    summary = snapshot(store, [user(1), user(2)], T0, requests=12, retries=1, seconds=0.5)
    recorded = store.get_snapshot(summary.snapshot_id)
    assert recorded.tenant_id == TENANT
    assert recorded.status == "complete"
    assert recorded.registration_source == "reports"
    assert recorded.started_at == pd.Timestamp(T0)
    assert recorded.finished_at == pd.Timestamp(T0 + timedelta(minutes=1))
    assert recorded.users_read_at == recorded.registration_read_at == recorded.state_read_at == pd.Timestamp(T0)
    assert recorded.user_count == 2
    assert recorded.stats == {"requests": 12, "retries": 1, "seconds": 0.5}
    assert recorded.error is None


def test_no_snapshot_yet_loads_an_empty_typed_frame(store: Store) -> None:
    assert store.latest_snapshot(TENANT) is None
    empty = store.load_users(TENANT)
    assert empty.empty
    assert {name: str(dtype) for name, dtype in empty.dtypes.items()} == USER_COLUMNS


def test_bad_arguments_are_refused_early(store: Store) -> None:
    with pytest.raises(ValueError, match="mode must be one of demo, tenant"):
        store.upsert_tenant("t2", "Fabrikam", "fabrikam.example", "prod")
    with pytest.raises(ValueError, match="registration_source must be one of reports, methods"):
        store.begin_snapshot(TENANT, "graph")
    with pytest.raises(ValueError, match="started_at must be timezone-aware"):
        store.begin_snapshot(TENANT, "reports", started_at=datetime(2025, 1, 1))
    with pytest.raises(NotFoundError, match="unknown tenant 'nobody'"):
        store.begin_snapshot("nobody", "reports")
    with pytest.raises(NotFoundError, match="unknown snapshot 99"):
        store.fail_snapshot(99, "x")
    snapshot_id = store.begin_snapshot(TENANT, "reports", started_at=T0)
    with pytest.raises(ValueError, match="status must be one of failed, cancelled"):
        store.fail_snapshot(snapshot_id, "x", status="complete")
    with pytest.raises(ValueError, match="1 duplicated id"):
        store.complete_snapshot(
            snapshot_id, frame([user(1), user(1)]),
            users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={},
        )
    with pytest.raises(ValueError, match="missing columns: state"):
        store.complete_snapshot(
            snapshot_id, frame([user(1)]).drop(columns="state"),
            users_read_at=T0, registration_read_at=T0, state_read_at=T0, stats={},
        )
    assert store.get_snapshot(snapshot_id).status == "running"


def test_upsert_tenant_keeps_first_seen(store: Store) -> None:
    renamed = store.upsert_tenant(TENANT, "Contoso Ltd", "contoso.example", "tenant", seen_at=T0 + DAY)
    assert (renamed.name, renamed.mode, renamed.first_seen) == ("Contoso Ltd", "tenant", pd.Timestamp(T0))
    assert store.get_tenant(TENANT) == renamed
    assert store.get_tenant("nobody") is None


# -- daily aggregates ----------------------------------------------------------------------------------


AGGREGATE_ROWS = [
    user(1, is_admin=True, registered=True, capable=True, state="enforced"),
    user(2, is_admin=True, state="enabled"),
    user(3, account_enabled=False, is_guest=True, state="disabled"),
    user(4, registered=True, state="unknown"),
    user(5, registered=True, capable=True, state=None),
    user(6, is_guest=True, is_admin=True, state="disabled"),
]


def test_daily_aggregates_exact_counts(store: Store) -> None:
    summary = snapshot(store, AGGREGATE_ROWS, T0)
    table = store.daily_aggregates(TENANT)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == AGGREGATE_DTYPES
    assert table.to_dict("records") == [
        {
            "day": pd.Timestamp("2025-03-01"),
            "snapshot_id": summary.snapshot_id,
            "users": 6,
            "enabled_accounts": 5,
            "guests": 2,
            "admins": 3,
            "registered": 3,
            "capable": 2,
            "state_disabled": 2,
            "state_enabled": 1,
            "state_enforced": 1,
            "state_unknown": 2,
            "admins_unregistered": 2,
        }
    ]


def test_last_complete_snapshot_of_the_day_wins(store: Store) -> None:
    snapshot(store, AGGREGATE_ROWS, T0 + DAY)  # a later day first: rows come back sorted by day
    snapshot(store, AGGREGATE_ROWS, T0)
    morning = AGGREGATE_ROWS[:4]
    last = snapshot(store, morning, T0 + timedelta(hours=3)).snapshot_id
    failed = store.begin_snapshot(TENANT, "reports", started_at=T0 + timedelta(hours=5))
    store.fail_snapshot(failed, "timeout")
    table = store.daily_aggregates(TENANT)
    assert table["day"].tolist() == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-02")]
    assert table["snapshot_id"].tolist() == [last, 1]
    assert table["users"].tolist() == [4, 6]
    assert table["admins_unregistered"].tolist() == [1, 2]


# -- seeding a simulated past --------------------------------------------------------------------------


def seed_frames() -> list[tuple[datetime, pd.DataFrame]]:
    day0 = [user(n) for n in range(1, 6)]
    day1 = [user(1, state="enabled"), *day0[1:]]
    day2 = [user(1, state="enforced", last_sign_in=T0 + 2 * DAY), *day0[1:4], user(6)]
    return [(T0 + i * DAY, frame(rows)) for i, rows in enumerate((day0, day1, day2))]


def test_seed_history_writes_complete_snapshots_of_changes(store: Store) -> None:
    frames = seed_frames()
    summaries = store.seed_history(TENANT, frames)
    assert [(s.new, s.changed, s.removed) for s in summaries] == [(5, 0, 0), (0, 1, 0), (1, 1, 1)]
    assert count_rows(store, "user_versions") == 9
    assert [s.status for s in store.list_snapshots(TENANT)] == ["complete"] * 3
    for summary, (at, seeded) in zip(summaries, frames, strict=True):
        rows = seeded.drop(columns=["users_read_at", "registration_read_at", "state_read_at"])
        pd.testing.assert_frame_equal(
            store.load_users(TENANT, summary.snapshot_id),
            expected(rows.to_dict("records"), at),
            check_exact=True,
        )
    assert store.daily_aggregates(TENANT)["users"].tolist() == [5, 5, 5]
    assert store.daily_aggregates(TENANT)["state_enforced"].tolist() == [0, 0, 1]
    # A refresh after the seed diffs against the last seeded day.
    after = snapshot(store, [r for r in frames[2][1].to_dict("records")], T0 + 3 * DAY)
    assert after.rows_written == 0


def test_seed_history_is_all_or_nothing_and_in_time_order(store: Store) -> None:
    frames = seed_frames()
    with pytest.raises(ValueError, match="seed frame 2 at 2025-03-01T06:00:00\\+00:00 is not after"):
        store.seed_history(TENANT, [*frames[:2], frames[0]])
    assert count_rows(store, "snapshots") == 0
    assert count_rows(store, "user_versions") == 0
    store.seed_history(TENANT, frames[:2])
    with pytest.raises(ValueError, match="seed frame 0 at 2025-03-02T06:00:00\\+00:00 is not after"):
        store.seed_history(TENANT, frames[1:])


# -- migrations ------------------------------------------------------------------------------------------


def _v2_owner_and_notes(conn: sa.Connection) -> None:
    """A plausible next migration: a column with a data backfill, and a new table."""
    conn.execute(sa.text("ALTER TABLE tenants ADD COLUMN owner TEXT"))
    conn.execute(sa.text("UPDATE tenants SET owner = 'security-lead'"))
    meta = sa.MetaData()
    sa.Table("notes", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))
    meta.create_all(conn)


def test_existing_database_is_upgraded_without_data_loss(database_url: str) -> None:
    rows = [user(n, state="enabled") for n in range(1, 4)]
    with open_store(database_url) as v1:
        v1.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=T0)
        snapshot(v1, rows, T0)
    with open_store(database_url, migrations=(*MIGRATIONS, _v2_owner_and_notes)) as v2:
        assert v2.schema_version == len(MIGRATIONS) + 1
        pd.testing.assert_frame_equal(v2.load_users(TENANT), expected(rows, T0), check_exact=True)
        summary = snapshot(v2, rows[:2], T0 + DAY)  # the store keeps working on the new schema
        assert summary.removed == 1
        assert query(v2, "SELECT version FROM schema_version ORDER BY version") == [
            (v,) for v in range(1, len(MIGRATIONS) + 2)]
        assert query(v2, "SELECT id, owner FROM tenants") == [(TENANT, "security-lead")]
        assert query(v2, "SELECT count(*) FROM notes") == [(0,)]
    with open_store(database_url, migrations=(*MIGRATIONS, _v2_owner_and_notes)) as again:
        assert again.schema_version == len(MIGRATIONS) + 1  # nothing re-applied


def test_failed_migration_leaves_the_previous_version(database_url: str) -> None:
    def _v2_broken(conn: sa.Connection) -> None:
        meta = sa.MetaData()
        sa.Table("half_done", meta, sa.Column("id", sa.Integer, primary_key=True))
        meta.create_all(conn)
        conn.execute(sa.text("ALTER TABLE no_such_table ADD COLUMN x TEXT"))

    open_store(database_url).close()
    next_version = len(MIGRATIONS) + 1
    missing = r'(no such table|relation "no_such_table" does not exist)'  # SQLite's words, PostgreSQL's
    with pytest.raises(MigrationError, match=f"migration to schema version {next_version} failed: {missing}"):
        open_store(database_url, migrations=(*MIGRATIONS, _v2_broken))
    with open_store(database_url) as opened:
        assert query(opened, "SELECT max(version) FROM schema_version") == [(len(MIGRATIONS),)]
        tables = set(sa.inspect(opened.engine).get_table_names())
    assert "half_done" not in tables
    assert "tenants" in tables


def test_newer_schema_is_refused_with_a_clear_message(database_url: str) -> None:
    newest = len(MIGRATIONS) + 3  # two steps newer than the console below knows, whatever its version
    with open_store(database_url) as opened, opened.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, 0)"),
                     [{"v": v} for v in range(len(MIGRATIONS) + 1, newest + 1)])
    two_more = (*MIGRATIONS, lambda conn: None, lambda conn: None)
    with pytest.raises(SchemaTooNewError) as raised:
        open_store(database_url, migrations=two_more)
    assert str(raised.value) == (
        f"database schema version {newest} is newer than this console supports ({len(MIGRATIONS) + 2}); "
        "upgrade the console"
    )
    assert (raised.value.found, raised.value.supported) == (newest, len(MIGRATIONS) + 2)
    supported = len(MIGRATIONS)
    with pytest.raises(SchemaTooNewError,
                       match=rf"version {newest} is newer than this console supports \({supported}\)"):
        open_store(database_url)


# -- locks -----------------------------------------------------------------------------------------------


def test_locked_database_raises_store_locked_error_naming_the_file(db_path: Path) -> None:
    opened = open_store(url_of(db_path), busy_timeout=0.2)
    holder = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert opened.latest_snapshot(TENANT) is None  # WAL: readers are not blocked
        with pytest.raises(StoreLockedError, match=re.escape(f"database {db_path} is locked")) as raised:
            opened.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo")
        assert "database is locked" in str(raised.value)
    finally:
        holder.rollback()
        holder.close()
    assert opened.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo").id == TENANT
    opened.close()


def test_locked_new_database_cannot_be_created(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreLockedError, match=re.escape(str(path))):
            open_store(url_of(path), busy_timeout=0.1)
    finally:
        holder.rollback()
        holder.close()


def test_writes_wait_for_another_writer_then_give_up_with_store_locked_error(database_url: str) -> None:
    """One writer at a time on either database; readers never wait; the error names the database."""
    holder, opened = open_store(database_url), open_store(database_url, busy_timeout=0.3)
    try:
        with write_transaction(holder.engine):  # another replica in the middle of a write
            assert opened.latest_snapshot(TENANT) is None
            started = time.monotonic()
            with pytest.raises(StoreLockedError, match=re.escape(f"database {opened.where} is locked")):
                opened.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo")
            assert 0.25 <= time.monotonic() - started < 60  # waited its busy timeout, then gave up
        assert opened.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo").id == TENANT
    finally:
        holder.close()
        opened.close()


def test_replicas_opening_a_new_database_at_once_migrate_it_once(database_url: str) -> None:
    """Several console processes starting together on an empty database: one migrates, the others wait."""
    gate = threading.Barrier(4)

    def open_one() -> int:
        gate.wait()
        with open_store(database_url, busy_timeout=30) as opened:
            return opened.schema_version

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: open_one(), range(4)))
    assert versions == [len(MIGRATIONS)] * 4
    with open_store(database_url) as opened:
        assert query(opened, "SELECT version FROM schema_version ORDER BY version") == [
            (v,) for v in range(1, len(MIGRATIONS) + 1)]


# -- PostgreSQL URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "used"), [
    ("postgresql://console:pw@db:5432/mfa_console", "postgresql+psycopg://console:pw@db:5432/mfa_console"),
    ("postgres://console@db/mfa_console", "postgresql+psycopg://console@db/mfa_console"),
    ("postgresql+psycopg://db/mfa_console", "postgresql+psycopg://db/mfa_console"),
    ("postgresql+psycopg2://db/mfa_console", "postgresql+psycopg2://db/mfa_console"),
    ("sqlite:////srv/console.db", "sqlite:////srv/console.db"),
])
def test_postgresql_urls_use_psycopg_3_unless_they_name_a_driver(given: str, used: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == used


def test_both_postgresql_url_forms_open_the_same_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")  # the form MFA_DATABASE_URL documents
    explicit = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with open_store(postgres_url) as plain:
        plain.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=T0)
        assert plain.engine.dialect.driver == "psycopg"
        password = sa.make_url(postgres_url).password
        assert password and password not in plain.where and "***" in plain.where
        assert plain.engine.dialect.name == "postgresql"
    with open_store(explicit) as named:
        assert named.get_tenant(TENANT).name == "Contoso"


def test_user_history_lists_versions_with_snapshot_times(store: Store) -> None:
    snapshot(store, [user(1), user(2)], T0)
    snapshot(store, [user(1, state="enabled"), user(2)], T0 + DAY)
    snapshot(store, [user(1, state="enabled"), user(2, department="IT")], T0 + 2 * DAY)
    snapshot(store, [user(1, state="enforced"), user(2, department="IT")], T0 + 3 * DAY)
    history = store.user_history(TENANT, "u001")
    assert {name: str(dtype) for name, dtype in history.dtypes.items()} == HISTORY_DTYPES
    assert history["snapshot_id"].tolist() == [1, 2, 4]
    assert history["snapshot_at"].tolist() == [pd.Timestamp(T0 + d * DAY) for d in (0, 1, 3)]
    assert history["state"].tolist() == ["disabled", "enabled", "enforced"]
    assert store.user_history(TENANT, "nobody").empty


def test_a_fresh_process_loads_the_latest_snapshot_from_its_parquet_copy_exactly(tmp_path) -> None:
    import pandas as pd

    from lib.columns import coerce_users
    from lib.store import open_store

    url = f"sqlite:///{tmp_path / 'cached.db'}"
    writer = open_store(url)
    writer.upsert_tenant("t", "T", "t.example", "demo")
    frame = coerce_users(pd.DataFrame({
        "id": ["b", "a"], "upn": ["b@x", "a@x"], "display_name": ["B", "A"], "mail": [None, "a@x"],
        "department": ["IT", None], "country": ["SE", "NO"], "job_title": [None, None], "is_guest": [False, True],
        "account_enabled": [True, True], "is_admin": [True, False], "account_kind": ["person", "person"],
        "state": ["enforced", "disabled"], "registered": [True, False], "capable": [True, False],
        "methods": ["fido2", ""], "method_count": [1, 0], "preferred_method": ["", ""],
        "created": ["2024-01-01T00:00:00Z"] * 2, "last_sign_in": ["2026-11-20T08:00:00Z", None],
        "users_read_at": [pd.NaT] * 2, "registration_read_at": [pd.NaT] * 2, "state_read_at": [pd.NaT] * 2,
    }))
    at = pd.Timestamp("2026-11-25T00:00:00Z").to_pydatetime()
    sid = writer.begin_snapshot("t", "reports", started_at=at)
    writer.complete_snapshot(sid, frame, users_read_at=at, registration_read_at=at, state_read_at=at, stats={})
    writer.close()
    cache = list((tmp_path / "snapshot-cache").glob("t-*.parquet"))
    assert [p.name for p in cache] == [f"t-{sid}.parquet"]  # written when the snapshot completed
    cache[0].unlink()
    from_database = open_store(url).load_users("t")  # rebuilt from the versions table, then kept again
    assert cache[0].exists()
    second = open_store(url)
    from_cache = second.load_users("t")
    pd.testing.assert_frame_equal(from_cache, from_database)
    assert from_cache["id"].tolist() == ["a", "b"]
    cache[0].write_bytes(b"damaged")
    pd.testing.assert_frame_equal(open_store(url).load_users("t"), from_database)
