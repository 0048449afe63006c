"""The demo history built in a process of its own: ``python -m lib.demo_seed`` (started by ``lib.demo``).

Building the 90-day past of a large demo tenant holds hundreds of thousands of objects for minutes and replays
every user's events for every day: in the console's own process it would take the interpreter lock from the
pages and make each of Streamlit's per-run collections walk all of it. Here it runs beside the console on the
other core. The console writes one JSON line on standard input (how to reach the demo tenant, with its keys,
and the database URL: never on the command line, which other users may read) and keeps the pipe open; this
process stops when that pipe closes (its console has gone). It prints one JSON line per step,
``{"fraction": f, "words": "…"}``, then ``{"built": true|false}`` or ``{"error": "…"}``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

__all__ = ["main"]


def _say(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


def _exit_with_stdin() -> None:
    """Thread body: the console's end of the pipe closed (it has gone): stop at once."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(1)


def main() -> int:
    from lib.demo import DemoLink, DemoTenant, ensure_demo_history, tenant_clock
    from lib.errors import describe
    from lib.store import open_store

    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 65536)
        if not chunk:
            return 1
        line += chunk
    threading.Thread(target=_exit_with_stdin, daemon=True, name="stdin-watchdog").start()
    try:
        order = json.loads(line)
        link = DemoLink.from_line(order["demo"])
        demo = DemoTenant(link, link.public_client_id, tenant_clock(link))
        with open_store(order["database_url"], clock=demo.now) as store:
            built = ensure_demo_history(store, demo, lambda f, words: _say({"fraction": f, "words": words}))
    except Exception as err:  # one line for the page, never a traceback
        _say({"error": describe(err)})
        return 1
    _say({"built": built})
    return 0


if __name__ == "__main__":
    sys.exit(main())
