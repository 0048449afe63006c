"""What every use case acts on, and as whom: one value the pages and the CLI build their own way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.clock import Clock
from lib.store import Store


@dataclass(frozen=True)
class Workspace:
    """The store, the Graph gateway acting for ``actor``, and the tenant. ``gateway`` may be None for use
    cases that only read the store.

    Its clock is the store's (:attr:`lib.store.Store.clock`; in demo mode the demo tenant's), so what a use
    case stamps and what the store stamps can never come from two clocks."""

    store: Store
    gateway: Any
    tenant_id: str
    actor: Any

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def require_gateway(self) -> Any:
        if self.gateway is None:
            raise RuntimeError("this use case needs a Graph connection")
        return self.gateway
