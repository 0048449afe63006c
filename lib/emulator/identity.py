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

Interactive sign-in (authorization code with PKCE, refresh tokens, device code):

- ``GET {graph_url}/{tenant}/oauth2/v2.0/authorize`` renders "Pick an account" (authorize_page.py)
  offering the demo identities; its form posts back to the same URL, which redirects to the app's
  ``redirect_uri`` with ``code``, ``state`` and ``session_state`` (or ``error=access_denied`` with
  AADSTS65004 on Cancel). Errors found before the redirect URI is trusted (unknown tenant or app,
  unregistered redirect URI) are shown on the page, never redirected, as Entra does.
- Codes are single use, bound to the client, redirect URI, PKCE challenge, nonce, scopes and user,
  and live ``code_lifetime`` seconds. Refresh tokens are opaque; a refresh issues a new one and the
  old one stays valid until it expires (Entra's behaviour for non-SPA clients) or is revoked
  (:func:`revoke_refresh_tokens`).
- ``POST {authority}/oauth2/v2.0/devicecode`` starts a device flow whose ``verification_uri`` is
  ``{graph_url}/devicelogin`` (plain http): enter the code, pick an identity. :func:`approve_device_code`
  does the same without a browser.
- Knobs (``identity_config(state)``, a dict in ``state.extras["identity"]``, changeable while
  serving): ``access_token_lifetime``, ``id_token_lifetime``, ``refresh_token_lifetime``,
  ``code_lifetime``, ``device_code_lifetime``, ``device_code_interval``, ``sign_in_lifetime``.

Secrets (codes, refresh tokens, device codes) are kept only as SHA-256 digests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lib.emulator import authorize_page as pages
from lib.emulator.error_responses import IdentityError
from lib.emulator.model import ROLE_NAMES, App, SyntheticTenant, User
from lib.emulator.state import EmulatorState
from lib.emulator.tokens import GRAPH_APP_ID, GRAPH_AUDIENCE, mint_access_token

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "DEVICE_CODE_GRANT",
    "GRANT_HANDLERS",
    "IDENTITY_DEFAULTS",
    "GrantHandler",
    "TokenRequest",
    "approve_device_code",
    "authenticate_client",
    "client_info",
    "device_code_polls",
    "identity_config",
    "identity_error_response",
    "identity_routes",
    "mint_id_token",
    "openid_configuration",
    "redirect_uri_allowed",
    "resolve_tenant",
    "revoke_refresh_tokens",
    "sign_in_identities",
]

ACCESS_TOKEN_LIFETIME = 3599
"""``expires_in`` / ``ext_expires_in`` of issued access tokens, as Entra answers client credentials."""

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

IDENTITY_DEFAULTS: dict[str, int] = {
    "access_token_lifetime": ACCESS_TOKEN_LIFETIME,
    "id_token_lifetime": 3600,
    "refresh_token_lifetime": 90 * 86400,
    "code_lifetime": 600,
    "device_code_lifetime": 900,
    "device_code_interval": 5,
    "sign_in_lifetime": 600,
}
"""Seconds. Entra: codes ~10 min, device codes 15 min polled every 5 s, refresh tokens 90 days."""

DEMO_IDENTITIES = ("admin", "authpolicy.admin", "security.reader")
"""Local parts of the accounts the sign-in pages offer (generator.py's demo admins), in this order."""

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
LOOPBACK_REDIRECT_HOSTS = ("localhost", "127.0.0.1")

