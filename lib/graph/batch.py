"""The ``$batch`` executor: many independent Graph requests, 20 per batch, each item retried on its own.

Graph's ``$batch`` answers ``200`` for the envelope while every item inside can be ``429`` (with its
own ``Retry-After``), ``5xx`` or ``4xx`` on its own (docs/graph.md). The executor therefore:

- groups work items by 20 for ONE API version, writing each item's URL relative to it (msgraph-core's
  ``BatchRequestItem`` keeps absolute URLs, which Graph rejects);
- runs batches concurrently up to the throttle class's limit, and retries **each failed item**:
  429 not before that item's ``Retry-After``, 500/502/503/504 with exponential backoff and jitter
  (or its ``Retry-After``); a failed envelope (dropped connection, transport error, 429/5xx on the
  POST itself, or a 2xx that is not Graph's JSON: cut off, an HTML page, an error body) re-queues all
  its items, and an item the answer left out is re-queued too; other 4xx are final;
- slows down when throttled: the longest ``Retry-After`` closes the gate of that throttle class for
  every batch, and the in-flight limit halves (growing back by one per clean round);
- reports a result for EVERY item (``ok``, ``failed`` or ``cancelled``), progress to a callback and
  each final result to ``on_result`` (both called on the loop thread: keep them cheap).

Cancellation (a :class:`CancelToken` or a ``threading.Event``) gives pending items a ``cancelled``
result at once; batches in flight finish and report what Graph answered.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import httpx

from lib.graph.answers import json_answer
from lib.graph.errors import (
    GraphError,
    MalformedResponse,
    OperationCancelled,
    error_from_exception,
    error_from_response,
    parse_retry_after,
)
from lib.graph.options import RetryPolicy
from lib.graph.stats import GraphStats

__all__ = [
    "MAX_BATCH_SIZE",
    "BatchExecutor",
    "BatchItem",
    "BatchReport",
    "CancelToken",
    "ItemResult",
    "Progress",
    "Throttle",
    "relative_url",
    "throttle_class",
]

log = logging.getLogger("lib.graph")

MAX_BATCH_SIZE = 20
VERSIONS = ("v1.0", "beta")
Outcome = Literal["ok", "failed", "cancelled"]


# --------------------------------------------------------------------------- public types

@dataclass(frozen=True)
class BatchItem:
    """One request to run inside a ``$batch``.

    ``url`` is relative to the API version root (``/users/{id}/authentication/requirements``);
    an absolute URL or one starting with the executor's version is made relative. ``key`` is the
    caller's identifier (unique within one run) and comes back on the result.
    """

    key: Hashable
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] | None = None


@dataclass(slots=True)
class ItemResult:
    """What became of one item. ``status``/``body`` are Graph's last answer for it; ``headers`` too,
    for failed items only (a 100k-item read keeps no per-item header dicts it never looks at)."""

    key: Hashable
    outcome: Outcome
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def code(self) -> str:
        """The failure's stable code (``throttled``, ``forbidden``…; see ``lib.graph.errors``), ``""`` if ok."""
        return self.error.code if self.error else ""

    @property
    def graph_code(self) -> str:
        """The code in Graph's own error body (``Request_ResourceNotFound``…), ``""`` if none."""
        return self.error.graph_code if self.error else ""

    @property
    def message(self) -> str:
        return self.error.message if self.error else ""


class Progress(NamedTuple):
    """``done`` counts final results (ok, failed or cancelled); ``eta_s`` is ``None`` until known."""

    done: int
    total: int
    failed: int
    retries: int
    rate_per_s: float
    eta_s: float | None


@dataclass
class BatchReport:
    """Every item's result, in input order, plus what the run cost."""

    results: list[ItemResult]
    cancelled: bool
    elapsed_s: float
    requests: int
    retries: int
    throttled: int
    abort_error: GraphError | None = None

    @property
    def by_key(self) -> dict[Hashable, ItemResult]:
        return {r.key: r for r in self.results}

    @property
    def succeeded(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == "ok"]

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def cancelled_items(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == "cancelled"]

    @property
    def items_per_s(self) -> float:
        return len(self.results) / self.elapsed_s if self.elapsed_s > 0 else 0.0


