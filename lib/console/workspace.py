"""What every use case acts on, and as whom: one value the pages and the CLI build their own way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lib.store import Store


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Workspace:
    """The store, the Graph gateway acting for ``actor``, the tenant, and the clock ("now" in demo mode is
    the demo tenant's). ``gateway`` may be None for use cases that only read the store."""

    store: Store
    gateway: Any
    tenant_id: str
    actor: Any
    clock: Callable[[], datetime] = utc_now

    def require_gateway(self) -> Any:
        if self.gateway is None:
            raise RuntimeError("this use case needs a Graph connection")
        return self.gateway
