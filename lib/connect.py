"""App-only connections for unattended work (the CLI, scheduled snapshots).

Pointed at the built-in demo tenant, the console asks it for its demo app's credentials (a
loopback-only control route), so `python -m lib.cli snapshot --graph http://127.0.0.1:P` needs no
configuration. Pointed anywhere else, it uses the client credentials from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import httpx

from lib.graph import GraphGateway, MsalClientCredential
from lib.settings import Settings, SettingsError

DEMO_APP_ROUTE = "/_emulator/demo-app"


@dataclass(frozen=True)
class AppConnection:
    graph_url: str
    tenant_id: str
    client_id: str
    authority: str
    client_secret: str
    ca_cert: str | None
    demo: bool

    def gateway(self) -> GraphGateway:
        credential = MsalClientCredential(self.client_id, self.client_secret, self.authority, ca_cert=self.ca_cert)
        return GraphGateway(self.graph_url, credential)


def _is_loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def demo_credentials(graph_url: str) -> dict | None:
    """The demo tenant's app credentials if ``graph_url`` is a demo tenant, else None."""
    if not _is_loopback(graph_url):
        return None
    try:
        response = httpx.get(graph_url.rstrip("/") + DEMO_APP_ROUTE, timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return response.json()


def app_connection(graph_url: str | None, settings: Settings) -> AppConnection:
    """How to reach ``graph_url`` (default: the configured Graph) with app-only credentials.

    Raises SettingsError naming what is missing, and httpx errors never reach the caller.
    """
    url = (graph_url or settings.graph_url).rstrip("/")
    scheme = urlparse(url).scheme
    if scheme not in ("http", "https") or not urlparse(url).hostname:
        raise SettingsError(f"--graph must be an http(s) URL, got {graph_url!r}")
    if scheme == "http" and not _is_loopback(url):
        raise SettingsError(f"--graph must use https unless it is on this machine (got {url}).")
    demo = demo_credentials(url)
    if demo is not None:
        return AppConnection(url, demo["tenant_id"], demo["client_id"], demo["authority"], demo["client_secret"],
                             demo["ca_cert"], demo=True)
    if settings.is_demo:
        raise SettingsError(
            f"{url} is not a demo tenant and no tenant is configured: set MFA_TENANT_ID, MFA_CLIENT_ID and "
            "MFA_CLIENT_SECRET (an app registration with application permissions) to use a real tenant."
        )
    if not settings.client_secret:
        raise SettingsError("Unattended access needs MFA_CLIENT_SECRET (the app registration's client secret).")
    return AppConnection(url, settings.tenant_id, settings.client_id, settings.authority, settings.client_secret,
                         None, demo=False)
