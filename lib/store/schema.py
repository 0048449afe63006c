"""The current shape of the history database, as SQLAlchemy Core tables the queries are built from.

These tables describe the database *after* every migration in ``lib.store.migrations`` has run;
the migrations themselves carry their own frozen copies, so editing a table here never rewrites
history. ``tests/test_store.py`` checks that a freshly migrated database matches this module, so a
change here without a migration (or a new column in ``lib.columns``) fails a test, not a customer.

Conventions (portable to SQLite and PostgreSQL):

* every instant is an INTEGER (BIGINT) of nanoseconds since 1970-01-01T00:00:00Z, UTC — exact for
  the whole ``datetime64[ns, UTC]`` range of ``lib.columns`` and cheap to convert in bulk;
* a calendar day (``daily_aggregates.day``) is a DATE, the UTC day of the snapshot's ``started_at``;
* free text is TEXT, keys and enumerations are VARCHAR(255).

Users are kept in two tables, following ``lib.columns``: ``user_versions`` holds the facts
(``FACT_COLUMNS``) as changes over time, and ``user_latest`` holds the latest value of the
per-user volatile columns (``LATEST_COLUMNS``: last sign-in), which move on nearly every refresh
and would otherwise make every user "changed" every day. The per-snapshot read times live on
``snapshots``.
"""

from __future__ import annotations

import sqlalchemy as sa

from lib.columns import FACT_COLUMNS, USER_COLUMNS, UTC_TIMESTAMP, VOLATILE_COLUMNS

TENANT_MODES: tuple[str, ...] = ("demo", "tenant")
SNAPSHOT_STATUSES: tuple[str, ...] = ("running", "complete", "failed", "cancelled")
FAILED_STATUSES: tuple[str, ...] = ("failed", "cancelled")

READ_AT_COLUMNS: tuple[str, ...] = ("users_read_at", "registration_read_at", "state_read_at")
"""Volatile columns that are one value per snapshot: stored on the ``snapshots`` row."""

LATEST_COLUMNS: tuple[str, ...] = tuple(c for c in VOLATILE_COLUMNS if c not in READ_AT_COLUMNS)
"""Volatile columns that are one value per user: their latest value is kept in ``user_latest``."""

Key = sa.String(255)
Instant = sa.BigInteger

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", Instant, nullable=False),
)
"""One row per applied migration; the database's version is the highest. Never changes shape."""

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", Key, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("mode", Key, nullable=False),
    sa.Column("first_seen", Instant, nullable=False),
    sa.CheckConstraint("mode IN ('demo', 'tenant')", name="ck_tenants_mode"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("started_at", Instant, nullable=False),
    sa.Column("finished_at", Instant),
    sa.Column("status", Key, nullable=False),
    sa.Column("registration_source", Key, nullable=False),
    sa.Column("users_read_at", Instant),
    sa.Column("registration_read_at", Instant),
    sa.Column("state_read_at", Instant),
    sa.Column("user_count", sa.Integer),
    sa.Column("stats", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("state_read_path", Key),
    sa.Column("state_read_reason", sa.Text),
    sa.Column("state_read_sampled", sa.Integer),
    sa.Column("state_read_disagreed", sa.Integer),
    sa.CheckConstraint(
        "status IN ('running', 'complete', 'failed', 'cancelled')", name="ck_snapshots_status"
    ),
    sa.CheckConstraint("registration_source IN ('reports', 'methods')", name="ck_snapshots_source"),
    sa.Index("ix_snapshots_tenant_status", "tenant_id", "status", "id"),
)


def fact_sql_type(dtype: str) -> tuple[sa.types.TypeEngine, bool]:
    """SQL type and nullability for a ``lib.columns`` dtype (pandas ``bool``/``int16`` cannot hold NA)."""
    if dtype == UTC_TIMESTAMP:
        return Instant(), True
    if dtype == "bool":
        return sa.Boolean(), False
    if dtype == "int16":
        return sa.SmallInteger(), False
    if dtype == "string":
        return sa.Text(), True
    raise ValueError(f"no SQL type for users-frame dtype {dtype!r}; add one in lib/store/schema.py")


def _user_columns(names: tuple[str, ...]) -> list[sa.Column]:
    columns = []
    for name in names:
        sql_type, nullable = fact_sql_type(USER_COLUMNS[name])
        columns.append(sa.Column(name, sql_type, nullable=nullable))
    return columns


user_versions = sa.Table(
    "user_versions",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False),
    *_user_columns(FACT_COLUMNS),
    *_user_columns(LATEST_COLUMNS),
    sa.PrimaryKeyConstraint("tenant_id", "user_id", "snapshot_id"),
    sqlite_with_rowid=False,
)
"""A user's facts as of a snapshot, written only when they change; ``removed`` marks a tombstone.

The ``LATEST_COLUMNS`` here are the values seen by the snapshot that wrote the row (they never
cause a row). A tombstone carries the user's last facts, so every row is a complete, typed user.
Clustered on (tenant, user, snapshot) on SQLite, so "latest version per user" is one index scan.
"""

