"""The history store: tenants, snapshots of their users kept as changes over time, daily counts.

Pages never read Graph on load; they read the latest *complete* snapshot from here. A refresh
calls ``begin_snapshot`` → (reads Graph) → ``complete_snapshot`` with the full users frame, and the
store writes only the users that appeared, changed or disappeared. Snapshot S of a tenant is, for
each user, the latest version with ``snapshot_id <= S``, minus tombstones. That rule holds because
a snapshot may only complete while it is newer than every complete snapshot of its tenant, so the
rows visible at a complete snapshot never change afterwards.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from lib.clock import Clock, instant_ns, utc_now
from lib.columns import REGISTRATION_SOURCES, UTC_TIMESTAMP, coerce_users, empty_users_frame
from lib.private_files import create_private_file, private_dir
from lib.store import queries as q
from lib.store.codec import (
    STORED_DTYPES,
    VERSION_COLUMNS,
    frame_from_rows,
    from_ns,
    prepare_users,
    to_ns,
)
from lib.store.engine import (
    DEFAULT_BUSY_TIMEOUT,
    create_store_engine,
    default_database_url,
    describe,
    read_transaction,
    translate_errors,
    write_transaction,
)
from lib.store.errors import NotFoundError, SnapshotStateError, StoreLockedError
from lib.store.latest import advance_latest
from lib.store.memo import Memo
from lib.store.migrations import MIGRATIONS, Migration, migrate
from lib.store.models import ProtectionRecord, Snapshot, SnapshotSummary, Tenant
from lib.store.schema import (
    AGGREGATE_COUNTS,
    FAILED_STATUSES,
    READ_AT_COLUMNS,
    TENANT_MODES,
    daily_aggregates,
    snapshots,
    tenants,
    user_versions,
)

AGGREGATE_DTYPES: dict[str, str] = {
    "day": "datetime64[ns]",
    "snapshot_id": "int64",
    **{name: "int64" for name in AGGREGATE_COUNTS},
}
"""Columns of ``Store.daily_aggregates()``; ``day`` is midnight of the UTC day, without a zone."""
FRAMES_KEPT = 4
"""Snapshots whose users frames the store keeps in memory (the latest, the week-ago one, a few more)."""

HISTORY_DTYPES: dict[str, str] = {
    "snapshot_id": "int64",
    "snapshot_at": UTC_TIMESTAMP,
    "removed": "bool",
    **STORED_DTYPES,
}
"""Columns of ``Store.user_history()``: each stored version of one user, oldest first."""




@dataclass(frozen=True)
class _Current:
    """A tenant's users and latest values at its latest complete snapshot, as this process saw them."""

    snapshot_id: int | None
    users: pd.DataFrame
    """Stored columns (``lib.store.codec.STORED_COLUMNS``); never handed out, callers get copies."""
    latest: pd.DataFrame
    """The ``user_latest`` rows (``lib.store.latest.LATEST_DTYPES``)."""


