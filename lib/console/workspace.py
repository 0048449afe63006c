"""What every use case acts on, and as whom: one value the pages and the CLI build their own way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib.clock import Clock
from lib.errors import ConsoleError
from lib.store import Store


class NoGraphConnection(ConsoleError):
    """A use case that reads or changes the tenant was called without a Graph connection."""

    code = "no_graph_connection"
    default_message = "This needs a connection to Microsoft Graph: sign in again, or check the Connection page."


@dataclass(frozen=True)
class Workspace:
    """The store, the Graph gateway acting for ``actor``, and the tenant. ``gateway`` may be None for use
    cases that only read the store.

    Its clock is the store's (:attr:`lib.store.Store.clock`; in demo mode the demo tenant's), so what a use
    case stamps and what the store stamps can never come from two clocks. ``on_roles`` is told the signed-in
    admin as Graph describes them each time their roles are re-read (at the moment of acting), so a page's
    session drops a lost role at once instead of at sign-out."""

    store: Store
    gateway: Any
    tenant_id: str
    actor: Any
    on_roles: Callable[[Any], None] | None = None

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def require_gateway(self) -> Any:
        if self.gateway is None:
            raise NoGraphConnection()
        return self.gateway
