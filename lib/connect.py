"""Reaching the built-in demo tenant with no configuration (the CLI, benchmarks).

Pointed at a demo tenant on this machine, the console asks it for its demo app's app-only
credentials through a loopback-only control route, so `python -m lib.cli snapshot --graph
http://127.0.0.1:P` needs nothing else. Anywhere else this answers None and settings apply.
"""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

DEMO_APP_ROUTE = "/_emulator/demo-app"


def demo_credentials(graph_url: str) -> dict | None:
    """The demo tenant's app credentials (tenant_id, client_id, client_secret, authority, ca_cert),
    or None when ``graph_url`` is not a demo tenant on this machine."""
    if urlparse(graph_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        response = httpx.get(graph_url.rstrip("/") + DEMO_APP_ROUTE, timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return response.json()
