"""Run the demo tenant on its own: ``python -m lib.emulator --port 8800 --users 5000 --seed 7``.

Serves on 127.0.0.1 until SIGINT or SIGTERM. Once both listeners accept connections it prints ONE
JSON line on stdout with everything a client needs (``graph``, ``authority``, ``tenant_id``,
``client_id``, ``client_secret``, ``ca_cert``, ``control_key``, ``users``, ``premium``) and nothing else
afterwards. ``control_key`` is new every run: the control routes (``/_emulator/…``) answer only callers
that send it, so only whoever reads this line can move the clock or read the ground truth.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from lib.emulator.generator import MAX_USERS, MIN_USERS
from lib.emulator.server import start_emulator
from lib.emulator.state import EmulatorConfig

PROG = "python -m lib.emulator"


def _bounded(kind: type, low: float | None, high: float | None, bounds: str) -> Callable[[str], float]:
    """An argparse type: ``kind`` parsed from text, within [low, high] (``bounds`` words the range)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Serve the demo tenant (Graph + sign-in emulator).")
    port = _bounded(int, 0, 65535, "a port between 0 and 65535")
    p.add_argument("--port", type=port, default=0, help="plain-http Graph port (0 = a free port)")
    p.add_argument("--tls-port", type=port, default=0, help="https authority port (0 = a free port)")
    users = _bounded(int, MIN_USERS, MAX_USERS, f"between {MIN_USERS} and {MAX_USERS}")
    p.add_argument("--users", type=users, default=300,
                   help=f"users in the tenant ({MIN_USERS}..{MAX_USERS}, default 300)")
    p.add_argument("--seed", type=_bounded(int, None, None, "an integer"), default=7,
                   help="seed of the synthetic tenant (default 7)")
    p.add_argument("--no-premium", action="store_true", help="a tenant without Entra ID P1")
    p.add_argument("--latency-ms", type=_bounded(float, 0, None, "a number >= 0"), default=0.0,
                   help="added to every request")
    p.add_argument("--time-scale", type=_bounded(float, 1e-6, None, "a number > 0"), default=1.0,
                   help="multiplies throttle windows and Retry-After (0.01 = 100x faster)")
    p.add_argument("--fault-rate", type=_bounded(float, 0, 1, "a number between 0 and 1"), default=0.0,
                   help="fraction of requests failing with 5xx or a dropped connection")
    p.add_argument("--no-bulk-mfa-state", action="store_true",
                   help="refuse $select=perUserMfaState on /users, as if Graph did not serve it")
    p.add_argument("--cert-dir", default=None,
                   help="keep the TLS files here (default: a temporary directory)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = EmulatorConfig(latency_ms=args.latency_ms, time_scale=args.time_scale,
                            fault_rate=args.fault_rate, seed=args.seed, bulk_mfa_state=not args.no_bulk_mfa_state)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            emulator = start_emulator(users=args.users, seed=args.seed, premium=not args.no_premium,
                                      config=config, port=args.port, tls_port=args.tls_port,
                                      cert_dir=args.cert_dir)
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        try:
            print(json.dumps({
                "graph": emulator.graph_url,
                "authority": emulator.authority,
                "tenant_id": emulator.tenant_id,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "ca_cert": emulator.ca_cert,
                "control_key": emulator.control_key,
                "users": len(emulator.state.tenant.users),
                "premium": emulator.state.tenant.premium,
            }), flush=True)
            while not stop.wait(0.5):
                if not emulator.running:
                    print(f"{PROG}: error: the server stopped unexpectedly", file=sys.stderr)
                    return 1
        finally:
            emulator.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

if __name__ == "__main__":
    sys.exit(main())
