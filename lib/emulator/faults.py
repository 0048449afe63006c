"""Injected failures: ``config.fault_rate`` of requests and of ``$batch`` items fail, from a seeded RNG.

What can happen, and when relative to a write (read this before changing the order in graph_api):

- ``500 generalException``, ``503 serviceNotAvailable`` (with ``Retry-After``) and ``504 gatewayTimeout``
  are drawn BEFORE the request (or batch item) runs: a failed PATCH changed nothing.
- ``DROP_BEFORE`` (whole HTTP requests only): the connection is cut before the request runs; nothing
  was applied, the client sees a transport error.
- ``DROP_AFTER`` (whole HTTP requests only, ``applied_share`` of the drops): the request RAN — a PATCH
  or every item of a ``$batch`` was applied — and then the response was lost. This is the case a
  journaling client must reconcile by reading the state back.

Hostile answers, as a proxy, a gateway or a broken service gives them (whole HTTP requests only,
chosen through ``config.fault_kinds``; never in the default mix):

- ``TRUNCATED``: the request RAN, then its JSON body arrives cut in half (a complete HTTP message
  whose ``Content-Length`` matches the cut body, so only the JSON is broken).
- ``HTML_502``: a proxy's ``502 Bad Gateway`` HTML page; the request never reached Graph.
- ``WRONG_CONTENT_TYPE``: ``200`` with a ``text/html`` page (a proxy's sign-in page); nothing ran.
- ``ERROR_200``: ``200`` with a JSON Graph error body instead of the answer; nothing ran.
- ``BATCH_MISSING`` (``$batch`` only): every item RAN, and the answer leaves out the second half of
  the responses (at least one), so the client cannot tell how those items ended without reading back.

``config.fault_kinds`` (names: :data:`KIND_NAMES`) limits the draw to those kinds, evenly weighted;
``config.fault_paths`` to requests whose path (after ``/v1.0`` or ``/beta``) starts with one of its
prefixes; ``config.fault_on`` to ``reads`` or ``writes`` (a PATCH, or a ``$batch`` carrying one).
With ``fault_rate`` 1.0 this makes a fault hit exactly the requests a test means. Inside a
``$batch`` only the 5xx kinds exist (an item has no connection or content type of its own); items
draw them at ``fault_rate`` whatever ``fault_paths`` and ``fault_on`` say, so a test that aims a
hostile kind alone leaves every item alone.

The same RNG shuffles ``$batch`` responses, so a run with a given seed and request order repeats.
"""

from __future__ import annotations

import enum
import random
import threading

from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.state import EmulatorState
from lib.emulator.throttle import format_retry_after

DEFAULT_APPLIED_SHARE = 0.25
"""Share of dropped connections that happen after the request was applied."""


class Fault(enum.Enum):
    ERROR_500 = "500"
    ERROR_503 = "503"
    ERROR_504 = "504"
    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"
    TRUNCATED = "truncated"
    HTML_502 = "html_502"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    ERROR_200 = "error_200"
    BATCH_MISSING = "batch_missing"


DROP = "drop"
"""The kind name of a dropped connection (before or after the request ran, by ``applied_share``)."""
KIND_NAMES: tuple[str, ...] = ("500", "503", "504", DROP, "truncated", "html_502", "wrong_content_type",
                               "error_200", "batch_missing")
"""What ``config.fault_kinds`` may name."""
HOSTILE = frozenset({Fault.TRUNCATED, Fault.HTML_502, Fault.WRONG_CONTENT_TYPE, Fault.ERROR_200,
                     Fault.BATCH_MISSING})
"""Faults answered with something other than a Graph error (graph_api renders them)."""
APPLIED_FIRST = frozenset({Fault.DROP_AFTER, Fault.TRUNCATED, Fault.BATCH_MISSING})
"""Faults that let the request run before they spoil its answer."""
FAULT_ON = ("any", "reads", "writes")


_REQUEST_FAULTS = ((Fault.ERROR_500, 0.3), (Fault.ERROR_503, 0.3), (Fault.ERROR_504, 0.2), (None, 0.2))
"""Whole-request fault mix; None stands for a dropped connection (before or after, see above)."""
_ITEM_FAULTS = ((Fault.ERROR_500, 0.4), (Fault.ERROR_503, 0.35), (Fault.ERROR_504, 0.25))

SERVICE_UNAVAILABLE_RETRY_S = 2.0
"""Unscaled Retry-After of an injected 503."""


