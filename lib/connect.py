"""Reaching the built-in demo tenant with no configuration (the CLI, benchmarks).

Pointed at a demo tenant on this machine, the console asks it for its demo app's app-only
credentials through a loopback-only control route, so `python -m lib.cli snapshot --graph
http://127.0.0.1:P` needs nothing else. Anywhere else this answers None and settings apply.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse

import httpx

from lib.clock import Clock, SimulatedClock

DEMO_APP_ROUTE = "/_emulator/demo-app"
DEMO_CLOCK_ROUTE = "/_emulator/clock"


def _control(graph_url: str, route: str) -> dict | None:
    """A loopback demo tenant's answer on a control route, or None anywhere else."""
    if urlparse(graph_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        response = httpx.get(graph_url.rstrip("/") + route, timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def demo_credentials(graph_url: str) -> dict | None:
    """The demo tenant's app credentials (tenant_id, client_id, client_secret, authority, ca_cert),
    or None when ``graph_url`` is not a demo tenant on this machine."""
    return _control(graph_url, DEMO_APP_ROUTE)


def demo_clock(graph_url: str) -> Clock | None:
    """The demo tenant's simulated time as a clock (read once, then running on in real time), so the CLI
    stamps its journal entries and snapshots as the app does; None when ``graph_url`` is not a demo tenant."""
    payload = _control(graph_url, DEMO_CLOCK_ROUTE)
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
