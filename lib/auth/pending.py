"""Server-side pending authorization-code flows, keyed by ``state``.

The redirect back from the sign-in page opens a *new* Streamlit session, so the flow that
``initiate_auth_code_flow`` made (PKCE verifier, nonce, state) cannot live in ``st.session_state``.
It waits here, process-wide: single use (``pop`` removes it), ``ttl`` seconds (10 minutes, as long
as Entra's authorization codes live), thread-safe, bounded. Only MSAL's flow dict is kept: never a
token. A multi-replica deployment needs sticky sessions (the callback must reach this process).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_TTL", "MAX_PENDING", "PendingFlows", "default_pending"]

DEFAULT_TTL = 600.0
MAX_PENDING = 10_000
"""Beyond this many waiting flows the oldest is dropped, so anonymous clicks cannot exhaust memory."""


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
        self._flows: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def put(self, flow: dict[str, Any]) -> str:
        """Keep ``flow`` under its ``state``; returns the state. A flow without one is a ValueError."""
        state = flow.get("state") if isinstance(flow, dict) else None
        if not isinstance(state, str) or not state:
            raise ValueError("an auth-code flow must carry a non-empty 'state'")
        if any(key in flow for key in ("access_token", "refresh_token", "id_token")):
            raise ValueError("a pending flow must never carry a token")
        with self._lock:
            now = self._clock()
            self._purge(now)
            self._flows.pop(state, None)
            self._flows[state] = (now + self.ttl, dict(flow))
            while len(self._flows) > self._max:
                self._flows.popitem(last=False)
        return state

    def pop(self, state: str | None) -> dict[str, Any] | None:
        """The flow waiting under ``state``, removed; None if unknown, already used or expired."""
        if not state:
            return None
        with self._lock:
            entry = self._flows.pop(state, None)
            now = self._clock()
        if entry is None or now >= entry[0]:
            return None
        return entry[1]

    def discard(self, state: str | None) -> None:
        """Forget ``state``'s flow, if any (a session that starts over)."""
        if state:
            with self._lock:
                self._flows.pop(state, None)

    def __contains__(self, state: object) -> bool:
        with self._lock:
            entry = self._flows.get(state) if isinstance(state, str) else None
            return entry is not None and self._clock() < entry[0]

    def __bool__(self) -> bool:  # an empty store is still a store (``pending or default`` must not swap it)
        return True

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._flows)

    def _purge(self, now: float) -> None:
        # Insertion order is expiry order (same ttl), so expired flows sit at the front.
        while self._flows:
            state, (expires_at, _) = next(iter(self._flows.items()))
            if expires_at > now:
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