_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint, parsed: what a grant handler gets."""

    state: EmulatorState
    tenant: SyntheticTenant
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


def resolve_tenant(state: EmulatorState, segment: str, error: str = "invalid_request") -> SyntheticTenant:
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


def _unknown_client(tenant: SyntheticTenant, client_id: str) -> IdentityError:
    return IdentityError(
        400, "unauthorized_client", 700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant.name}'. "
        "This can happen if the application has not been installed by the administrator of the tenant or "
        "consented to by any user in the tenant. You may have sent your authentication request to the "
        "wrong tenant.",
    )


def _find_app(tenant: SyntheticTenant, client_id: str) -> App:
    """The app registration ``client_id`` names (case-insensitively: app ids are GUIDs), or AADSTS700016."""
    app = tenant.apps.get(client_id)
    if app is None:
        app = next((a for a in tenant.apps.values() if a.client_id.lower() == client_id.lower()), None)
    if app is None:
        raise _unknown_client(tenant, client_id)
    return app


def authenticate_client(req: TokenRequest) -> App:
    """The confidential app calling, checked as Entra does: known app first, then its secret."""
    client_id = req.client_id
    if not client_id:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_id'.")
    app = _find_app(req.tenant, client_id)
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
    if resource.lower() not in _graph_names(req.state):
        raise _unknown_resource(req.tenant, resource)


def _graph_names(state: EmulatorState) -> set[str]:
    """Every name a scope may use for Graph: its URL, its app id, the emulator's Graph URL (lower case)."""
    names = {GRAPH_AUDIENCE.lower(), GRAPH_APP_ID.lower()}
    if state.graph_url:
        names.add(state.graph_url.rstrip("/").lower())
    return names


def _unknown_resource(tenant: SyntheticTenant, resource: str) -> IdentityError:
    return IdentityError(
        400, "invalid_resource", 500011,
        f"The resource principal named {resource} was not found in the tenant named {tenant.name}. "
        "This can happen if the application has not been installed by the administrator of the tenant or "
        "consented to by any user in the tenant. You might have sent your authentication request to the "
        "wrong tenant.",
    )


