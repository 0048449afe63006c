"""Take a snapshot into the store: the only way a refresh becomes the current picture.

The snapshot row is opened before anything is read and completed in one transaction with the
rows, so a failed or cancelled refresh is recorded as such (with the line a person would see) and the
previous snapshot stays current.

Once the snapshot is complete, the sign-in evidence is read as its own phase (``sign_ins``): only the
sign-ins since the previous read (lib.signins.reader). Its failure never fails the snapshot, which is
already stored; ``RefreshResult.sign_ins`` says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.directory.snapshot import Clock, PhaseCallback, TenantRead, read_tenant
from lib.errors import describe
from lib.graph import CancelToken, GraphGateway, OperationCancelled
from lib.signins.reader import PATH_NONE, SignInRead, describe_failure, read_sign_ins
from lib.store import SnapshotSummary, Store

SIGN_IN_PAGES_PER_SNAPSHOT = 10
"""Sign-in log pages of older sign-ins one snapshot reads besides the new ones (about 20 s at the log's 5
requests per 10 s): a new tenant's 30 days are caught up over the next snapshots instead of holding the
first one for minutes, while what the log gained since the last read is always read
(lib.signins.reader.page_budget)."""


@dataclass(frozen=True)
class RefreshResult:
    snapshot_id: int
    summary: SnapshotSummary
    read: TenantRead
    sign_ins: SignInRead | None = None
    """What the sign-in evidence phase did (None when the refresh was asked not to read it)."""


def _read_evidence(store: Store, gateway: GraphGateway, tenant_id: str, users: pd.DataFrame,
                   on_phase: PhaseCallback | None, cancel: CancelToken | None, clock: Clock,
                   catch_up_pages: int | None) -> SignInRead:
    """The sign-in phase: never raises, since the snapshot it follows is already stored."""
    progress = None if on_phase is None else (lambda done, total: on_phase("sign_ins", done, total))
    if on_phase:
        on_phase("sign_ins", 0, 0)
    try:
        return read_sign_ins(gateway, store, tenant_id, now=clock(), users=users, on_progress=progress,
                             cancel=cancel, catch_up_pages=catch_up_pages)
    except OperationCancelled:
        return SignInRead(PATH_NONE, note="cancelled before any sign-in was read; the snapshot is stored")
    except Exception as err:  # reported, never fatal: the snapshot is already complete
        return describe_failure(err)


def refresh_snapshot(
    store: Store,
    gateway: GraphGateway,
    *,
    mode: str,
    on_phase: PhaseCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock | None = None,
    sign_ins: bool = True,
    sign_in_pages: int | None = SIGN_IN_PAGES_PER_SNAPSHOT,
) -> RefreshResult:
    """Read the tenant and store it as a complete snapshot (or a failed/cancelled one, then re-raise),
    then, with ``sign_ins``, the sign-in evidence since the last read: the sign-ins the log gained since,
    and at most ``sign_in_pages`` pages of older ones (None: all of it).

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
        state_read=read.state_read.as_dict(), finished_at=clock(),
        protection=read.protection.record if read.protection else None,
    )
    evidence = None
    if sign_ins:
        evidence = _read_evidence(store, gateway, tenant_id, read.frame, on_phase, cancel, clock, sign_in_pages)
    return RefreshResult(snapshot_id, summary, read, evidence)
