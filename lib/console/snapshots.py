"""Take a snapshot: read the tenant through Graph into the store (the previous one stays current on failure)."""

from __future__ import annotations

from lib.console.workspace import Workspace
from lib.directory.refresh import RefreshResult, refresh_snapshot
from lib.directory.snapshot import PhaseCallback
from lib.graph import CancelToken


def take_snapshot(ws: Workspace, *, mode: str, on_phase: PhaseCallback | None = None,
                  cancel: CancelToken | None = None) -> RefreshResult:
    """Read users, registration and per-user MFA state now; ``mode`` is recorded with the tenant."""
    return refresh_snapshot(ws.store, ws.require_gateway(), mode=mode, on_phase=on_phase, cancel=cancel,
                            clock=ws.clock)
