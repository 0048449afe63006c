"""Signed-in sessions that outlive a Streamlit session: one per browser, kept on the server.

A reload, a new tab or a deep link opens a new Streamlit session, and Streamlit's own session state
dies with it. So a sign-in is kept here, process-wide, under a random id; the browser holds only that
id, signed, in an HttpOnly cookie (:data:`SESSION_COOKIE`). Every Streamlit session of that browser
finds the same :class:`~lib.auth.session.AuthSession` (one MSAL token cache, never sent anywhere), and
:meth:`BrowserSessions.end` signs it out for all of them at once.

Cookie values are ``<id>.<HMAC-SHA256 of purpose and id>`` under a secret made at process start: a
forged or altered value is refused without a lookup, and a value made for one purpose (the sign-in
binding) is no session id. The sessions die with the process (tokens are never written to disk), and
each lives at most ``lifetime`` seconds after sign-in (then the admin signs in again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.auth.session import AuthSession

__all__ = [
    "BINDING_COOKIE",
    "DEFAULT_LIFETIME",
    "SESSION_COOKIE",
    "BrowserSessions",
    "CookieSigner",
    "default_sessions",
]

SESSION_COOKIE = "mfa_console_session"
"""The browser's signed session id (HttpOnly, SameSite=Strict): all a browser ever holds of a sign-in."""
BINDING_COOKIE = "mfa_console_sign_in"
"""The signed random value that ties a pending sign-in to the browser that began it (HttpOnly, SameSite=Lax,
ten minutes): Lax, because the identity platform's redirect back is a cross-site top-level navigation."""
DEFAULT_LIFETIME = 12 * 3600.0
"""A working day: after this the admin signs in again, whatever the refresh token would allow."""
MAX_SESSIONS = 10_000


class CookieSigner:
    """``sign(purpose, value)`` → ``value.mac``; ``verify(purpose, signed)`` → value or None.

    >>> signer = CookieSigner(b"k" * 32)
    >>> signer.verify("session", signer.sign("session", "abc"))
    'abc'
    >>> signer.verify("binding", signer.sign("session", "abc")) is None
    True
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self._mac(purpose, value)}"

    def verify(self, purpose: str, signed: str | None) -> str | None:
        if not signed or not isinstance(signed, str) or len(signed) > 512:
            return None
        value, _, mac = signed.rpartition(".")
        if not value or not hmac.compare_digest(mac.encode(), self._mac(purpose, value).encode()):
            return None
        return value


@dataclass
class _Entry:
    auth: AuthSession
    expires_at: float


class BrowserSessions:
    """Signed session id → the :class:`AuthSession` a browser signed in with. Thread-safe, bounded.

    ``clock`` is ``time.time`` unless a test drives it.
    """

    def __init__(self, *, lifetime: float = DEFAULT_LIFETIME, clock: Callable[[], float] = time.time,
                 signer: CookieSigner | None = None, max_sessions: int = MAX_SESSIONS) -> None:
        if lifetime <= 0:
            raise ValueError(f"lifetime must be > 0 seconds, got {lifetime}")
        self.lifetime = float(lifetime)
        self.signer = signer or CookieSigner()
        self._clock = clock
        self._max = max_sessions
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()

    def open(self, auth: AuthSession) -> str:
        """Keep a signed-in ``auth``; returns the cookie value for its browser."""
        if not auth.signed_in:
            raise ValueError("only a signed-in session can be kept for a browser")
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session_id] = _Entry(auth, self._clock() + self.lifetime)
            dropped = []
            while len(self._sessions) > self._max:
                dropped.append(self._sessions.popitem(last=False)[1].auth)
        for old in dropped:
            old.sign_out()
        return self.signer.sign(SESSION_COOKIE, session_id)

    def resolve(self, cookie: str | None) -> AuthSession | None:
        """The signed-in session behind a browser's cookie; None when the cookie is forged, unknown,
        ended, expired (then it is signed out) or its admin is no longer signed in."""
        session_id = self.signer.verify(SESSION_COOKIE, cookie)
        if session_id is None:
            return None
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                return None
            if self._clock() < entry.expires_at and entry.auth.signed_in:
                return entry.auth
            del self._sessions[session_id]
        entry.auth.sign_out()
        return None

    def expires_at(self, cookie: str | None) -> float | None:
        """When the session behind ``cookie`` ends (``clock`` time), or None if there is none."""
        session_id = self.signer.verify(SESSION_COOKIE, cookie)
        with self._lock:
            entry = self._sessions.get(session_id or "")
            return entry.expires_at if entry else None

    def end(self, cookie: str | None) -> bool:
        """Sign the session behind ``cookie`` out, for every tab of its browser; False if there was none."""
        session_id = self.signer.verify(SESSION_COOKIE, cookie)
        if session_id is None:
            return False
        with self._lock:
            entry = self._sessions.pop(session_id, None)
        if entry is None:
            return False
        entry.auth.sign_out()
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def __bool__(self) -> bool:  # an empty registry is still a registry
        return True


_default: BrowserSessions | None = None
_default_lock = threading.Lock()


def default_sessions() -> BrowserSessions:
    """The process-wide registry the web routes and the pages share."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BrowserSessions()
        return _default
