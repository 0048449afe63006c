"""Connecting to the history database: the default location, SQLite tuning, transactions, errors.

SQLite is the default (one file under the data folder) and gets the settings a small multi-reader
web app needs: WAL so pages read while a refresh writes, foreign keys on, a busy timeout, and
``BEGIN IMMEDIATE`` for write transactions so a read-then-write never fails half-way on a lock
upgrade. PostgreSQL (several console replicas on one database) gets the same promises: a lock wait
ends after the busy timeout, and write transactions take one database-wide lock, so they run one at
a time as on SQLite while readers never wait. Every other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from lib.private_files import create_private_file
from lib.store.errors import StoreError, StoreLockedError

DATA_ENV = "MFA_CONSOLE_DATA"
DEFAULT_DATA_DIR = ".data"
DATABASE_FILE = "console.db"
DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another process's lock before ``StoreLockedError``."""

_WRITE = "mfa_store_write"
"""Execution option marking a connection whose transaction will write (SQLite: BEGIN IMMEDIATE)."""

_LOCK_MESSAGES = ("database is locked", "database table is locked", "could not obtain lock", "lock timeout")

WRITE_LOCK_KEY = 0x4D46_4121
"""PostgreSQL advisory lock every write transaction holds until it ends (any constant: the lock is per database)."""


def default_database_url() -> str:
    """``sqlite:///<data folder>/console.db``; the folder is ``$MFA_CONSOLE_DATA`` or ``./.data``.

    The path is made absolute now, so a later change of working directory cannot move the database.
    """
    folder = Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()
    return URL.create("sqlite", database=str(folder / DATABASE_FILE)).render_as_string()


def sqlite_file(url: URL) -> Path | None:
    """The database file of a file-backed SQLite URL, else None (in-memory SQLite, other databases)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def describe(url: URL) -> str:
    """How errors name the database: the SQLite file path, or the URL without its password."""
    path = sqlite_file(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def normalise_url(url: str | URL) -> URL:
    """``url`` as an engine needs it: ``postgresql://`` (no driver named) means psycopg 3.

    SQLAlchemy's default driver for ``postgresql://`` is psycopg2, which requirements.txt does not
    install; psycopg 3 (``postgresql+psycopg://``) is the one it does. A URL naming a driver is kept.
    """
    url = sa.make_url(url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def create_store_engine(url: str | URL, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """An engine for ``url``; SQLite and PostgreSQL get their hooks (SQLite also its data folder)."""
    if busy_timeout < 0:
        raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout}")
    url = normalise_url(url)
    if url.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, pool_pre_ping=True)
        _install_postgresql_hooks(engine, busy_timeout)
        return engine
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    path = sqlite_file(url)
    if path is not None:  # a new database file (and folder) is private: 0600 (0700); SQLite's -wal and -shm
        create_private_file(path)  # files take the database file's mode
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})
    _install_sqlite_hooks(engine, busy_timeout)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout: float) -> None:
    """The only SQLite-specific SQL in the store: connection pragmas and the BEGIN statement."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below start transactions, not pysqlite's own heuristics.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _install_postgresql_hooks(engine: Engine, busy_timeout: float) -> None:
    """The only PostgreSQL-specific SQL in the store: the lock timeout and the write lock.

    ``lock_timeout`` turns a wait for another session's lock into an error after ``busy_timeout``
    (``StoreLockedError``), as SQLite's busy timeout does. A write transaction first takes the
    transaction-scoped advisory lock ``WRITE_LOCK_KEY`` (released at commit or rollback, or when the
    session dies, e.g. on kill -9): the journal's read-then-write steps (settle an item once, check
    overlaps, claim an operation, apply a migration) then stay atomic across processes, exactly as
    under SQLite's ``BEGIN IMMEDIATE``. Reads never take it and never wait for it.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {max(1, int(busy_timeout * 1000))}")
        dbapi_connection.commit()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: one consistent view, never blocks a writer (WAL)."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: takes the write lock up front (one writer at a time), commits or rolls back whole."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def is_lock_error(exc: BaseException) -> bool:
    """True when the database refused because another connection holds a lock."""
    message = str(getattr(exc, "orig", None) or exc).lower()
    return any(text in message for text in _LOCK_MESSAGES)


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn driver errors into ``StoreError`` naming the database, so pages show a message."""
    try:
        yield
    except StoreError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        if is_lock_error(exc):
            raise StoreLockedError(
                f"database {where} is locked by another process or connection ({cause}); try again shortly"
            ) from exc
        raise StoreError(f"database {where}: {cause}") from exc
