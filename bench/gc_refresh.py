"""A refresh with a page open against the same refresh with it closed: what Streamlit's per-run collections cost.

An open progress page reruns its polling sections about twice a second while a refresh runs. Streamlit would
end every run with ``gc.collect(2)`` (``runner.postScriptGC``); the console turns that off and collects
after a page run at most every 15 s (``lib.gc_policy.collect_after_page_run``). This benchmark takes the
same snapshot of a demo tenant (its own process, as the app starts it) twice in a console-like process
(Streamlit, pandas, plotly and the console imported, the latest users frame loaded, long-lived objects frozen
as the app does): once alone ("closed") and once with a thread calling the console's collection twice a
second, as if every poll were a page run ("open"). The last line is one JSON object: ``closed_s``,
``open_s``, ``ratio`` (target <= 1.25), ``collections`` (full ones that ran), ``walked_per_collection`` and
``frozen``. ``--no-freeze`` shows the same without ``gc.freeze()``; ``--every-run`` collects at each poll,
as Streamlit's default would.

    .venv/bin/python bench/gc_refresh.py --users 20000
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _refresh(store: Any, link: Any) -> float:
    from lib.demo import app_gateway
    from lib.directory.refresh import refresh_snapshot

    started = time.perf_counter()
    with app_gateway(link) as gateway:
        refresh_snapshot(store, gateway, mode="demo")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--no-freeze", action="store_true")
    parser.add_argument("--every-run", action="store_true", help="a full collection at each poll (Streamlit's default)")
    parser.add_argument("--per-second", type=float, default=2.0, help="full collections a second while 'open'")
    args = parser.parse_args()

    import pandas  # noqa: F401 - what the console process holds
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401

    import lib.ui.context  # noqa: F401
    from lib.demo_process import start_demo_process
    from lib.gc_policy import collect_after_page_run, freeze_long_lived, walked_by_full_collection
    from lib.store import open_store

    process = start_demo_process(users=args.users, seed=7, extra_args=("--time-scale", "0.01"))
    try:
        with tempfile.TemporaryDirectory() as folder, open_store(f"sqlite:///{folder}/console.db") as store:
            _refresh(store, process.link)  # the first snapshot; the pages hold its frame
            frame = store.load_users(process.link.tenant_id)
            if not args.no_freeze:
                freeze_long_lived()
            closed = _refresh(store, process.link)
            stop, counts = threading.Event(), []

            def page_open() -> None:
                while not stop.wait(1 / args.per_second):
                    if args.every_run:
                        counts.append(walked_by_full_collection())
                        gc.collect(2)
                    elif collect_after_page_run():
                        counts.append(walked_by_full_collection())  # what it walked, less its garbage

            poller = threading.Thread(target=page_open, daemon=True)
            poller.start()
            opened = _refresh(store, process.link)
            stop.set()
            poller.join()
            figures = {
                "users": args.users, "frozen": gc.get_freeze_count(), "frame_rows": len(frame),
                "closed_s": round(closed, 2), "open_s": round(opened, 2), "ratio": round(opened / closed, 3),
                "collections": len(counts),
                "walked_per_collection": round(sum(counts) / len(counts)) if counts else 0,
            }
    finally:
        process.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
