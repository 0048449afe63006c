"""Take a snapshot: read the tenant through Graph into the store (the previous one stays current on failure)."""

from __future__ import annotations

from lib.console.workspace import Workspace
from lib.directory.refresh import SIGN_IN_PAGES_PER_SNAPSHOT, RefreshResult, refresh_snapshot
from lib.directory.snapshot import PhaseCallback
from lib.graph import CancelToken


def take_snapshot(ws: Workspace, *, mode: str, on_phase: PhaseCallback | None = None,
                  cancel: CancelToken | None = None, all_sign_ins: bool = False) -> RefreshResult:
    """Read users, registration and per-user MFA state now, then the sign-in evidence since the last read
    (all of it with ``all_sign_ins``, as a scheduled CLI run may; else a snapshot's share); ``mode`` is
    recorded with the tenant."""
    pages = None if all_sign_ins else SIGN_IN_PAGES_PER_SNAPSHOT
    return refresh_snapshot(ws.store, ws.require_gateway(), mode=mode, on_phase=on_phase, cancel=cancel,
                            clock=ws.clock, sign_in_pages=pages)
