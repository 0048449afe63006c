"""Snapshot figures: the console's read of 10k and 100k users against the demo tenant, and the same
10k read done the way common scripts do it (one sequential request per user), side by side.

The demo tenant runs as a separate process (``python -m lib.emulator``) with 50 ms latency and the
documented throttle model: unscaled for the 10k case (the real floor: 5 report pages per 10 s), and
time-scaled by 0.1 for the 100k snapshot, whose figures of interest are memory and size. The 10k
snapshot is read on both paths: the fast one (states in the users listing, a sample of 20 checked
against ``authentication/requirements``) and the fallback (``--no-bulk-mfa-state``: every state read
user by user), each against its own bound. After the 100k snapshot the throttle model is unscaled and
a plan for all 100k users is made (re-read of every state, then the plan), timed as ``plan_100k_s``.

Each JSON line is one measurement; the last line holds ``speedup_vs_sequential``, ``ratio_to_bound``
(10k, fast path), ``ratio_to_bound_fallback``, ``state_requests_10k`` (requests to
``authentication/requirements`` during the 10k fast-path snapshot), ``peak_rss_mb_100k`` and
``plan_100k_s``. Run: ``python bench/snapshot.py [--sequential-users N] [--skip-100k]``.
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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LATENCY_MS = 50.0
TIME_SCALE = {10_000: 1.0, 100_000: 0.1}
PAGE = 999


SAMPLE = 20
"""Users the fast path cross-checks (lib.graph.state_read.SAMPLE_SIZE): one $batch."""


def start_tenant(users: int, latency_ms: float, time_scale: float, *, bulk: bool = True) -> tuple[Any, dict]:
    """The demo tenant in its own process, started as the app and the CLI start it (lib.demo_process)."""
    from lib.demo_process import start_demo_process

    process = start_demo_process(users=users, seed=7, extra_args=(
        "--latency-ms", str(latency_ms), "--time-scale", str(time_scale), *([] if bulk else ["--no-bulk-mfa-state"])))
    return process, process.line


def emulator_stats(ready: dict) -> dict:
    headers = {"X-Emulator-Control": ready["control_key"], "Content-Type": "application/json"}
    return httpx.get(f"{ready['graph']}/_emulator/stats", headers=headers, timeout=30, trust_env=False).json()


def fast_bound_s(users: int, disabled: int, latency_s: float, time_scale: float) -> dict:
    """The least time for a snapshot whose states come with the users listing.

    Users pages are sequential; the report's pages are sequential and limited to 5 per 10 s; beside
    the report only the sample (one $batch) and the disabled accounts' methods spend the identity
    bucket. So the floor is: organization + users pages + the slower of (report pages, those reads).
    """
    from lib.emulator.throttle import IDENTITY, REPORT, throttle_bound_seconds

    pages = math.ceil(users / PAGE)
    report_pages = math.ceil((users - disabled) / PAGE)
    users_s = latency_s + pages * latency_s
    report_s = max(report_pages * latency_s, throttle_bound_seconds(REPORT, report_pages, users, time_scale)
                   + latency_s)
    reads_s = max(latency_s, throttle_bound_seconds(IDENTITY, SAMPLE + disabled + pages + 1, users, time_scale))
    return {"bound_s": round(users_s + max(report_s, reads_s), 3), "users_pages_s": round(users_s, 3),
            "report_s": round(report_s, 3), "state_s": round(reads_s, 3)}


def lower_bound_s(users: int, disabled: int, latency_s: float, time_scale: float) -> dict:
    """The least time the throttle model and latency allow for a snapshot of ``users`` users, when
    every state is read user by user (the fallback path).

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


