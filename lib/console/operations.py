"""Start, resume and cancel an operation: the role is checked here, at the moment of acting.

Each re-reads a signed-in admin's directory roles from Graph first (:func:`lib.console.roles.acting_writer`)
and hands the engine the admin as they are now, so a role lost mid-session stops new changes.
"""

from __future__ import annotations

from lib import rollout
from lib.console.roles import acting_writer
from lib.console.workspace import Workspace


def operation_of_tenant(ws: Workspace, operation_id: int) -> rollout.Operation:
    """The operation, refused (as not found) when it belongs to another tenant than ``ws``'s."""
    operation = rollout.get_operation(ws.store, operation_id)
    if operation.tenant_id != ws.tenant_id:
        raise rollout.OperationNotFound(f"operation {operation_id} belongs to tenant {operation.tenant_id}, "
                                        f"not to this tenant ({ws.tenant_id})")
    return operation


def start_change(ws: Workspace, preview: rollout.Plan, *, wave: str | None = None, label: str | None = None,
                 options: rollout.ExecuteOptions | None = None) -> int:
    """Journal a confirmed preview and apply it in the background; returns the operation id."""
    actor = acting_writer(ws)
    return rollout.start_operation(ws.store, ws.require_gateway(), preview, tenant_id=ws.tenant_id, actor=actor,
                                   wave=wave, label=label, options=options)


def resume(ws: Workspace, operation_id: int, *, options: rollout.ExecuteOptions | None = None) -> int:
    """Finish an interrupted, cancelled or partly failed operation (each unfinished user is re-read first)."""
    operation_of_tenant(ws, operation_id)
    actor = acting_writer(ws)
    return rollout.resume_operation(ws.store, ws.require_gateway(), operation_id, actor=actor, options=options)


def cancel(ws: Workspace, operation_id: int) -> rollout.Operation:
    """Stop sending: only an admin who may change MFA may stop someone's change."""
    actor = acting_writer(ws)
    operation_of_tenant(ws, operation_id)
    return rollout.cancel_operation(ws.store, operation_id, actor=actor)
