"""Reaching the built-in demo tenant from the CLI and the benchmarks with only its control key.

The demo tenant's control route ``/_emulator/demo-app`` hands out its demo app's app-only
credentials, but only to a caller on this machine that sends the emulator's per-run key: a line
``{"graph": URL, "control_key": KEY}`` is then enough for ``python -m lib.cli … --emulator-info``.
Anything that is not such a demo tenant answers None, and the caller says what is missing.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse

import httpx

from lib.clock import Clock, SimulatedClock

DEMO_APP_ROUTE = "/_emulator/demo-app"
CONTROL_HEADER = "X-Emulator-Control"
"""The header the demo tenant's control routes read their key from (lib/emulator/control.py)."""
DEMO_CLOCK_ROUTE = "/_emulator/clock"


def _control(graph_url: str, route: str, control_key: str) -> dict | None:
    """A loopback demo tenant's answer on a control route, or None anywhere else or without its key."""
    if not control_key or urlparse(graph_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        response = httpx.get(graph_url.rstrip("/") + route, headers={CONTROL_HEADER: control_key},
                             timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def demo_credentials(graph_url: str, control_key: str) -> dict | None:
    """The demo tenant's app credentials (tenant_id, client_id, client_secret, authority, ca_cert),
    or None when ``graph_url`` is not a demo tenant on this machine that accepts ``control_key``."""
    return _control(graph_url, DEMO_APP_ROUTE, control_key)


def demo_clock(graph_url: str, control_key: str) -> Clock | None:
    """The demo tenant's simulated time as a clock (read once, then running on in real time), so the CLI
    stamps its journal entries and snapshots as the app does; None when ``graph_url`` is not a demo tenant."""
    payload = _control(graph_url, DEMO_CLOCK_ROUTE, control_key)
    text = payload.get("now") if payload else None
    if not isinstance(text, str):
        return None
    try:
        now = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if now.tzinfo is None:
        return None
    return SimulatedClock(lambda: now)
