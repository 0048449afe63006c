"""Versioned schema migrations: the ordered list of steps that build the history database.

Version N is ``MIGRATIONS[N - 1]``. A migration is a function of a connection inside a transaction;
it must never change once released, because databases in the field already ran it. To evolve the
schema, append a function and update ``lib.store.schema`` to the new shape::

    def _v3_notes(conn: Connection) -> None:  # a new table
        meta = sa.MetaData()
        sa.Table("notes", meta, sa.Column("id", sa.Integer, primary_key=True), ...)
        meta.create_all(conn)

    MIGRATIONS = (_v1_history, _v2_rollout, _v3_notes)

Versions: 1 the history (tenants, snapshots, user versions, daily aggregates); 2 the rollout journal
(operations, operation items and events, waves, protected accounts; see ``lib.rollout``); 3 the object id
of each protected account, so renaming its UPN in the tenant does not drop its protection; 4 how each
snapshot read the per-user MFA states (the users listing or per-user reads, and why); 5 the protection
each snapshot evaluated (its policies, security defaults, the methods policy) and each user's answer; 6 the
journal of tenant-setting changes (the registration campaign, ``lib.rollout.setting_changes``); 7 sign-in
evidence (per-user aggregates of the sign-in log and where the next incremental read starts; see
``lib.signins``).

Each step runs in its own transaction together with its ``schema_version`` row, so a failure
leaves the database at the last version that completed, and two processes opening a new database
at once cannot both apply a step (the second waits for the write lock, or fails on the version key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lib.store.engine import is_lock_error, read_transaction, write_transaction
from lib.store.errors import MigrationError, SchemaTooNewError
from lib.store.schema import schema_version

Migration = Callable[[Connection], None]


def _v1_history(conn: Connection) -> None:
    """Tenants, snapshots, user versions, latest volatile values, daily aggregates (the first shape)."""
    meta = sa.MetaData()
    key = sa.String(255)
    sa.Table(
        "tenants",
        meta,
        sa.Column("id", key, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("mode", key, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.CheckConstraint("mode IN ('demo', 'tenant')", name="ck_tenants_mode"),
    )
    sa.Table(
        "snapshots",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.Column("status", key, nullable=False),
        sa.Column("registration_source", key, nullable=False),
        sa.Column("users_read_at", sa.BigInteger),
        sa.Column("registration_read_at", sa.BigInteger),
        sa.Column("state_read_at", sa.BigInteger),
        sa.Column("user_count", sa.Integer),
        sa.Column("stats", sa.Text),
        sa.Column("error", sa.Text),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed', 'cancelled')", name="ck_snapshots_status"
        ),
        sa.CheckConstraint("registration_source IN ('reports', 'methods')", name="ck_snapshots_source"),
        sa.Index("ix_snapshots_tenant_status", "tenant_id", "status", "id"),
    )
    text, flag, instant = sa.Text, sa.Boolean, sa.BigInteger
    facts_v1 = [
        ("upn", text, True), ("display_name", text, True), ("mail", text, True),
        ("department", text, True), ("country", text, True), ("job_title", text, True),
        ("is_guest", flag, False), ("account_enabled", flag, False), ("is_admin", flag, False),
        ("account_kind", text, True), ("state", text, True), ("registered", flag, False),
        ("capable", flag, False), ("methods", text, True), ("method_count", sa.SmallInteger, False),
        ("preferred_method", text, True), ("created", instant, True),
    ]
    sa.Table(
        "user_versions",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False),
        *(sa.Column(name, kind, nullable=nullable) for name, kind, nullable in facts_v1),
        sa.Column("last_sign_in", instant),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "snapshot_id"),
        sqlite_with_rowid=False,
    )
    sa.Table(
        "user_latest",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        sa.Column("last_sign_in", instant),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
        sqlite_with_rowid=False,
    )
    counts_v1 = (
        "users", "enabled_accounts", "guests", "admins", "registered", "capable", "state_disabled",
        "state_enabled", "state_enforced", "state_unknown", "admins_unregistered",
    )
    sa.Table(
        "daily_aggregates",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in counts_v1),
        sa.PrimaryKeyConstraint("tenant_id", "day"),
    )
    meta.create_all(conn)


def _v2_rollout(conn: Connection) -> None:
    """The bulk-change journal: operations, their items and events, waves, protected accounts."""
    meta = sa.MetaData()
    key, instant = sa.String(255), sa.BigInteger
    sa.Table("tenants", meta, sa.Column("id", key, primary_key=True))  # referenced, already there
    sa.Table(
        "operations",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("kind", key, nullable=False),
        sa.Column("status", key, nullable=False),
        sa.Column("requested_state", key),
        sa.Column("source", key, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_kind", key, nullable=False),
        sa.Column("undo_of", sa.Integer, sa.ForeignKey("operations.id")),
        sa.Column("planned", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text),
        sa.Column("created_at", instant, nullable=False),
        sa.Column("started_at", instant),
        sa.Column("finished_at", instant),
        sa.Column("heartbeat_at", instant),
        sa.Column("owner", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.CheckConstraint("kind IN ('apply', 'undo')", name="ck_operations_kind"),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'partial', 'cancelled', 'failed')", name="ck_operations_status"
        ),
        sa.Index("ix_operations_tenant_status", "tenant_id", "status"),
    )
    sa.Table(
        "operation_items",
        meta,
        sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("upn", sa.Text),
        sa.Column("display_name", sa.Text),
        sa.Column("before_state", key),
        sa.Column("requested_state", key, nullable=False),
        sa.Column("expected_state", key),
        sa.Column("status", key, nullable=False),
        sa.Column("reason_code", key),
        sa.Column("reason", sa.Text),
        sa.Column("read_state", key),
        sa.Column("after_state", key),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error_status", sa.Integer),
        sa.Column("updated_at", instant, nullable=False),
        sa.Column("sent_at", instant),
        sa.Column("finished_at", instant),
        sa.PrimaryKeyConstraint("operation_id", "user_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'applied', 'failed', 'skipped', 'cancelled')",
            name="ck_operation_items_status",
        ),
        sa.Index("ix_operation_items_status", "operation_id", "status"),
        sa.Index("ix_operation_items_finished", "operation_id", "finished_at"),
    )
    sa.Table(
        "operation_events",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("at", instant, nullable=False),
        sa.Column("event", key, nullable=False),
        sa.Column("state", key),
        sa.Column("detail", sa.Text),
        sa.Index("ix_operation_events_item", "operation_id", "user_id"),
    )
    sa.Table(
        "waves",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", key, nullable=False),
        sa.Column("source", key, nullable=False),
        sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id")),
        sa.Column("launched_at", instant, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("created_at", instant, nullable=False),
        sa.CheckConstraint("source IN ('operation', 'imported')", name="ck_waves_source"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_waves_tenant_name"),
    )
    sa.Table(
        "wave_members",
        meta,
        sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("upn", sa.Text),
        sa.PrimaryKeyConstraint("wave_id", "user_id"),
    )
    sa.Table(
        "protected_accounts",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("upn_key", key, nullable=False),
        sa.Column("upn", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("expires_at", instant),
        sa.Column("created_at", instant, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("updated_at", instant, nullable=False),
        sa.Column("removed_at", instant),
        sa.Column("removed_by", sa.Text),
        sa.PrimaryKeyConstraint("tenant_id", "upn_key"),
    )
    for name in ("operations", "operation_items", "operation_events", "waves", "wave_members",
                 "protected_accounts"):
        meta.tables[name].create(conn)


def _v3_protected_object_id(conn: Connection) -> None:
    """A protected account's object id (nullable: rows from version 2, and UPNs confirmed as not in the
    snapshot, have none until a snapshot contains them; until then they match by UPN)."""
    conn.execute(sa.text("ALTER TABLE protected_accounts ADD COLUMN user_id VARCHAR(255)"))


def _v4_state_read(conn: Connection) -> None:
    """How a snapshot read the per-user MFA states: the users listing or per-user reads, why, and the
    sample it checked (nullable: snapshots from version 3 did not record it; they read user by user)."""
    for column in ("state_read_path VARCHAR(255)", "state_read_reason TEXT", "state_read_sampled INTEGER",
                   "state_read_disagreed INTEGER"):
        conn.execute(sa.text(f"ALTER TABLE snapshots ADD COLUMN {column}"))


def _v5_protection(conn: Connection) -> None:
    """Each user's protection answer, versioned like the other facts (NULL in older versions: not evaluated),
    and one record per snapshot of what was evaluated: Conditional Access availability, security defaults,
    the policies (JSON as Graph sent them), the methods policy's campaign and method states, the summary."""
    for name in ("covered_by", "covered_by_policies", "protection_conflict", "method_class", "sms_voice_deadline"):
        conn.execute(sa.text(f"ALTER TABLE user_versions ADD COLUMN {name} TEXT"))
    meta = sa.MetaData()
    key = sa.String(255)
    sa.Table("snapshots", meta, sa.Column("id", sa.Integer, primary_key=True))  # referenced, already there
    sa.Table(
        "snapshot_protection",
        meta,
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True, autoincrement=False),
        sa.Column("ca_availability", key, nullable=False),
        sa.Column("ca_message", sa.Text),
        sa.Column("security_defaults", sa.Boolean),
        sa.Column("security_defaults_message", sa.Text),
        sa.Column("policies", sa.Text, nullable=False),
        sa.Column("methods_policy", sa.Text),
        sa.Column("methods_policy_message", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("read_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("ca_availability IN ('available', 'no_p1', 'not_readable')",
                           name="ck_snapshot_protection_ca"),
    )
    meta.tables["snapshot_protection"].create(conn)


