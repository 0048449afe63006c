"""The store's one cache of snapshots' users frames and daily aggregates, keyed by (tenant, snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lib.store import Store, open_store
from tests.test_store import TENANT, snapshot, url_of, user

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class _Counter:
    """Counts the SELECT statements the store's engine runs (SQLAlchemy's own event hook)."""

    def __init__(self, store: Store) -> None:
        self.selects = 0
        sa.event.listen(store.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects += 1


def test_a_snapshot_is_read_once_and_every_caller_gets_its_own_frame(tmp_path: Path) -> None:
    store = open_store(url_of(tmp_path / "cache.db"))
    store.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=T0)
    try:
        first = snapshot(store, [user(1), user(2)], T0)
        second = snapshot(store, [user(1), user(2, department="Legal"), user(3)], T0 + timedelta(days=1))
        tenant = TENANT
        counter = _Counter(store)
        latest = store.load_users(tenant)
        assert len(latest) == 3 and store.holds_users(tenant, second.snapshot_id)
        reads = counter.selects
        again = store.load_users(tenant, second.snapshot_id)
        assert counter.selects - reads <= 1  # only the snapshot's row, never its users
        latest.loc[0, "department"] = "Changed by a caller"
        latest["extra"] = 1
        assert "extra" not in again.columns and again.loc[0, "department"] != "Changed by a caller"
        assert "extra" not in store.load_users(tenant).columns
        older = store.load_users(tenant, first.snapshot_id)
        assert len(older) == 2 and older.loc[1, "department"] != "Legal"
    finally:
        store.close()


def test_daily_aggregates_follow_the_latest_snapshot(tmp_path: Path) -> None:
    store = open_store(url_of(tmp_path / "aggregates.db"))
    store.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo", seen_at=T0)
    try:
        snapshot(store, [user(1)], T0)
        tenant = TENANT
        before = store.daily_aggregates(tenant)
        assert before is not store.daily_aggregates(tenant)  # a copy each time
        snapshot(store, [user(1), user(2)], T0 + timedelta(days=1))
        after = store.daily_aggregates(tenant)
        assert len(after) == len(before) + 1
    finally:
        store.close()