def console_read(users: int, *, bulk: bool = True, plan: bool = False) -> dict:
    """One snapshot by the console's own code, in a fresh process so peak RSS is the console's.

    ``bulk=False`` starts the demo tenant with ``--no-bulk-mfa-state`` (the fallback path). ``plan``
    then unscales the throttle model and times a plan for every user (re-read + plan), the way the
    Users page plans a selection of everyone.
    """
    code = f"""
import json, resource, sys, time
import httpx
sys.path.insert(0, {str(ROOT)!r})
from lib import console
from lib.connect import demo_credentials
from lib.directory.refresh import refresh_snapshot
from lib.graph import GraphGateway, MsalClientCredential
from lib.rollout.actor import app_actor_from_token
from lib.store import open_store
ready = json.loads(sys.argv[1]); db = sys.argv[2]; plan = sys.argv[3] == "plan"
c = demo_credentials(ready["graph"], ready["control_key"])
credential = MsalClientCredential(c["client_id"], c["client_secret"], c["authority"], ca_cert=c["ca_cert"])
store = open_store(db)
started = time.perf_counter()
with GraphGateway(ready["graph"], credential) as gw:
    result = refresh_snapshot(store, gw, mode="demo", sign_ins=False)  # the sign-in log: bench/signins.py
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the plan: the snapshot's
    frame = result.read.frame
    out = {{"users": len(frame), "seconds": round(elapsed, 3), "requests": result.read.stats["requests"],
        "retries": result.read.stats["retries"], "registration_source": result.read.registration_source,
        "disabled_accounts": int((~frame["account_enabled"]).sum()), "state_read": result.read.state_read.as_dict(),
        "peak_rss_mb": round(peak, 1)}}
    del frame, result
    if plan:
        control = {{"X-Emulator-Control": ready["control_key"], "Content-Type": "application/json"}}
        httpx.patch(ready["graph"] + "/_emulator/config", json={{"time_scale": 1.0}}, headers=control,
                    trust_env=False).raise_for_status()
        httpx.post(ready["graph"] + "/_emulator/throttle/reset", json={{}}, headers=control,
                   trust_env=False).raise_for_status()
        users = store.load_users(ready["tenant_id"])
        actor = app_actor_from_token(credential.get_token().token)
        ws = console.Workspace(store, gw, ready["tenant_id"], actor)
        ids = users["id"].tolist()
        begun = time.perf_counter()
        preview = console.preview_change(ws, users, ids, "enforced")
        out["plan_100k_s"] = round(time.perf_counter() - begun, 2)
        out["plan_changes"] = len(preview.changes)
        out["plan_skipped"] = len(preview.skipped)
print(json.dumps(out))
"""
    time_scale = TIME_SCALE[users]
    proc, ready = start_tenant(users, LATENCY_MS, time_scale, bulk=bulk)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "console.db"
            out = subprocess.run([sys.executable, "-c", code, json.dumps(ready), f"sqlite:///{db}",
                                  "plan" if plan else "-"], capture_output=True, text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["database_mb"] = round(sum(p.stat().st_size for p in Path(tmp).glob("console.db*")) / 1e6, 2)
            if not plan:
                figures["state_requests"] = emulator_stats(ready)["state_reads"]
    finally:
        proc.stop()
    figures["time_scale"] = time_scale
    bound = fast_bound_s if figures["state_read"]["path"] == "users listing" else lower_bound_s
    figures.update(bound(users, figures["disabled_accounts"], LATENCY_MS / 1000, time_scale))
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
    fallback = console_read(10_000, bulk=False)
    print(json.dumps({"case": "10k fallback (per-user reads)", **fallback}), flush=True)
    proc, ready = start_tenant(10_000, LATENCY_MS, TIME_SCALE[10_000])
    try:
        baseline = sequential_read(ready, args.sequential_users)
    finally:
        proc.stop()
    print(json.dumps({"case": "10k sequential", **baseline}), flush=True)
    hundred = {} if args.skip_100k else console_read(100_000, plan=True)
    if hundred:
        print(json.dumps({"case": "100k", **hundred}), flush=True)
    print(json.dumps({
        "speedup_vs_sequential": round(baseline["sequential_s_for_all"] / ten["seconds"], 1),
        "ratio_to_bound": ten["ratio_to_bound"],
        "ratio_to_bound_fallback": fallback["ratio_to_bound"],
        "state_requests_10k": ten["state_requests"],
        "state_path_10k": ten["state_read"]["path"],
        "bound_s_10k": ten["bound_s"],
        "bound_s_10k_fallback": fallback["bound_s"],
        "seconds_10k": ten["seconds"],
        "seconds_10k_fallback": fallback["seconds"],
        "sequential_s_10k": baseline["sequential_s_for_all"],
        "peak_rss_mb_100k": hundred.get("peak_rss_mb"),
        "seconds_100k": hundred.get("seconds"),
        "ratio_to_bound_100k": hundred.get("ratio_to_bound"),
        "database_mb_100k": hundred.get("database_mb"),
        "plan_100k_s": hundred.get("plan_100k_s"),
    }))


if __name__ == "__main__":
    main()