class CancelToken:
    """Thread-safe cancellation: ``cancel()`` from any thread wakes the executor at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a stopped loop: nothing left to wake
                log.debug("cancel callback failed", exc_info=True)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def is_set(self) -> bool:  # the threading.Event spelling
        return self._event.is_set()

    def add_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from the cancelling thread) on cancel; returns a remover."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock:
                        if callback in self._callbacks:
                            self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None


CancelLike = CancelToken | threading.Event


class BatchTransport(Protocol):
    """What the executor needs from the gateway: POST a ``$batch`` body and get the raw answer."""

    async def post_batch(self, version: str, payload: bytes) -> httpx.Response: ...

    def batch_url(self, version: str) -> str: ...


# --------------------------------------------------------------------------- helpers

def relative_url(url: str, version: str) -> str:
    """``url`` relative to the ``version`` root, with a leading slash, as ``$batch`` items need.

    Accepts ``users/x``, ``/users/x``, ``/v1.0/users/x`` and absolute URLs. Raises ValueError for a
    URL of the other API version (one batch, one version).
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    text = url.strip()
    if not text:
        raise ValueError("item url is empty")
    if "://" in text:
        parsed = httpx.URL(text)
        text = parsed.raw_path.decode("ascii")
    if not text.startswith("/"):
        text = "/" + text
    for other in VERSIONS:
        prefix = f"/{other}"
        if text == prefix or text.startswith(prefix + "/") or text.startswith(prefix + "?"):
            if other != version:
                raise ValueError(f"{url!r} is a {other} URL; this batch is {version} "
                                 "(one batch, one version)")
            text = text[len(prefix):] or "/"
            if not text.startswith("/"):
                text = "/" + text
    return text


PACED_CLASSES: dict[str, float] = {"conditional_access": 1.05}
"""Throttle classes whose requests are spaced by this many seconds, whatever Graph answers.

Conditional Access allows 1 request per second per tenant and its 429 carries no ``Retry-After``
(docs/graph.md), so backing off after a 429 would only earn more 429s: the client paces itself
(with a small margin over the second, as the server's clock is not ours)."""


def throttle_class(method: str, url: str) -> str:
    """The Graph throttle bucket a request draws from: ``conditional_access``, ``reports``, ``write`` or ``read``.

    Conditional Access is limited to 1 request per second per tenant; identity-and-access reports (the
    registration report, the sign-in log) have their own tiny limit (5 requests per 10 s); writes have their
    own budget (3,000 per 150 s); everything else shares the identity read bucket (docs/graph.md).
    """
    path = url.split("?", 1)[0].lower()
    if "/identity/conditionalaccess" in path:
        return "conditional_access"
    if path.startswith(("/reports", "/auditlogs")) or "/reports/" in path or "/auditlogs/" in path:
        return "reports"
    if method.upper() not in ("GET", "HEAD"):
        return "write"
    return "read"