user_latest = sa.Table(
    "user_latest",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    *_user_columns(LATEST_COLUMNS),
    sa.PrimaryKeyConstraint("tenant_id", "user_id"),
    sqlite_with_rowid=False,
)
"""The latest ``LATEST_COLUMNS`` values of every user the tenant ever had, updated in place.

``snapshot_id`` is the first snapshot that saw these values; they hold from it up to the latest
snapshot, so a snapshot at or after it shows them exactly (see ``Store.load_users``).
"""

AGGREGATE_COUNTS: tuple[str, ...] = (
    "users",
    "enabled_accounts",
    "guests",
    "admins",
    "registered",
    "capable",
    "state_disabled",
    "state_enabled",
    "state_enforced",
    "state_unknown",
    "admins_unregistered",
)
"""The counts kept per (tenant, day); see ``lib.store.aggregates`` for what each one counts."""

daily_aggregates = sa.Table(
    "daily_aggregates",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in AGGREGATE_COUNTS),
    sa.PrimaryKeyConstraint("tenant_id", "day"),
)
"""One row per (tenant, UTC day): the counts of the day's last complete snapshot."""

snapshot_protection = sa.Table(
    "snapshot_protection",
    metadata,
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True, autoincrement=False),
    sa.Column("ca_availability", Key, nullable=False),
    sa.Column("ca_message", sa.Text),
    sa.Column("security_defaults", sa.Boolean),
    sa.Column("security_defaults_message", sa.Text),
    sa.Column("policies", sa.Text, nullable=False),
    sa.Column("methods_policy", sa.Text),
    sa.Column("methods_policy_message", sa.Text),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("read_at", Instant, nullable=False),
    sa.CheckConstraint("ca_availability IN ('available', 'no_p1', 'not_readable')",
                       name="ck_snapshot_protection_ca"),
)
"""What a complete snapshot's protection answer was computed from (schema version 5), written in the same
transaction as its users. ``policies`` is the JSON list of Conditional Access policies as Graph sent them
(``[]`` when none could be read); ``ca_message`` / ``security_defaults_message`` / ``methods_policy_message``
say in words why a part could not be read (NULL when it was); ``security_defaults`` is NULL when unread;
``methods_policy`` is JSON ``{"campaign": {...}, "methods": {id: state}}``; ``summary`` is
``ProtectionSummary.as_json()``. A snapshot from before version 4 has no row: not evaluated."""

# -- the bulk-change journal (schema version 2; lib.rollout reads and writes these) ----------------

