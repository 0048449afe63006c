"""The SQL the history store runs; every function works inside the caller's transaction.

Kept apart from ``Store`` so the class reads as the lifecycle (begin, complete, fail, seed, read)
and this module as the queries. Portable SQLAlchemy Core only: no dialect-specific SQL here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from lib.columns import FACT_COLUMNS
from lib.store.aggregates import daily_counts
from lib.store.codec import STORED_DTYPES, bulk_rows, frame_from_rows, from_ns, utc_day, version_rows
from lib.store.diff import diff_users
from lib.store.errors import NotFoundError
from lib.store.latest import LATEST_DTYPES
from lib.store.models import ProtectionRecord, Snapshot, SnapshotSummary, Tenant
from lib.store.schema import (
    LATEST_COLUMNS,
    daily_aggregates,
    snapshot_protection,
    snapshots,
    tenants,
    user_latest,
    user_versions,
)


def stats_json(stats: Mapping[str, Any]) -> str:
    """The refresh's figures as JSON text (sorted keys, so equal stats store equal text)."""
    if not isinstance(stats, Mapping):
        raise ValueError(f"stats must be a mapping, got {type(stats).__name__}")
    return json.dumps(dict(stats), sort_keys=True, default=str)


def tenant_record(row: Row) -> Tenant:
    """A ``tenants`` row as the record callers get."""
    return Tenant(
        id=row.id, name=row.name, domain=row.domain, mode=row.mode, first_seen=from_ns(row.first_seen)
    )


def snapshot_record(row: Row) -> Snapshot:
    """A ``snapshots`` row as the record callers get (instants as UTC timestamps, stats parsed)."""
    return Snapshot(
        id=row.id,
        tenant_id=row.tenant_id,
        started_at=from_ns(row.started_at),
        finished_at=from_ns(row.finished_at),
        status=row.status,
        registration_source=row.registration_source,
        users_read_at=from_ns(row.users_read_at),
        registration_read_at=from_ns(row.registration_read_at),
        state_read_at=from_ns(row.state_read_at),
        user_count=row.user_count,
        stats=json.loads(row.stats) if row.stats else {},
        error=row.error,
    )


def require_tenant(conn: Connection, tenant_id: str) -> None:
    """Refuse early with a clear message rather than a foreign-key error from the driver."""
    if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
        raise NotFoundError(f"unknown tenant {tenant_id!r}; call upsert_tenant first")


def lock_tenant(conn: Connection, tenant_id: str) -> None:
    """Serialise snapshot writes per tenant (PostgreSQL row lock; SQLite already holds the write lock)."""
    conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update()).first()


