"""Sign-in evidence figures: the console's first 30-day read of a 10k-user demo tenant's sign-in log
(about 20 sign-ins per user) on the unscaled throttle model, then the incremental read a simulated day
later.

The demo tenant runs as a separate process (``python -m lib.emulator``, 50 ms latency, the documented
reports limit of 5 requests per 10 s at time scale 1.0); the reader runs in a fresh process of its own,
so ``peak_rss_mb`` is the reader's. ``bound_s`` is the log's minimal page count (1,000 sign-ins a page)
divided by 5 pages per 10 s; ``model_floor_s`` is the same with the bucket's first 5 requests free, as
the throttle model starts. The reader is handed the users frame of a snapshot taken first (as the
snapshot's own sign-in phase is), and the reports bucket is full when it starts. Between the reads
the demo clock moves one day and the throttle starts full again, as it would a day later. Each JSON
line is one measurement; the last line holds every figure.
Run: ``python bench/signins.py [--users N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LATENCY_MS = 50.0
PAGE = 1000
REPORTS_PER_10_S = 5

READER = """
import json, resource, sys, time
from datetime import datetime
sys.path.insert(0, {root!r})
import httpx
from lib.connect import demo_credentials
from lib.graph import GraphGateway, MsalClientCredential
from lib.directory.refresh import refresh_snapshot
from lib.signins.reader import read_sign_ins
from lib.store import open_store

ready = json.loads(sys.argv[1]); db = sys.argv[2]
headers = {{"X-Emulator-Control": ready["control_key"], "Content-Type": "application/json"}}

def control(method, path, body=None):
    response = httpx.request(method, ready["graph"] + "/_emulator" + path, json=body, headers=headers,
                             timeout=600, trust_env=False)
    response.raise_for_status()
    return response.json() if response.content else None

def now():
    return datetime.fromisoformat(control("GET", "/clock")["now"].replace("Z", "+00:00"))

def read(store, gateway, users):
    before = control("GET", "/stats")
    started = time.perf_counter()
    result = read_sign_ins(gateway, store, ready["tenant_id"], now=now(), users=users)
    elapsed = time.perf_counter() - started
    after = control("GET", "/stats")
    return {{"seconds": round(elapsed, 2), "read": result.read, "pages": result.pages,
             "requests": after["requests"] - before["requests"], "throttled": after["throttled"] - before["throttled"],
             "users_with_evidence": result.users, "note": result.note}}

c = demo_credentials(ready["graph"], ready["control_key"])
credential = MsalClientCredential(c["client_id"], c["client_secret"], c["authority"], ca_cert=c["ca_cert"])
store = open_store(db)
with GraphGateway(ready["graph"], credential) as gateway:
    # The users frame the snapshot hands the reader (it sizes the windows); then the bucket starts full.
    users = refresh_snapshot(store, gateway, mode="demo", sign_ins=False).read.frame
    control("POST", "/throttle/reset", {{}})
    first = read(store, gateway, users)
    print(json.dumps({{"case": "first 30-day read", **first}}), flush=True)
    control("POST", "/clock/advance", {{"days": 1}})
    control("POST", "/throttle/reset", {{}})  # a day later the reports bucket is full again
    daily = read(store, gateway, users)
    print(json.dumps({{"case": "incremental read, one simulated day later", **daily}}), flush=True)
print(json.dumps({{"first": first, "daily": daily,
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def start_tenant(users: int) -> tuple[Any, dict]:
    """The demo tenant in its own process, started as the app and the CLI start it (lib.demo_process)."""
    from lib.demo_process import start_demo_process

    process = start_demo_process(users=users, seed=7, extra_args=(
        "--latency-ms", str(LATENCY_MS), "--time-scale", "1.0"))
    return process, process.line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps({"users": args.users, "latency_ms": LATENCY_MS, "time_scale": 1.0}), flush=True)
    proc, ready = start_tenant(args.users)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite:///{Path(tmp) / 'console.db'}"
            out = subprocess.run([sys.executable, "-c", READER.format(root=str(ROOT)), json.dumps(ready), db],
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"the reader failed:\n{out.stderr.strip()}")
    finally:
        proc.stop()
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    figures = json.loads(lines[-1])
    first, daily = figures["first"], figures["daily"]
    pages = math.ceil(first["read"] / PAGE)
    bound_s = pages * 10 / REPORTS_PER_10_S
    floor_s = max(0, pages - REPORTS_PER_10_S) * 10 / REPORTS_PER_10_S
    print(json.dumps({
        "users": args.users,
        "sign_ins": first["read"],
        "sign_ins_per_user": round(first["read"] / args.users, 1),
        "pages": first["pages"],
        "min_pages": pages,
        "seconds": first["seconds"],
        "bound_s": bound_s,
        "model_floor_s": floor_s,
        "ratio_to_bound": round(first["seconds"] / bound_s, 3),
        "ratio_to_model_floor": round(first["seconds"] / floor_s, 3) if floor_s else None,
        "incremental_seconds": daily["seconds"],
        "incremental_read": daily["read"],
        "incremental_pages": daily["pages"],
        "incremental_share_of_first": round(daily["seconds"] / first["seconds"], 3),
        "peak_rss_mb": figures["peak_rss_mb"],
    }))


if __name__ == "__main__":
    main()
