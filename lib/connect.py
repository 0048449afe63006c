"""Reaching the built-in demo tenant from the CLI and the benchmarks with only its control key.

The demo tenant's control route ``/_emulator/demo-app`` hands out its demo app's app-only
credentials, but only to a caller on this machine that sends the emulator's per-run key: a line
``{"graph": URL, "control_key": KEY}`` is then enough for ``python -m lib.cli … --emulator-info``.
Anything that is not such a demo tenant answers None, and the caller says what is missing.
"""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

DEMO_APP_ROUTE = "/_emulator/demo-app"
CONTROL_HEADER = "X-Emulator-Control"
"""The header the demo tenant's control routes read their key from (lib/emulator/control.py)."""


def demo_credentials(graph_url: str, control_key: str) -> dict | None:
    """The demo tenant's app credentials (tenant_id, client_id, client_secret, authority, ca_cert),
    or None when ``graph_url`` is not a demo tenant on this machine that accepts ``control_key``."""
    if not control_key or urlparse(graph_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        response = httpx.get(graph_url.rstrip("/") + DEMO_APP_ROUTE, headers={CONTROL_HEADER: control_key},
                             timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        info = response.json()
    except ValueError:
        return None
    return info if isinstance(info, dict) else None