OPERATION_KINDS: tuple[str, ...] = ("apply", "undo")
OPERATION_STATUSES: tuple[str, ...] = ("running", "complete", "partial", "cancelled", "failed")
ITEM_STATUSES: tuple[str, ...] = ("pending", "sending", "applied", "failed", "skipped", "cancelled")
WAVE_SOURCES: tuple[str, ...] = ("operation", "imported")

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("kind", Key, nullable=False),
    sa.Column("status", Key, nullable=False),
    sa.Column("requested_state", Key),
    sa.Column("source", Key, nullable=False),
    sa.Column("label", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("actor_kind", Key, nullable=False),
    sa.Column("undo_of", sa.Integer, sa.ForeignKey("operations.id")),
    sa.Column("planned", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("summary", sa.Text),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("started_at", Instant),
    sa.Column("finished_at", Instant),
    sa.Column("heartbeat_at", Instant),
    sa.Column("owner", sa.Text),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("kind IN ('apply', 'undo')", name="ck_operations_kind"),
    sa.CheckConstraint(
        "status IN ('running', 'complete', 'partial', 'cancelled', 'failed')", name="ck_operations_status"
    ),
    sa.Index("ix_operations_tenant_status", "tenant_id", "status"),
)
"""One bulk change (apply or undo). ``requested_state`` is NULL when it varies per user (CSV, undo).

``running`` stays set while a worker owns it: ``owner`` (host/pid/token) and ``heartbeat_at`` tell a
live worker from one that died (kill -9); a dead one is *interrupted* and can be resumed.
``planned``/``skipped`` are the plan's counts; ``summary`` is the plan's JSON summary (warnings).
"""

operation_items = sa.Table(
    "operation_items",
    metadata,
    sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("upn", sa.Text),
    sa.Column("display_name", sa.Text),
    sa.Column("before_state", Key),
    sa.Column("requested_state", Key, nullable=False),
    sa.Column("expected_state", Key),
    sa.Column("status", Key, nullable=False),
    sa.Column("reason_code", Key),
    sa.Column("reason", sa.Text),
    sa.Column("read_state", Key),
    sa.Column("after_state", Key),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error_status", sa.Integer),
    sa.Column("updated_at", Instant, nullable=False),
    sa.Column("sent_at", Instant),
    sa.Column("finished_at", Instant),
    sa.PrimaryKeyConstraint("operation_id", "user_id"),
    sa.CheckConstraint(
        "status IN ('pending', 'sending', 'applied', 'failed', 'skipped', 'cancelled')",
        name="ck_operation_items_status",
    ),
    sa.Index("ix_operation_items_status", "operation_id", "status"),
    sa.Index("ix_operation_items_finished", "operation_id", "finished_at"),
)
"""One user of an operation: the plan's view (``before_state`` → ``requested_state``, ``expected_state``),
what was read just before sending (``read_state``), and the outcome (``status``, ``after_state``,
``reason_code``/``reason``, ``attempts``). ``sending`` written before the PATCH leaves means "outcome
unknown until re-read"; ``applied`` and ``skipped`` are final.
"""

operation_events = sa.Table(
    "operation_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Column("event", Key, nullable=False),
    sa.Column("state", Key),
    sa.Column("detail", sa.Text),
    sa.Index("ix_operation_events_item", "operation_id", "user_id"),
)
"""Append-only: every status an item moved to (``sending``, ``applied``, ``failed``, ``skipped``,
``cancelled``), with the state sent, read or reached. Never updated or deleted."""

waves = sa.Table(
    "waves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", Key, nullable=False),
    sa.Column("source", Key, nullable=False),
    sa.Column("operation_id", sa.Integer, sa.ForeignKey("operations.id")),
    sa.Column("launched_at", Instant, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("created_at", Instant, nullable=False),
    sa.CheckConstraint("source IN ('operation', 'imported')", name="ck_waves_source"),
    sa.UniqueConstraint("tenant_id", "name", name="uq_waves_tenant_name"),
)
"""A named rollout wave: an Enable operation (``source = 'operation'``) or one from the tenant's past."""

wave_members = sa.Table(
    "wave_members",
    metadata,
    sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("upn", sa.Text),
    sa.PrimaryKeyConstraint("wave_id", "user_id"),
)

protected_accounts = sa.Table(
    "protected_accounts",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("upn_key", Key, nullable=False),
    sa.Column("upn", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("expires_at", Instant),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", Instant, nullable=False),
    sa.Column("removed_at", Instant),
    sa.Column("removed_by", sa.Text),
    sa.Column("user_id", Key),
    sa.PrimaryKeyConstraint("tenant_id", "upn_key"),
)
"""Accounts no bulk action, CSV import or undo may change. ``upn_key`` is the case-folded UPN as it was
protected; ``user_id`` (schema version 3) the account's object id, NULL until a snapshot has shown the UPN:
matching goes by id first, so a renamed account stays protected, and by UPN only while no id is known;
an expired protection (``expires_at`` past) no longer protects but stays listed; removing one sets
``removed_at`` (the row is kept, so who protected what, and until when, stays answerable)."""

SETTING_CHANGE_KINDS: tuple[str, ...] = ("change", "undo")
SETTING_CHANGE_STATUSES: tuple[str, ...] = ("sending", "applied", "differs", "failed", "unchanged")

setting_changes = sa.Table(
    "setting_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("setting", Key, nullable=False),
    sa.Column("kind", Key, nullable=False),
    sa.Column("status", Key, nullable=False),
    sa.Column("before_value", sa.Text, nullable=False),
    sa.Column("requested_value", sa.Text, nullable=False),
    sa.Column("after_value", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("actor_kind", Key, nullable=False),
    sa.Column("undo_of", sa.Integer, sa.ForeignKey("setting_changes.id")),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("finished_at", Instant),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("kind IN ('change', 'undo')", name="ck_setting_changes_kind"),
    sa.CheckConstraint("status IN ('sending', 'applied', 'differs', 'failed', 'unchanged')",
                       name="ck_setting_changes_status"),
    sa.Index("ix_setting_changes_tenant", "tenant_id", "setting"),
)
"""One change of a tenant-wide setting (schema version 5), journaled before it is sent: ``before_value`` as
Graph reported it just before, ``requested_value``, and ``after_value`` as read back afterwards (JSON). Status
``sending`` until the answer is journaled: a row left ``sending`` means "outcome unknown until re-read";
``applied`` (the read-back matches), ``differs`` (it does not), ``failed`` (Graph refused), ``unchanged``
(already so: nothing sent)."""
# -- sign-in evidence (schema version 7; lib.signins.saved reads and writes these) ------------------

sign_in_reads = sa.Table(
    "sign_in_reads",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("read_until", Instant),
    sa.Column("seen_at_read_until", sa.Text, nullable=False),
    sa.Column("single_factor_by_day", sa.Text, nullable=False),
    sa.Column("read_at", Instant, nullable=False),
)
"""Per tenant: where the next read of the sign-in log starts (``read_until``, and the ids of the sign-ins
stamped exactly then, a JSON list), the tenant's single-factor sign-ins per UTC day (a JSON object), and
when the log was last read."""

sign_in_evidence = sa.Table(
    "sign_in_evidence",
    metadata,
    sa.Column("tenant_id", Key, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("user_id", Key, nullable=False),
    sa.Column("last_sign_in", Instant),
    sa.Column("last_mfa_sign_in", Instant),
    sa.Column("last_single_factor_sign_in", Instant),
    sa.Column("legacy_clients", sa.Text, nullable=False),
    sa.Column("days", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "user_id"),
)
"""One row per user the sign-in log has shown: the last sign-in of each kind, each legacy client with its
last use (a JSON object of client → ns), and the sign-in counts per day of the last 30 days (a JSON
object of ``YYYY-MM-DD`` → ``[total, mfa, unknown]``). Aggregates, never raw sign-ins."""
