"""Injected failures: ``config.fault_rate`` of requests and of ``$batch`` items fail, from a seeded RNG.

What can happen, and when relative to a write (read this before changing the order in graph_api):

- ``500 generalException``, ``503 serviceNotAvailable`` (with ``Retry-After``) and ``504 gatewayTimeout``
  are drawn BEFORE the request (or batch item) runs: a failed PATCH changed nothing.
- ``DROP_BEFORE`` (whole HTTP requests only): the connection is cut before the request runs; nothing
  was applied, the client sees a transport error.
- ``DROP_AFTER`` (whole HTTP requests only, ``applied_share`` of the drops): the request RAN — a PATCH
  or every item of a ``$batch`` was applied — and then the response was lost. This is the case a
  journaling client must reconcile by reading the state back.

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

    def draw_request(self) -> Fault | None:
        """The fault of a whole HTTP request, or None (the common case)."""
        rate = self._state.config.fault_rate
        if rate <= 0.0:
            return None
        with self._lock:
            rng = self._rng_now()
            if rng.random() >= rate:
                return None
            fault = self._pick(rng, _REQUEST_FAULTS)
            if fault is None:
                fault = Fault.DROP_AFTER if rng.random() < self.applied_share else Fault.DROP_BEFORE
            return fault

    def draw_item(self) -> Fault | None:
        """The fault of one ``$batch`` item (never a drop: the batch's connection is shared)."""
        rate = self._state.config.fault_rate
        if rate <= 0.0:
            return None
        with self._lock:
            rng = self._rng_now()
            if rng.random() >= rate:
                return None
            return self._pick(rng, _ITEM_FAULTS)

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


def get_faults(state: EmulatorState) -> FaultInjector:
    """The emulator's injector, created on first use in ``state.extras['faults']``."""
    faults = state.extras.get("faults")
    if faults is None:
        faults = state.extras["faults"] = FaultInjector(state)
    return faults
