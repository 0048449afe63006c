"""The history store: snapshots of each tenant's users, kept as changes over time, in SQL.

``open_store()`` opens (creating and migrating) the database — SQLite under the data folder by
default, any SQLAlchemy URL otherwise — and returns a ``Store``. Errors are ``StoreError`` and its
subclasses in ``lib.store.errors``; bad arguments are ``ValueError``.
"""

from lib.store.engine import DATA_ENV, DATABASE_FILE, default_database_url
from lib.store.errors import (
    MigrationError,
    NotFoundError,
    SchemaTooNewError,
    SnapshotStateError,
    StoreError,
    StoreLockedError,
)
from lib.store.migrations import MIGRATIONS, Migration
from lib.store.models import ProtectionRecord, Snapshot, SnapshotSummary, Tenant
from lib.store.store import AGGREGATE_DTYPES, HISTORY_DTYPES, Store, open_store

__all__ = [
    "AGGREGATE_DTYPES",
    "DATABASE_FILE",
    "DATA_ENV",
    "HISTORY_DTYPES",
    "MIGRATIONS",
    "Migration",
    "MigrationError",
    "NotFoundError",
    "ProtectionRecord",
    "SchemaTooNewError",
    "Snapshot",
    "SnapshotStateError",
    "SnapshotSummary",
    "Store",
    "StoreError",
    "StoreLockedError",
    "Tenant",
    "default_database_url",
    "open_store",
]
