"""Process-wide caches that build each key once (single flight) and stay bounded whatever the history.

- ``Memo``: a small LRU of ``size`` entries.
- ``LatestMemo``: values derived from a snapshot, kept for the newest snapshot of each slot (a tenant)
  only. A 100k-user tenant's views weigh tens of MB each; a cache keyed by snapshot id alone would
  keep every snapshot's until its LRU bound, so the server's memory would grow with each refresh.
  When a newer snapshot's value is asked for, the slot's older values are dropped at once.

Every cache has a name, and ``cache_sizes()`` counts the entries of all that exist, so tests and
benchmarks can check that none grows with the snapshots.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

_all: weakref.WeakSet[Memo | LatestMemo] = weakref.WeakSet()


def cache_sizes() -> dict[str, int]:
    """Entries held by every live cache, by name (caches sharing a name are summed)."""
    sizes: dict[str, int] = {}
    for cache in list(_all):
        sizes[cache.name] = sizes.get(cache.name, 0) + len(cache)
    return sizes


class Memo(Generic[T]):
    """``get(key, build)`` returns the value kept for ``key``, building it once (single flight) on a miss."""

    def __init__(self, size: int, name: str = "memo") -> None:
        self.size = size
        self.name = name
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}
        _all.add(self)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class LatestMemo(Generic[T]):
    """``get(slot, version, key, build)``: values of the newest ``version`` (a snapshot id) of each ``slot``.

    Up to ``per_version`` keys (e.g. scopes, waves) of that version are kept, and up to ``slots`` slots.
    Asking for a newer version drops the slot's values of the older one; asking for an older version than
    the slot holds builds the value without keeping it (a session still drawing the previous snapshot).
    """

    def __init__(self, name: str, *, per_version: int = 1, slots: int = 4) -> None:
        self.name = name
        self.per_version = per_version
        self.slots = slots
        self._slots: OrderedDict[Hashable, tuple[int, Memo[T]]] = OrderedDict()
        self._lock = threading.Lock()
        _all.add(self)

    def __len__(self) -> int:
        with self._lock:
            held = [memo for _version, memo in self._slots.values()]
        return sum(len(memo) for memo in held)

    def held(self, slot: Hashable) -> int:
        """How many values ``slot`` keeps."""
        with self._lock:
            held = self._slots.get(slot)
        return 0 if held is None else len(held[1])

    def version(self, slot: Hashable) -> int | None:
        """The version ``slot`` holds values of (None: nothing)."""
        with self._lock:
            held = self._slots.get(slot)
        return None if held is None else held[0]

    def _memo_of(self, slot: Hashable, version: int) -> Memo[T] | None:
        """The values kept for ``version`` of ``slot`` (None: older than what the slot holds, so not kept)."""
        with self._lock:
            held = self._slots.get(slot)
            if held is not None and held[0] > version:
                return None
            if held is None or held[0] < version:
                held = self._slots[slot] = (version, Memo(self.per_version, name=f"{self.name} (one snapshot)"))
                _all.discard(held[1])  # counted through this cache, not on its own
            self._slots.move_to_end(slot)
            while len(self._slots) > self.slots:
                self._slots.popitem(last=False)
            return held[1]

    def get(self, slot: Hashable, version: int, key: Hashable, build: Callable[[], T]) -> T:
        memo = self._memo_of(slot, version)
        return build() if memo is None else memo.get(key, build)

    def put(self, slot: Hashable, version: int, key: Hashable, value: T) -> None:
        """Keep ``value`` as ``key`` of ``version``: what a writer just stored, so readers need not load it
        again (not kept when the slot already holds a newer version)."""
        memo = self._memo_of(slot, version)
        if memo is not None:
            memo.put(key, value)

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()
