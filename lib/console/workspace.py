"""What every use case acts on, and as whom: one value the pages and the CLI build their own way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lib.directory.snapshot import utc_now
from lib.errors import ConsoleError
from lib.store import Store


class NoGraphConnection(ConsoleError):
    """A use case that reads or changes the tenant was called without a Graph connection."""

    code = "no_graph_connection"
    default_message = "This needs a connection to Microsoft Graph: sign in again, or check the Connection page."


@dataclass(frozen=True)
class Workspace:
    """The store, the Graph gateway acting for ``actor``, the tenant, and the clock ("now" in demo mode is
    the demo tenant's). ``gateway`` may be None for use cases that only read the store.

    ``on_roles`` is told the signed-in admin as Graph describes them each time their roles are re-read
    (at the moment of acting), so a page's session drops a lost role at once instead of at sign-out."""

    store: Store
    gateway: Any
    tenant_id: str
    actor: Any
    clock: Callable[[], datetime] = utc_now
    on_roles: Callable[[Any], None] | None = None

    def require_gateway(self) -> Any:
        if self.gateway is None:
            raise NoGraphConnection()
        return self.gateway
