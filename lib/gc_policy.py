"""Keep the console's long-lived objects out of the collector's way.

Streamlit runs a full collection after every script run (``runner.postScriptGC``, on by default:
``gc.collect(2)`` at the end of each run, fragments' included). Its cost is the number of tracked objects it
walks, not the garbage it finds: a second-by-second progress fragment over a large heap spends most of the
server's time there. The option stays on, since it releases an old snapshot's frames and a finished job's
objects promptly and keeps memory flat, and what it would walk for nothing is made small instead:

- the demo tenant (over a million objects at 100,000 users) lives in its own process (``lib.demo_process``);
- once the console's long-lived parts are loaded (modules, the store, the demo wiring) they are frozen
  (``gc.freeze()``): moved to the permanent generation, which no collection walks. A collection first clears
  the garbage of the moment, so nothing is frozen that could have been freed.

Frozen objects are still freed by reference counting when they go; only a cycle among them would be kept.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["freeze_long_lived", "walked_by_full_collection"]

_lock = threading.Lock()


def freeze_long_lived() -> int:
    """Collect, then freeze everything alive now; how many objects are frozen in all."""
    with _lock:
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()


def walked_by_full_collection() -> int:
    """How many objects a full collection would walk now (every tracked object that is not frozen)."""
    return len(gc.get_objects())