def _client_credentials(req: TokenRequest) -> dict:
    """``grant_type=client_credentials``: an app-only Graph token, ``roles`` = the app's permissions."""
    app = authenticate_client(req)
    _graph_default_scope(req)
    lifetime = identity_config(req.state)["access_token_lifetime"]
    token, expires_in = mint_access_token(req.state, app, app.permissions, lifetime=lifetime)
    return {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": token}


# --------------------------------------------------------------------------- interactive sign-in state


def identity_config(state: EmulatorState) -> dict[str, Any]:
    """The identity knobs of ``state`` (``IDENTITY_DEFAULTS`` filled in); change them in place."""
    config = state.extras.setdefault("identity", {})
    for key, value in IDENTITY_DEFAULTS.items():
        config.setdefault(key, value)
    return config


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    nonce: str | None
    challenge: str | None
    challenge_method: str
    expires_at: float
    redeemed: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    user_id: str
    scope: str
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class _DeviceCode:
    client_id: str
    user_code: str
    scope: str
    expires_at: float
    status: str = "pending"
    """'pending' | 'approved' | 'declined' | 'redeemed'."""
    user_id: str | None = None
    polls: int = 0
    """Token requests made with this code: tests assert a poll sends one, never a loop."""


@dataclass
class _SignIn:
    """One page shown to a person (an authorize request or an entered device code) awaiting their choice."""

    kind: str
    """'code' (authorize page) or 'device' (device login page)."""
    client_id: str
    expires_at: float
    redirect_uri: str = ""
    state: str | None = None
    response_mode: str = "query"
    nonce: str | None = None
    challenge: str | None = None
    challenge_method: str = "plain"
    scope: str = ""
    device_key: str = ""


@dataclass
class _Grants:
    """Everything issued and pending, keyed by the SHA-256 digest of its secret."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, _AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshToken] = field(default_factory=dict)
    devices: dict[str, _DeviceCode] = field(default_factory=dict)
    user_codes: dict[str, str] = field(default_factory=dict)
    """user code → device digest."""
    sign_ins: dict[str, _SignIn] = field(default_factory=dict)

    def purge(self, now: float) -> None:
        """Drop what has expired (called with the lock held)."""
        for table in (self.codes, self.refresh_tokens, self.sign_ins):
            for key in [k for k, v in table.items() if v.expires_at <= now]:
                del table[key]
        for key in [k for k, v in self.devices.items() if v.expires_at + 3600 <= now]:
            self.user_codes.pop(self.devices.pop(key).user_code, None)


_GRANTS_LOCK = threading.Lock()
_PURGE_EVERY = 256


def _grants(state: EmulatorState) -> _Grants:
    grants = state.extras.get("identity_grants")
    if grants is None:
        with _GRANTS_LOCK:
            grants = state.extras.setdefault("identity_grants", _Grants())
    return grants


def device_code_polls(state: EmulatorState, user_code: str) -> int:
    """How many token requests the device code shown as ``user_code`` has seen."""
    grants = _grants(state)
    with grants.lock:
        return grants.devices[grants.user_codes[user_code]].polls


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_in_identities(tenant: SyntheticTenant) -> list[User]:
    """The accounts the sign-in pages offer: the demo admins, else up to ten enabled role holders."""
    found = [u for local in DEMO_IDENTITIES if (u := tenant.by_upn.get(f"{local}@{tenant.domain}".lower()))]
    if found:
        return found
    return [u for u in tenant.users if u.roles and u.account_enabled and u.kind == "person"][:10]


def redirect_uri_allowed(app: App, uri: str) -> bool:
    """Whether ``uri`` may receive ``app``'s codes, by Entra's rules.

    Exact match with a registered URI; for a registered ``http://localhost`` / ``http://127.0.0.1`` URI
    any port; and for a public client with none registered, any such loopback URI (native apps).
    """
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.fragment or parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_REDIRECT_HOSTS
    for registered in app.redirect_uris:
        if registered == uri:
            return True
        reg = urlsplit(registered)
        if (loopback and reg.scheme == "http" and reg.hostname == parts.hostname
                and (reg.path or "/") == (parts.path or "/") and reg.query == parts.query):
            return True
    return app.public_client and not app.redirect_uris and loopback


def client_info(user: User, tenant: SyntheticTenant) -> str:
    """What Entra returns as ``client_info`` when asked (``client_info=1``): base64url ``{uid, utid}``."""
    return _b64url(json.dumps({"uid": user.id, "utid": tenant.id}, separators=(",", ":")).encode())


def mint_id_token(state: EmulatorState, app: App, user: User, *, nonce: str | None = None,
                  lifetime: int = 3600) -> str:
    """A v2.0 ID token for ``user`` signing in to ``app`` (HS256, as the discovery document says)."""
    now = int(time.time())
    tid = state.tenant.id
    claims: dict[str, Any] = {
        "aud": app.client_id,
        "iss": f"{state.authority_host}/{tid}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.upn,
        "sub": _b64url(hashlib.sha256(f"{app.client_id}:{user.id}".encode()).digest()),
        "tid": tid,
        "uti": uuid.uuid4().hex,
        "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, state.signing_key, algorithm="HS256")


# --------------------------------------------------------------------------- scopes


@dataclass(frozen=True)
class _Scopes:
    oidc: frozenset[str]
    graph: frozenset[str]
    """Graph permission names asked for by name."""
    default: bool
    """``{Graph}/.default`` asked for: every permission the app was granted."""


def _parse_scopes(state: EmulatorState, tenant: SyntheticTenant, raw: str) -> _Scopes:
    """Split a delegated ``scope`` parameter; a bare permission means Graph, as Entra reads it."""
    items = raw.split()
    if not items:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'scope'.")
    oidc: set[str] = set()
    graph: set[str] = set()
    default = False
    for item in items:
        low = item.lower()
        if low in OIDC_SCOPES:
            oidc.add(low)
            continue
        resource, _, permission = item.rpartition("/")
        if resource:
            resource = resource.rstrip("/")
            if resource.lower() not in _graph_names(state):
                raise _unknown_resource(tenant, resource)
        if permission.lower() == ".default" and resource:
            default = True
        elif permission and permission != ".default":
            graph.add(permission)
        else:
            raise IdentityError(400, "invalid_scope", 70011,
                                f"The provided value for the input parameter 'scope' is not valid. The scope "
                                f"{raw} is not valid.")
    return _Scopes(frozenset(oidc), frozenset(graph), default)


def _granted(app: App, scopes: _Scopes) -> frozenset[str]:
    """Permissions the access token carries: those asked for (all for .default) ∩ the app's."""
    by_lower = {p.lower(): p for p in app.permissions}
    if scopes.default:
        return frozenset(app.permissions)
    asked = scopes.graph or frozenset({"User.Read"})
    return frozenset(by_lower[p.lower()] for p in asked if p.lower() in by_lower)


def _scope_string(granted: frozenset[str], scopes: _Scopes) -> str:
    """The ``scope`` of a token response: what the access token carries, plus what was asked of OIDC."""
    items = [f"{GRAPH_AUDIENCE}/{p}" for p in sorted(granted)]
    if scopes.default:
        items.append(f"{GRAPH_AUDIENCE}/.default")
    return " ".join(items + sorted(scopes.oidc))


# --------------------------------------------------------------------------- grants


def _required(req: TokenRequest, name: str) -> str:
    value = (req.form.get(name) or "").strip()
    if not value:
        raise IdentityError(400, "invalid_request", 900144,
                            f"The request body must contain the following parameter: '{name}'.")
    return value


def _user_flow_client(req: TokenRequest) -> App:
    """The app redeeming a user grant: a public client presents no secret, a confidential one must."""
    client_id = req.client_id
    if not client_id:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_id'.")
    app = _find_app(req.tenant, client_id)
    if not app.public_client:
        return authenticate_client(req)
    if req.client_secret or req.form.get("client_assertion"):
        raise IdentityError(401, "invalid_client", 700025,
                            "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                            "presented.")
    return app


def _active_user(tenant: SyntheticTenant, user_id: str) -> User:
    user = tenant.lookup(user_id)
    if user is None:
        raise IdentityError(400, "invalid_grant", 50034,
                            f"The user account {user_id} does not exist in the {tenant.id} directory. To sign "
                            "into this application, the account must be added to the directory.")
    if not user.account_enabled:
        raise IdentityError(400, "invalid_grant", 50057,
                            "The user account is disabled. The account has been disabled by an administrator.")
    return user


def _issue_user_tokens(req: TokenRequest, app: App, user: User, scope: str, *, nonce: str | None = None,
                       refresh: bool = False) -> dict:
    """The token response of a user flow: access token, and refresh/ID token and client_info as asked."""
    state = req.state
    config = identity_config(state)
    scopes = _parse_scopes(state, req.tenant, scope)
    granted = _granted(app, scopes)
    access, expires_in = mint_access_token(state, app, granted, user=user,
                                           lifetime=config["access_token_lifetime"])
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": _scope_string(granted, scopes),
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access,
    }
    if refresh or "offline_access" in scopes.oidc:
        secret = secrets.token_urlsafe(48)
        now = time.time()
        record = _RefreshToken(app.client_id, user.id, scope, now, now + config["refresh_token_lifetime"])
        grants = _grants(state)
        with grants.lock:
            grants.refresh_tokens[_digest(secret)] = record
        body["refresh_token"] = secret
    if "openid" in scopes.oidc:
        body["id_token"] = mint_id_token(state, app, user, nonce=nonce, lifetime=config["id_token_lifetime"])
    if (req.form.get("client_info") or "").strip() == "1":
        body["client_info"] = client_info(user, req.tenant)
    return body


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        computed = _b64url(hashlib.sha256(verifier.encode("ascii", errors="replace")).digest())
    else:
        computed = verifier
    return secrets.compare_digest(computed.encode(), challenge.encode())


def _authorization_code(req: TokenRequest) -> dict:
    """``grant_type=authorization_code``: redeem a code once, with its client, redirect URI and PKCE verifier."""
    app = _user_flow_client(req)
    code = _required(req, "code")
    grants = _grants(req.state)
    with grants.lock:
        record = grants.codes.get(_digest(code))
        if record is None or record.client_id != app.client_id:
            raise IdentityError(400, "invalid_grant", 70000,
                                "The provided value for the 'code' parameter is not valid.")
        if record.redeemed:
            raise IdentityError(400, "invalid_grant", 54005,
                                "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                                "code or use an existing refresh token.")
        if time.time() >= record.expires_at:
            raise IdentityError(400, "invalid_grant", 70008,
                                "The provided authorization code or refresh token has expired due to "
                                "inactivity. Send a new interactive authorization request for this user and "
                                "resource.")
        redirect_uri = req.form.get("redirect_uri", "")
        if redirect_uri != record.redirect_uri:
            raise IdentityError(400, "invalid_grant", 500112,
                                f"The reply address '{redirect_uri}' does not match the reply address "
                                f"'{record.redirect_uri}' provided when requesting Authorization code.")
        if record.challenge:
            verifier = req.form.get("code_verifier") or ""
            if not verifier:
                raise IdentityError(400, "invalid_grant", 50148,
                                    "The code_verifier does not match the code_challenge supplied in the "
                                    "authorization request for PKCE.")
            if not _pkce_matches(verifier, record.challenge, record.challenge_method):
                raise IdentityError(400, "invalid_grant", 501481,
                                    "The Code_Verifier does not match the code_challenge supplied in the "
                                    "authorization request.")
        record.redeemed = True
    user = _active_user(req.tenant, record.user_id)
    return _issue_user_tokens(req, app, user, record.scope, nonce=record.nonce)


def _refresh_token(req: TokenRequest) -> dict:
    """``grant_type=refresh_token``: a new access token (and refresh token) for the same user and app."""
    app = _user_flow_client(req)
    secret = _required(req, "refresh_token")
    grants = _grants(req.state)
    with grants.lock:
        record = grants.refresh_tokens.get(_digest(secret))
        if record is None or record.client_id != app.client_id:
            raise IdentityError(400, "invalid_grant", 70000,
                                "The provided value for the 'refresh_token' parameter is not valid.")
        if record.revoked:
            raise IdentityError(400, "invalid_grant", 70000,
                                "The refresh token has been revoked. The user must sign in again.")
        if time.time() >= record.expires_at:
            issued = datetime.fromtimestamp(record.issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
            inactive = int(record.expires_at - record.issued_at)
            days, rest = divmod(inactive, 86400)
            hours, rest = divmod(rest, 3600)
            span = f"{days}.{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
            raise IdentityError(400, "invalid_grant", 700082,
                                f"The refresh token has expired due to inactivity. The token was issued on "
                                f"{issued} and was inactive for {span}.")
    user = _active_user(req.tenant, record.user_id)
    scope = (req.form.get("scope") or "").strip() or record.scope
    return _issue_user_tokens(req, app, user, scope, refresh=True)


def _device_code_grant(req: TokenRequest) -> dict:
    """The device flow's polling: pending, declined, expired, or the tokens (once)."""
    app = _user_flow_client(req)
    device_code = (req.form.get("device_code") or req.form.get("code") or "").strip()
    if not device_code:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'device_code'.")
    grants = _grants(req.state)
    key = _digest(device_code)
    with grants.lock:
        record = grants.devices.get(key)
        if record is None or record.client_id != app.client_id or record.status == "redeemed":
            raise IdentityError(400, "bad_verification_code", 70018,
                                "The provided value for the input parameter 'device_code' is not valid.")
        record.polls += 1
        if time.time() >= record.expires_at:
            raise IdentityError(400, "expired_token", 70020,
                                "The provided value for the input parameter 'device_code' is not valid. This "
                                "device code has expired.")
        if record.status == "declined":
            raise IdentityError(400, "authorization_declined", 70000,
                                "The user declined the sign-in request on the device login page.")
        if record.status == "pending":
            raise IdentityError(400, "authorization_pending", 70016,
                                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        record.status = "redeemed"
        user_id = record.user_id or ""
    user = _active_user(req.tenant, user_id)
    return _issue_user_tokens(req, app, user, record.scope)


GRANT_HANDLERS: dict[str, GrantHandler] = {
    "client_credentials": _client_credentials,
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    DEVICE_CODE_GRANT: _device_code_grant,
}


# --------------------------------------------------------------------------- hooks for tests and Graph


def revoke_refresh_tokens(state: EmulatorState, user_id: str | None = None) -> int:
    """Revoke the refresh tokens of ``user_id`` (everyone's when None), as revokeSignInSessions does."""
    grants = _grants(state)
    count = 0
    with grants.lock:
        for record in grants.refresh_tokens.values():
            if (user_id is None or record.user_id == user_id) and not record.revoked:
                record.revoked = True
                count += 1
    return count


def approve_device_code(state: EmulatorState, user_code: str, user: str, *, decline: bool = False) -> None:
    """What a person does on the device login page: ``user`` (id or UPN) approves, or declines, a code.

    Raises LookupError for an unknown or expired code, ValueError for a user the page does not offer.
    """
    chosen = state.tenant.lookup(user)
    if chosen is None or chosen not in sign_in_identities(state.tenant):
        raise ValueError(f"{user!r} is not one of the identities the sign-in page offers")
    grants = _grants(state)
    with grants.lock:
        key = grants.user_codes.get(_normal_user_code(user_code))
        record = grants.devices.get(key or "")
        if record is None or record.status != "pending" or time.time() >= record.expires_at:
            raise LookupError(f"no pending device code {user_code!r}")
        record.status = "declined" if decline else "approved"
        record.user_id = None if decline else chosen.id


def _normal_user_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Upper-case letters and digits without the look-alikes I, O, 0 and 1."""


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


def _query(request: Request) -> dict[str, str]:
    """Query parameters, the first value winning when one repeats (as for the form)."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        params.setdefault(key, value)
    return params


def _with_params(uri: str, params: Mapping[str, str], fragment: bool = False) -> str:
    """``uri`` with ``params`` appended to its query (or put in its fragment)."""
    parts = urlsplit(uri)
    encoded = urlencode(params)
    if fragment:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, encoded))
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _hand_back(sign_in: _SignIn, params: dict[str, str]) -> Response:
    """Send the browser back to the app with ``params`` (+ ``state``) the way the request asked."""
    if sign_in.state is not None:
        params["state"] = sign_in.state
    if sign_in.response_mode == "form_post":
        return pages.form_post_page(sign_in.redirect_uri, params)
    location = _with_params(sign_in.redirect_uri, params, fragment=sign_in.response_mode == "fragment")
    return RedirectResponse(location, status_code=302, headers=_NO_STORE)


def _redirect_error(sign_in: _SignIn, err: IdentityError) -> Response:
    """An authorize error handed to the app (only once its redirect URI is known to be registered)."""
    body = err.body()
    return _hand_back(sign_in, {"error": err.error, "error_description": body["error_description"],
                                "error_uri": f"https://login.microsoftonline.com/error?code={err.aadsts}"})


def _identity_choices(tenant: SyntheticTenant) -> list[pages.Identity]:
    return [
        pages.Identity(u.id, u.display_name, u.upn, tuple(ROLE_NAMES.get(r, r) for r in u.roles))
        for u in sign_in_identities(tenant)
    ]


def _page_error(err: IdentityError, tenant_name: str = "") -> Response:
    return pages.message_page(err.status, "Sign in", f"AADSTS{err.aadsts}: {err.description}",
                              tenant_name=tenant_name)


def _authorize_request(state: EmulatorState, tenant: SyntheticTenant, params: Mapping[str, str]) -> tuple[App, _SignIn]:
    """What must hold before anything is sent to the redirect URI: a known app and a registered URI."""
    client_id = (params.get("client_id") or "").strip()
    if not client_id:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_id'.")
    app = _find_app(tenant, client_id)
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        if not app.redirect_uris:
            raise IdentityError(400, "invalid_request", 500113, "No reply address is registered for the application.")
        redirect_uri = app.redirect_uris[0]
    if not redirect_uri_allowed(app, redirect_uri):
        raise IdentityError(
            400, "invalid_request", 50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
            f"configured for the application '{app.client_id}'. Make sure the redirect URI sent in the request "
            "matches one added to your application in the Azure portal. Navigate to "
            "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
        )
    mode = (params.get("response_mode") or "query").strip().lower()
    if mode not in ("query", "fragment", "form_post"):
        raise IdentityError(400, "invalid_request", 70011,
                            "The provided value for the input parameter 'response_mode' is not valid.")
    lifetime = identity_config(state)["sign_in_lifetime"]
    return app, _SignIn("code", app.client_id, time.time() + lifetime, redirect_uri=redirect_uri,
                        state=params.get("state"), response_mode=mode)


def _authorize_details(state: EmulatorState, tenant: SyntheticTenant, params: Mapping[str, str],
                       sign_in: _SignIn) -> None:
    """The rest of an authorize request (errors here go back to the app): fills ``sign_in``."""
    response_type = (params.get("response_type") or "").strip()
    if not response_type:
        raise IdentityError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'response_type'.")
    if response_type != "code":
        raise IdentityError(400, "unsupported_response_type", 700054,
                            f"response_type '{response_type}' is not enabled for the application.")
    scope = (params.get("scope") or "").strip()
    _parse_scopes(state, tenant, scope)
    challenge = params.get("code_challenge")
    if challenge:
        method = (params.get("code_challenge_method") or "plain").strip()
        if method not in ("S256", "plain"):
            raise IdentityError(400, "invalid_request", 70011,
                                "The provided value for the input parameter 'code_challenge_method' is not valid.")
        if not 43 <= len(challenge) <= 128:
            raise IdentityError(400, "invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
        sign_in.challenge, sign_in.challenge_method = challenge, method
    sign_in.scope = scope
    sign_in.nonce = params.get("nonce") or None


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

    def new_sign_in(sign_in: _SignIn) -> str:
        txn = secrets.token_urlsafe(24)
        grants = _grants(state)
        with grants.lock:
            if len(grants.sign_ins) >= _PURGE_EVERY:
                grants.purge(time.time())
            grants.sign_ins[txn] = sign_in
        return txn

    def picker(request_path: str, txn: str, client_id: str, *, selected: str | None = None,
               error: str | None = None) -> Response:
        tenant = state.tenant
        app = tenant.apps.get(client_id)
        return pages.picker_page(
            action=request_path, txn=txn, app_name=app.display_name if app else client_id,
            tenant_name=tenant.name, identities=_identity_choices(tenant), selected=selected, error=error,
            status=400 if error else 200,
        )

    async def authorize(request: Request) -> Response:
        try:
            tenant = resolve_tenant(state, request.path_params["tenant"])
        except IdentityError as err:
            return _page_error(err)
        if request.method == "POST":
            return await choose_account(request, await _form(request), "code")
        params = _query(request)
        try:
            app, sign_in = _authorize_request(state, tenant, params)
        except IdentityError as err:  # the redirect URI is not trusted (yet): say it on the page
            return _page_error(err, tenant.name)
        try:
            _authorize_details(state, tenant, params, sign_in)
            if (params.get("prompt") or "").strip().lower() == "none":
                raise IdentityError(400, "login_required", 50058,
                                    "A silent sign-in request was sent but no user is signed in.")
        except IdentityError as err:
            return _redirect_error(sign_in, err)
        txn = new_sign_in(sign_in)
        hinted = tenant.lookup(params["login_hint"]) if params.get("login_hint") else None
        return picker(request.url.path, txn, app.client_id, selected=hinted.id if hinted else None)

    async def choose_account(request: Request, form: Mapping[str, str], kind: str) -> Response:
        """The picker's form: Cancel, or Sign in as the chosen identity."""
        tenant = state.tenant
        txn = form.get("txn", "")
        grants = _grants(state)
        with grants.lock:
            sign_in = grants.sign_ins.get(txn)
            if sign_in is not None and (sign_in.kind != kind or time.time() >= sign_in.expires_at):
                sign_in = None
        if sign_in is None:
            return pages.message_page(
                400, "This sign-in page has expired",
                "This sign-in page has expired or was already used. Go back to the app and sign in again.",
                tenant_name=tenant.name)
        cancel = form.get("action") == "cancel"
        user = next((u for u in sign_in_identities(tenant) if u.id == form.get("user")), None)
        if not cancel and user is None:
            return picker(request.url.path, txn, sign_in.client_id, error="Pick an account to sign in with.")
        with grants.lock:
            if grants.sign_ins.pop(txn, None) is None:  # a second submission of the same page
                return pages.message_page(
                    400, "This sign-in page has expired",
                    "This sign-in page has expired or was already used. Go back to the app and sign in again.",
                    tenant_name=tenant.name)
        if kind == "device":
            return device_choice(sign_in, None if cancel else user)
        if cancel:
            return _redirect_error(sign_in, IdentityError(400, "access_denied", 65004,
                                                          "User declined to consent to access the app."))
        assert user is not None
        code = secrets.token_urlsafe(32)
        config = identity_config(state)
        record = _AuthCode(sign_in.client_id, sign_in.redirect_uri, user.id, sign_in.scope, sign_in.nonce,
                           sign_in.challenge, sign_in.challenge_method, time.time() + config["code_lifetime"])
        with grants.lock:
            if len(grants.codes) >= _PURGE_EVERY:
                grants.purge(time.time())
            grants.codes[_digest(code)] = record
        params = {"code": code}
        if sign_in.state is not None:
            params["state"] = sign_in.state
        params["session_state"] = str(uuid.uuid4())
        return _hand_back(sign_in, params)

    def device_choice(sign_in: _SignIn, user: User | None) -> Response:
        tenant = state.tenant
        app = tenant.apps.get(sign_in.client_id)
        app_name = app.display_name if app else sign_in.client_id
        grants = _grants(state)
        with grants.lock:
            record = grants.devices.get(sign_in.device_key)
            live = record is not None and record.status == "pending" and time.time() < record.expires_at
            if live and record is not None:
                record.status = "approved" if user is not None else "declined"
                record.user_id = user.id if user is not None else None
        if not live:
            return pages.message_page(400, "That code has expired",
                                      "That code has expired. Go back to your app or device and start again.",
                                      tenant_name=tenant.name)
        if user is None:
            return pages.message_page(200, "Sign-in cancelled",
                                      f"You declined to sign in to {app_name} on your device. You can close "
                                      "this window.", tenant_name=tenant.name)
        return pages.message_page(200, "You're signed in",
                                  f"You have signed in to the {app_name} application on your device as "
                                  f"{user.upn}. You may now close this window.", tenant_name=tenant.name)

    def enter_code(value: str) -> Response:
        tenant = state.tenant
        grants = _grants(state)
        now = time.time()
        with grants.lock:
            key = grants.user_codes.get(_normal_user_code(value), "")
            record = grants.devices.get(key)
            known = record is not None and record.status == "pending"
            expired = known and record is not None and now >= record.expires_at
        if not known or record is None:
            return pages.device_code_page(action="/devicelogin", tenant_name=tenant.name, value=value, status=400,
                                          error="That code didn't work. Check the code and try again.")
        if expired:
            return pages.device_code_page(action="/devicelogin", tenant_name=tenant.name, value=value, status=400,
                                          error="That code has expired. Go back to your app or device and "
                                          "start again.")
        lifetime = identity_config(state)["sign_in_lifetime"]
        txn = new_sign_in(_SignIn("device", record.client_id, min(record.expires_at, now + lifetime),
                                  scope=record.scope, device_key=key))
        return picker("/devicelogin", txn, record.client_id)

    async def devicelogin(request: Request) -> Response:
        if request.method == "POST":
            form = await _form(request)
            if "txn" in form:
                return await choose_account(request, form, "device")
            return enter_code(form.get("otc", ""))
        return pages.device_code_page(action="/devicelogin", tenant_name=state.tenant.name,
                                      value=_query(request).get("otc", ""))

    async def devicecode(request: Request) -> Response:
        tenant = resolve_tenant(state, request.path_params["tenant"])
        form = await _form(request)
        client_id = (form.get("client_id") or "").strip()
        if not client_id:
            raise IdentityError(400, "invalid_request", 900144,
                                "The request body must contain the following parameter: 'client_id'.")
        app = _find_app(tenant, client_id)
        scope = (form.get("scope") or "").strip()
        _parse_scopes(state, tenant, scope)
        config = identity_config(state)
        device_code = secrets.token_urlsafe(48)
        grants = _grants(state)
        with grants.lock:
            if len(grants.devices) >= _PURGE_EVERY:
                grants.purge(time.time())
            user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
            while user_code in grants.user_codes:
                user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
            key = _digest(device_code)
            grants.devices[key] = _DeviceCode(app.client_id, user_code, scope,
                                              time.time() + config["device_code_lifetime"])
            grants.user_codes[user_code] = key
        uri = f"{state.graph_url}/devicelogin"
        return JSONResponse({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": config["device_code_lifetime"],
            "interval": config["device_code_interval"],
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
                       "to authenticate.",
        }, headers=_NO_STORE)

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
        Route("/devicelogin", guarded(devicelogin), methods=["GET", "POST"]),
    ]
