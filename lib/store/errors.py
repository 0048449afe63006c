"""Every error the history store raises, in one place.

Callers (pages, the CLI, the refresh worker) catch ``StoreError`` to show one clear message instead
of a traceback; the subclasses let them react to the cases that need a different answer (tell the
admin to upgrade, retry later, pick another snapshot). Bad arguments are ``ValueError``, as usual.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class: the history store could not do what was asked."""


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer console; writing to it could corrupt what it added."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this console supports ({supported}); "
            "upgrade the console"
        )


class MigrationError(StoreError):
    """A schema migration failed; the database stays at the last version that completed."""


class StoreLockedError(StoreError):
    """Another process held the database lock for longer than the busy timeout."""


class NotFoundError(StoreError, LookupError):
    """A tenant or snapshot that the caller named does not exist (for that tenant)."""


class SnapshotStateError(StoreError):
    """The snapshot cannot move to the requested status (not running, or overtaken by a newer one)."""
