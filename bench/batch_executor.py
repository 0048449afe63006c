"""Figures for lib.graph's $batch executor against the demo tenant: items/s, retries, ratio to the bound.

    python bench/batch_executor.py [--users 10000] [--concurrency 8,16,32]

The emulator runs in a child process (so the client does not share a GIL with the server).
Prints one JSON object per scenario and, last, one
JSON summary line. Figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.graph import BatchItem, GatewayOptions, GraphGateway, MsalClientCredential


def _serve(conn: Any, users: int, config: dict[str, Any]) -> None:
    """Child process: one emulator until told to stop; answers config changes and stats requests."""
    import logging

    from lib.emulator.graph_api import emulator_stats
    from lib.emulator.server import start_emulator
    from lib.emulator.state import EmulatorConfig
    from lib.emulator.throttle import get_throttle

    emu = start_emulator(users=users, seed=7, premium=True, config=EmulatorConfig(**config))
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # injected drops log an ASGI complaint
    conn.send({"graph": emu.graph_url, "authority": emu.authority, "client_id": emu.client_id,
               "client_secret": emu.client_secret, "ca_cert": emu.ca_cert,
               "ids": [u.id for u in emu.state.tenant.users]})
    while True:
        command, arg = conn.recv()
        if command == "stop":
            break
        if command == "config":
            for key, value in arg.items():
                setattr(emu.state.config, key, value)
            get_throttle(emu.state).reset()
            conn.send(None)
        elif command == "drain":
            get_throttle(emu.state).drain(emu.client_id, arg, 0.0)
            conn.send(None)
        elif command == "stats":
            conn.send(emulator_stats(emu.state).as_dict())
    emu.stop()


class Emulator:
    def __init__(self, users: int, **config: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, users, config), daemon=True)
        self.proc.start()
        self.info = self.conn.recv()

    def call(self, command: str, arg: Any = None) -> Any:
        self.conn.send((command, arg))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.proc.join(10)


def run(gw: GraphGateway, ids: list[str], write: bool = False) -> dict[str, Any]:
    if write:
        items = [BatchItem(uid, "PATCH", f"/users/{uid}/authentication/requirements",
                           body={"perUserMfaState": "enforced"}) for uid in ids]
    else:
        items = [BatchItem(uid, "GET", f"/users/{uid}/authentication/requirements") for uid in ids]
    started = time.perf_counter()
    report = gw.execute(items, version="beta")
    elapsed = time.perf_counter() - started
    return {
        "items": len(ids),
        "seconds": round(elapsed, 3),
        "items_per_s": round(len(ids) / elapsed),
        "ok": len(report.succeeded),
        "batch_requests": report.requests,
        "retries": report.retries,
        "throttled": report.throttled,
        "states": None if write else {r.key: (r.body or {}).get("perUserMfaState") for r in report.results},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--concurrency", default="8,16,32", help="in-flight batches to compare at 50 ms")
    args = parser.parse_args()
    from lib.emulator.throttle import throttle_bound_seconds

    emu = Emulator(args.users, latency_ms=0.0, time_scale=1.0, throttle=False)
    info = emu.info
    ids = info["ids"]
    credential = MsalClientCredential(info["client_id"], info["client_secret"], info["authority"],
                                      ca_cert=info["ca_cert"])
    figures: dict[str, Any] = {"users": len(ids)}

    def gateway(concurrency: int = 16) -> GraphGateway:
        return GraphGateway(info["graph"], credential, options=GatewayOptions(max_concurrency=concurrency))

    def emit(name: str, data: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in data.items() if k != "states"}
        print(json.dumps({"scenario": name, **data}), flush=True)
        return data

    try:
        with gateway() as gw:
            gw.organization()  # token and connections warm
            clean = run(gw, ids)
            figures["read_0ms"] = emit("read states, no latency, no throttling", clean)

            emu.call("config", {"latency_ms": 50.0})
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                with gateway(concurrency) as g:
                    g.organization()
                    data = emit(f"read states, 50 ms latency, concurrency {concurrency}", run(g, ids))
                    figures[f"read_50ms_c{concurrency}_items_per_s"] = data["items_per_s"]

            emu.call("config", {"latency_ms": 50.0, "throttle": True, "time_scale": 1.0})
            bound = throttle_bound_seconds("identity", len(ids), len(ids), 1.0)
            throttled = run(gw, ids)
            throttled["bound_seconds"] = round(bound, 3)
            throttled["ratio_to_bound"] = round(throttled["seconds"] / bound, 3) if bound else None
            figures["read_50ms_throttled"] = emit("read states, 50 ms latency, documented throttle",
                                                  throttled)

            emu.call("config", {"latency_ms": 0.0, "throttle": True, "time_scale": 0.05, "fault_rate": 0.05})
            emu.call("drain", "identity")
            faulty = run(gw, ids)
            faulty["equal_to_fault_free"] = faulty["states"] == clean["states"]
            figures["read_faults_5pct"] = emit("read states, 5% faults, drained bucket, time x0.05", faulty)

            emu.call("config", {"latency_ms": 50.0, "throttle": True, "time_scale": 0.01, "fault_rate": 0.0})
            emu.call("drain", "write")
            writes = ids[: min(len(ids), 4000)]
            bound_w = throttle_bound_seconds("write", len(writes) + 3000, len(ids), 0.01)
            wrote = run(gw, writes, write=True)
            wrote["bound_seconds"] = round(bound_w, 3)
            wrote["ratio_to_bound"] = round(wrote["seconds"] / bound_w, 3) if bound_w else None
            figures["write_50ms_drained"] = emit(
                "write states, 50 ms latency, drained write bucket, time x0.01", wrote)
            figures["client_stats"] = gw.stats.snapshot()
    finally:
        emu.stop()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
