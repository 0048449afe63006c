"""Every error the history store raises, in one place.

Callers (pages, the CLI, the refresh worker) catch ``StoreError`` to show one clear message instead
of a traceback; the subclasses let them react to the cases that need a different answer (tell the
admin to upgrade, retry later, pick another snapshot). Bad arguments are ``ValueError``, as usual.

::

    StoreError                   the history database could not do what was asked
    ├── SchemaTooNewError        migrated by a newer console: upgrade the console
    ├── MigrationError           a schema migration failed (the database stays at the last good version)
    ├── StoreLockedError         another process held the lock too long (``retryable``)
    ├── NotFoundError            no such tenant or snapshot (also a ``LookupError``)
    └── SnapshotStateError       the snapshot cannot move to that status

``StoreError`` is a :class:`lib.errors.ConsoleError`: ``describe`` shows it as ``database: …``.
"""

from __future__ import annotations

from typing import ClassVar

from lib.errors import ConsoleError


class StoreError(ConsoleError):
    """Base class: the history store could not do what was asked."""

    code = "store_error"
    area: ClassVar[str] = "database"
    default_message: ClassVar[str] = "the history database could not do what was asked"


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer console; writing to it could corrupt what it added."""

    code = "schema_too_new"

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this console supports ({supported}); "
            "upgrade the console"
        )


class MigrationError(StoreError):
    """A schema migration failed; the database stays at the last version that completed."""

    code = "migration_failed"


class StoreLockedError(StoreError):
    """Another process held the database lock for longer than the busy timeout."""

    code = "store_locked"
    retryable = True


class NotFoundError(StoreError, LookupError):
    """A tenant or snapshot that the caller named does not exist (for that tenant)."""

    code = "not_found"


class SnapshotStateError(StoreError):
    """The snapshot cannot move to the requested status (not running, or overtaken by a newer one)."""

    code = "snapshot_state"
