"""Take a snapshot into the store: the only way a refresh becomes the current picture.

The snapshot row is opened before anything is read and completed in one transaction with the
rows, so a failed or cancelled refresh is recorded as such (with the line a person would see) and the
previous snapshot stays current.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.directory.snapshot import Clock, PhaseCallback, TenantRead, read_tenant
from lib.errors import describe
from lib.graph import CancelToken, GraphGateway, OperationCancelled
from lib.store import SnapshotSummary, Store


@dataclass(frozen=True)
class RefreshResult:
    snapshot_id: int
    summary: SnapshotSummary
    read: TenantRead


def refresh_snapshot(
    store: Store,
    gateway: GraphGateway,
    *,
    mode: str,
    on_phase: PhaseCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock | None = None,
) -> RefreshResult:
    """Read the tenant and store it as a complete snapshot (or a failed/cancelled one, then re-raise).

    Stamped by ``clock``, by default the store's own (:attr:`lib.store.Store.clock`)."""
    clock = clock or store.clock
    org = gateway.organization()
    tenant_id = org.get("id", "")
    domain = next((d.get("name", "") for d in org.get("verifiedDomains") or [] if d.get("isDefault")), "")
    store.upsert_tenant(tenant_id, org.get("displayName", ""), domain, mode)
    snapshot_id = store.begin_snapshot(tenant_id, "reports", started_at=clock())
    try:
        read = read_tenant(gateway, org=org, on_phase=on_phase, cancel=cancel, clock=clock)
    except OperationCancelled:
        store.fail_snapshot(snapshot_id, "cancelled by the admin", status="cancelled", finished_at=clock())
        raise
    except BaseException as err:
        store.fail_snapshot(snapshot_id, describe(err), finished_at=clock())
        raise
    summary = store.complete_snapshot(
        snapshot_id, read.frame, users_read_at=read.users_read_at, registration_read_at=read.registration_read_at,
        state_read_at=read.state_read_at, stats=read.stats, registration_source=read.registration_source,
        finished_at=clock(), protection=read.protection.record if read.protection else None,
    )
    return RefreshResult(snapshot_id, summary, read)
