"""The emulator's Microsoft identity platform (v2.0) endpoints, shaped for MSAL Python's real code.

MSAL builds a client in two calls (verified by tests/test_emulator_identity.py):

1. ``GET {authority}/v2.0/.well-known/openid-configuration`` while the ``*ClientApplication`` is
   constructed (with ``instance_discovery=False``; otherwise it first asks
   ``https://login.microsoftonline.com/common/discovery/instance``, which the emulator cannot
   answer from there: pass ``instance_discovery=False``, or point ``instance_discovery`` at this
   server's ``/common/discovery/instance``);
2. ``POST`` the advertised ``token_endpoint`` with a form body per grant.

The discovery document advertises the token and device code endpoints on the TLS authority host
(MSAL calls them) and the authorize endpoint on the plain-http Graph host (a browser opens it, so
it never meets the private CA). Errors carry the AADSTS codes and wording Microsoft's service
uses, so the console's error handling meets the real shapes.

Extension point for the interactive flows: add a handler to ``GRANT_HANDLERS`` (one per
``grant_type``: ``authorization_code``, ``refresh_token``,
``urn:ietf:params:oauth:grant-type:device_code``), replace ``_authorize`` and ``_devicecode``, and
keep pending codes in ``state.extras["identity"]``. A grant with no handler gets AADSTS70003.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lib.emulator.errors import IdentityError
from lib.emulator.model import App, Tenant
from lib.emulator.state import EmulatorState
from lib.emulator.tokens import GRAPH_APP_ID, GRAPH_AUDIENCE, mint_access_token

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "GRANT_HANDLERS",
    "GrantHandler",
    "TokenRequest",
    "authenticate_client",
    "identity_error_response",
    "identity_routes",
    "openid_configuration",
    "resolve_tenant",
]

ACCESS_TOKEN_LIFETIME = 3599
"""``expires_in`` / ``ext_expires_in`` of issued access tokens, as Entra answers client credentials."""

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint, parsed: what a grant handler gets."""

    state: EmulatorState
    tenant: Tenant
    tenant_segment: str
    """The tenant as the caller wrote it in the path (GUID or domain)."""
    form: Mapping[str, str]
    """The form body; the first value wins when a parameter repeats."""
    basic_client_id: str | None = None
    basic_client_secret: str | None = None
    """Credentials from an ``Authorization: Basic`` header (client_secret_basic), if any."""

    @property
    def client_id(self) -> str:
        return (self.form.get("client_id") or self.basic_client_id or "").strip()

    @property
    def client_secret(self) -> str | None:
        secret = self.form.get("client_secret")
        return secret if secret is not None else self.basic_client_secret


Endpoint = Callable[[Request], Awaitable[Response]]
GrantHandler = Callable[[TokenRequest], dict]
"""Turns a token request into the JSON body of a 200 answer, or raises IdentityError."""


def resolve_tenant(state: EmulatorState, segment: str, error: str = "invalid_request") -> Tenant:
    """The tenant a path segment names (its id, domain or initial onmicrosoft.com domain).

    Anything else raises AADSTS90002; ``error`` is the OAuth error code the endpoint uses for it
    (the discovery endpoint says ``invalid_tenant``, the token endpoint ``invalid_request``).
    """
    tenant = state.tenant
    wanted = segment.strip().lower()
    initial_domain = f"{tenant.domain.split('.')[0]}.onmicrosoft.com"
    names = {tenant.id.lower(), tenant.domain.lower(), initial_domain.lower()}
    if wanted in names:
        return tenant
    raise IdentityError(
        400, error, 90002,
        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there are no "
        "active subscriptions for the tenant.",
    )


def openid_configuration(state: EmulatorState) -> dict:
    """The tenant's v2.0 OpenID Provider metadata; endpoints always name the tenant by its GUID."""
    tid = state.tenant.id
    authority = f"{state.authority_host}/{tid}"
    browser = f"{state.graph_url}/{tid}"
    return {
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{authority}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{authority}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{browser}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
            "tid", "ver", "at_hash", "c_hash", "email",
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlsplit(state.graph_url).netloc,
        "rbac_url": "https://pas.windows.net",
    }


def authenticate_client(req: TokenRequest) -> App:
    """The confidential app calling, checked as Entra does: known app first, then its secret."""
    client_id = req.client_id
    if not client_id:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_id'.")
    app = req.tenant.apps.get(client_id)
    if app is None:
        # Entra matches app ids case-insensitively (they are GUIDs).
        app = next((a for a in req.tenant.apps.values() if a.client_id.lower() == client_id.lower()), None)
    if app is None:
        raise IdentityError(
            400, "unauthorized_client", 700016,
            f"Application with identifier '{client_id}' was not found in the directory '{req.tenant.name}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.",
        )
    secret = req.client_secret
    if secret is None or secret == "":
        raise IdentityError(401, "invalid_client", 7000218,
                            "The request body must contain the following parameter: 'client_assertion' or "
                            "'client_secret'.")
    if app.client_secret is None or not secrets.compare_digest(secret.encode(), app.client_secret.encode()):
        raise IdentityError(
            401, "invalid_client", 7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.",
        )
    return app


