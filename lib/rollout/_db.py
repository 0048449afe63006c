"""Transactions on the console's store for the rollout tables (schema version 2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy.engine import Connection

from lib.store import Store
from lib.store.engine import read_transaction, translate_errors, write_transaction
from lib.store.errors import StoreError

__all__ = ["now_ns", "reading", "require_rollout_schema", "ts", "wall_ns", "writing"]

ROLLOUT_SCHEMA_VERSION = 2


def now_ns(store: Store) -> int:
    """When something happens, by the store's clock (the demo tenant's time in demo mode): what the
    journal, waves and protections stamp and what people read."""
    return store.now_ns()


def wall_ns() -> int:
    """Real time, for liveness only (heartbeats, leases): whether a worker is still there is a question
    about processes, not about the tenant's time."""
    return time.time_ns()


def ts(ns: int | None) -> pd.Timestamp | None:
    """An instant column (ns since the epoch, UTC) as a Timestamp, None for NULL."""
    return None if ns is None else pd.Timestamp(int(ns), unit="ns", tz="UTC")


def require_rollout_schema(store: Store) -> None:
    if store.schema_version < ROLLOUT_SCHEMA_VERSION:
        raise StoreError(
            f"database {store.where} is at schema version {store.schema_version}; the rollout journal needs "
            f"version {ROLLOUT_SCHEMA_VERSION} (open it with lib.store.open_store, which migrates)"
        )


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    require_rollout_schema(store)
    with translate_errors(store.where), read_transaction(store.engine) as conn:
        yield conn


@contextmanager
def writing(store: Store) -> Iterator[Connection]:
    require_rollout_schema(store)
    with translate_errors(store.where), write_transaction(store.engine) as conn:
        yield conn