class Store:
    """A connection pool to one history database at the current schema version; safe across threads.

    Build it with ``open_store``, which migrates first, so every method can assume the schema.
    It remembers each tenant's latest complete snapshot it wrote, so the next refresh diffs against
    memory instead of re-reading 100k rows; the memory is used only while that snapshot is still the
    latest in the database, so several processes on one database stay correct.
    """

    def __init__(self, engine: Engine, *, where: str, schema_version: int, cache_dir: Path | None = None,
                 clock: Clock = utc_now) -> None:
        self._engine = engine
        self.clock: Clock = clock
        """What "now" is for everything stamped in this store (the demo tenant's simulated time in demo
        mode; see ``lib.clock``). Set it before anything is written."""
        self._where = where
        self._cache_dir = cache_dir
        """Where the latest snapshot's users are kept as Parquet, so a fresh process need not rebuild them
        from the versions table (about 1 s for 100k users); None for databases that are not files."""
        self.schema_version = schema_version
        """The schema version the database is at (``len(migrations)`` after ``open_store``)."""
        self._remembered: dict[str, _Current] = {}
        self._remembered_lock = threading.Lock()
        self._frames: Memo[pd.DataFrame] = Memo(FRAMES_KEPT)
        """The one in-memory cache of snapshots' users frames, keyed by (tenant, snapshot): every page, job
        and session reads through it; a complete snapshot never changes, so an entry never goes stale."""
        self._aggregates: Memo[pd.DataFrame] = Memo(FRAMES_KEPT * 2)

    def now_ns(self) -> int:
        """:attr:`clock`'s reading as the store keeps instants (ns since the epoch)."""
        return instant_ns(self.clock())

    def _instant(self, value: datetime | pd.Timestamp | None, name: str) -> int:
        return self.now_ns() if value is None else to_ns(value, name)

    def __repr__(self) -> str:
        return f"Store({self._where!r}, schema_version={self.schema_version})"

    @property
    def where(self) -> str:
        """The database file (SQLite) or URL without password, as error messages name it."""
        return self._where

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for modules that add their own tables through later migrations."""
        return self._engine

    def close(self) -> None:
        """Release pooled connections (SQLite then checkpoints and removes its WAL file)."""
        with self._remembered_lock:
            self._remembered.clear()
        self._frames.clear()
        self._aggregates.clear()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self._where), read_transaction(self._engine) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with translate_errors(self._where), write_transaction(self._engine) as conn:
            yield conn

    def _recall(self, tenant_id: str, snapshot_id: int | None) -> _Current | None:
        """The remembered state if it is of ``snapshot_id`` (the tenant's latest complete snapshot).

        Safe because what a complete snapshot shows never changes: a snapshot completes only while
        newer than every complete one, and only completing writes ``user_latest``; a newer snapshot
        from any process changes the latest id and so misses here.
        """
        with self._remembered_lock:
            remembered = self._remembered.get(tenant_id)
        if remembered is None or remembered.snapshot_id != snapshot_id:
            return None
        return remembered

    def _remember(self, tenant_id: str, current: _Current) -> None:
        with self._remembered_lock:
            known = self._remembered.get(tenant_id)
            newest = known is None or (known.snapshot_id or 0) < (current.snapshot_id or 0)
            if newest:
                self._remembered[tenant_id] = current  # threads may finish out of order: keep the newest
        if newest and current.snapshot_id is not None:
            # The next process (a restarted server) then loads it without rebuilding it from versions.
            self._cache_users(tenant_id, current.snapshot_id,
                              current.users.sort_values("id", kind="stable", ignore_index=True))

    def _current(self, conn: Connection, tenant_id: str, snapshot_id: int | None) -> _Current:
        """Users and latest values at the latest complete snapshot: from memory, else the database."""
        recalled = self._recall(tenant_id, snapshot_id)
        if recalled is not None:
            return recalled
        return _Current(snapshot_id, q.users_at(conn, tenant_id, snapshot_id), q.latest_state(conn, tenant_id))

    # -- tenants -----------------------------------------------------------------------------------

    def upsert_tenant(
        self, tenant_id: str, name: str, domain: str, mode: str, *, seen_at: datetime | None = None
    ) -> Tenant:
        """Record a tenant (or refresh its name/domain/mode); ``first_seen`` is kept from the first call."""
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ValueError("tenant_id must be a non-empty string")
        if mode not in TENANT_MODES:
            raise ValueError(f"mode must be one of {', '.join(TENANT_MODES)}, got {mode!r}")
        seen = self._instant(seen_at, "seen_at")
        with self._write() as conn:
            exists = conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
            if exists:
                conn.execute(
                    sa.update(tenants)
                    .where(tenants.c.id == tenant_id)
                    .values(name=name, domain=domain, mode=mode)
                )
            else:
                conn.execute(
                    sa.insert(tenants).values(
                        id=tenant_id, name=name, domain=domain, mode=mode, first_seen=seen
                    )
                )
            row = conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id)).one()
        return q.tenant_record(row)

    def tenant_ids(self) -> list[str]:
        """Every tenant this database knows, sorted."""
        with self._read() as conn:
            return [row[0] for row in conn.execute(sa.select(tenants.c.id).order_by(tenants.c.id))]

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant record, or None if the console never saw it."""
        with self._read() as conn:
            row = conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id)).first()
        return None if row is None else q.tenant_record(row)

    # -- snapshot lifecycle ------------------------------------------------------------------------

    def begin_snapshot(
        self, tenant_id: str, registration_source: str, started_at: datetime | None = None
    ) -> int:
        """Open a ``running`` snapshot before reading Graph, so a crash leaves a visible trace."""
        if registration_source not in REGISTRATION_SOURCES:
            raise ValueError(
                f"registration_source must be one of {', '.join(REGISTRATION_SOURCES)}, "
                f"got {registration_source!r}"
            )
        started = self._instant(started_at, "started_at")
        with self._write() as conn:
            q.require_tenant(conn, tenant_id)
            result = conn.execute(
                sa.insert(snapshots).values(
                    tenant_id=tenant_id,
                    started_at=started,
                    status="running",
                    registration_source=registration_source,
                )
            )
            return int(result.inserted_primary_key[0])

    def complete_snapshot(
        self,
        snapshot_id: int,
        frame: pd.DataFrame,
        *,
        users_read_at: datetime,
        registration_read_at: datetime,
        state_read_at: datetime,
        stats: Mapping[str, Any],
        finished_at: datetime | None = None,
        registration_source: str | None = None,
        protection: ProtectionRecord | None = None,
    ) -> SnapshotSummary:
        """Store ``frame`` (every user of the tenant) as the snapshot's content and make it current.

        ``registration_source`` corrects the one given at ``begin_snapshot`` (a read learns whether
        the tenant has Entra ID P1 only as it goes). ``protection`` is what the frame's protection
        columns were computed from, written with the users so the two never disagree.

        Writes only new, changed and removed users, the day's aggregate, and the status flip in one
        transaction: a crash leaves either the previous snapshot current or this one, never half.
        Raises ``SnapshotStateError`` if the snapshot is not running, or if a newer snapshot of the
        tenant completed first (this one is then marked cancelled, as its data is already stale).
        """
        users = prepare_users(frame)
        read_at = {
            "users_read_at": to_ns(users_read_at, "users_read_at"),
            "registration_read_at": to_ns(registration_read_at, "registration_read_at"),
            "state_read_at": to_ns(state_read_at, "state_read_at"),
        }
        stats_text = q.stats_json(stats)
        finished = self._instant(finished_at, "finished_at")
        if registration_source is not None and registration_source not in REGISTRATION_SOURCES:
            raise ValueError(f"registration_source must be one of {', '.join(REGISTRATION_SOURCES)}")
        source = {"registration_source": registration_source} if registration_source else {}
        overtaken_by: int | None = None
        with self._write() as conn:
            snapshot = q.snapshot_row(conn, snapshot_id, for_update=True)
            q.lock_tenant(conn, snapshot.tenant_id)
            if snapshot.status != "running":
                raise SnapshotStateError(
                    f"snapshot {snapshot_id} is {snapshot.status}; only a running snapshot can complete"
                )
            latest = q.latest_complete_id(conn, snapshot.tenant_id)
            if latest is not None and latest > snapshot_id:
                overtaken_by = latest
                conn.execute(
                    sa.update(snapshots)
                    .where(snapshots.c.id == snapshot_id)
                    .values(
                        status="cancelled",
                        finished_at=finished,
                        error=f"overtaken by snapshot {latest}, which completed first",
                    )
                )
            else:
                current = self._current(conn, snapshot.tenant_id, latest)
                summary = q.write_versions(conn, snapshot.tenant_id, snapshot_id, current.users, users)
                after = advance_latest(current.latest, users, snapshot_id)
                q.write_latest(conn, snapshot.tenant_id, current.latest, after, written_from=snapshot_id)
                q.write_aggregate(conn, snapshot.tenant_id, snapshot_id, snapshot.started_at, users)
                if protection is not None:
                    q.write_protection(conn, snapshot_id, protection, to_ns(protection.read_at, "read_at"))
                conn.execute(
                    sa.update(snapshots)
                    .where(snapshots.c.id == snapshot_id)
                    .values(
                        status="complete",
                        finished_at=finished,
                        user_count=len(users),
                        stats=stats_text,
                        **read_at,
                        **source,
                    )
                )
        if overtaken_by is not None:
            raise SnapshotStateError(
                f"snapshot {snapshot_id} was overtaken by snapshot {overtaken_by}, which completed first; "
                "it was marked cancelled"
            )
        self._remember(snapshot.tenant_id, _Current(snapshot_id, users, after))
        return summary

    def fail_snapshot(
        self,
        snapshot_id: int,
        error: str,
        status: str = "failed",
        *,
        finished_at: datetime | None = None,
    ) -> None:
        """Close a running snapshot without data; the previous complete snapshot stays current."""
        if status not in FAILED_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FAILED_STATUSES)}, got {status!r}")
        finished = self._instant(finished_at, "finished_at")
        with self._write() as conn:
            snapshot = q.snapshot_row(conn, snapshot_id, for_update=True)
            if snapshot.status != "running":
                raise SnapshotStateError(
                    f"snapshot {snapshot_id} is {snapshot.status}; only a running snapshot can be "
                    f"marked {status}"
                )
            conn.execute(
                sa.update(snapshots)
                .where(snapshots.c.id == snapshot_id)
                .values(status=status, finished_at=finished, error=str(error))
            )

    def seed_history(
        self,
        tenant_id: str,
        frames: Iterable[tuple[datetime, pd.DataFrame]],
        *,
        registration_source: str = "reports",
    ) -> list[SnapshotSummary]:
        """Write a simulated past (e.g. a snapshot a day for 90 days) in one transaction.

        Each frame is the full users frame as of its time; times must increase and come after the
        tenant's existing history, so snapshot order stays time order. Only changes are written,
        each frame is diffed against the previous one in memory, and all of it commits or none.
        """
        if registration_source not in REGISTRATION_SOURCES:
            raise ValueError(
                f"registration_source must be one of {', '.join(REGISTRATION_SOURCES)}, "
                f"got {registration_source!r}"
            )
        summaries: list[SnapshotSummary] = []
        with self._write() as conn:
            q.require_tenant(conn, tenant_id)
            q.lock_tenant(conn, tenant_id)
            latest = q.latest_complete_id(conn, tenant_id)
            current = self._current(conn, tenant_id, latest)
            previous, before = current.users, current.latest
            last_at = None if latest is None else q.snapshot_row(conn, latest).started_at
            state, first_seeded = before, None
            for position, (at, frame) in enumerate(frames):
                at_ns = to_ns(at, f"seed frame {position} time")
                if last_at is not None and at_ns <= last_at:
                    raise ValueError(
                        f"seed frame {position} at {from_ns(at_ns).isoformat()} is not after the previous "
                        f"snapshot at {from_ns(last_at).isoformat()}; seed in increasing time order"
                    )
                users = prepare_users(frame)
                result = conn.execute(
                    sa.insert(snapshots).values(
                        tenant_id=tenant_id,
                        started_at=at_ns,
                        finished_at=at_ns,
                        status="complete",
                        registration_source=registration_source,
                        users_read_at=at_ns,
                        registration_read_at=at_ns,
                        state_read_at=at_ns,
                        user_count=len(users),
                        stats=q.stats_json({"seeded": True}),
                    )
                )
                snapshot_id = int(result.inserted_primary_key[0])
                first_seeded = snapshot_id if first_seeded is None else first_seeded
                summaries.append(q.write_versions(conn, tenant_id, snapshot_id, previous, users))
                q.write_aggregate(conn, tenant_id, snapshot_id, at_ns, users)
                state = advance_latest(state, users, snapshot_id)
                previous, last_at = users, at_ns
            if first_seeded is not None:
                q.write_latest(conn, tenant_id, before, state, written_from=first_seeded)
        if summaries:
            self._remember(tenant_id, _Current(summaries[-1].snapshot_id, previous, state))
        return summaries

    # -- reading -----------------------------------------------------------------------------------

    def get_snapshot(self, snapshot_id: int) -> Snapshot:
        """One snapshot by id, whatever its status; ``NotFoundError`` if there is none."""
        with self._read() as conn:
            return q.snapshot_record(q.snapshot_row(conn, snapshot_id))

    def latest_snapshot(self, tenant_id: str) -> Snapshot | None:
        """The current snapshot: the newest *complete* one (failed and running ones never count)."""
        with self._read() as conn:
            latest = q.latest_complete_id(conn, tenant_id)
            return None if latest is None else q.snapshot_record(q.snapshot_row(conn, latest))

    def protection(self, snapshot_id: int) -> ProtectionRecord | None:
        """The protection record of a snapshot (None when it was taken before policies were read)."""
        with self._read() as conn:
            return q.read_protection(conn, snapshot_id)

    def list_snapshots(self, tenant_id: str) -> list[Snapshot]:
        """Every snapshot of the tenant, any status, oldest first (for a refresh log)."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(snapshots).where(snapshots.c.tenant_id == tenant_id).order_by(snapshots.c.id)
            ).all()
        return [q.snapshot_record(row) for row in rows]

    def load_users(self, tenant_id: str, snapshot_id: int | None = None) -> pd.DataFrame:
        """The tenant's users as of a complete snapshot (default: the latest), in the ``lib.columns`` schema.

        Sorted by id; an empty frame when the tenant has no complete snapshot yet. The read times
        come from the snapshot, which vouched for every row. Facts are exact for any snapshot.
        ``last_sign_in`` (volatile, kept as a latest value) is exact for the latest snapshot and
        for any snapshot since the value last changed; for an older one it is the value seen when
        the user's facts last changed at or before it — a true earlier value, possibly stale.
        """
        with self._read() as conn:
            if snapshot_id is None:
                latest = q.latest_complete_id(conn, tenant_id)
                if latest is None:
                    return empty_users_frame()
                snapshot = q.snapshot_row(conn, latest)
            else:
                snapshot = q.snapshot_row(conn, snapshot_id)
                if snapshot.tenant_id != tenant_id:
                    raise NotFoundError(f"snapshot {snapshot_id} does not belong to tenant {tenant_id}")
                if snapshot.status != "complete":
                    raise SnapshotStateError(
                        f"snapshot {snapshot_id} is {snapshot.status}; only a complete snapshot has users"
                    )
        # Callers get their own frame: with pandas' copy-on-write a shallow copy costs nothing and
        # nothing a caller does to it reaches the cached one.
        return self._frames.get((tenant_id, snapshot.id), lambda: self._read_users(tenant_id, snapshot)).copy(
            deep=False)

    def holds_users(self, tenant_id: str, snapshot_id: int) -> bool:
        """Whether ``load_users`` of this snapshot is answered from memory (no database read)."""
        return (tenant_id, snapshot_id) in self._frames

    def _read_users(self, tenant_id: str, snapshot: Any) -> pd.DataFrame:
        recalled = self._recall(tenant_id, snapshot.id)
        if recalled is not None:
            users = recalled.users.sort_values("id", kind="stable", ignore_index=True)
        else:
            users = self._cached_users(tenant_id, snapshot.id)
            if users is None:
                with self._read() as conn:
                    users = q.users_at(conn, tenant_id, snapshot.id)
                    if snapshot.id == q.latest_complete_id(conn, tenant_id):
                        self._cache_users(tenant_id, snapshot.id, users)
        for name in READ_AT_COLUMNS:
            users[name] = from_ns(getattr(snapshot, name))
        return coerce_users(users)

    def _cache_file(self, tenant_id: str, snapshot_id: int) -> Path | None:
        if self._cache_dir is None:
            return None
        return self._cache_dir / f"{tenant_id}-{snapshot_id}.parquet"

    def _cached_users(self, tenant_id: str, snapshot_id: int) -> pd.DataFrame | None:
        path = self._cache_file(tenant_id, snapshot_id)
        if path is None or not path.exists():
            return None
        try:
            return pd.read_parquet(path)
        except Exception:  # a damaged cache file is only a slower load
            return None

    def _cache_users(self, tenant_id: str, snapshot_id: int, users: pd.DataFrame) -> None:
        """Keep the latest snapshot's stored columns on disk (best effort; older files are removed)."""
        path = self._cache_file(tenant_id, snapshot_id)
        if path is None:
            return
        try:
            private_dir(path.parent)
            tmp = path.with_suffix(".tmp")
            create_private_file(tmp)  # 0600 before anything is in it
            users.to_parquet(tmp, index=False)
            os.replace(tmp, path)
            for old in path.parent.glob(f"{tenant_id}-*.parquet"):
                if old != path:
                    old.unlink(missing_ok=True)
        except Exception:  # a cache that cannot be written is only a slower load next time
            return

    def daily_aggregates(self, tenant_id: str) -> pd.DataFrame:
        """One row per UTC day with the counts of that day's last complete snapshot, sorted by day.

        Kept in memory per (tenant, latest complete snapshot): aggregates change only when a snapshot
        completes, which makes a new latest one."""
        with self._read() as conn:
            latest = q.latest_complete_id(conn, tenant_id)
        return self._aggregates.get((tenant_id, latest), lambda: self._read_aggregates(tenant_id)).copy(deep=False)

    def _read_aggregates(self, tenant_id: str) -> pd.DataFrame:
        columns = [daily_aggregates.c[name] for name in AGGREGATE_DTYPES]
        with self._read() as conn:
            rows = conn.execute(
                sa.select(*columns)
                .where(daily_aggregates.c.tenant_id == tenant_id)
                .order_by(daily_aggregates.c.day)
            ).all()
        return frame_from_rows(rows, AGGREGATE_DTYPES)

    def user_history(self, tenant_id: str, user_id: str) -> pd.DataFrame:
        """Every stored version of one user with its snapshot's time, oldest first (a per-user timeline).

        ``removed`` rows are tombstones: the user disappeared at that snapshot (facts as last seen).
        ``last_sign_in`` is the value seen by the snapshot that wrote the version.
        """
        uv = user_versions
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    uv.c.snapshot_id,
                    snapshots.c.started_at,
                    uv.c.removed,
                    *(uv.c[name] for name in VERSION_COLUMNS),
                )
                .join_from(uv, snapshots, uv.c.snapshot_id == snapshots.c.id)
                .where(uv.c.tenant_id == tenant_id, uv.c.user_id == user_id)
                .order_by(uv.c.snapshot_id)
            ).all()
        return frame_from_rows(rows, HISTORY_DTYPES)

    def versions_for_users(self, tenant_id: str, user_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Every stored version of many users (all of the tenant's when ``user_ids`` is None) at once.

        The bulk form of ``user_history``: the same columns (``HISTORY_DTYPES``; the user is ``id``),
        sorted by user id, then snapshot. Ids the store never saw have no rows. Ids are sent in
        chunks well under every database's bound-parameter limit, inside one read transaction.
        """
        if isinstance(user_ids, str):
            raise TypeError("user_ids must be a collection of user ids, not a single string")
        uv = user_versions
        base = (
            sa.select(
                uv.c.snapshot_id,
                snapshots.c.started_at,
                uv.c.removed,
                *(uv.c[name] for name in VERSION_COLUMNS),
            )
            .join_from(uv, snapshots, uv.c.snapshot_id == snapshots.c.id)
            .where(uv.c.tenant_id == tenant_id)
        )
        per_query = 500  # ids per IN (...): SQLite's oldest limit is 999 bound parameters
        rows: list[Any] = []
        with self._read() as conn:
            if user_ids is None:
                rows = conn.execute(base).all()
            else:
                wanted = sorted({str(uid) for uid in user_ids})
                for start in range(0, len(wanted), per_query):
                    chunk = wanted[start:start + per_query]
                    rows.extend(conn.execute(base.where(uv.c.user_id.in_(chunk))).all())
        rows.sort(key=lambda row: (row.user_id, row.snapshot_id))
        return frame_from_rows(rows, HISTORY_DTYPES)


def open_store(
    url: str | URL | None = None,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    migrations: Sequence[Migration] = MIGRATIONS,
    clock: Clock = utc_now,
) -> Store:
    """Open (creating and migrating as needed) the history database at ``url``.

    ``url`` defaults to ``default_database_url()``. Raises ``SchemaTooNewError`` for a database a
    newer console wrote, ``StoreLockedError`` when another process holds the lock past
    ``busy_timeout`` seconds. ``migrations`` exists so tests can add a future version. ``clock``
    stamps what is written (:attr:`Store.clock`).
    """
    parsed = sa.make_url(url if url is not None else default_database_url())
    where = describe(parsed)
    engine = create_store_engine(parsed, busy_timeout=busy_timeout)
    # Replicas opening a new SQLite file at once can meet "database is locked" while one of them
    # switches it to WAL, which SQLite answers at once rather than after its busy timeout: try again
    # until the busy timeout is spent.
    deadline = time.monotonic() + busy_timeout
    try:
        while True:
            try:
                with translate_errors(where):
                    version = migrate(engine, migrations)
                break
            except StoreLockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
    except BaseException:
        engine.dispose()
        raise
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    cache_dir = Path(database).resolve().parent / "snapshot-cache" if database and database != ":memory:" else None
    return Store(engine, where=where, schema_version=version, cache_dir=cache_dir, clock=clock)
