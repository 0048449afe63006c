"""Interactive sign-in as two plain HTTP requests of one browser, so the browser gets a session cookie.

A Streamlit script cannot set a cookie, and an HttpOnly one not at all, so sign-in happens next to
the app in the same server (``lib.ui.sign_in_routes`` wires it in):

1. ``begin``: the sign-in link. A fresh MSAL flow (PKCE) is parked under its ``state``, bound to a
   random value the browser receives in an HttpOnly cookie (:data:`BINDING_COOKIE`), together with
   the page the browser asked for. The browser is sent to the identity platform.
2. ``finish``: the identity platform's redirect back. The flow is claimed with the state *and* the
   browser's binding (a callback URL opened in any other browser finds nothing), the code is redeemed
   into a new private token cache, the admin's roles are read, and the session is kept in
   :class:`~lib.auth.browser_sessions.BrowserSessions`; the browser receives only its signed id.

Failures come back as an error *code*, which the sign-in page turns into fixed text
(:func:`~lib.auth.errors.sign_in_error`): nothing from the URL is ever shown.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.auth.browser_sessions import BINDING_COOKIE, BrowserSessions, default_sessions
from lib.auth.errors import AuthError
from lib.auth.pending import PendingFlows, default_pending
from lib.auth.session import AuthConfig, AuthSession, _single_values

__all__ = ["BeganSignIn", "FinishedSignIn", "WebSignIn", "safe_landing"]

log = logging.getLogger(__name__)

_LANDING = re.compile(r"^/[A-Za-z0-9_-]{0,64}$")
_CODE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
"""An error code that may travel in the URL back to the sign-in page (an AADSTS number, an OAuth word)."""


def safe_landing(path: str | None) -> str:
    """``path`` if it is one of this app's own page paths (``/`` or ``/users``…), else ``/``.

    Never a scheme, a host, ``//`` or a query: the landing page is not an open redirect.

    >>> safe_landing("/users"), safe_landing("//evil.example"), safe_landing("https://x/"), safe_landing(None)
    ('/users', '/', '/', '/')
    """
    return path if isinstance(path, str) and _LANDING.match(path) else "/"


@dataclass(frozen=True)
class BeganSignIn:
    auth_uri: str
    """Where to send the browser: the identity platform's authorize page."""
    binding_cookie: str
    """The signed binding to set as :data:`BINDING_COOKIE` (the same one again when the browser had one)."""


@dataclass(frozen=True)
class FinishedSignIn:
    landing: str
    """The path to send the browser to."""
    session_cookie: str | None = None
    """The signed session id to set, when sign-in succeeded."""
    error_code: str | None = None
    """Why it failed (an AADSTS number, an OAuth error or the console's own reason), else None."""


class WebSignIn:
    """``begin`` and ``finish`` of the browser sign-in. Blocking (MSAL and Graph): call from a worker thread."""

    def __init__(self, config: AuthConfig, *, sessions: BrowserSessions | None = None,
                 pending: PendingFlows | None = None,
                 new_session: Callable[[AuthConfig, PendingFlows], AuthSession] | None = None) -> None:
        self.config = config
        self.sessions = sessions if sessions is not None else default_sessions()
        self.pending = pending if pending is not None else default_pending()
        self._new_session = new_session or (lambda cfg, flows: AuthSession(cfg, pending=flows))

    def begin(self, landing: str | None, binding_cookie: str | None) -> BeganSignIn:
        """A new flow for this browser; raises AuthError when the identity platform cannot be used."""
        signer = self.sessions.signer
        binding = signer.verify(BINDING_COOKIE, binding_cookie) or secrets.token_urlsafe(32)
        auth = self._new_session(self.config, self.pending)
        try:
            url = auth.begin_sign_in(binding=binding, landing=safe_landing(landing))
        finally:
            auth.hand_off()
        return BeganSignIn(url, signer.sign(BINDING_COOKIE, binding))

    def finish(self, query_params: Mapping[str, Any], binding_cookie: str | None,
               session_cookie: str | None = None) -> FinishedSignIn:
        """Complete the flow this browser began; a success replaces the browser's previous session."""
        params = _single_values(query_params)
        binding = self.sessions.signer.verify(BINDING_COOKIE, binding_cookie)
        if binding is None:
            log.info("sign-in callback refused: this browser began no sign-in")
            return FinishedSignIn("/", error_code="flow_expired")
        auth = self._new_session(self.config, self.pending)
        try:
            auth.complete_sign_in(params, binding=binding)
        except AuthError as err:
            auth.close()
            code = err.code if _CODE.match(err.code) else "sign_in_failed"
            log.info("sign-in failed (%s)", code)
            return FinishedSignIn(auth.landing, error_code=code)
        self.sessions.end(session_cookie)
        return FinishedSignIn(auth.landing, session_cookie=self.sessions.open(auth))
