"""Views pages derive from a snapshot (a sorted, indexed users table; a wave's progress), kept for the latest
snapshot of each tenant only and shared by every session.

Streamlit's caches keep entries by key up to ``max_entries``: keyed by snapshot id, every refresh would add
a tenant-sized entry until the bound, and the server's memory would grow with each simulated day. Here a
newer snapshot's first view drops the older snapshot's at once (``lib.store.memo.LatestMemo``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from lib.store.memo import LatestMemo
from lib.ui.context import Console

T = TypeVar("T")

VIEWS_PER_SNAPSHOT = 64
"""Views kept per snapshot (one per wave on the progress page, one users table, a list of times)."""

_views: LatestMemo[Any] = LatestMemo("page views", per_version=VIEWS_PER_SNAPSHOT)


def snapshot_view(app: Console, tenant: str, snapshot_id: int, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` once per (database, tenant, snapshot, ``key``), for the tenant's latest snapshot only.

    The value is shared between sessions: callers treat it as read-only (copy a frame before changing it)."""
    return _views.get((app.settings.database_url, tenant), snapshot_id, key, build)


def views_held(database_url: str, tenant: str) -> tuple[int | None, int]:
    """(the snapshot whose views are kept, how many) for a tenant of a database (tests, benchmarks)."""
    slot = (database_url, tenant)
    return _views.version(slot), _views.held(slot)


def clear_views() -> None:
    _views.clear()
