"""Sign-in evidence in the console's store (schema version 7): load it, and save what a read changed.

Only the users a read touched (or whose old days the 30-day trim dropped) are written, so a daily
incremental read of a 10k-user tenant writes a few thousand small rows, not the whole tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa

from lib.signins.evidence import DayCount, TenantEvidence, UserEvidence, epoch_ns, from_epoch_ns
from lib.store import Store
from lib.store.engine import read_transaction, translate_errors, write_transaction
from lib.store.errors import StoreError
from lib.store.memo import LatestMemo
from lib.store.schema import sign_in_evidence, sign_in_reads

EVIDENCE_SCHEMA_VERSION = 4

_latest: LatestMemo[TenantEvidence] = LatestMemo("sign-in evidence")


def _require(store: Store) -> None:
    if store.schema_version < EVIDENCE_SCHEMA_VERSION:
        raise StoreError(f"database {store.where} is at schema version {store.schema_version}; sign-in "
                         f"evidence needs version {EVIDENCE_SCHEMA_VERSION} (open it with lib.store.open_store, "
                         "which migrates)")


def _user_row(tenant_id: str, user_id: str, user: UserEvidence) -> dict:
    return {
        "tenant_id": tenant_id, "user_id": user_id, "last_sign_in": epoch_ns(user.last_sign_in),
        "last_mfa_sign_in": epoch_ns(user.last_mfa_sign_in),
        "last_single_factor_sign_in": epoch_ns(user.last_single_factor_sign_in),
        "legacy_clients": json.dumps({c: epoch_ns(at) for c, at in user.legacy_clients.items()}, sort_keys=True),
        "days": json.dumps({d.isoformat(): [c.total, c.mfa, c.unknown] for d, c in user.days.items()},
                           sort_keys=True),
    }


def _day(iso: str, known: dict[str, date]) -> date:
    """One ``date`` per distinct day of a load (30 of them for 1.4 million user-days)."""
    found = known.get(iso)
    if found is None:
        found = known[iso] = date.fromisoformat(iso)
    return found


def _user_from(row: sa.Row, known_days: dict[str, date]) -> UserEvidence:
    legacy = {client: from_epoch_ns(ns) for client, ns in json.loads(row.legacy_clients).items()}
    days = {_day(day, known_days): DayCount.of(*counts) for day, counts in json.loads(row.days).items()}
    return UserEvidence(last_sign_in=from_epoch_ns(row.last_sign_in),
                        last_mfa_sign_in=from_epoch_ns(row.last_mfa_sign_in),
                        last_single_factor_sign_in=from_epoch_ns(row.last_single_factor_sign_in),
                        legacy_clients=legacy, days=days)


def load_evidence(store: Store, tenant_id: str) -> TenantEvidence:
    """The tenant's evidence as last saved (empty, with no ``read_until``, before the first read).

    Kept once per read and shared by the pages of every admin and the next read (``LatestMemo``: a newer
    read replaces it): a 100k-user tenant's evidence takes seconds to load."""
    read_at = _read_at_ns(store, tenant_id)
    if read_at is None:
        return TenantEvidence()
    return _latest.get((store.where, tenant_id), read_at, "evidence", lambda: read_saved_evidence(store, tenant_id))


def read_saved_evidence(store: Store, tenant_id: str) -> TenantEvidence:
    """The evidence straight from the store, not the one kept in memory (another process's view)."""
    _require(store)
    with translate_errors(store.where), read_transaction(store.engine) as conn:
        head = conn.execute(sa.select(sign_in_reads).where(sign_in_reads.c.tenant_id == tenant_id)).first()
        if head is None:
            return TenantEvidence()
        rows = conn.execute(sa.select(sign_in_evidence).where(sign_in_evidence.c.tenant_id == tenant_id))
        known_days: dict[str, date] = {}
        users = {row.user_id: _user_from(row, known_days) for row in rows}
    single = {date.fromisoformat(day): n for day, n in json.loads(head.single_factor_by_day).items()}
    return TenantEvidence(users=users, single_factor_by_day=single, read_until=from_epoch_ns(head.read_until),
                          seen_at_read_until=frozenset(json.loads(head.seen_at_read_until)))


def _read_at_ns(store: Store, tenant_id: str) -> int | None:
    _require(store)
    with translate_errors(store.where), read_transaction(store.engine) as conn:
        return conn.execute(sa.select(sign_in_reads.c.read_at).where(
            sign_in_reads.c.tenant_id == tenant_id)).scalar()


def last_read_at(store: Store, tenant_id: str) -> datetime | None:
    """When the tenant's sign-in log was last read (None: never)."""
    return from_epoch_ns(_read_at_ns(store, tenant_id))


def _changed(old: TenantEvidence, new: TenantEvidence) -> Iterable[str]:
    return [uid for uid, user in new.users.items() if old.users.get(uid) is not user]


def save_evidence(store: Store, tenant_id: str, old: TenantEvidence, new: TenantEvidence,
                  read_at: datetime) -> int:
    """Write ``new`` over ``old`` (what was loaded) in one transaction; returns the user rows written."""
    _require(store)
    changed = list(_changed(old, new))
    head = {"read_until": epoch_ns(new.read_until), "seen_at_read_until": json.dumps(sorted(new.seen_at_read_until)),
            "single_factor_by_day": json.dumps({d.isoformat(): n for d, n in new.single_factor_by_day.items()}),
            "read_at": epoch_ns(read_at)}
    with translate_errors(store.where), write_transaction(store.engine) as conn:
        updated = conn.execute(sa.update(sign_in_reads).where(sign_in_reads.c.tenant_id == tenant_id)
                               .values(**head)).rowcount
        if not updated:
            conn.execute(sa.insert(sign_in_reads).values(tenant_id=tenant_id, **head))
        for start in range(0, len(changed), 500):
            chunk = changed[start:start + 500]
            conn.execute(sa.delete(sign_in_evidence).where(sign_in_evidence.c.tenant_id == tenant_id,
                                                           sign_in_evidence.c.user_id.in_(chunk)))
            conn.execute(sa.insert(sign_in_evidence), [_user_row(tenant_id, uid, new.users[uid]) for uid in chunk])
    _latest.put((store.where, tenant_id), head["read_at"], "evidence", new)
    return len(changed)
