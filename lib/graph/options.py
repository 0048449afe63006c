"""Knobs of the gateway: retry policy, concurrency, timeouts. Validated when built."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lib.graph.credentials import GRAPH_DEFAULT_SCOPE

__all__ = ["GatewayOptions", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests and failed ``$batch`` items are retried.

    - ``max_attempts``: sends of one item (or one plain request) that may end in a 5xx or a
      transport failure; after that its result is a failure carrying the last status and message.
    - ``max_throttled``: 429 answers one item may get before it fails as ``Throttled``. Counted apart
      from ``max_attempts`` because a 429 is "come back later", not a fault.
    - 5xx without ``Retry-After`` waits ``backoff_base_s * 2**(n-1)`` (capped at ``backoff_max_s``),
      with "equal jitter" (half fixed, half random); a ``Retry-After`` is honoured when present,
      capped at ``max_retry_after_s``.
    """

    max_attempts: int = 8
    max_throttled: int = 50
    backoff_base_s: float = 0.25
    backoff_max_s: float = 10.0
    max_retry_after_s: float = 900.0
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_throttled < 0:
            raise ValueError(f"max_throttled must be >= 0, got {self.max_throttled}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff times must be >= 0")
        if self.max_retry_after_s <= 0:
            raise ValueError("max_retry_after_s must be > 0")
        if any(not 500 <= s <= 599 for s in self.retry_statuses):
            raise ValueError("retry_statuses must be 5xx codes (429 is always retried), got "
                             f"{sorted(self.retry_statuses)}")

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, failures - 1)))
        r = (rng or random).random()
        return cap / 2 + r * cap / 2

    def honour(self, retry_after: float) -> float:
        """A server's ``Retry-After`` in seconds, clamped to ``[0, max_retry_after_s]``."""
        return min(max(0.0, retry_after), self.max_retry_after_s)


@dataclass(frozen=True)
class GatewayOptions:
    """Options of a :class:`~lib.graph.gateway.GraphGateway`.

    ``max_concurrency`` bounds requests in flight per throttle class (``$batch`` POSTs and page
    GETs); with ``adaptive`` the executor halves it on 429 and grows it back one step per clean
    round, never above the bound. ``page_size`` is the ``$top`` sent when listing.
    """

    max_concurrency: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    adaptive: bool = True
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    page_size: int = 999
    scopes: tuple[str, ...] = (GRAPH_DEFAULT_SCOPE,)
    http2: bool = True
    trust_env: bool = True
    verify: bool | str = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= 256:
            raise ValueError(f"max_concurrency must be between 1 and 256, got {self.max_concurrency}")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be > 0")
        if not 1 <= self.page_size <= 999:
            raise ValueError(f"page_size must be between 1 and 999, got {self.page_size}")
        if not self.scopes or any(not s for s in self.scopes):
            raise ValueError("scopes must be a non-empty tuple of non-empty strings")
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError("retry must be a RetryPolicy")
