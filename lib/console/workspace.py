"""What every use case acts on, and as whom: one value the pages and the CLI build their own way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lib.directory.snapshot import utc_now
from lib.store import Store


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