class FaultInjector:
    """Draws faults for one emulator; reseeds itself when ``config.seed`` changes."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._seed = state.config.seed
        self._rng = random.Random(self._seed)
        self._lock = threading.Lock()
        self.applied_share = DEFAULT_APPLIED_SHARE

    def _rng_now(self) -> random.Random:
        if self._state.config.seed != self._seed:
            self._seed = self._state.config.seed
            self._rng = random.Random(self._seed)
        return self._rng

    @staticmethod
    def _pick(rng: random.Random, mix: tuple) -> Fault | None:
        roll = rng.random()
        acc = 0.0
        for fault, weight in mix:
            acc += weight
            if roll < acc:
                return fault
        return mix[-1][0]

    def _targets(self, path: str, write: bool) -> bool:
        """Whether ``config.fault_paths`` and ``config.fault_on`` let a fault hit this request."""
        config = self._state.config
        if (config.fault_on == "reads" and write) or (config.fault_on == "writes" and not write):
            return False
        return config.fault_paths is None or any(path.startswith(prefix) for prefix in config.fault_paths)

    def draw_request(self, path: str = "/", write: bool = False) -> Fault | None:
        """The fault of a whole HTTP request to ``path`` (relative to the version root), or None."""
        config = self._state.config
        rate = config.fault_rate
        if rate <= 0.0 or not self._targets(path, write):
            return None
        kinds = config.fault_kinds
        if kinds is not None:
            kinds = tuple(k for k in kinds if k != "batch_missing" or path.endswith("/$batch"))
            if not kinds:
                return None
        with self._lock:
            rng = self._rng_now()
            if rng.random() >= rate:
                return None
            if kinds is None:
                fault = self._pick(rng, _REQUEST_FAULTS)
            else:
                kind = kinds[int(rng.random() * len(kinds)) % len(kinds)]
                fault = None if kind == DROP else Fault(kind)
            if fault is None:
                fault = Fault.DROP_AFTER if rng.random() < self.applied_share else Fault.DROP_BEFORE
            return fault

    def draw_item(self) -> Fault | None:
        """The fault of one ``$batch`` item (never a drop: the batch's connection is shared)."""
        config = self._state.config
        rate = config.fault_rate
        if rate <= 0.0:
            return None
        mix: tuple = _ITEM_FAULTS
        if config.fault_kinds is not None:
            mix = tuple((f, w) for f, w in _ITEM_FAULTS if f.value in config.fault_kinds)
            if not mix:
                return None
            total = sum(w for _, w in mix)
            mix = tuple((f, w / total) for f, w in mix)
        with self._lock:
            rng = self._rng_now()
            if rng.random() >= rate:
                return None
            return self._pick(rng, mix)

    def shuffle(self, items: list) -> None:
        """Shuffle in place (``$batch`` responses come in any order)."""
        with self._lock:
            self._rng_now().shuffle(items)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)


def fault_error(fault: Fault, time_scale: float) -> EmulatedGraphError:
    """The Graph error an injected 5xx answers with."""
    if fault is Fault.ERROR_500:
        return EmulatedGraphError(500, "generalException", "General exception while processing.")
    if fault is Fault.ERROR_503:
        retry = format_retry_after(SERVICE_UNAVAILABLE_RETRY_S * time_scale, time_scale)
        return EmulatedGraphError(503, "serviceNotAvailable",
                          "The service is temporarily unavailable. Please retry later.",
                          {"Retry-After": retry})
    if fault is Fault.ERROR_504:
        return EmulatedGraphError(504, "gatewayTimeout",
                          "The gateway did not receive a response from the service in time.")
    raise ValueError(f"{fault} is not an error response")


PROXY_502_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                  "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
"""What nginx in front of a service answers when the service behind it does not."""
PROXY_SIGN_IN_PAGE = ("<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n"
                      "<body><h1>Sign in to continue</h1><form method=\"post\" action=\"/login\">"
                      "<input name=\"user\"></form></body></html>\n")
"""A web proxy's own sign-in page, served with 200 in place of the answer."""


def error_200_body(request_id: str) -> dict:
    """A Graph error body, as some gateways pass it through with a 200 status."""
    return {"error": {"code": "generalException", "message": "An error occurred while processing this request.",
                      "innerError": {"request-id": request_id, "client-request-id": request_id}}}


def truncated(data: bytes) -> bytes:
    """The first half of a JSON body (at least one byte, never the whole of it)."""
    data = data or b"{}"
    return data[: max(1, len(data) // 2)]


def without_second_half(body: dict) -> dict:
    """A ``$batch`` answer missing the second half of its responses (at least one)."""
    responses = list(body.get("responses") or [])
    keep = len(responses) // 2 if len(responses) > 1 else 0
    return {**body, "responses": responses[:keep]}


def get_faults(state: EmulatorState) -> FaultInjector:
    """The emulator's injector, created on first use in ``state.extras['faults']``."""
    faults = state.extras.get("faults")
    if faults is None:
        faults = state.extras["faults"] = FaultInjector(state)
    return faults