def _graph_default_scope(req: TokenRequest) -> None:
    """Accept exactly one ``{Graph}/.default`` scope, Graph named by URL, emulator URL or app id."""
    scope = (req.form.get("scope") or "").strip()
    if not scope:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'scope'.")
    requested = list(dict.fromkeys(scope.split()))
    for item in requested:
        if not item.lower().endswith("/.default"):
            raise IdentityError(
                400, "invalid_scope", 1002012,
                f"The provided value for scope {item} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
    if len(requested) > 1:
        raise IdentityError(
            400, "invalid_scope", 70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not "
            "valid.",
        )
    resource = requested[0][: -len("/.default")].rstrip("/")
    graph_names = {GRAPH_AUDIENCE.lower(), GRAPH_APP_ID.lower()}
    if req.state.graph_url:
        graph_names.add(req.state.graph_url.rstrip("/").lower())
    if resource.lower() not in graph_names:
        raise IdentityError(
            400, "invalid_resource", 500011,
            f"The resource principal named {resource} was not found in the tenant named {req.tenant.name}. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You might have sent your authentication request to the "
            "wrong tenant.",
        )


def _client_credentials(req: TokenRequest) -> dict:
    """``grant_type=client_credentials``: an app-only Graph token, ``roles`` = the app's permissions."""
    app = authenticate_client(req)
    _graph_default_scope(req)
    token, expires_in = mint_access_token(req.state, app, app.permissions, lifetime=ACCESS_TOKEN_LIFETIME)
    return {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": token}


GRANT_HANDLERS: dict[str, GrantHandler] = {
    "client_credentials": _client_credentials,
    # Later issue (interactive sign-in): "authorization_code" (with PKCE code_verifier),
    # "refresh_token", DEVICE_CODE_GRANT. Each returns the token JSON or raises IdentityError.
}


def identity_error_response(err: IdentityError) -> JSONResponse:
    """The JSON answer Entra gives for ``err`` (also used by server.py for errors raised elsewhere)."""
    body = err.body()
    body.setdefault("error_uri", f"https://login.microsoftonline.com/error?code={err.aadsts}")
    return JSONResponse(body, status_code=err.status, headers=_NO_STORE)


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """(client_id, client_secret) from ``Authorization: Basic`` (form-urlencoded, RFC 6749 2.3.1)."""
    if not header:
        return None, None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None, None
    return unquote_plus(client_id), unquote_plus(secret)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    form: dict[str, str] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        form.setdefault(key, value)
    return form


def _page(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body><h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(message)}</p></body></html>\n",
        status_code=status,
        headers=_NO_STORE,
    )


def identity_routes(state: EmulatorState) -> list[BaseRoute]:
    """The identity endpoints of one emulator, bound to its state."""

    def guarded(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except IdentityError as err:
                return identity_error_response(err)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def discovery(request: Request) -> Response:
        resolve_tenant(state, request.path_params["tenant"], error="invalid_tenant")
        return JSONResponse(openid_configuration(state))

    async def keys(request: Request) -> Response:
        # Tokens are HS256 with a key that never leaves the process: there is no public key to publish.
        resolve_tenant(state, request.path_params["tenant"], error="invalid_tenant")
        return JSONResponse({"keys": []})

    async def token(request: Request) -> Response:
        tenant = resolve_tenant(state, request.path_params["tenant"])
        if request.method != "POST":
            raise IdentityError(
                400, "invalid_request", 900561,
                f"The endpoint only accepts POST requests. Received a {request.method} request.",
            )
        form = await _form(request)
        basic_id, basic_secret = _basic_credentials(request.headers.get("authorization"))
        req = TokenRequest(state, tenant, request.path_params["tenant"], form, basic_id, basic_secret)
        grant_type = form.get("grant_type", "").strip()
        if not grant_type:
            raise IdentityError(400, "invalid_request", 900144,
                                "The request body must contain the following parameter: 'grant_type'.")
        handler = GRANT_HANDLERS.get(grant_type)
        if handler is None:
            raise IdentityError(400, "unsupported_grant_type", 70003,
                                f"The app requested an unsupported grant type '{grant_type}'.")
        return JSONResponse(handler(req), headers=_NO_STORE)

    async def authorize(request: Request) -> Response:
        segment = request.path_params["tenant"]
        try:
            tenant = resolve_tenant(state, segment)
        except IdentityError as err:
            return _page(err.status, "Sign in", f"AADSTS{err.aadsts}: {err.description}")
        return _page(
            501, "Interactive sign-in is not available yet",
            f"The demo tenant {tenant.name} does not serve interactive sign-in (authorization code with "
            "PKCE) yet. App-only access with the demo app's client credentials works.",
        )

    async def devicecode(request: Request) -> Response:
        resolve_tenant(state, request.path_params["tenant"])
        return JSONResponse(
            {"error": "temporarily_unavailable",
             "error_description": "The demo tenant does not serve the device code flow yet."},
            status_code=501, headers=_NO_STORE,
        )

    async def instance_discovery(request: Request) -> Response:
        # What MSAL asks login.microsoftonline.com when instance discovery is on; served here for a
        # client that passes this URL as ``instance_discovery``.
        endpoint = urlsplit(request.query_params.get("authorization_endpoint", ""))
        ours = urlsplit(state.authority_host)
        parts = [p for p in endpoint.path.split("/") if p]
        if endpoint.scheme != "https" or endpoint.hostname != ours.hostname or not parts:
            raise IdentityError(400, "invalid_instance", 50049, "Unknown or invalid instance.")
        host = ours.hostname or ""
        discovery_url = f"{state.authority_host}/{parts[0]}/v2.0/.well-known/openid-configuration"
        return JSONResponse({
            "tenant_discovery_endpoint": discovery_url,
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    return [
        Route("/common/discovery/instance", guarded(instance_discovery), methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", guarded(discovery), methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", guarded(keys), methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", guarded(token), methods=["GET", "POST"]),
        Route("/{tenant}/oauth2/v2.0/authorize", guarded(authorize), methods=["GET", "POST"]),
        Route("/{tenant}/oauth2/v2.0/devicecode", guarded(devicecode), methods=["POST"]),
    ]