class Throttle:
    """Per throttle class: a gate (nothing is sent before it) and an adaptive in-flight limit.

    Shared by every request of one gateway, so a 429 seen by the ``$batch`` executor also holds back
    plain requests of the same class, and the other way round.
    """

    def __init__(self, max_concurrency: int, adaptive: bool = True) -> None:
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self._gate: dict[str, float] = {}
        self._limit: dict[str, int] = {}
        self._clean: dict[str, int] = {}
        self._cut_until: dict[str, float] = {}
        self.inflight: dict[str, int] = {}
        self._waiters: set[asyncio.Event] = set()

    def subscribe(self, wake: asyncio.Event) -> None:
        """Wake ``wake`` whenever a slot frees up: concurrent runs share the in-flight limit."""
        self._waiters.add(wake)

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._waiters.discard(wake)

    def gate(self, cls: str) -> float:
        """Monotonic time before which nothing of ``cls`` may be sent."""
        return self._gate.get(cls, 0.0)

    def limit(self, cls: str) -> int:
        return self._limit.get(cls, self.max_concurrency)

    def pace(self, cls: str, interval: float, now: float | None = None) -> None:
        """A request of ``cls`` leaves now: nothing more of ``cls`` before ``interval`` seconds pass."""
        now = time.monotonic() if now is None else now
        self._gate[cls] = max(self.gate(cls), now + interval)

    def can_send(self, cls: str, now: float) -> bool:
        return self.gate(cls) <= now and self.inflight.get(cls, 0) < self.limit(cls)

    def acquire(self, cls: str) -> None:
        self.inflight[cls] = self.inflight.get(cls, 0) + 1

    def release(self, cls: str) -> None:
        self.inflight[cls] = max(0, self.inflight.get(cls, 0) - 1)
        for wake in self._waiters:
            wake.set()

    def throttled(self, cls: str, retry_after: float, now: float | None = None) -> None:
        """A 429 came back: close the gate for ``retry_after`` and (once per episode) halve the limit."""
        now = time.monotonic() if now is None else now
        until = now + retry_after
        if until > self.gate(cls):
            self._gate[cls] = until
        self._clean[cls] = 0
        if self.adaptive and now >= self._cut_until.get(cls, 0.0):
            self._limit[cls] = max(1, self.limit(cls) // 2)
            self._cut_until[cls] = self.gate(cls)

    def clean(self, cls: str) -> None:
        """A round without 429: after ``limit`` clean rounds, allow one more in flight."""
        if not self.adaptive or self.limit(cls) >= self.max_concurrency:
            return
        count = self._clean.get(cls, 0) + 1
        if count >= self.limit(cls):
            self._limit[cls] = self.limit(cls) + 1
            count = 0
        self._clean[cls] = count


# --------------------------------------------------------------------------- executor

class _Work:
    __slots__ = (
        "attempts",
        "body",
        "cls",
        "error",
        "failures",
        "headers",
        "index",
        "item",
        "status",
        "throttled",
        "url",
    )

    def __init__(self, index: int, item: BatchItem, url: str, cls: str) -> None:
        self.index = index
        self.item = item
        self.url = url
        self.cls = cls
        self.attempts = 0
        self.failures = 0
        self.throttled = 0
        self.status: int | None = None
        self.error: GraphError | None = None
        self.headers: dict[str, str] = {}
        self.body: Any = None

    def request(self, rid: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": rid, "method": self.item.method.upper(), "url": self.url}
        headers = dict(self.item.headers or {})
        if self.item.body is not None:
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
            entry["body"] = self.item.body
        if headers:
            entry["headers"] = headers
        return entry


ResultCallback = Callable[[ItemResult], Any]
ProgressCallback = Callable[[Progress], Any]


class BatchExecutor:
    """Runs work items through ``$batch`` on one API version. One instance per run.

    Must be awaited on the gateway's event loop (use ``GraphGateway.execute`` from sync code).
    """

    RATE_WINDOW_S = 5.0

    def __init__(
        self,
        transport: BatchTransport,
        *,
        version: str = "v1.0",
        retry: RetryPolicy | None = None,
        throttle: Throttle | None = None,
        stats: GraphStats | None = None,
        batch_size: int = MAX_BATCH_SIZE,
        max_concurrency: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
        self.transport = transport
        self.version = version
        self.retry = retry or RetryPolicy()
        self.throttle = throttle or Throttle(max_concurrency)
        self.stats = stats or GraphStats()
        self.batch_size = batch_size
        self.rng = rng or random.Random()

    async def run(
        self,
        items: Iterable[BatchItem],
        *,
        on_result: ResultCallback | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelLike | None = None,
    ) -> BatchReport:
        """Run every item; returns when each has a final result (or re-raises an ``on_result`` error)."""
        run = _Run(self, list(items), on_result, on_progress, cancel)
        return await run.execute()


class _Run:
    """The state of one executor run (all on the loop thread: no locks needed)."""

    IDLE_POLL_S = 0.25

    def __init__(
        self,
        ex: BatchExecutor,
        items: list[BatchItem],
        on_result: ResultCallback | None,
        on_progress: ProgressCallback | None,
        cancel: CancelLike | None,
    ) -> None:
        self.ex = ex
        self.on_result = on_result
        self.on_progress = on_progress
        self.cancel = cancel
        self.items = items
        self.total = len(items)
        self.results: list[ItemResult | None] = [None] * self.total
        self.ready: dict[str, deque[_Work]] = {}
        self.delayed: list[tuple[float, int, _Work]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = 0
        self.failed = 0
        self.retries = 0
        self.throttled = 0
        self.requests = 0
        self.seq = 0
        self.stopping = False
        self.abort_error: GraphError | None = None
        self.callback_error: BaseException | None = None
        self.completions: deque[tuple[float, int]] = deque()
        self.wake = asyncio.Event()
        seen: set[Hashable] = set()
        for index, item in enumerate(items):
            if not isinstance(item, BatchItem):
                raise TypeError(f"items must be BatchItem, got {type(item).__name__}")
            if item.key in seen:
                raise ValueError(f"duplicate item key {item.key!r}")
            seen.add(item.key)
            method = item.method.upper()
            if method not in ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"):
                raise ValueError(f"unsupported method {item.method!r} for item {item.key!r}")
            url = relative_url(item.url, ex.version)
            work = _Work(index, item, url, throttle_class(method, url))
            self.ready.setdefault(work.cls, deque()).append(work)

    # ---- lifecycle

    async def execute(self) -> BatchReport:
        started = time.monotonic()
        self.started = started
        loop = asyncio.get_running_loop()
        remove_cb = None
        if isinstance(self.cancel, CancelToken):
            remove_cb = self.cancel.add_callback(lambda: loop.call_soon_threadsafe(self.wake.set))
        self._progress()
        self.ex.throttle.subscribe(self.wake)
        try:
            await self._loop()
        except BaseException:
            for task in list(self.tasks):
                task.cancel()
            raise
        finally:
            self.ex.throttle.unsubscribe(self.wake)
            if remove_cb is not None:
                remove_cb()
        elapsed = time.monotonic() - started
        self._progress(final=True)
        if self.callback_error is not None:
            raise self.callback_error
        results = [r for r in self.results if r is not None]
        assert len(results) == self.total, "every item must have a result"
        return BatchReport(
            results=results,
            cancelled=self._cancel_requested() or self.abort_error is not None,
            elapsed_s=elapsed,
            requests=self.requests,
            retries=self.retries,
            throttled=self.throttled,
            abort_error=self.abort_error,
        )

    def _cancel_requested(self) -> bool:
        return bool(self.cancel is not None and self.cancel.is_set())

    async def _loop(self) -> None:
        throttle = self.ex.throttle
        while self.done < self.total:
            if not self.stopping and (self._cancel_requested() or self.abort_error or self.callback_error):
                self._stop_pending()
            now = time.monotonic()
            while self.delayed and self.delayed[0][0] <= now:
                _, _, work = heapq.heappop(self.delayed)
                self.ready.setdefault(work.cls, deque()).appendleft(work)
            if not self.stopping:
                for cls, queue in self.ready.items():
                    while queue and throttle.can_send(cls, now):
                        batch = [queue.popleft() for _ in range(min(self.ex.batch_size, len(queue)))]
                        throttle.acquire(cls)
                        task = asyncio.create_task(self._send(cls, batch))
                        self.tasks.add(task)
                        # released by a done callback: it runs even for a task cancelled before it started
                        task.add_done_callback(lambda _t, c=cls: throttle.release(c))
                        task.add_done_callback(self._task_done)
            if self.done >= self.total:
                break
            if not self.tasks and not self.delayed and not any(self.ready.values()):
                self._lost()
                break
            timeout = self._next_wakeup(now)
            self.wake.clear()
            waited = time.monotonic()
            try:
                if timeout is None:
                    await self.wake.wait()
                else:
                    await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                pass
            if not self.tasks:
                self.ex.stats.wait_seconds += time.monotonic() - waited
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _next_wakeup(self, now: float) -> float | None:
        candidates: list[float] = []
        if self.delayed:
            candidates.append(self.delayed[0][0] - now)
        throttle = self.ex.throttle
        if not self.stopping:
            for cls, queue in self.ready.items():
                if queue and throttle.gate(cls) > now:
                    candidates.append(throttle.gate(cls) - now)
        if self.cancel is not None and not isinstance(self.cancel, CancelToken) and not self.stopping:
            candidates.append(0.05)  # a plain threading.Event cannot wake us: poll it
        if not self.stopping and any(self.ready.values()):
            candidates.append(self.IDLE_POLL_S)  # belt and braces: never sleep unbounded with work queued
        if not candidates:
            return None
        return max(0.0, min(candidates))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("batch task failed unexpectedly", exc_info=task.exception())
            if self.abort_error is None:
                exc = task.exception()
                self.abort_error = GraphError(f"internal error in the batch executor: {exc!r}")
        self.wake.set()

    def _stop_pending(self) -> None:
        """Cancel what has not been sent: every queued and delayed item gets a 'cancelled' result."""
        self.stopping = True
        error = self.abort_error or OperationCancelled("cancelled before it was sent")
        pending: list[_Work] = [w for q in self.ready.values() for w in q]
        pending += [w for _, _, w in self.delayed]
        self.ready.clear()
        self.delayed.clear()
        for work in sorted(pending, key=lambda w: w.index):
            self._finish(work, "cancelled", error=work.error if work.attempts else error)

    def _lost(self) -> None:
        """Safety net: nothing queued or in flight yet results are missing (must never happen)."""
        error = GraphError("internal error: the item was lost by the batch executor")
        for index, result in enumerate(self.results):
            if result is None:
                log.error("batch executor lost item %d", index)
                self.results[index] = ItemResult(key=self.items[index].key, outcome="failed", error=error)
                self.done += 1
                self.failed += 1

    # ---- one batch

    async def _send(self, cls: str, works: list[_Work]) -> None:
        ex = self.ex
        stats = ex.stats
        try:
            by_id: dict[str, _Work] = {}
            requests = []
            for n, work in enumerate(works, start=1):
                rid = str(n)
                by_id[rid] = work
                work.attempts += 1
                requests.append(work.request(rid))
            payload = json.dumps({"requests": requests}, separators=(",", ":")).encode()
            self.requests += 1
            stats.batch_requests += 1
            stats.batch_items += len(works)
            url = ex.transport.batch_url(ex.version)
            try:
                response = await ex.transport.post_batch(ex.version, payload)
            except httpx.TransportError as exc:
                stats.faults += 1
                error = error_from_exception(exc, method="POST", url=url)
                for work in works:
                    self._retry(work, None, error, throttled=False)
                return
            except GraphError as exc:  # the credential failed: nothing can be sent
                if exc.retryable:  # a passing hiccup: these items wait and go again
                    for work in works:
                        self._retry(work, None, exc, throttled=False)
                else:
                    self._fatal(works, exc)
                return
            status = response.status_code
            if status == 429 or status in ex.retry.retry_statuses or status == 424:
                error = error_from_response(status, response.content, response.headers,
                                            method="POST", url=url)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    self._throttled(cls, retry_after)
                else:
                    stats.faults += 1
                for work in works:
                    self._retry(work, retry_after, error, throttled=status == 429)
                return
            if status >= 400:
                error = error_from_response(status, response.content, response.headers,
                                            method="POST", url=url)
                if status in (401, 403):
                    self._fatal(works, error)
                else:
                    for work in works:
                        work.status, work.error = status, error
                        self._finish(work, "failed", error=error)
                return
            try:
                data = json_answer(status, response.content, response.headers, url=url, what="the $batch answer")
                answers = data.get("responses") if isinstance(data, dict) else None
                if not isinstance(answers, list):
                    raise MalformedResponse("the $batch answer has no 'responses' list", status=status, url=url)
            except MalformedResponse as error:
                stats.faults += 1
                for work in works:
                    self._retry(work, None, error, throttled=False)
                return
            longest_retry_after: float | None = None
            saw_429 = False
            for answer in answers:
                if not isinstance(answer, dict):
                    continue
                work = by_id.pop(str(answer.get("id")), None)
                if work is None:
                    continue
                saw, ra = self._item_answer(work, answer)
                if saw:
                    saw_429 = True
                    if ra is not None and (longest_retry_after is None or ra > longest_retry_after):
                        longest_retry_after = ra
            for work in by_id.values():  # Graph left an item out: never drop it
                stats.faults += 1
                error = MalformedResponse(f"the $batch answer left this item out ({len(by_id)} of {len(works)} "
                                          "missing), so how it ended is unknown", status=status, url=url)
                self._retry(work, None, error, throttled=False)
            if saw_429:
                self._throttled(cls, longest_retry_after)
            else:
                ex.throttle.clean(cls)
        finally:
            self._progress()

    def _item_answer(self, work: _Work, answer: dict[str, Any]) -> tuple[bool, float | None]:
        """Handle one item's answer; returns (was it a 429, its Retry-After)."""
        ex = self.ex
        try:
            status = int(answer.get("status"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            status = 0
        headers = answer.get("headers") or {}
        if not isinstance(headers, dict):
            headers = {}
        headers = {str(k): str(v) for k, v in headers.items()}
        body = answer.get("body")
        work.status, work.headers, work.body = status, headers, body
        if 200 <= status < 300:
            work.error = None
            self._finish(work, "ok")
            return False, None
        item_url = f"{ex.transport.batch_url(ex.version).rsplit('/$batch', 1)[0]}{work.url}"
        if status == 0:
            ex.stats.faults += 1
            error: GraphError = MalformedResponse("the $batch answer has no valid status for this item",
                                                  url=item_url)
            self._retry(work, None, error, throttled=False)
            return False, None
        error = error_from_response(status, body, headers, method=work.item.method, url=item_url)
        retry_after = parse_retry_after(_get_header(headers, "Retry-After"))
        if status == 429:
            self._retry(work, retry_after, error, throttled=True)
            return True, retry_after
        if status in ex.retry.retry_statuses or status == 424:
            ex.stats.faults += 1
            self._retry(work, retry_after, error, throttled=False)
            return False, None
        work.error = error
        self._finish(work, "failed", error=error)
        return False, None

    # ---- bookkeeping

    def _throttled(self, cls: str, retry_after: float | None) -> None:
        retry = self.ex.retry
        wait = retry.honour(retry_after) if retry_after is not None else retry.backoff(1, self.ex.rng)
        self.ex.throttle.throttled(cls, wait)

    def _retry(self, work: _Work, retry_after: float | None, error: GraphError, *, throttled: bool) -> None:
        ex = self.ex
        work.error = error
        work.status = error.status
        if throttled:
            work.throttled += 1
            self.throttled += 1
            ex.stats.throttled += 1
            give_up = work.throttled > ex.retry.max_throttled
        else:
            work.failures += 1
            give_up = work.failures >= ex.retry.max_attempts
        if give_up:
            self._finish(work, "failed", error=error)
            return
        if self.stopping:
            self._finish(work, "cancelled", error=error)
            return
        if retry_after is not None:
            delay = ex.retry.honour(retry_after)
        else:
            delay = ex.retry.backoff(max(1, work.failures), ex.rng)
        self.retries += 1
        ex.stats.retries += 1
        self.seq += 1
        heapq.heappush(self.delayed, (time.monotonic() + delay, self.seq, work))

    def _fatal(self, works: list[_Work], error: GraphError) -> None:
        """The envelope failed in a way no retry fixes (401/403, no token): stop the whole run."""
        for work in works:
            work.status, work.error = error.status, error
            self._finish(work, "failed", error=error)
        if self.abort_error is None:
            self.abort_error = error

    def _finish(self, work: _Work, outcome: Outcome, error: GraphError | None = None) -> None:
        if self.results[work.index] is not None:
            return
        result = ItemResult(
            key=work.item.key,
            outcome=outcome,
            status=work.status,
            body=work.body,
            headers=work.headers if outcome != "ok" else {},
            attempts=work.attempts,
            error=error if outcome != "ok" else None,
        )
        self.results[work.index] = result
        self.done += 1
        if outcome == "failed":
            self.failed += 1
        if self.on_progress is not None:
            self.completions.append((time.monotonic(), 1))
        if self.on_result is not None and self.callback_error is None:
            try:
                maybe = self.on_result(result)
                if inspect.isawaitable(maybe):
                    task = asyncio.ensure_future(maybe)
                    task.add_done_callback(self._async_callback_done)
                    self.tasks.add(task)  # type: ignore[arg-type]
            except Exception as exc:  # the journal failed: stop sending, report after in-flight ends
                log.error("on_result callback failed; stopping the run", exc_info=True)
                self.callback_error = exc
                self.wake.set()

    def _async_callback_done(self, task: asyncio.Future[Any]) -> None:
        self.tasks.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None and self.callback_error is None:
            self.callback_error = task.exception()
        self.wake.set()

    def _progress(self, final: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        horizon = now - BatchExecutor.RATE_WINDOW_S
        while self.completions and self.completions[0][0] < horizon:
            self.completions.popleft()
        elapsed = now - self.started
        if elapsed <= 0 or self.done == 0:
            rate = 0.0
        elif elapsed < BatchExecutor.RATE_WINDOW_S:
            rate = self.done / elapsed
        else:
            rate = len(self.completions) / BatchExecutor.RATE_WINDOW_S
        remaining = self.total - self.done
        if remaining == 0:
            eta: float | None = 0.0
        elif rate > 0:
            eta = remaining / rate
        else:
            eta = None
        try:
            self.on_progress(Progress(self.done, self.total, self.failed, self.retries, rate, eta))
        except Exception:
            log.warning("progress callback failed", exc_info=True)


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    lname = name.lower()
    for key, value in headers.items():
        if key.lower() == lname:
            return value
    return None

