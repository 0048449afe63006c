"""Snapshot figures: the console's read of 10k and 100k users against the demo tenant, and the same
10k read done the way common scripts do it (one sequential request per user), side by side.

The demo tenant runs as a separate process (``python -m lib.emulator``) with 50 ms latency and the
documented throttle model: unscaled for the 10k case (the real floor: 5 report pages per 10 s), and
time-scaled by 0.1 for the 100k case, whose figures of interest are memory and size. Each JSON line is
one measurement; the last line holds ``speedup_vs_sequential``, ``ratio_to_bound`` (10k) and
``peak_rss_mb_100k``. Run: ``python bench/snapshot.py [--sequential-users N] [--skip-100k]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LATENCY_MS = 50.0
TIME_SCALE = {10_000: 1.0, 100_000: 0.1}
PAGE = 999


def start_tenant(users: int, latency_ms: float, time_scale: float) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.emulator", "--users", str(users), "--seed", "7",
         "--latency-ms", str(latency_ms), "--time-scale", str(time_scale)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def lower_bound_s(users: int, disabled: int, latency_s: float, time_scale: float) -> dict:
    """The least time the throttle model and latency allow for a snapshot of ``users`` users.

    Users pages are sequential (each nextLink comes from the previous page); the report's pages are
    sequential and limited to 5 per 10 s; state reads (1 RU each, 20 per batch) spend the identity
    bucket. The report and state reads can overlap, so the floor is: organization + users pages +
    the slower of (report pages, state reads, disabled accounts' methods).
    """
    from lib.emulator.throttle import IDENTITY, REPORT, throttle_bound_seconds

    pages = math.ceil(users / PAGE)
    report_pages = math.ceil((users - disabled) / PAGE)
    users_s = latency_s + pages * latency_s
    report_s = max(report_pages * latency_s, throttle_bound_seconds(REPORT, report_pages, users, time_scale)
                   + latency_s)
    state_s = max(latency_s, throttle_bound_seconds(IDENTITY, users + disabled + pages + 1, users, time_scale))
    return {"bound_s": round(users_s + max(report_s, state_s), 3), "users_pages_s": round(users_s, 3),
            "report_s": round(report_s, 3), "state_s": round(state_s, 3)}


def sequential_read(ready: dict, count: int) -> dict:
    """What common scripts do: list users, then one request per user for its MFA state, in order."""
    from lib.connect import demo_credentials
    from lib.graph import MsalClientCredential

    creds = demo_credentials(ready["graph"], ready["control_key"])
    token = MsalClientCredential(creds["client_id"], creds["client_secret"], creds["authority"],
                                 ca_cert=creds["ca_cert"]).get_token().token
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    requests = retries = 0
    ids: list[str] = []
    with httpx.Client(trust_env=False, timeout=60, headers=headers) as client:
        url = f"{ready['graph']}/v1.0/users?$select=id,userPrincipalName&$top={PAGE}"
        while url:
            page = client.get(url).json()
            requests += 1
            ids += [u["id"] for u in page["value"]]
            url = page.get("@odata.nextLink")
        for uid in ids[:count]:
            while True:
                response = client.get(f"{ready['graph']}/beta/users/{uid}/authentication/requirements")
                requests += 1
                if response.status_code == 429:
                    retries += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                response.raise_for_status()
                break
    elapsed = time.perf_counter() - started
    per_user = elapsed / max(1, min(count, len(ids)))
    return {"sequential_users": min(count, len(ids)), "sequential_s": round(elapsed, 2),
            "sequential_s_for_all": round(per_user * len(ids), 2), "sequential_requests": requests,
            "sequential_retries": retries}


def console_read(users: int) -> dict:
    """One snapshot by the console's own code, in a fresh process so peak RSS is the console's."""
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
from lib.connect import demo_credentials
from lib.directory.refresh import refresh_snapshot
from lib.graph import GraphGateway, MsalClientCredential
from lib.store import open_store
ready = json.loads(sys.argv[1]); db = sys.argv[2]
c = demo_credentials(ready["graph"], ready["control_key"])
credential = MsalClientCredential(c["client_id"], c["client_secret"], c["authority"], ca_cert=c["ca_cert"])
store = open_store(db)
started = time.perf_counter()
with GraphGateway(ready["graph"], credential) as gw:
    result = refresh_snapshot(store, gw, mode="demo", sign_ins=False)  # the sign-in log: bench/signins.py
elapsed = time.perf_counter() - started
frame = result.read.frame
print(json.dumps({{"users": len(frame), "seconds": round(elapsed, 3), "requests": result.read.stats["requests"],
    "retries": result.read.stats["retries"], "registration_source": result.read.registration_source,
    "disabled_accounts": int((~frame["account_enabled"]).sum()),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""
    proc, ready = start_tenant(users, LATENCY_MS, TIME_SCALE[users])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "console.db"
            out = subprocess.run([sys.executable, "-c", code, json.dumps(ready), f"sqlite:///{db}"],
                                 capture_output=True, text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["database_mb"] = round(sum(p.stat().st_size for p in Path(tmp).glob("console.db*")) / 1e6, 2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    figures["time_scale"] = TIME_SCALE[users]
    figures.update(lower_bound_s(users, figures["disabled_accounts"], LATENCY_MS / 1000, TIME_SCALE[users]))
    figures["ratio_to_bound"] = round(figures["seconds"] / figures["bound_s"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential-users", type=int, default=10_000,
                        help="users the sequential baseline reads (fewer extrapolates to all 10k)")
    parser.add_argument("--skip-100k", action="store_true")
    args = parser.parse_args()
    print(json.dumps({"latency_ms": LATENCY_MS, "time_scale": TIME_SCALE}), flush=True)

    ten = console_read(10_000)
    print(json.dumps({"case": "10k", **ten}), flush=True)
    proc, ready = start_tenant(10_000, LATENCY_MS, TIME_SCALE[10_000])
    try:
        baseline = sequential_read(ready, args.sequential_users)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"case": "10k sequential", **baseline}), flush=True)
    hundred = {} if args.skip_100k else console_read(100_000)
    if hundred:
        print(json.dumps({"case": "100k", **hundred}), flush=True)
    print(json.dumps({
        "speedup_vs_sequential": round(baseline["sequential_s_for_all"] / ten["seconds"], 1),
        "ratio_to_bound": ten["ratio_to_bound"],
        "bound_s_10k": ten["bound_s"],
        "seconds_10k": ten["seconds"],
        "sequential_s_10k": baseline["sequential_s_for_all"],
        "peak_rss_mb_100k": hundred.get("peak_rss_mb"),
        "seconds_100k": hundred.get("seconds"),
        "ratio_to_bound_100k": hundred.get("ratio_to_bound"),
        "database_mb_100k": hundred.get("database_mb"),
    }))


if __name__ == "__main__":
    main()
