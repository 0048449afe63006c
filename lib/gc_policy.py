"""Keep full garbage collections off the console's hot path.

Streamlit can run a full collection after every script run (``runner.postScriptGC``, on by default:
``gc.collect(2)`` at the end of each run, fragments' included). Its cost is the number of tracked objects it
walks, not the garbage it finds. While a 100k-user snapshot runs, its users listing and records are millions
of live objects, and an open page's progress fragments rerun about twice a second: a profile of the server
during *+1 day* put 72% of its CPU in those collections, and the day took 282 s with the page open against
80 s without it. So the console weighs it this way (``.streamlit/config.toml`` turns ``postScriptGC`` off):

- a full page run ends with a full collection at most every ``FULL_COLLECTION_EVERY_S`` seconds
  (:func:`collect_after_page_run`, called by ``app.py``), which still releases an old snapshot's frames and a
  finished job's objects within seconds; polling fragments never collect;
- Python's own generational collector runs as always, and reference counting frees everything else at once;
- the demo tenant (over a million objects at 100,000 users) lives in its own process (``lib.demo_process``);
- once the console's long-lived parts are loaded (modules, the store, the demo wiring) they are frozen
  (``gc.freeze()``): moved to the permanent generation, which no collection walks. A collection first clears
  the garbage of the moment, so nothing is frozen that could have been freed.

Frozen objects are still freed by reference counting when they go; only a cycle among them would be kept.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable

__all__ = ["FULL_COLLECTION_EVERY_S", "collect_after_page_run", "freeze_long_lived", "walked_by_full_collection"]

FULL_COLLECTION_EVERY_S = 15.0
"""The least time between two full collections after page runs."""

_lock = threading.Lock()
_last_full = -math.inf


def freeze_long_lived() -> int:
    """Collect, then freeze everything alive now; how many objects are frozen in all."""
    with _lock:
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()


def walked_by_full_collection() -> int:
    """How many objects a full collection would walk now (every tracked object that is not frozen)."""
    return len(gc.get_objects())


def collect_after_page_run(clock: Callable[[], float] = time.monotonic) -> bool:
    """A full collection, unless one ran in the last ``FULL_COLLECTION_EVERY_S`` seconds; whether it ran."""
    global _last_full
    with _lock:
        now = clock()
        if now - _last_full < FULL_COLLECTION_EVERY_S:
            return False
        _last_full = now
    gc.collect()
    return True
