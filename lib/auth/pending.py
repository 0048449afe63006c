"""Server-side pending authorization-code flows, keyed by ``state`` and bound to one browser.

The redirect back from the sign-in page is a new request, so the flow that ``initiate_auth_code_flow``
made (PKCE verifier, nonce, state) cannot live in a Streamlit session. It waits here, process-wide:
single use, ``ttl`` seconds (10 minutes, as long as Entra's authorization codes live), thread-safe,
bounded. Only MSAL's flow dict is kept: never a token. A multi-replica deployment needs sticky
sessions (the callback must reach this process).

A flow started for a browser carries that browser's ``binding`` (a random value the browser holds in
a short-lived HttpOnly cookie): :meth:`PendingFlows.claim` hands it out only with the same binding, so
a callback URL opened in another browser finds nothing (login CSRF), and the browser that started it
can still finish. ``landing`` is where that browser asked to go (a deep link) once signed in.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_TTL", "MAX_PENDING", "ClaimedFlow", "PendingFlows", "default_pending"]

DEFAULT_TTL = 600.0
MAX_PENDING = 10_000
"""Beyond this many waiting flows the oldest is dropped, so anonymous clicks cannot exhaust memory."""


@dataclass(frozen=True)
class ClaimedFlow:
    """A flow taken out of the store by the browser that started it."""

    flow: dict[str, Any]
    landing: str
    """The path the browser asked for before signing in ("/" when none)."""


@dataclass(frozen=True)
class _Entry:
    expires_at: float
    flow: dict[str, Any]
    binding: str
    landing: str


class PendingFlows:
    """``state`` → MSAL auth-code flow dict, single use, expiring ``ttl`` seconds after ``put``.

    >>> now = [0.0]
    >>> flows = PendingFlows(ttl=600, clock=lambda: now[0])
    >>> flows.put({"state": "s1", "code_verifier": "v"})
    's1'
    >>> now[0] = 599.0
    >>> flows.pop("s1")["code_verifier"]
    'v'
    >>> flows.pop("s1") is None          # single use
    True
    """

    def __init__(self, ttl: float = DEFAULT_TTL, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_PENDING) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds, got {ttl}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.ttl = float(ttl)
        self._clock = clock
        self._max = max_entries
        self._lock = threading.Lock()
        self._flows: OrderedDict[str, _Entry] = OrderedDict()

    def put(self, flow: dict[str, Any], *, binding: str = "", landing: str = "/") -> str:
        """Keep ``flow`` under its ``state`` for the browser holding ``binding``; returns the state.

        A flow without a state, or carrying a token, is a ValueError.
        """
        state = flow.get("state") if isinstance(flow, dict) else None
        if not isinstance(state, str) or not state:
            raise ValueError("an auth-code flow must carry a non-empty 'state'")
        if any(key in flow for key in ("access_token", "refresh_token", "id_token")):
            raise ValueError("a pending flow must never carry a token")
        with self._lock:
            now = self._clock()
            self._purge(now)
            self._flows.pop(state, None)
            self._flows[state] = _Entry(now + self.ttl, dict(flow), binding, landing)
            while len(self._flows) > self._max:
                self._flows.popitem(last=False)
        return state

    def claim(self, state: str | None, binding: str = "") -> ClaimedFlow | None:
        """The flow waiting under ``state`` for the browser holding ``binding``, removed.

        None if unknown, already used or expired, and None (the flow left waiting for its own
        browser) when ``binding`` is not the one it was started with.
        """
        if not state:
            return None
        with self._lock:
            entry = self._flows.get(state)
            now = self._clock()
            if entry is None:
                return None
            if not hmac.compare_digest(entry.binding.encode(), (binding or "").encode()):
                return None
            del self._flows[state]
        if now >= entry.expires_at:
            return None
        return ClaimedFlow(entry.flow, entry.landing)

    def pop(self, state: str | None, binding: str = "") -> dict[str, Any] | None:
        """:meth:`claim`'s flow dict alone."""
        claimed = self.claim(state, binding)
        return claimed.flow if claimed else None

    def discard(self, state: str | None) -> None:
        """Forget ``state``'s flow, if any (a session that starts over)."""
        if state:
            with self._lock:
                self._flows.pop(state, None)

    def __contains__(self, state: object) -> bool:
        with self._lock:
            entry = self._flows.get(state) if isinstance(state, str) else None
            return entry is not None and self._clock() < entry.expires_at

    def __bool__(self) -> bool:  # an empty store is still a store (``pending or default`` must not swap it)
        return True

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._flows)

    def _purge(self, now: float) -> None:
        # Insertion order is expiry order (same ttl), so expired flows sit at the front.
        while self._flows:
            state, entry = next(iter(self._flows.items()))
            if entry.expires_at > now:
                break
            del self._flows[state]

    def __repr__(self) -> str:
        return f"PendingFlows(ttl={self.ttl:g}, pending={len(self)})"


_default: PendingFlows | None = None
_default_lock = threading.Lock()


def default_pending() -> PendingFlows:
    """The process-wide store every AuthSession uses unless given another."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PendingFlows()
        return _default
