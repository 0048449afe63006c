"""Graph- and identity-platform-shaped errors the emulator answers with.

Handlers raise these; the server turns them into the exact bodies Microsoft sends, so the
console's error handling is exercised on the real shapes (docs/graph.md, tests/fixtures/graph/).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class EmulatedGraphError(Exception):
    """A Graph error response: ``{"error": {"code", "message", "innerError": {...}}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str | None = None) -> dict:
        request_id = request_id or str(uuid.uuid4())
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": request_id,
                },
            }
        }


class IdentityError(Exception):
    """An OAuth 2.0 error from the token or authorize endpoints (``{"error", "error_description", …}``).

    ``aadsts`` is the AADSTS number Microsoft puts in front of the description and in ``error_codes``.
    """

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def body(self) -> dict:
        trace = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace} "
            f"Correlation ID: {trace} Timestamp: {now}",
            "error_codes": [self.aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": trace,
        }
