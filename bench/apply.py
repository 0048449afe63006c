"""Bulk change benchmark: 5,000 per-user MFA changes against the demo tenant's documented write limit.

    python bench/apply.py [--changes 5000] [--users 12000] [--time-scale 0.05] [--latency-ms 20] [--no-verify]

The emulator runs in its own process (``python -m lib.emulator``), so client and server do not share
a GIL. The client is the real engine: ``lib.rollout`` plan → ``start_operation`` (journal on a real
SQLite file, re-read before sending, batched PATCHes through ``lib.graph``) → complete.

The bound is what the emulator's throttle model allows at best (``lib.emulator.throttle``): the write
bucket holds C = 3,000 writes and refills at C per W = 150 s (both scaled by ``time_scale``), so N
writes need at least max(0, N − C) × W / C × time_scale seconds; every write also costs 1 resource
unit of the identity bucket (and the engine's re-read before sending 1 more, its read-back of the
state Graph left 1 more again), which is checked too. Verification (the read-back) is on, as in the
console; ``--no-verify`` measures without it. Prints figures, then as its LAST line one JSON object
with ``ratio_to_write_bound`` (target ≤ 1.25, with verification on), ``lost`` (must be 0) and
``differs_from_preview``. Figures only: it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.emulator.throttle import IDENTITY_WINDOW, WRITE_LIMIT, WRITE_WINDOW, identity_capacity  # noqa: E402


def start_emulator(users: int, time_scale: float, latency_ms: float) -> tuple[Any, dict[str, Any]]:
    """The demo tenant in its own process, started as the app and the CLI start it (lib.demo_process)."""
    from lib.demo_process import DemoTenantError, start_demo_process

    try:
        process = start_demo_process(users=users, seed=7, extra_args=(
            "--time-scale", str(time_scale), "--latency-ms", str(latency_ms)))
    except DemoTenantError as err:
        raise SystemExit(err.message) from None
    return process, process.line


def write_bound(changes: int, users: int, time_scale: float, *, verify: bool = True) -> dict[str, Any]:
    """The model's floor for ``changes`` writes (and the identity bucket's, with a re-read per write and,
    with ``verify``, a read-back)."""
    write_s = max(0, changes - WRITE_LIMIT) * WRITE_WINDOW / WRITE_LIMIT * time_scale
    capacity = identity_capacity(users)
    units = (3 if verify else 2) * changes  # re-read GET + PATCH (+ read-back GET) per user, 1 RU each
    identity_s = max(0, units - capacity) * IDENTITY_WINDOW / capacity * time_scale
    return {
        "bound_s": round(max(write_s, identity_s), 3),
        "write_bound_s": round(write_s, 3),
        "identity_bound_s": round(identity_s, 3),
        "how": (f"write bucket: max(0, {changes} - {WRITE_LIMIT}) x {WRITE_WINDOW:g} s / {WRITE_LIMIT} x "
                f"time_scale {time_scale:g} = {write_s:.3f} s (the first {WRITE_LIMIT} writes fit the full bucket, "
                f"the rest arrive at {WRITE_LIMIT / (WRITE_WINDOW * time_scale):.0f}/s); identity bucket: "
                f"max(0, {units} RU - {capacity}) x {IDENTITY_WINDOW:g} s / {capacity} x {time_scale:g} = "
                f"{identity_s:.3f} s; bound = the larger"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--users", type=int, default=12000)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--no-verify", action="store_true", help="do not read back the states after writing")
    args = parser.parse_args()

    from lib import rollout
    from lib.directory.refresh import refresh_snapshot
    from lib.graph import GraphGateway, MsalClientCredential
    from lib.store import open_store

    proc, info = start_emulator(args.users, args.time_scale, args.latency_ms)
    graph = info["graph"]
    control = httpx.Client(base_url=f"{graph}/_emulator", timeout=60, trust_env=False,
                           headers={"X-Emulator-Control": info["control_key"], "Content-Type": "application/json"})
    try:
        credential = MsalClientCredential(info["client_id"], info["client_secret"], info["authority"],
                                          ca_cert=info["ca_cert"])
        with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/console.db") as store, \
                GraphGateway(graph, credential) as gateway:
            started = time.perf_counter()
            refresh_snapshot(store, gateway, mode="demo")
            snapshot_s = time.perf_counter() - started
            tenant_id = info["tenant_id"]
            frame = store.load_users(tenant_id)
            actor = rollout.app_actor_from_token(credential.get_token().token)
            people = frame[(frame["account_kind"] == "person") & frame["account_enabled"]
                           & (frame["state"] != "enforced")]
            ids = people["id"].tolist()[: args.changes]
            if len(ids) < args.changes:
                raise SystemExit(f"only {len(ids)} users can change in a {args.users}-user tenant: raise --users")
            preview = rollout.plan(frame, "enforced", ids, actor=actor,
                                   protected=rollout.active_protection(store, tenant_id))
            before = {u["id"]: u["mfa_state"] for u in control.get("/truth/users").json()["users"]}
            control.post("/throttle/reset")  # full buckets: the bound assumes them
            control.post("/stats/reset")
            gateway.stats.requests = gateway.stats.retries = 0
            started = time.perf_counter()
            options = rollout.ExecuteOptions(verify=not args.no_verify)
            operation_id = rollout.run_operation(store, gateway, preview, tenant_id=tenant_id, actor=actor,
                                                 options=options)
            measured = time.perf_counter() - started
            stats = control.get("/stats").json()
            report = rollout.operation_report(store, operation_id)
            after = {u["id"]: u["mfa_state"] for u in control.get("/truth/users").json()["users"]}
    finally:
        control.close()
        proc.stop()

    listed = {f["user_id"] for f in report["failed"]} | {s["user_id"] for s in report["skipped"]}
    reached = {uid for uid in preview.change_ids if after[uid] == "enforced"}
    lost = sum(1 for uid in preview.change_ids if uid not in reached and uid not in listed)
    outsiders = sum(1 for uid in after if uid not in set(preview.change_ids) and after[uid] != before[uid])
    bound = write_bound(len(preview.changes), args.users, args.time_scale, verify=not args.no_verify)
    print(f"bound: {bound['how']}")
    print(f"measured: {measured:.3f} s for {len(preview.changes)} changes (operation {operation_id}, "
          f"{report['status']}); snapshot before it took {snapshot_s:.2f} s")
    figures = {
        "changes": len(preview.changes),
        "verify": not args.no_verify,
        "time_scale": args.time_scale,
        "latency_ms": args.latency_ms,
        "bound_s": bound["bound_s"],
        "write_bound_s": bound["write_bound_s"],
        "identity_bound_s": bound["identity_bound_s"],
        "measured_s": round(measured, 3),
        "ratio_to_write_bound": round(measured / bound["bound_s"], 3) if bound["bound_s"] else None,
        "applied": report["applied"],
        "failed": len(report["failed"]),
        "skipped_at_execution": len(report["skipped"]),
        "lost": lost,
        "read_back": sum(1 for o in report["outcomes"] if o["after"] is not None),
        "differs_from_preview": report["differs_from_preview"],
        "touched_outside_plan": outsiders,
        "status": report["status"],
        "emulator_requests": stats.get("requests"),
        "emulator_writes": stats.get("writes"),
        "emulator_throttled": stats.get("throttled"),
        "client_requests": gateway.stats.requests,
        "client_retries": gateway.stats.retries,
        "snapshot_s": round(snapshot_s, 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
