"""Every user of a tenant's latest snapshot, with the protection columns, as CSV or JSON (the CLI's ``users``).

The CSV is the Users page's export (``lib.exports.to_csv_bytes``: formulas neutralised, UTF-8 with a BOM,
every field quoted) with the same columns, then the protection columns, then the sign-in evidence columns
(``lib.signins.columns``: empty when the sign-in log was not read or the tenant has no Entra ID P1); JSON
carries the same columns as plain values (times ISO 8601 UTC, missing values null). Only the users frame
and the stored evidence go in: no token or secret can reach an export.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from lib.columns import PROTECTION_COLUMNS
from lib.console.sign_in_evidence import evidence_frame, sign_in_evidence
from lib.console.workspace import Workspace
from lib.exports import to_csv_bytes
from lib.signins.columns import EVIDENCE_COLUMNS
from lib.store import NotFoundError, Store
from lib.users_filters import EXPORT_COLUMNS

__all__ = ["EXPORT_FORMATS", "USERS_EXPORT_COLUMNS", "export_users", "only_tenant"]

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")
USERS_EXPORT_COLUMNS: tuple[str, ...] = (*EXPORT_COLUMNS, *(c for c in PROTECTION_COLUMNS if c not in EXPORT_COLUMNS),
                                         *EVIDENCE_COLUMNS)
"""The Users page's export columns, the protection columns (``lib.columns.PROTECTION_COLUMNS``), then the sign-in
evidence columns (``lib.signins.columns.EVIDENCE_COLUMNS``)."""


def only_tenant(store: Store, tenant_id: str | None) -> str:
    """``tenant_id``, or the database's one tenant when none is named (several: the caller must choose)."""
    known = store.tenant_ids()
    if tenant_id:
        if tenant_id not in known:
            raise NotFoundError(f"no tenant {tenant_id!r} in this database (it holds {', '.join(known) or 'none'})")
        return tenant_id
    if not known:
        raise NotFoundError("this database holds no tenant yet: take a snapshot first")
    if len(known) > 1:
        raise NotFoundError(f"this database holds {len(known)} tenants ({', '.join(known)}): name one with --tenant")
    return known[0]


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def export_users(store: Store, tenant_id: str, fmt: str) -> bytes:
    """The latest complete snapshot's users as ``fmt`` (``csv`` or ``json``)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    latest = store.latest_snapshot(tenant_id)
    if latest is None:
        raise NotFoundError(f"tenant {tenant_id!r} has no complete snapshot yet: take one with the snapshot command")
    seen = sign_in_evidence(Workspace(store, None, tenant_id, None), latest)
    frame = evidence_frame(seen, store.load_users(tenant_id, latest.id))
    frame = frame.reindex(columns=[*frame.columns, *(c for c in EVIDENCE_COLUMNS if c not in frame.columns)])
    frame = frame.sort_values(["upn", "id"], kind="stable").loc[:, list(USERS_EXPORT_COLUMNS)].reset_index(drop=True)
    if fmt == "csv":
        return to_csv_bytes(frame)
    rows = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return json.dumps({"tenant_id": tenant_id, "snapshot_id": latest.id, "users": rows}, ensure_ascii=False,
                      indent=1).encode("utf-8")
