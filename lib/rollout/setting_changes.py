"""The journal of tenant-setting changes (the registration campaign): written before anything is sent.

A per-user change journals one row per user (``lib.rollout.journal``); a tenant setting is one value, so one
row holds the whole change: the value Graph reported just before, the value asked for, and the value read
back afterwards. Undo is a new row (``kind='undo'``, ``undo_of``) that asks for the earlier ``before``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from lib.rollout._db import now_ns, reading, ts, writing
from lib.rollout.actor import actor_kind
from lib.rollout.errors import OperationNotFound
from lib.store import Store
from lib.store.errors import StoreError
from lib.store.schema import SETTING_CHANGE_STATUSES, setting_changes

__all__ = ["SettingChange", "begin_setting_change", "finish_setting_change", "get_setting_change",
           "list_setting_changes"]

SETTINGS_SCHEMA_VERSION = 5


@dataclass(frozen=True)
class SettingChange:
    """One journaled change of a tenant setting; the values are Graph-shaped JSON objects."""

    id: int
    tenant_id: str
    setting: str
    kind: str
    status: str
    before: dict[str, Any]
    requested: dict[str, Any]
    after: dict[str, Any] | None
    actor: str
    actor_kind: str
    undo_of: int | None
    created_at: pd.Timestamp | None
    finished_at: pd.Timestamp | None
    error: str | None


def _require(store: Store) -> None:
    if store.schema_version < SETTINGS_SCHEMA_VERSION:
        raise StoreError(f"database {store.where} is at schema version {store.schema_version}; the settings journal "
                         f"needs version {SETTINGS_SCHEMA_VERSION} (open it with lib.store.open_store, which migrates)")


def _change(row: Any) -> SettingChange:
    return SettingChange(
        id=int(row.id), tenant_id=row.tenant_id, setting=row.setting, kind=row.kind, status=row.status,
        before=json.loads(row.before_value), requested=json.loads(row.requested_value),
        after=json.loads(row.after_value) if row.after_value else None, actor=row.actor, actor_kind=row.actor_kind,
        undo_of=row.undo_of, created_at=ts(row.created_at), finished_at=ts(row.finished_at), error=row.error)


def begin_setting_change(store: Store, tenant_id: str, setting: str, *, before: dict[str, Any],
                         requested: dict[str, Any], actor: Any, undo_of: int | None = None,
                         unchanged: bool = False) -> int:
    """Journal a change (``sending``) before it is sent; ``unchanged`` journals one that needs no request."""
    _require(store)
    now = now_ns(store)
    with writing(store) as conn:
        result = conn.execute(sa.insert(setting_changes).values(
            tenant_id=tenant_id, setting=setting, kind="undo" if undo_of is not None else "change",
            status="unchanged" if unchanged else "sending", before_value=json.dumps(before),
            requested_value=json.dumps(requested), after_value=json.dumps(before) if unchanged else None,
            actor=str(getattr(actor, "upn", "") or ""), actor_kind=actor_kind(actor), undo_of=undo_of,
            created_at=now, finished_at=now if unchanged else None))
        return int(result.inserted_primary_key[0])


def finish_setting_change(store: Store, change_id: int, status: str, *, after: dict[str, Any] | None,
                          error: str | None = None) -> SettingChange:
    """Journal the outcome: the value read back (None when it could not be read) and the error, if any."""
    if status not in SETTING_CHANGE_STATUSES or status == "sending":
        raise ValueError(f"a finished change is applied, differs, failed or unchanged, not {status!r}")
    with writing(store) as conn:
        conn.execute(sa.update(setting_changes).where(setting_changes.c.id == change_id).values(
            status=status, after_value=json.dumps(after) if after is not None else None, error=error,
            finished_at=now_ns(store)))
    return get_setting_change(store, change_id)


def get_setting_change(store: Store, change_id: int) -> SettingChange:
    _require(store)
    with reading(store) as conn:
        row = conn.execute(sa.select(setting_changes).where(setting_changes.c.id == change_id)).first()
    if row is None:
        raise OperationNotFound(f"There is no setting change {change_id}.")
    return _change(row)


def list_setting_changes(store: Store, tenant_id: str, setting: str) -> list[SettingChange]:
    """Every change of ``setting`` in the tenant, newest first."""
    _require(store)
    with reading(store) as conn:
        rows = conn.execute(sa.select(setting_changes).where(
            setting_changes.c.tenant_id == tenant_id, setting_changes.c.setting == setting,
        ).order_by(setting_changes.c.id.desc())).all()
    return [_change(r) for r in rows]
