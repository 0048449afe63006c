"""Credentials the gateway accepts: anything with ``get_token(*scopes, **kw) -> AccessToken``.

:class:`MsalClientCredential` is app-only (client credentials) through MSAL, used by the CLI and
the tests against the demo tenant. The auth module supplies delegated credentials backed by each
session's own MSAL cache; they only need the same ``get_token`` method.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, runtime_checkable

from azure.core.credentials import AccessToken

from lib.graph.errors import CredentialError, redact

__all__ = ["GRAPH_DEFAULT_SCOPE", "MsalClientCredential", "StaticTokenCredential", "TokenCredentialLike"]

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


@runtime_checkable
class TokenCredentialLike(Protocol):
    """The one method the gateway calls (the shape of ``azure.core.credentials.TokenCredential``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken: ...


class StaticTokenCredential:
    """Always returns the same token (tests, or a token obtained elsewhere)."""

    def __init__(self, token: str, expires_on: int | None = None) -> None:
        if not token:
            raise ValueError("token must be a non-empty string")
        self._token = token
        self._expires_on = expires_on if expires_on is not None else int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def __repr__(self) -> str:  # never show the token
        return "StaticTokenCredential(token=***)"


class MsalClientCredential:
    """App-only tokens from MSAL's ``ConfidentialClientApplication.acquire_token_for_client``.

    ``ca_cert`` trusts a private certificate (the demo tenant's): MSAL then gets a
    ``requests.Session`` with ``trust_env = False`` and ``verify = ca_cert``, because requests
    ignores ``verify`` when ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` are set (docs/graph.md).
    MSAL caches the token in memory per instance and refreshes it when it nears expiry.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        authority: str,
        *,
        ca_cert: str | None = None,
        http_client: Any = None,
        instance_discovery: bool | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required")
        if not client_secret:
            raise ValueError("client_secret is required")
        if not authority or not authority.startswith("https://"):
            raise ValueError(f"authority must be an https URL, got {authority!r}")
        import msal

        if http_client is None and ca_cert:
            import requests

            http_client = requests.Session()
            http_client.trust_env = False
            http_client.verify = ca_cert
        if instance_discovery is None:
            # Instance discovery asks login.microsoftonline.com about the authority; only useful
            # for the public clouds.
            instance_discovery = "login.microsoftonline.com" in authority
        kwargs: dict[str, Any] = {"authority": authority, "instance_discovery": instance_discovery}
        if http_client is not None:
            kwargs["http_client"] = http_client
        self.client_id = client_id
        self.authority = authority
        self._lock = threading.Lock()
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id, client_credential=client_secret, **kwargs)
        except Exception as exc:  # MSAL fetches the authority's metadata here
            raise CredentialError(f"cannot initialise MSAL for {authority}: {redact(str(exc))}") from exc

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        scopes_list = list(scopes) or [GRAPH_DEFAULT_SCOPE]
        with self._lock:
            try:
                result = self._app.acquire_token_for_client(scopes_list)
            except Exception as exc:
                raise CredentialError(
                    f"token request to {self.authority} failed: {redact(str(exc))}"
                ) from exc
        if not result or "access_token" not in result:
            result = result or {}
            error = result.get("error") or "no_token"
            description = redact(str(result.get("error_description") or ""))
            raise CredentialError(f"{error}: {description}".strip().rstrip(":"), graph_code=str(error))
        expires_in = int(result.get("expires_in") or 3600)
        return AccessToken(result["access_token"], int(time.time()) + expires_in)

    def __repr__(self) -> str:
        return f"MsalClientCredential(client_id={self.client_id!r}, authority={self.authority!r})"
