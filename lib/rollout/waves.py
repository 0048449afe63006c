"""Rollout waves: named Enables, listed with their progress, promotable to Enforced.

A wave is made by naming an Enable (``start_operation(..., wave="Wave 3: Engineering")``) or imported
from the tenant's past (:func:`import_waves`; the demo tenant's two earlier waves come from the
emulator's ``/_emulator/truth/history``). Its members are the users the Enable set out to change.
"Promote to Enforced" targets the members who registered but are still Enabled — in Entra those are
users who must re-register after an admin disabled them, so only an admin's Enforce moves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from lib.rollout._db import now_ns, reading, ts, writing
from lib.rollout.errors import WaveError
from lib.rollout.plan import Plan, plan
from lib.store import Store
from lib.store.codec import to_ns
from lib.store.queries import require_tenant
from lib.store.schema import wave_members, waves

__all__ = [
    "WAVE_PROGRESS_COLUMNS",
    "Wave",
    "get_wave",
    "import_waves",
    "list_waves",
    "promotable_ids",
    "promote_plan",
    "wave_member_ids",
    "wave_progress",
]

WAVE_PROGRESS_COLUMNS: dict[str, str] = {
    "wave_id": "int64",
    "name": "string",
    "source": "string",
    "launched_at": "datetime64[ns, UTC]",
    "members": "int64",
    "disabled": "int64",
    "enabled": "int64",
    "enforced": "int64",
    "unknown": "int64",
    "registered": "int64",
    "promotable": "int64",
    "enforced_share": "float64",
}
"""Columns of :func:`wave_progress`: member counts per current state; ``unknown`` = not in the
snapshot or state unreadable; ``promotable`` = registered and still Enabled."""


@dataclass(frozen=True)
class Wave:
    id: int
    tenant_id: str
    name: str
    source: str
    """``operation`` (named Enable) or ``imported`` (from the tenant's past)."""
    operation_id: int | None
    launched_at: pd.Timestamp
    actor: str | None
    members: int


def _field(wave: Any, name: str) -> Any:
    return wave.get(name) if isinstance(wave, Mapping) else getattr(wave, name, None)


def import_waves(store: Store, tenant_id: str, past_waves: Iterable[Any]) -> list[Wave]:
    """Record waves from the tenant's past; each has ``name``, ``launched_at`` (ISO text or datetime),
    ``actor`` and ``user_ids`` (mappings, like ``/_emulator/truth/history``'s ``waves``, or objects).

    Idempotent: a wave whose name is already recorded for the tenant is left as it is. Returns every
    wave of the tenant afterwards.
    """
    now = now_ns(store)
    with writing(store) as conn:
        require_tenant(conn, tenant_id)
        for wave in past_waves:
            name = str(_field(wave, "name") or "").strip()
            if not name:
                raise WaveError("a wave to import has no name")
            launched = _field(wave, "launched_at")
            if launched is None:
                raise WaveError(f"wave {name!r} has no launched_at")
            launched_ns = to_ns(pd.Timestamp(launched), "launched_at")
            exists = conn.execute(sa.select(waves.c.id).where(waves.c.tenant_id == tenant_id,
                                                              waves.c.name == name)).first()
            if exists:
                continue
            wave_id = int(conn.execute(sa.insert(waves).values(
                tenant_id=tenant_id, name=name, source="imported", operation_id=None, launched_at=launched_ns,
                actor=_field(wave, "actor"), created_at=now)).inserted_primary_key[0])
            ids = list(dict.fromkeys(str(u) for u in (_field(wave, "user_ids") or ())))
            if ids:
                conn.execute(sa.insert(wave_members), [{"wave_id": wave_id, "user_id": u, "upn": None} for u in ids])
    return list_waves(store, tenant_id)


def _wave(row: Any) -> Wave:
    return Wave(id=row.id, tenant_id=row.tenant_id, name=row.name, source=row.source,
                operation_id=row.operation_id, launched_at=ts(row.launched_at), actor=row.actor,
                members=int(row.members or 0))


def _select() -> sa.Select:
    count = (sa.select(sa.func.count()).where(wave_members.c.wave_id == waves.c.id)
             .correlate(waves).scalar_subquery())
    return sa.select(waves, count.label("members"))


def list_waves(store: Store, tenant_id: str) -> list[Wave]:
    """The tenant's waves, oldest launch first."""
    with reading(store) as conn:
        rows = conn.execute(_select().where(waves.c.tenant_id == tenant_id)
                            .order_by(waves.c.launched_at, waves.c.id)).all()
    return [_wave(r) for r in rows]


def get_wave(store: Store, tenant_id: str, wave: int | str) -> Wave:
    """A wave by id or by name; ``WaveError`` when the tenant has none such."""
    query = _select().where(waves.c.tenant_id == tenant_id)
    query = query.where(waves.c.id == wave) if isinstance(wave, int) else query.where(waves.c.name == wave)
    with reading(store) as conn:
        row = conn.execute(query).first()
    if row is None:
        raise WaveError(f"there is no wave {wave!r}")
    return _wave(row)


def wave_member_ids(store: Store, wave_id: int) -> list[str]:
    with reading(store) as conn:
        return [uid for (uid,) in conn.execute(
            sa.select(wave_members.c.user_id).where(wave_members.c.wave_id == wave_id)
            .order_by(wave_members.c.user_id))]


def wave_progress(store: Store, tenant_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Each wave's members by their state in ``frame`` (the latest snapshot): the progress page's table."""
    rows = []
    indexed = frame.set_index("id", drop=False)
    for wave in list_waves(store, tenant_id):
        ids = [u for u in wave_member_ids(store, wave.id) if u in indexed.index]
        members = indexed.loc[ids] if ids else indexed.iloc[0:0]
        state = members["state"].astype(str)
        registered = members["registered"].astype(bool)
        counts = {s: int((state == s).sum()) for s in ("disabled", "enabled", "enforced")}
        known = sum(counts.values())
        rows.append({
            "wave_id": wave.id, "name": wave.name, "source": wave.source, "launched_at": wave.launched_at,
            "members": wave.members, **counts, "unknown": wave.members - known,
            "registered": int(registered.sum()), "promotable": int(((state == "enabled") & registered).sum()),
            "enforced_share": counts["enforced"] / wave.members if wave.members else 0.0,
        })
    out = pd.DataFrame(rows, columns=list(WAVE_PROGRESS_COLUMNS))
    for name, dtype in WAVE_PROGRESS_COLUMNS.items():
        if dtype.startswith("datetime"):
            out[name] = pd.to_datetime(out[name], utc=True)
        else:
            out[name] = out[name].astype(dtype)
    return out


def promotable_ids(store: Store, wave_id: int, frame: pd.DataFrame) -> list[str]:
    """The members "Promote to Enforced" is about: registered and still Enabled in ``frame``."""
    members = set(wave_member_ids(store, wave_id))
    rows = frame[frame["id"].isin(members) & frame["registered"].astype(bool) & (frame["state"] == "enabled")]
    return rows["id"].tolist()


def promote_plan(
    store: Store, tenant_id: str, wave: int | str, frame: pd.DataFrame, *, protected: Any = None, actor: Any,
    not_ready: Mapping[str, str] | None = None, include_not_ready: bool = False,
) -> Plan:
    """Plan "promote wave to Enforced": its members who registered and are still Enabled → Enforced.

    ``not_ready`` (member id → why, from the sign-in evidence) are left out as ``not_ready`` skips, so the
    plan's changes are the ready members; ``include_not_ready`` proposes them too."""
    found = get_wave(store, tenant_id, wave)
    preview = plan(frame, "enforced", promotable_ids(store, found.id, frame), protected=protected, actor=actor,
                   source="wave_promotion")
    if include_not_ready or not not_ready:
        return preview
    return preview.skip_users({uid: ("not_ready", f"not ready to enforce: {why}") for uid, why in not_ready.items()})