def _v6_setting_changes(conn: Connection) -> None:
    """The journal of tenant-setting changes (the registration campaign), each with before and after."""
    meta = sa.MetaData()
    key, instant = sa.String(255), sa.BigInteger
    sa.Table("tenants", meta, sa.Column("id", key, primary_key=True))  # referenced, already there
    sa.Table(
        "setting_changes",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("setting", key, nullable=False),
        sa.Column("kind", key, nullable=False),
        sa.Column("status", key, nullable=False),
        sa.Column("before_value", sa.Text, nullable=False),
        sa.Column("requested_value", sa.Text, nullable=False),
        sa.Column("after_value", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_kind", key, nullable=False),
        sa.Column("undo_of", sa.Integer, sa.ForeignKey("setting_changes.id")),
        sa.Column("created_at", instant, nullable=False),
        sa.Column("finished_at", instant),
        sa.Column("error", sa.Text),
        sa.CheckConstraint("kind IN ('change', 'undo')", name="ck_setting_changes_kind"),
        sa.CheckConstraint("status IN ('sending', 'applied', 'differs', 'failed', 'unchanged')",
                           name="ck_setting_changes_status"),
        sa.Index("ix_setting_changes_tenant", "tenant_id", "setting"),
    )
    meta.create_all(conn)


def _v7_sign_in_evidence(conn: Connection) -> None:
    """Per-user sign-in evidence and, per tenant, how far the sign-in log has been read."""
    meta = sa.MetaData()
    key = sa.String(255)
    sa.Table("tenants", meta, sa.Column("id", key, primary_key=True))  # the foreign keys' target, not created
    sa.Table(
        "sign_in_reads",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("read_until", sa.BigInteger),
        sa.Column("seen_at_read_until", sa.Text, nullable=False),
        sa.Column("single_factor_by_day", sa.Text, nullable=False),
        sa.Column("read_at", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "sign_in_evidence",
        meta,
        sa.Column("tenant_id", key, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", key, nullable=False),
        sa.Column("last_sign_in", sa.BigInteger),
        sa.Column("last_mfa_sign_in", sa.BigInteger),
        sa.Column("last_single_factor_sign_in", sa.BigInteger),
        sa.Column("legacy_clients", sa.Text, nullable=False),
        sa.Column("days", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
    )
    for name in ("sign_in_reads", "sign_in_evidence"):
        meta.tables[name].create(conn)


MIGRATIONS: tuple[Migration, ...] = (_v1_history, _v2_rollout, _v3_protected_object_id, _v4_state_read,
                                     _v5_protection, _v6_setting_changes, _v7_sign_in_evidence)
"""Every migration this console knows, oldest first; ``len(MIGRATIONS)`` is the supported version."""


def database_version(conn: Connection) -> int:
    """The schema version the database is at (0 for an empty database)."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)`` and return that version.

    Refuses (``SchemaTooNewError``) a database a newer console migrated: its extra tables and
    columns would be ignored or overwritten by code that does not know them.
    """
    supported = len(migrations)
    with read_transaction(engine) as conn:
        found = database_version(conn)
    if found > supported:
        raise SchemaTooNewError(found, supported)
    while found < supported:
        with write_transaction(engine) as conn:
            found = database_version(conn)  # re-read under the write lock: another process may have won
            if found > supported:
                raise SchemaTooNewError(found, supported)
            if found == supported:
                break
            version = found + 1
            schema_version.create(conn, checkfirst=True)
            conn.execute(sa.insert(schema_version).values(version=version, applied_at=time.time_ns()))
            try:
                migrations[version - 1](conn)
            except sa.exc.SQLAlchemyError as exc:
                if is_lock_error(exc):
                    raise
                cause = getattr(exc, "orig", None) or exc
                raise MigrationError(f"migration to schema version {version} failed: {cause}") from exc
        found = version
    return found
