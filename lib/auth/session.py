"""One signed-in admin per Streamlit session: MSAL sign-in, a private token cache, silent refresh.

Interactive sign-in is the authorization-code flow with PKCE. The redirect back is a new request,
so :meth:`AuthSession.begin_sign_in` parks MSAL's flow in the process-wide
:class:`~lib.auth.pending.PendingFlows` under its ``state``, bound to the browser that began it, and
:meth:`AuthSession.complete_sign_in` takes it out, once, and only with that browser's binding
(:mod:`lib.auth.web_sign_in` drives both from the console's web server). The device-code flow is
the alternative for when a redirect is not possible: :meth:`start_device_flow` shows a code and a
link, :meth:`poll_device_flow` asks once per call and never blocks.

Every ``AuthSession`` owns its MSAL client application and its own ``SerializableTokenCache``:
tokens never live in a global, a log line or an error message. :meth:`credential` hands the
Graph gateway a credential that takes tokens from that cache (refreshing them silently) and
raises :class:`~lib.auth.errors.SessionExpired` once that is impossible. The same code path runs
against the demo tenant and a real one (``AuthConfig.from_settings``): an ``AuthConfig`` is plain
values (authority, client id, Graph URL, CA file), so this package knows nothing of where they
come from (the demo wiring in ``lib.demo`` builds the demo tenant's).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msal
import requests
from azure.core.credentials import AccessToken

from lib.auth.errors import (
    AuthError,
    ConfigurationError,
    FlowExpired,
    SessionExpired,
    SignInCancelled,
    TokenRefreshFailed,
    is_known_sign_in_code,
    sign_in_error,
)
from lib.auth.logs import install_log_redaction, redact_secrets
from lib.auth.pending import PendingFlows, default_pending
from lib.auth.roles import SignedInAdmin, read_signed_in_admin
from lib.auth.transport import instance_discovery_for, msal_http_client
from lib.graph.credentials import GRAPH_DEFAULT_SCOPE, MsalClientCredential
from lib.graph.errors import GraphError
from lib.graph.gateway import GraphGateway
from lib.graph.options import GatewayOptions

if TYPE_CHECKING:
    from lib.settings import Settings

__all__ = [
    "AuthConfig",
    "AuthSession",
    "DevicePrompt",
    "SessionCredential",
    "app_only_credential",
    "is_sign_in_callback",
]

log = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_REDIRECT_URI = "http://localhost:8501/"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
CALLBACK_KEYS = ("code", "state", "session_state", "client_info", "error", "error_description", "error_uri")
"""The query parameters of a sign-in callback that MSAL reads; anything else in the URL is ignored."""
_REUSE_MARGIN = 300.0
"""A sign-in link is handed out again only while it has at least this long (or half its TTL) to live."""



def _quiet_form_post_warning() -> None:
    """Streamlit cannot receive ``response_mode=form_post`` (a POST to the app), so the code comes back in
    the query string and MSAL warns about it on every sign-in. Re-installed per call: test runners and
    ``catch_warnings`` reset the filter list."""
    warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)


@dataclass(frozen=True)
class AuthConfig:
    """Where and as which app to sign in. ``client_secret`` set → confidential client, else public."""

    client_id: str
    authority: str
    """``https://{authority host}/{tenant id or domain}``."""
    graph_url: str = DEFAULT_GRAPH_URL
    redirect_uri: str = DEFAULT_REDIRECT_URI
    client_secret: str = field(default="", repr=False)
    ca_cert: str | None = None
    """A CA file to trust for the authority (the demo tenant's); None → the system's."""
    scopes: tuple[str, ...] = (GRAPH_DEFAULT_SCOPE,)
    """Graph scopes to sign in with: ``.default`` = every permission the tenant consented to."""
    timeout_s: float = 30.0
    gateway_options: GatewayOptions | None = None
    """Options of the Graph gateway used to read the admin's roles at sign-in."""

    def __post_init__(self) -> None:
        if not self.client_id.strip():
            raise ValueError("client_id is required")
        if not self.authority.startswith("https://") or self.authority.rstrip("/").count("/") < 3:
            raise ValueError(f"authority must be https://host/tenant, got {self.authority!r}")
        if not self.scopes or any(not s.strip() for s in self.scopes):
            raise ValueError("scopes must be a non-empty tuple of non-empty strings")
        reserved = RESERVED_SCOPES.intersection(s.lower() for s in self.scopes)
        if reserved:
            raise ValueError(f"scopes must not name {sorted(reserved)}: MSAL adds them itself")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    @property
    def confidential(self) -> bool:
        return bool(self.client_secret)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AuthConfig:
        """The configuration of a real tenant from :class:`lib.settings.Settings` (tenant mode)."""
        if settings.is_demo:
            raise ValueError("the demo tenant's configuration comes from lib.demo.demo_auth_config(emulator)")
        values: dict[str, Any] = {
            "client_id": settings.client_id,
            "authority": settings.authority,
            "graph_url": settings.graph_url,
            "redirect_uri": settings.redirect_uri,
            "client_secret": settings.client_secret,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class DevicePrompt:
    """What the page shows during a device-code sign-in."""

    user_code: str
    verification_uri: str
    message: str
    """Entra's own sentence: "To sign in, use a web browser to open the page … and enter the code …"."""
    expires_at: float
    """``time.time()`` after which the code no longer works."""
    interval: int
    """Seconds between polls the service asks for."""


def is_sign_in_callback(query_params: Mapping[str, Any]) -> bool:
    """Whether a page's query parameters are the sign-in page redirecting back (``state`` + ``code``/``error``)."""
    params = _single_values(query_params)
    return bool(params.get("state")) and ("code" in params or "error" in params)


def _single_values(query_params: Mapping[str, Any]) -> dict[str, str]:
    """``st.query_params`` / ``parse_qs`` output as ``{key: str}`` (the last value of a list)."""
    out: dict[str, str] = {}
    for key, value in query_params.items():
        if isinstance(value, list | tuple):
            if not value:
                continue
            value = value[-1]
        out[str(key)] = str(value)
    return out


def _first_line(description: str) -> str:
    text = description.split(" Trace ID:")[0].split("\r\n")[0].split("\n")[0].strip()
    return redact_secrets(text)


def _aadsts(result: Mapping[str, Any]) -> int | None:
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    description = str(result.get("error_description") or "")
    if description.startswith("AADSTS"):
        digits = description[6:].split(":")[0]
        if digits.isdigit():
            return int(digits)
    return None


class AuthSession:
    """The sign-in state of one signed-in browser (kept in :mod:`lib.auth.browser_sessions`, shared by that
    browser's Streamlit sessions), or of one tab during a device code sign-in. Thread-safe.

    ``pending`` is the store of auth-code flows waiting for their callback (the process-wide one by
    default: the callback arrives in another session).
    """

    def __init__(self, config: AuthConfig, *, pending: PendingFlows | None = None) -> None:
        install_log_redaction()
        self.config = config
        self._pending = pending if pending is not None else default_pending()
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._cache = msal.SerializableTokenCache()
        self._app: msal.ClientApplication | None = None
        self._public: msal.PublicClientApplication | None = None
        self._token_app: msal.ClientApplication | None = None
        self._account: dict[str, Any] | None = None
        self._admin: SignedInAdmin | None = None
        self._expired = False
        self._device_flow: dict[str, Any] | None = None
        self._begun: tuple[tuple[Any, ...], str, str, float] | None = None
        """(request key, state, auth_uri, started) of the link this session last handed out."""
        self._http_clients: list[requests.Session] = []
        self._landing = "/"
        self._admin_read_at = 0.0

    # ------------------------------------------------------------------ state

    @property
    def landing(self) -> str:
        """The path the browser asked for when it began the sign-in this session completed ("/" if none)."""
        with self._lock:
            return self._landing

    @property
    def admin(self) -> SignedInAdmin | None:
        """The signed-in admin, or None (never signed in, signed out, or the session expired)."""
        with self._lock:
            return None if self._expired else self._admin

    @property
    def signed_in(self) -> bool:
        return self.admin is not None

    @property
    def expired(self) -> bool:
        """True once a silent token request failed for good: show "Your session has expired. Sign in again."."""
        with self._lock:
            return self._expired

    @property
    def device_flow(self) -> DevicePrompt | None:
        """The device-code sign-in in progress (to render it again on every rerun), or None."""
        with self._lock:
            flow = self._device_flow
        return self._prompt(flow) if flow else None

    @property
    def token_cache(self) -> msal.SerializableTokenCache:
        """This session's MSAL cache (tests and diagnostics only: it holds tokens, never log it)."""
        with self._lock:
            return self._cache

    # ------------------------------------------------------------------ MSAL clients

    def _build(self, public: bool) -> msal.ClientApplication:
        config = self.config
        http_client = msal_http_client(config.ca_cert)
        self._http_clients.append(http_client)
        kwargs: dict[str, Any] = {
            "authority": config.authority,
            "token_cache": self._cache,
            "http_client": http_client,
            "timeout": config.timeout_s,
        }
        discovery = instance_discovery_for(config.authority)
        if discovery is not None:
            kwargs["instance_discovery"] = discovery
        try:
            if public or not config.confidential:
                return msal.PublicClientApplication(config.client_id, **kwargs)
            return msal.ConfidentialClientApplication(config.client_id, client_credential=config.client_secret,
                                                      **kwargs)
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the sign-in service at {config.authority}. Check the network and "
                            "the authority host setting (MFA_AUTHORITY_HOST).", code="unreachable") from exc
        except ValueError as exc:
            cause = redact_secrets(f"{exc} {exc.__context__ or ''}")
            if "90002" in cause:
                raise ConfigurationError(
                    f"The tenant in {config.authority} was not found (AADSTS90002). Check MFA_TENANT_ID: it "
                    "must be your tenant's ID (a GUID) or one of its verified domains.", code="AADSTS90002",
                ) from exc
            raise ConfigurationError(f"The sign-in service at {config.authority} could not be used: "
                                     f"{_first_line(cause)}") from exc

    def _client(self) -> msal.ClientApplication:
        with self._lock:
            if self._app is None:
                self._app = self._build(public=False)
            return self._app

    def _public_client(self) -> msal.ClientApplication:
        """Device flow needs a public client (MSAL offers it nowhere else); same cache, same client id."""
        with self._lock:
            if not self.config.confidential:
                return self._client()
            if self._public is None:
                self._public = self._build(public=True)
            return self._public

    # ------------------------------------------------------------------ auth-code flow with PKCE

    def begin_sign_in(self, redirect_uri: str | None = None, *, login_hint: str | None = None,
                      prompt: str | None = "select_account", binding: str = "", landing: str = "/") -> str:
        """The sign-in page's URL (a fresh flow parked under its ``state``; reused while it is young).

        ``binding`` ties the flow to one browser (see :class:`~lib.auth.pending.PendingFlows`): only a
        :meth:`complete_sign_in` with the same binding finishes it. ``landing`` is kept with the flow.
        """
        redirect = redirect_uri or self.config.redirect_uri
        key = (redirect, login_hint, prompt, binding, landing)
        with self._lock:
            begun = self._begun
            margin = min(_REUSE_MARGIN, self._pending.ttl / 2)
            if (begun is not None and begun[0] == key and begun[1] in self._pending
                    and time.monotonic() - begun[3] < self._pending.ttl - margin):
                return begun[2]
        app = self._client()
        _quiet_form_post_warning()
        try:
            flow = app.initiate_auth_code_flow(list(self.config.scopes), redirect_uri=redirect,
                                               login_hint=login_hint, prompt=prompt)
        except ValueError as exc:
            raise ConfigurationError(f"Cannot start sign-in: {_first_line(str(exc))}") from exc
        self._pending.put(flow, binding=binding, landing=landing)
        with self._lock:
            if self._begun is not None:
                self._pending.discard(self._begun[1])
            self._begun = (key, flow["state"], flow["auth_uri"], time.monotonic())
        log.debug("sign-in link issued (redirect URI %s)", redirect)
        return flow["auth_uri"]

    def complete_sign_in(self, query_params: Mapping[str, Any], *, binding: str = "") -> SignedInAdmin:
        """Finish sign-in with the callback's query parameters (``dict(st.query_params)`` works as is).

        ``binding`` must be the one the flow was begun with (the browser's). Raises FlowExpired
        (unknown, replayed or expired ``state``, or another browser's flow), SignInCancelled,
        ConfigurationError, or AuthError; the pending flow is used up either way.
        """
        params = _single_values(query_params)
        claimed = self._pending.claim(params.get("state"), binding)
        if claimed is None:
            raise FlowExpired()
        flow = claimed.flow
        with self._lock:
            self._landing = claimed.landing
        with self._lock:
            if self._begun is not None and self._begun[1] == flow.get("state"):
                self._begun = None
        if params.get("error"):
            if params["error"] == "access_denied":
                raise SignInCancelled(code="access_denied")
            raise self._error({"error": params["error"], "error_description": params.get("error_description", "")})
        if not params.get("code"):
            raise FlowExpired()
        self._forget_tokens()
        app = self._client()
        response = {k: params[k] for k in CALLBACK_KEYS if k in params}
        try:
            result = app.acquire_token_by_auth_code_flow(flow, response)
        except ValueError as exc:  # state mismatch and other CSRF checks
            raise FlowExpired() from exc
        except RuntimeError as exc:  # nonce mismatch
            raise AuthError("The sign-in response did not match this sign-in request. Sign in again.",
                            code="nonce_mismatch") from exc
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the sign-in service at {self.config.authority}. Try again.",
                            code="unreachable") from exc
        return self._finish(app, result)

    # ------------------------------------------------------------------ device-code flow

    def start_device_flow(self) -> DevicePrompt:
        """Ask for a device code; show the returned prompt and call :meth:`poll_device_flow` on each rerun."""
        app = self._public_client()
        try:
            flow = app.initiate_device_flow(scopes=list(self.config.scopes))  # type: ignore[attr-defined]
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the sign-in service at {self.config.authority}. Try again.",
                            code="unreachable") from exc
        if "user_code" not in flow:
            raise self._error(flow)
        # MSAL's poll loop checks exit_condition once per second of the interval: with 0 it would never stop.
        flow["interval"] = max(1, int(flow.get("interval", 5)))
        self._forget_tokens()  # a new sign-in replaces whoever was signed in here
        with self._lock:
            self._device_flow = flow
        return self._prompt(flow)

    def poll_device_flow(self) -> SignedInAdmin | None:
        """Ask the service once whether the code was used; never blocks.

        Returns None while the person has not finished (or when called sooner than the service's
        interval: then nothing is sent), the admin once signed in. Raises FlowExpired (code expired),
        SignInCancelled (declined) or AuthError, and the flow is over.
        """
        with self._lock:
            flow = self._device_flow
        if flow is None:
            raise AuthError("No device code sign-in is in progress. Start again.", code="no_device_flow")
        if flow.get("latest_attempt_at", 0) + flow.get("interval", 5) - 1 > time.time():
            return None  # too soon: MSAL would warn and the service would answer slow_down
        if not self._poll_lock.acquire(blocking=False):
            return None  # another rerun is polling this very flow
        try:
            app = self._public_client()
            try:
                result = app.acquire_token_by_device_flow(  # type: ignore[attr-defined]
                    flow, exit_condition=lambda _flow: True)
            except requests.RequestException as exc:
                raise AuthError(f"Cannot reach the sign-in service at {self.config.authority}. Try again.",
                                code="unreachable") from exc
        finally:
            self._poll_lock.release()
        error = result.get("error")
        if error in ("authorization_pending", "slow_down"):
            return None
        with self._lock:
            if self._device_flow is flow:
                self._device_flow = None
        if error == "expired_token":
            raise FlowExpired("The sign-in code has expired. Start again to get a new code.", code=error)
        if error in ("authorization_declined", "access_denied"):
            raise SignInCancelled(code=error)
        if error == "bad_verification_code":
            raise FlowExpired("The sign-in code is no longer valid. Start again to get a new code.", code=error)
        if error:
            raise self._error(result)
        return self._finish(app, result)

    def cancel_device_flow(self) -> None:
        with self._lock:
            self._device_flow = None

    @staticmethod
    def _prompt(flow: Mapping[str, Any]) -> DevicePrompt:
        return DevicePrompt(
            user_code=str(flow["user_code"]), verification_uri=str(flow["verification_uri"]),
            message=str(flow.get("message") or ""), expires_at=float(flow.get("expires_at") or 0),
            interval=int(flow.get("interval", 5)),
        )

    # ------------------------------------------------------------------ after a token response

    def _finish(self, app: msal.ClientApplication, result: Mapping[str, Any]) -> SignedInAdmin:
        if "access_token" not in result:
            raise self._error(result)
        claims = result.get("id_token_claims") or {}
        accounts = app.get_accounts()
        account = next((a for a in accounts if a.get("local_account_id") == claims.get("oid")), None)
        if account is None and accounts:
            account = accounts[0]
        if account is None:
            raise AuthError("Sign-in returned no account (was the openid scope refused?). Sign in again.",
                            code="no_account")
        tenant_id = str(claims.get("tid") or account.get("realm") or "")
        with self._lock:
            self._account, self._token_app, self._admin, self._expired = account, app, None, False
        try:
            admin = self._read_admin(tenant_id)
        except GraphError as err:
            self.sign_out()
            raise AuthError(f"You signed in, but your directory roles could not be read: {err.message}",
                            code=err.graph_code or "roles_unreadable") from err
        with self._lock:
            if self._account is account:
                self._admin, self._admin_read_at = admin, time.time()
        log.info("signed in: %s (%s), tenant %s", admin.upn, ", ".join(admin.role_names) or "no directory role",
                 tenant_id)
        return admin

    def recheck_roles(self, max_age_s: float, *, now: float | None = None) -> SignedInAdmin | None:
        """Read the admin's directory roles again when the last read is older than ``max_age_s``.

        A sign-in now outlives reloads, so a role taken away in Entra must not linger for its whole
        life: a new tab or a reload re-reads them at most every ``max_age_s``. Returns the admin (None
        when signed out). A failed read keeps the roles read before (Graph still refuses a change the
        token may not make); a session that can no longer get a token ends (SessionExpired).
        """
        with self._lock:
            admin, read_at = self._admin, self._admin_read_at
        if admin is None or self._expired:
            return None
        if (time.time() if now is None else now) - read_at < max_age_s:
            return admin
        try:
            fresh = self._read_admin(admin.tenant_id)
        except GraphError as err:
            if isinstance(err, SessionExpired):
                return None
            log.info("directory roles could not be re-read (%s); keeping those read at sign-in",
                     err.graph_code or err.reason)
            return admin
        with self._lock:
            if self._admin is admin:
                self._admin, self._admin_read_at = fresh, time.time()
        if fresh.role_names != admin.role_names:
            log.info("directory roles changed for %s: %s", fresh.upn, ", ".join(fresh.role_names) or "none")
        return fresh

    def update_roles(self, admin: SignedInAdmin) -> None:
        """Keep the admin as Graph described them just now (roles re-read at the moment of acting), so a role
        lost mid-session makes this session read-only at once. Another person's record is ignored."""
        with self._lock:
            if self._admin is not None and self._admin.user_id == admin.user_id:
                self._admin, self._admin_read_at = admin, time.time()

    def _read_admin(self, tenant_id: str) -> SignedInAdmin:
        # Never called with self._lock held: the gateway asks credential() for a token from its loop thread.
        with GraphGateway(self.config.graph_url, self.credential(), options=self.config.gateway_options) as gateway:
            return read_signed_in_admin(gateway, tenant_id)

    def _error(self, result: Mapping[str, Any]) -> AuthError:
        """The AuthError for an MSAL error result, with the fix where the cause is known (see sign_in_error)."""
        error = str(result.get("error") or "error")
        aadsts = _aadsts(result)
        detail = _first_line(str(result.get("error_description") or error))
        code = f"AADSTS{aadsts}" if aadsts else error
        if aadsts == 70000 and "'code'" in detail:
            return FlowExpired(code=code)
        if aadsts in (65001, 65004) and error == "access_denied":
            return SignInCancelled(code="access_denied")
        if is_known_sign_in_code(code):
            return self.error_for(code)
        # A token endpoint's answer (server to server, never a URL anyone can craft): its own words help.
        return AuthError(f"Sign-in failed: {detail}", code=code)

    def error_for(self, code: str) -> AuthError:
        """:func:`~lib.auth.errors.sign_in_error` filled with this session's configuration."""
        return sign_in_error(code, client_id=self.config.client_id, redirect_uri=self.config.redirect_uri,
                             authority=self.config.authority)

    # ------------------------------------------------------------------ tokens for Graph

    def credential(self) -> SessionCredential:
        """A credential for :class:`lib.graph.GraphGateway` backed by this session's token cache."""
        return SessionCredential(self)

    def _token(self, scopes: tuple[str, ...], claims: str | None) -> AccessToken:
        with self._lock:
            account, app, expired = self._account, self._token_app, self._expired
        if account is None or app is None or expired:
            raise SessionExpired(code="signed_out" if not expired else "expired")
        try:
            result = app.acquire_token_silent_with_error(list(scopes or self.config.scopes), account=account,
                                                         claims_challenge=claims)
        except requests.RequestException as exc:
            raise TokenRefreshFailed(f"Cannot reach the sign-in service at {self.config.authority} to refresh "
                                     "the token. Try again.", code="unreachable") from exc
        if result and "access_token" in result:
            return AccessToken(result["access_token"], int(time.time()) + int(result.get("expires_in") or 0))
        error = str((result or {}).get("error") or "no_refresh_token")
        if error in ("invalid_grant", "interaction_required", "login_required", "consent_required",
                     "no_refresh_token", "invalid_client", "unauthorized_client"):
            with self._lock:
                if self._account is account:
                    self._expired = True
            log.info("session expired: silent token request failed (%s)", error)
            raise SessionExpired(code=error)
        detail = _first_line(str((result or {}).get("error_description") or error))
        raise TokenRefreshFailed(f"Token refresh failed: {detail}", code=error)

    # ------------------------------------------------------------------ sign-out

    def _forget_tokens(self) -> None:
        """Drop every account in this session's cache (a new sign-in replaces the old one)."""
        with self._lock:
            apps = [a for a in (self._app, self._public) if a is not None]
            self._account = self._token_app = None
            self._admin = None
            self._expired = False
        for app in apps:
            for account in app.get_accounts():
                app.remove_account(account)

    def sign_out(self) -> None:
        """Forget the admin and every token of this session (the cache is emptied and replaced)."""
        with self._lock:
            apps = [a for a in (self._app, self._public) if a is not None]
            was_signed_in = self._account is not None
            old_cache = self._cache
            self._cache = msal.SerializableTokenCache()
            self._app = self._public = self._token_app = None
            self._account = self._admin = None
            self._expired = False
            self._device_flow = None
            begun, self._begun = self._begun, None
            clients, self._http_clients = self._http_clients, []
        if begun is not None:
            self._pending.discard(begun[1])
        for app in apps:  # the old cache object may still be referenced: empty it of every token
            for account in app.get_accounts():
                app.remove_account(account)
        del old_cache
        for client in clients:
            client.close()
        if was_signed_in:
            log.info("signed out")

    def close(self) -> None:
        """Sign out and release the HTTP connections (when the Streamlit session ends)."""
        self.sign_out()

    def hand_off(self) -> None:
        """Release the HTTP connections but leave the begun flow pending: its browser finishes it elsewhere."""
        with self._lock:
            self._begun = None
        self.close()

    def __repr__(self) -> str:
        admin = self.admin
        who = admin.upn if admin else ("expired" if self.expired else "anonymous")
        return f"AuthSession({self.config.client_id!r}, {who})"


class SessionCredential:
    """``get_token(*scopes) -> AccessToken`` from one AuthSession's cache, refreshing silently.

    Raises :class:`SessionExpired` when no token can be had without the person (signed out, refresh
    token expired or revoked) and :class:`TokenRefreshFailed` for other trouble (both are also
    ``lib.graph.CredentialError``, so they cross the gateway unchanged).
    """

    def __init__(self, session: AuthSession) -> None:
        self._session = session

    def get_token(self, *scopes: str, claims: str | None = None, **kwargs: Any) -> AccessToken:
        return self._session._token(tuple(scopes), claims)

    def __repr__(self) -> str:
        return f"SessionCredential({self._session!r})"


def app_only_credential(config: AuthConfig) -> MsalClientCredential:
    """Client credentials for the unattended CLI (``config.client_secret`` required): lib.graph's credential."""
    if not config.client_secret:
        raise ConfigurationError("App-only access needs a client secret: set MFA_CLIENT_SECRET.")
    return MsalClientCredential(
        config.client_id, config.client_secret, config.authority, ca_cert=config.ca_cert,
        instance_discovery=instance_discovery_for(config.authority),
    )
