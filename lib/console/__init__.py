"""The things a person does with the console, one function each: pages and the CLI both call these.

::

    from lib import console

    ws = console.Workspace(store, gateway, tenant_id, actor)      # where, through which Graph, as whom
    preview = console.preview_change(ws, frame, selected_ids, "enforced")
    preview = console.preview_csv(ws, frame, imported)
    preview = console.preview_wave_enforcement(ws, frame, wave_id)                # the registered, still Enabled
    preview = console.preview_wave_enforcement(ws, frame, wave_id, member_ids=ids)  # chosen members (stragglers)
    preview = console.preview_undo(ws, frame, operation_id)
    op_id = console.start_change(ws, preview, wave="Wave 3", label="…")
    console.resume(ws, op_id); console.cancel(ws, op_id)
    console.protect(ws, upn, reason="break-glass", owner="…"); console.unprotect(ws, [upn])
    console.advance_demo_clock(ws, demo, days=7)
    timeline = console.user_timeline(ws, user_id, waves=…)
    result = console.take_snapshot(ws, mode="demo")
    status = console.protection_status(ws)                   # CA availability, policies, campaign, summary

Each one checks what it must, re-reads what a stale snapshot could get wrong, and raises a ``lib`` error
whose message is safe to show. Every one that changes something checks the role at the moment of acting
(``lib.console.roles``): a signed-in admin's directory roles are re-read from Graph, before anything is
journaled or sent.
"""

from lib.console.changes import (
    preview_change,
    preview_csv,
    preview_undo,
    preview_wave_enforcement,
)
from lib.console.demo_clock import DemoClockError, advance_demo_clock
from lib.console.operations import cancel, resume, start_change
from lib.console.protection import protect, unprotect
from lib.console.protection_status import ProtectionStatus, protection_status
from lib.console.roles import RoleLost, RolesUnreadable, acting_writer
from lib.console.snapshots import take_snapshot
from lib.console.timeline import user_timeline
from lib.console.workspace import NoGraphConnection, Workspace

__all__ = [
    "DemoClockError",
    "NoGraphConnection",
    "ProtectionStatus",
    "RoleLost",
    "RolesUnreadable",
    "Workspace",
    "acting_writer",
    "advance_demo_clock",
    "cancel",
    "preview_change",
    "preview_csv",
    "preview_undo",
    "preview_wave_enforcement",
    "protect",
    "protection_status",
    "resume",
    "start_change",
    "take_snapshot",
    "unprotect",
    "user_timeline",
]
