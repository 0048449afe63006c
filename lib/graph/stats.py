"""Counters a gateway keeps: what it sent, how often it retried, how long it waited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

__all__ = ["GraphStats", "RequestCount", "count_requests", "counted_request"]


@dataclass
class RequestCount:
    """HTTP requests sent by one part of the work, while other parts share the gateway."""

    requests: int = 0


_COUNTS: ContextVar[tuple[RequestCount, ...]] = ContextVar("graph_request_counts", default=())


@contextmanager
def count_requests() -> Iterator[RequestCount]:
    """Count the requests this thread's gateway calls send (their coroutines inherit the context, so
    requests sent for other threads at the same time are not counted)."""
    count = RequestCount()
    token = _COUNTS.set((*_COUNTS.get(), count))
    try:
        yield count
    finally:
        _COUNTS.reset(token)


def counted_request() -> None:
    """Called for each request put on the wire, in the context of the call that sent it."""
    for count in _COUNTS.get():
        count.requests += 1


@dataclass
class GraphStats:
    """Cumulative counters of one gateway (updated on its loop thread; read from anywhere).

    ``requests`` counts HTTP requests put on the wire (a ``$batch`` POST is one request);
    ``batch_items`` counts items sent inside batches (a retried item counts again);
    ``retries`` counts every re-send of a request or an item; ``throttled`` every 429 seen (whole
    request or item); ``faults`` every 5xx or transport failure seen; ``http_seconds`` the summed
    time spent waiting for answers (overlapping requests add up); ``wait_seconds`` the time the
    dispatcher held back for Retry-After or backoff.
    """

    requests: int = 0
    batch_requests: int = 0
    batch_items: int = 0
    retries: int = 0
    throttled: int = 0
    faults: int = 0
    http_seconds: float = 0.0
    wait_seconds: float = 0.0

    def snapshot(self) -> dict[str, float | int]:
        """A copy as a plain dict (seconds rounded to milliseconds)."""
        data = asdict(self)
        data["http_seconds"] = round(self.http_seconds, 3)
        data["wait_seconds"] = round(self.wait_seconds, 3)
        return data

    def reset(self) -> None:
        for name, value in asdict(GraphStats()).items():
            setattr(self, name, value)
