"""Run the demo tenant on its own: ``python -m lib.emulator --port 8800 --users 5000 --seed 7``.

Serves on 127.0.0.1 until SIGINT or SIGTERM. Once both listeners accept connections it prints ONE
JSON line on stdout with everything a client needs (``graph``, ``authority``, ``tenant_id``,
``client_id``, ``client_secret``, ``ca_cert``, ``control_key``, ``public_client_id``, ``users``,
``premium``, ``loaded``, ``pid``) and nothing else afterwards.

``--tenant-file`` keeps the tenant in a file: loaded when it holds a tenant (``loaded`` true), else generated
and written at once; saved again after changes and on the way out (lib/emulator/persistence.py).
``--exit-with-stdin`` ends the server when its standard input reaches end of file: a parent that starts it
with a pipe it never writes to takes the server with it when it dies, even by ``kill -9``.

``control_key`` is new every run: the control routes (``/_emulator/…``) answer only callers
that send it, so only whoever reads this line can move the clock or read the ground truth.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from lib.emulator.generator import MAX_USERS, MIN_USERS, demo_public_app, generate_tenant
from lib.emulator.graph_api import emulator_stats
from lib.emulator.model import SyntheticTenant
from lib.emulator.persistence import TenantFileBusy, keep_saved, load_tenant, lock_tenant_file
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
    p.add_argument("--security-defaults", action="store_true",
                   help="a tenant protected by security defaults, with no Conditional Access")
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
    p.add_argument("--tenant-file", type=Path, default=None,
                   help="load the tenant from this file (or generate it and write it there) and keep it saved")
    p.add_argument("--exit-with-stdin", action="store_true",
                   help="stop when standard input closes (the parent holding its other end has gone)")
    return p


def _tenant(args: argparse.Namespace) -> tuple[SyntheticTenant, bool]:
    """The tenant to serve and whether it came from ``--tenant-file``."""
    if args.tenant_file is not None:
        loaded = load_tenant(args.tenant_file)
        if loaded is not None:
            return loaded, True
    return generate_tenant(args.users, args.seed, not args.no_premium,
                           security_defaults=args.security_defaults), False


def _watch_stdin(stop: threading.Event) -> None:
    """Thread body: standard input at end of file (the parent's end of the pipe closed) stops the server."""
    try:
        while os.read(0, 4096):  # the raw descriptor: a buffered read would hold a lock at interpreter exit
            pass
    except OSError:
        pass
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = EmulatorConfig(latency_ms=args.latency_ms, time_scale=args.time_scale,
                            fault_rate=args.fault_rate, seed=args.seed, bulk_mfa_state=not args.no_bulk_mfa_state)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    if args.exit_with_stdin:
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True, name="stdin-watchdog").start()
    saver: threading.Thread | None = None
    lock = None
    try:
        try:
            lock = lock_tenant_file(args.tenant_file) if args.tenant_file is not None else None
            tenant, loaded = _tenant(args)
            gc.freeze()  # the tenant lives as long as the server: keep it out of every later collection
            emulator = start_emulator(tenant, config=config, port=args.port, tls_port=args.tls_port,
                                      cert_dir=args.cert_dir)
        except (OSError, RuntimeError, ValueError, TenantFileBusy) as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        if args.tenant_file is not None:
            stats = emulator_stats(emulator.state)
            saver = threading.Thread(target=keep_saved, args=(tenant, args.tenant_file, stop),
                                     kwargs={"saved": tenant.revision if loaded else None,
                                             "quiet": stats.quiet_for}, name="tenant-saver")
            saver.start()
        try:
            print(json.dumps({
                "graph": emulator.graph_url,
                "authority": emulator.authority,
                "tenant_id": emulator.tenant_id,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "ca_cert": emulator.ca_cert,
                "control_key": emulator.control_key,
                "public_client_id": demo_public_app(tenant).client_id,
                "users": len(tenant.users),
                "premium": tenant.premium,
                "loaded": loaded,
                "pid": os.getpid(),
            }), flush=True)
            while not stop.wait(0.5):
                if not emulator.running:
                    print(f"{PROG}: error: the server stopped unexpectedly", file=sys.stderr)
                    return 1
        finally:
            emulator.stop()
    finally:
        stop.set()
        if saver is not None:
            saver.join()  # the last save
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if lock is not None:
            lock.close()
    return 0

if __name__ == "__main__":
    sys.exit(main())