def snapshot_row(conn: Connection, snapshot_id: int, *, for_update: bool = False) -> Row:
    """The ``snapshots`` row, locked for a status change when asked; ``NotFoundError`` if none."""
    query = sa.select(snapshots).where(snapshots.c.id == snapshot_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFoundError(f"unknown snapshot {snapshot_id}")
    return row


def latest_complete_id(conn: Connection, tenant_id: str) -> int | None:
    """The tenant's current snapshot: the highest id among complete ones (None before the first)."""
    latest = conn.execute(
        sa.select(sa.func.max(snapshots.c.id)).where(
            snapshots.c.tenant_id == tenant_id, snapshots.c.status == "complete"
        )
    ).scalar()
    return None if latest is None else int(latest)


def users_at(conn: Connection, tenant_id: str, snapshot_id: int | None) -> pd.DataFrame:
    """Stored columns of every user present at ``snapshot_id`` (none before the first), sorted by id.

    Facts: each user's latest version at or before the snapshot, unless it is a tombstone.
    Volatile columns: ``user_latest`` when its values were already seen at that snapshot, else
    the version's own (see ``Store.load_users``).
    """
    if snapshot_id is None:
        return frame_from_rows([], STORED_DTYPES)
    uv, ul = user_versions, user_latest
    version = (
        sa.select(uv.c.user_id, sa.func.max(uv.c.snapshot_id).label("snapshot_id"))
        .where(uv.c.tenant_id == tenant_id, uv.c.snapshot_id <= snapshot_id)
        .group_by(uv.c.user_id)
        .subquery("latest_version")
    )
    latest_known = ul.c.snapshot_id <= snapshot_id
    query = (
        sa.select(
            uv.c.user_id,
            *(uv.c[name] for name in FACT_COLUMNS),
            *(sa.case((latest_known, ul.c[name]), else_=uv.c[name]).label(name) for name in LATEST_COLUMNS),
        )
        .select_from(
            uv.join(
                version,
                sa.and_(
                    uv.c.tenant_id == tenant_id,
                    uv.c.user_id == version.c.user_id,
                    uv.c.snapshot_id == version.c.snapshot_id,
                ),
            ).outerjoin(ul, sa.and_(ul.c.tenant_id == uv.c.tenant_id, ul.c.user_id == uv.c.user_id))
        )
        .where(sa.not_(uv.c.removed))
    )
    users = frame_from_rows(conn.execute(query).all(), STORED_DTYPES)
    return users.sort_values("id", kind="stable", ignore_index=True)


def latest_state(conn: Connection, tenant_id: str) -> pd.DataFrame:
    """The tenant's ``user_latest`` rows as a latest-values frame (``lib.store.latest``)."""
    ul = user_latest
    rows = conn.execute(
        sa.select(ul.c.user_id, *(ul.c[name] for name in LATEST_COLUMNS), ul.c.snapshot_id).where(
            ul.c.tenant_id == tenant_id
        )
    ).all()
    return frame_from_rows(rows, LATEST_DTYPES)


UPDATE_LATEST = (
    sa.update(user_latest)
    .where(
        user_latest.c.tenant_id == sa.bindparam("k_tenant"),
        user_latest.c.user_id == sa.bindparam("k_user"),
    )
    .values(
        snapshot_id=sa.bindparam("v_snapshot_id"),
        **{name: sa.bindparam(f"v_{name}") for name in LATEST_COLUMNS},
    )
)


def write_latest(
    conn: Connection, tenant_id: str, before: pd.DataFrame, after: pd.DataFrame, *, written_from: int
) -> None:
    """Write the latest-values rows this call changed (``snapshot_id >= written_from``), in bulk."""
    fresh = after[after["snapshot_id"].to_numpy() >= written_from]
    if fresh.empty:
        return
    known = pd.Index(before["id"].to_numpy(dtype=object, na_value=None))
    existed = known.get_indexer(fresh["id"].to_numpy(dtype=object, na_value=None)) >= 0
    inserted = bulk_rows(
        fresh[~existed],
        {"user_id": "id", "snapshot_id": "snapshot_id", **{name: name for name in LATEST_COLUMNS}},
        {"tenant_id": tenant_id},
    )
    if inserted:
        conn.execute(sa.insert(user_latest), inserted)
    updated = bulk_rows(
        fresh[existed],
        {"k_user": "id", "v_snapshot_id": "snapshot_id", **{f"v_{name}": name for name in LATEST_COLUMNS}},
        {"k_tenant": tenant_id},
    )
    if updated:
        conn.execute(UPDATE_LATEST, updated)


def write_versions(
    conn: Connection, tenant_id: str, snapshot_id: int, previous: pd.DataFrame, current: pd.DataFrame
) -> SnapshotSummary:
    """Insert a version for each user new, changed or gone since ``previous`` — and nothing else."""
    diff = diff_users(previous, current)
    written = pd.concat(
        [diff.added.assign(removed=False), diff.changed.assign(removed=False), diff.removed.assign(removed=True)],
        ignore_index=True,
    )
    rows = version_rows(written, {"tenant_id": tenant_id, "snapshot_id": snapshot_id})
    if rows:
        conn.execute(sa.insert(user_versions), rows)
    return SnapshotSummary(
        snapshot_id=snapshot_id,
        user_count=len(current),
        new=len(diff.added),
        changed=len(diff.changed),
        removed=len(diff.removed),
    )


def write_aggregate(
    conn: Connection, tenant_id: str, snapshot_id: int, started_at: int, users: pd.DataFrame
) -> None:
    """Replace the day's row: snapshots complete in id order, so the newest of the day wins."""
    day = utc_day(started_at)
    conn.execute(
        sa.delete(daily_aggregates).where(
            daily_aggregates.c.tenant_id == tenant_id, daily_aggregates.c.day == day
        )
    )
    conn.execute(
        sa.insert(daily_aggregates).values(
            tenant_id=tenant_id, day=day, snapshot_id=snapshot_id, **daily_counts(users)
        )
    )



def write_protection(conn: Connection, snapshot_id: int, record: ProtectionRecord, read_at_ns: int) -> None:
    """The snapshot's protection record (one row; JSON text for the policies, methods policy and summary)."""
    conn.execute(sa.insert(snapshot_protection).values(
        snapshot_id=snapshot_id,
        ca_availability=str(record.ca_availability),
        ca_message=record.ca_message,
        security_defaults=record.security_defaults,
        security_defaults_message=record.security_defaults_message,
        policies=json.dumps(list(record.policies), sort_keys=True, default=str),
        methods_policy=None if record.methods_policy is None else json.dumps(record.methods_policy, sort_keys=True),
        methods_policy_message=record.methods_policy_message,
        summary=json.dumps(record.summary, sort_keys=True, default=str),
        read_at=read_at_ns,
    ))


def read_protection(conn: Connection, snapshot_id: int) -> ProtectionRecord | None:
    """The snapshot's protection record, or None for a snapshot taken before policies were read."""
    row = conn.execute(sa.select(snapshot_protection).where(snapshot_protection.c.snapshot_id == snapshot_id)).first()
    if row is None:
        return None
    return ProtectionRecord(
        ca_availability=row.ca_availability,
        policies=tuple(json.loads(row.policies)),
        security_defaults=None if row.security_defaults is None else bool(row.security_defaults),
        methods_policy=None if row.methods_policy is None else json.loads(row.methods_policy),
        summary=json.loads(row.summary),
        read_at=from_ns(row.read_at),
        ca_message=row.ca_message,
        security_defaults_message=row.security_defaults_message,
        methods_policy_message=row.methods_policy_message,
    )
