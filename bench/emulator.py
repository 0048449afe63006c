"""Demo tenant figures: generation time and memory, $batch sub-requests per second, 999-user page latency.

Prints one JSON object per figure group and, last, one JSON line with everything. A benchmark
prints figures; it never passes or fails on time. Run: ``python bench/emulator.py [--users 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.emulator.generator import demo_app, generate_tenant
from lib.emulator.server import start_emulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.tokens import mint_access_token

SELECT = "id,displayName,userPrincipalName,mail,userType,accountEnabled,department,jobTitle,usageLocation"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def batch_throughput(graph_url: str, token: str, user_ids: list[str], seconds: float, workers: int) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=graph_url, headers=headers, trust_env=False, timeout=30) as client:

        async def worker(offset: int) -> None:
            nonlocal sent
            i = offset
            while time.perf_counter() < deadline:
                ids = [user_ids[(i + k) % len(user_ids)] for k in range(20)]
                i += 20 * workers
                body = {"requests": [{"id": str(k), "method": "GET", "url": f"/users/{uid}/authentication/requirements"}
                                     for k, uid in enumerate(ids)]}
                response = await client.post("/beta/$batch", json=body)
                response.raise_for_status()
                sent += sum(1 for r in response.json()["responses"] if r["status"] == 200)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w * 20) for w in range(workers)))
        elapsed = time.perf_counter() - started
    return {"batch_sub_requests_per_s": round(sent / elapsed), "sub_requests": sent, "workers": workers}


def page_latency(graph_url: str, token: str, rounds: int) -> dict:
    timings = []
    with httpx.Client(base_url=graph_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False) as client:
        url = f"/v1.0/users?$top=999&$select={SELECT}"
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(url)
            response.raise_for_status()
            assert len(response.json()["value"]) == 999
            timings.append((time.perf_counter() - started) * 1000)
            url = response.json().get("@odata.nextLink", url).replace(graph_url, "")
    return {"page_999_ms_median": round(statistics.median(timings), 1), "page_999_ms_p95":
            round(sorted(timings)[int(len(timings) * 0.95) - 1], 1), "pages": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to drive $batch")
    parser.add_argument("--workers", type=int, default=8, help="concurrent $batch requests in flight")
    args = parser.parse_args()

    before = rss_mb()
    started = time.perf_counter()
    tenant = generate_tenant(args.users, seed=7)
    generation = {"users": args.users, "generation_s": round(time.perf_counter() - started, 2),
                  "generation_rss_mb": round(rss_mb() - before, 1), "peak_rss_mb": round(rss_mb(), 1)}
    print(json.dumps(generation), flush=True)

    with start_emulator(tenant, config=EmulatorConfig(throttle=False)) as emu:
        app = demo_app(tenant)
        token = mint_access_token(emu.state, app, app.permissions)[0]
        ids = [u.id for u in tenant.users]
        throughput = asyncio.run(batch_throughput(emu.graph_url, token, ids, args.seconds, args.workers))
        print(json.dumps(throughput), flush=True)
        latency = page_latency(emu.graph_url, token, rounds=min(20, args.users // 999))
        print(json.dumps(latency), flush=True)
    print(json.dumps({**generation, **throughput, **latency, "targets": {
        "generation_s": 10, "generation_rss_mb": 500, "batch_sub_requests_per_s": 2000}}))


if __name__ == "__main__":
    main()
