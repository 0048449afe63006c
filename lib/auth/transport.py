"""The HTTP client MSAL gets, and whether it may ask Microsoft about an authority.

``requests`` silently replaces ``verify`` with the system bundle when ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` are set (they are on these machines and CI), so trusting the demo tenant's
private CA needs a session with ``trust_env = False`` (docs/graph.md, MSAL Python).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests

__all__ = ["instance_discovery_for", "is_loopback_url", "msal_http_client"]


def msal_http_client(ca_cert: str | None = None) -> requests.Session:
    """A ``requests.Session`` for MSAL's ``http_client``.

    With ``ca_cert`` (the emulator's CA file) it trusts exactly that file and ignores proxy and CA
    environment variables; without, it behaves as MSAL's own default session.
    """
    session = requests.Session()
    if ca_cert:
        session.trust_env = False
        session.verify = ca_cert
    return session


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def instance_discovery_for(authority: str) -> bool | None:
    """MSAL's ``instance_discovery``: off for a loopback authority (the emulator), MSAL's default otherwise.

    With it on, MSAL first asks ``login.microsoftonline.com`` about the authority, which the emulator
    cannot answer from there; Microsoft's own clouds (public, US Gov, China) are known to MSAL.
    """
    return False if is_loopback_url(authority) else None
