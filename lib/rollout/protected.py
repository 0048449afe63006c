"""Protected accounts: the users no bulk action, CSV import or undo may change.

Kept per tenant in the store (UPN, object id, reason, owner, optional expiry). A protection is matched by
the account's object id first, so renaming its UPN in the tenant does not drop it; the id comes from the
latest snapshot when the account is protected, or from the first snapshot that shows a UPN protected before
the tenant had it (until then, it matches by UPN). An expired protection no longer
protects but stays listed as expired, so nobody wonders where it went; removing one keeps the row
(``removed_at``) for the record. :func:`active_protection` is what plans and the execution worker
consult; :func:`suggest_protected` points at accounts that look like break-glass accounts. What a
person typed that cannot be recorded (no UPN, no reason…) raises :class:`ProtectionError` (a ``ValueError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from lib.rollout._db import now_ns, reading, ts, writing
from lib.rollout.errors import ProtectionError
from lib.store import Store
from lib.store.codec import to_ns
from lib.store.queries import require_tenant
from lib.store.schema import protected_accounts

__all__ = [
    "PROTECTED_COLUMNS",
    "RISK_COLUMNS",
    "SUGGESTION_COLUMNS",
    "ProtectedAccount",
    "Protection",
    "active_protection",
    "as_protection",
    "list_protected",
    "protect_account",
    "protected_frame",
    "protection_risks",
    "suggest_protected",
    "unprotect_account",
    "upn_key",
]

_EXCLUDED_NAME = re.compile(
    r"break.?glass|emergency|excluded?[-_.]|exclusion|[-_.]excluded?|bg[-_.]?admin|no.?mfa|mfa.?exempt",
    re.IGNORECASE,
)

PROTECTED_COLUMNS: dict[str, str] = {
    "upn": "string",
    "current_upn": "string",
    "user_id": "string",
    "reason": "string",
    "owner": "string",
    "expires_at": "datetime64[ns, UTC]",
    "status": "string",
    "created_at": "datetime64[ns, UTC]",
    "created_by": "string",
    "updated_at": "datetime64[ns, UTC]",
}
"""Columns of :func:`protected_frame` (the Protected accounts page's table); ``status`` is active or expired.
``upn`` is the UPN as protected, ``current_upn`` the account's UPN in the latest snapshot (NA when the snapshot
does not have it), ``user_id`` its object id (NA while no snapshot has shown it)."""

SUGGESTION_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "code": "string",
    "why": "string",
}


DEFAULT_REASON = "protected account"


def upn_key(upn: str) -> str:
    """How UPNs are compared: stripped and case-folded (Entra ID UPNs ignore case)."""
    if not isinstance(upn, str):
        raise ValueError(f"UPN must be a string, got {type(upn).__name__}")
    return upn.strip().casefold()


@dataclass(frozen=True)
class ProtectedAccount:
    """One protection. ``expires_at`` None means until removed. ``upn`` is the UPN as protected;
    ``current_upn`` the account's UPN in the latest snapshot, found by ``user_id`` (None when unknown)."""

    upn: str
    reason: str
    owner: str
    expires_at: pd.Timestamp | None = None
    created_at: pd.Timestamp | None = None
    created_by: str | None = None
    updated_at: pd.Timestamp | None = None
    user_id: str | None = None
    current_upn: str | None = None

    @property
    def key(self) -> str:
        """The UPN it matches by: the current one when the snapshot knows the account, else as protected."""
        return upn_key(self.current_upn or self.upn)

    def is_expired(self, now: datetime | pd.Timestamp | None = None) -> bool:
        if self.expires_at is None:
            return False
        moment = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        return self.expires_at <= moment

    def describe(self) -> str:
        """``reason; owner X`` as a plan's skip reason shows it ('' for a bare UPN listed as protected)."""
        reason = "" if self.reason == DEFAULT_REASON else self.reason
        return "; ".join(part for part in (reason, f"owner {self.owner}" if self.owner else "") if part)


class Protection(Mapping[str, ProtectedAccount]):
    """The protections in force: case-folded UPN → :class:`ProtectedAccount`, and by object id
    (:meth:`find`, what plans and the worker use). Immutable."""

    def __init__(self, accounts: Iterable[ProtectedAccount] = ()) -> None:
        listed = list(accounts)
        self._by_key = {a.key: a for a in listed}
        self._by_id = {a.user_id: a for a in listed if a.user_id}

    def find(self, user_id: str | None, upn: str | None) -> ProtectedAccount | None:
        """The protection of this user: by object id first; by UPN only when that protection has no id yet
        or is this user's (a UPN an account was renamed away from protects nobody else)."""
        if user_id and user_id in self._by_id:
            return self._by_id[user_id]
        if not isinstance(upn, str) or not upn.strip():
            return None
        found = self._by_key.get(upn_key(upn))
        if found is None or (found.user_id and user_id and found.user_id != user_id):
            return None
        return found

    @property
    def ids_set(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def __getitem__(self, upn: str) -> ProtectedAccount:
        return self._by_key[upn_key(upn)]

    def __contains__(self, upn: object) -> bool:
        return isinstance(upn, str) and upn_key(upn) in self._by_key

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __repr__(self) -> str:
        return f"Protection({len(self)} accounts)"

    @property
    def keys_set(self) -> frozenset[str]:
        return frozenset(self._by_key)


def as_protection(protected: Any, now: datetime | pd.Timestamp | None = None) -> Protection:
    """Normalise what a caller passes as ``protected``: a :class:`Protection`, ProtectedAccount
    records (expired ones dropped), a mapping UPN → reason, or plain UPN strings."""
    if protected is None:
        return Protection()
    if isinstance(protected, Protection):
        return protected
    if isinstance(protected, str):
        raise TypeError("protected must be a collection of UPNs, not a single string")
    accounts: list[ProtectedAccount] = []
    if isinstance(protected, Mapping):
        for upn, value in protected.items():
            if isinstance(value, ProtectedAccount):
                accounts.append(value)
            else:
                accounts.append(ProtectedAccount(str(upn), str(value or DEFAULT_REASON), ""))
    else:
        for item in protected:
            if isinstance(item, ProtectedAccount):
                accounts.append(item)
            elif isinstance(item, str):
                accounts.append(ProtectedAccount(item, DEFAULT_REASON, ""))
            else:
                raise TypeError(f"protected accounts are UPN strings or ProtectedAccount, got {type(item).__name__}")
    return Protection(a for a in accounts if a.key and not a.is_expired(now))


def _record(row: Any, current: Mapping[str, str] | None = None) -> ProtectedAccount:
    """A row as a record; ``current`` (object id → UPN in the latest snapshot) fills ``current_upn``."""
    return ProtectedAccount(
        upn=row.upn, reason=row.reason, owner=row.owner, expires_at=ts(row.expires_at),
        created_at=ts(row.created_at), created_by=row.created_by, updated_at=ts(row.updated_at),
        user_id=row.user_id, current_upn=(current or {}).get(row.user_id) if row.user_id else None,
    )


@dataclass(frozen=True)
class _Directory:
    """The latest snapshot's accounts both ways: object id → UPN and case-folded UPN → object id."""

    upn_by_id: Mapping[str, str]
    id_by_key: Mapping[str, str]


def _directory(store: Store, tenant_id: str) -> _Directory:
    """From the store's latest complete snapshot (the store keeps it in memory: cheap to ask again)."""
    users = store.load_users(tenant_id)
    ids = users["id"].astype(str).tolist()
    upns = users["upn"].fillna("").astype(str).tolist()
    return _Directory(upn_by_id={i: u for i, u in zip(ids, upns, strict=True) if u},
                      id_by_key={upn_key(u): i for i, u in zip(ids, upns, strict=True) if u.strip()})


def _check_text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtectionError(f"{name} is required (who or why must be on record for a protected account)")
    return value.strip()


def _check_upn(upn: str) -> str:
    if not isinstance(upn, str) or not upn.strip():
        raise ProtectionError("UPN is required")
    cleaned = upn.strip()
    if "@" not in cleaned or any(ch.isspace() for ch in cleaned):
        raise ProtectionError(f"{cleaned!r} is not a user principal name (name@domain)")
    return cleaned


def protect_account(
    store: Store,
    tenant_id: str,
    upn: str,
    *,
    reason: str,
    owner: str,
    expires_at: datetime | pd.Timestamp | None = None,
    by: str | None = None,
    known_upns: Iterable[str] | None = None,
    confirm_unknown: bool = False,
) -> ProtectedAccount:
    """Protect ``upn`` (or update its reason, owner and expiry; a removed one is protected again).

    ``known_upns`` (the latest snapshot's): a UPN not among them is refused unless ``confirm_unknown``,
    since a typo protects nobody while looking as if it did."""
    cleaned = _check_upn(upn)
    if known_upns is not None and not confirm_unknown and upn_key(cleaned) not in {upn_key(u) for u in known_upns}:
        raise ProtectionError(f"{cleaned} is not in the tenant's latest snapshot: check the spelling (a typo "
                              "protects nobody), or confirm that it should be protected anyway (an account "
                              "created since the last refresh)")
    reason, owner = _check_text("reason", reason), _check_text("owner", owner)
    expires = None if expires_at is None else to_ns(expires_at, "expires_at")
    now = now_ns(store)
    directory = _directory(store, tenant_id)
    user_id = directory.id_by_key.get(upn_key(cleaned))
    t = protected_accounts
    with writing(store) as conn:
        require_tenant(conn, tenant_id)
        key = _row_key(conn, tenant_id, upn_key(cleaned), user_id, directory)
        exists = conn.execute(sa.select(t.c.user_id).where(t.c.tenant_id == tenant_id, t.c.upn_key == key)).first()
        values = {"upn": cleaned, "reason": reason, "owner": owner, "expires_at": expires, "updated_at": now,
                  "removed_at": None, "removed_by": None, "user_id": user_id or (exists.user_id if exists else None)}
        if exists:
            conn.execute(sa.update(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == key).values(**values))
        else:
            conn.execute(sa.insert(t).values(tenant_id=tenant_id, upn_key=key, created_at=now, created_by=by,
                                             **values))
        row = conn.execute(sa.select(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == key)).one()
    return _record(row, directory.upn_by_id)


def _row_key(conn: sa.Connection, tenant_id: str, key: str, user_id: str | None, directory: _Directory) -> str:
    """The row to write: the one already holding this account's object id (protected under a former UPN:
    it takes the new UPN's key when that is free), else the one of this UPN. A row of this UPN that belongs
    to another account (renamed away since) is moved aside first, so that account stays protected."""
    t = protected_accounts

    def free(candidate: str) -> bool:
        return conn.execute(sa.select(t.c.upn_key).where(t.c.tenant_id == tenant_id,
                                                         t.c.upn_key == candidate)).first() is None

    def rekey(old: str, new: str) -> None:
        conn.execute(sa.update(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == old).values(upn_key=new))

    if user_id:
        held = conn.execute(sa.select(t.c.upn_key).where(t.c.tenant_id == tenant_id, t.c.user_id == user_id)
                            .order_by(t.c.removed_at.is_not(None), t.c.upn_key)).first()
        if held is not None:
            if held.upn_key != key and free(key):
                rekey(held.upn_key, key)
                return key
            return str(held.upn_key)
    other = conn.execute(sa.select(t.c.user_id).where(t.c.tenant_id == tenant_id, t.c.upn_key == key)).first()
    if other is not None and other.user_id and other.user_id != user_id and (
            user_id or other.user_id in directory.upn_by_id):
        current = directory.upn_by_id.get(other.user_id)
        aside = upn_key(current) if current and free(upn_key(current)) else f"id:{other.user_id}"
        rekey(key, aside)
    return key


def unprotect_account(store: Store, tenant_id: str, upn: str, *, by: str | None = None) -> bool:
    """Stop protecting ``upn`` (as protected, or the account's current UPN); False when it was not
    protected. The row stays, marked removed."""
    t = protected_accounts
    user_id = _directory(store, tenant_id).id_by_key.get(upn_key(upn))
    match = t.c.upn_key == upn_key(upn)
    if user_id:
        match = sa.or_(match, t.c.user_id == user_id)
    with writing(store) as conn:
        result = conn.execute(
            sa.update(t)
            .where(t.c.tenant_id == tenant_id, match, t.c.removed_at.is_(None))
            .values(removed_at=now_ns(store), removed_by=by)
        )
    return bool(result.rowcount)


def _link_ids(store: Store, tenant_id: str, rows: list[Any], directory: _Directory) -> list[Any]:
    """Give protections without an object id the id of the account the latest snapshot shows under their
    UPN (recorded, so a later rename keeps them); returns the rows as stored afterwards."""
    found = {r.upn_key: directory.id_by_key[r.upn_key] for r in rows
             if not r.user_id and r.upn_key in directory.id_by_key}
    if not found:
        return rows
    t = protected_accounts
    with writing(store) as conn:
        for key, user_id in found.items():
            conn.execute(sa.update(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == key, t.c.user_id.is_(None))
                         .values(user_id=user_id))
        return conn.execute(
            sa.select(t).where(t.c.tenant_id == tenant_id, t.c.removed_at.is_(None)).order_by(t.c.upn_key)
        ).all()


def list_protected(store: Store, tenant_id: str) -> list[ProtectedAccount]:
    """Every protection not removed, expired ones included, sorted by UPN as protected; each with its
    account's current UPN. Records the object id of any the latest snapshot shows for the first time."""
    t = protected_accounts
    with reading(store) as conn:
        rows = conn.execute(
            sa.select(t).where(t.c.tenant_id == tenant_id, t.c.removed_at.is_(None)).order_by(t.c.upn_key)
        ).all()
    if not rows:
        return []
    directory = _directory(store, tenant_id)
    rows = _link_ids(store, tenant_id, rows, directory)
    return [_record(r, directory.upn_by_id) for r in rows]


def active_protection(store: Store, tenant_id: str, now: datetime | pd.Timestamp | None = None) -> Protection:
    """The protections in force now (not removed, not expired): what plans and workers check. "Now" is the
    store's clock unless given, so a demo protection expires on the demo tenant's day."""
    return as_protection(list_protected(store, tenant_id), store.clock() if now is None else now)


def protected_frame(store: Store, tenant_id: str, now: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """The Protected accounts page's table: one row per protection, ``status`` ``active`` or ``expired``."""
    accounts = list_protected(store, tenant_id)
    now = store.clock() if now is None else now
    frame = pd.DataFrame({
        "upn": [a.upn for a in accounts],
        "current_upn": [a.current_upn for a in accounts],
        "user_id": [a.user_id for a in accounts],
        "reason": [a.reason for a in accounts],
        "owner": [a.owner for a in accounts],
        "expires_at": [a.expires_at for a in accounts],
        "status": ["expired" if a.is_expired(now) else "active" for a in accounts],
        "created_at": [a.created_at for a in accounts],
        "created_by": [a.created_by for a in accounts],
        "updated_at": [a.updated_at for a in accounts],
    })
    for name, dtype in PROTECTED_COLUMNS.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


RISK_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "code": "string",
    "why": "string",
    "protected": "bool",
}


def _healthy(frame: pd.DataFrame) -> pd.Series:
    """Can sign in and has a second factor registered: an emergency account that will work when needed."""
    return frame["account_enabled"].fillna(False).astype(bool) & frame["registered"].fillna(False).astype(bool)


def _looks_like_break_glass(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    upn = frame["upn"].fillna("").astype(str)
    name = frame["display_name"].fillna("").astype(str)
    classified = frame["account_kind"].fillna("").astype(str) == "break_glass"
    named = upn.str.contains(_EXCLUDED_NAME) | name.str.contains(_EXCLUDED_NAME)
    return classified, named


def suggest_protected(frame: pd.DataFrame, protected: Any = None) -> pd.DataFrame:
    """Healthy accounts that look like break-glass accounts and are not protected yet, most certain first.

    ``code`` says why: ``break_glass`` (the snapshot classified it so) or ``excluded_name`` (named like an
    account kept out of MFA: breakglass, emergency, excluded, no-mfa…). Only accounts that can sign in and
    have a second factor are suggested: an admin with no method and no sign-in is the account that most
    needs MFA, not an exemption (see :func:`protection_risks`).
    """
    protection = as_protection(protected)
    if frame.empty:
        return pd.DataFrame({n: pd.Series(dtype=d) for n, d in SUGGESTION_COLUMNS.items()})
    classified, named = _looks_like_break_glass(frame)
    healthy = _healthy(frame)
    rules = [
        ("break_glass", (classified & healthy).to_numpy(), "classified as a break-glass (emergency access) account"),
        ("excluded_name", (named & healthy).to_numpy(), "named like an account kept out of MFA"),
    ]
    codes: list[str | None] = [None] * len(frame)
    whys: list[str | None] = [None] * len(frame)
    for code, mask, why in reversed(rules):  # the first rule wins: apply it last
        for i in mask.nonzero()[0]:
            codes[i], whys[i] = code, why
    out = pd.DataFrame({"user_id": frame["id"].astype(str), "upn": frame["upn"].fillna("").astype(str),
                        "display_name": frame["display_name"].fillna("").astype(str), "code": codes, "why": whys})
    keep = out["code"].notna() & ~out["upn"].map(lambda u: u in protection)
    out = out[keep]
    order = {code: n for n, (code, _, _) in enumerate(rules)}
    out = out.assign(_rank=out["code"].map(order)).sort_values(["_rank", "upn"], kind="stable")
    out = out.drop(columns="_rank").reset_index(drop=True)
    return out.astype(SUGGESTION_COLUMNS)


def protection_risks(frame: pd.DataFrame, protected: Any = None) -> pd.DataFrame:
    """Accounts to fix rather than exempt: administrators without a second factor (``admin_without_mfa``)
    and break-glass-looking accounts that would not work in an emergency (``unhealthy_break_glass``:
    disabled, or no method registered). ``protected`` says whether each is on the list already."""
    protection = as_protection(protected)
    if frame.empty:
        return pd.DataFrame({n: pd.Series(dtype=d) for n, d in RISK_COLUMNS.items()})
    classified, named = _looks_like_break_glass(frame)
    healthy = _healthy(frame)
    admin_no_mfa = frame["is_admin"].fillna(False).astype(bool) & ~frame["registered"].fillna(False).astype(bool)
    unhealthy = (classified | named) & ~healthy
    code = pd.Series(pd.NA, index=frame.index, dtype="string")
    code[unhealthy.to_numpy()] = "unhealthy_break_glass"
    code[admin_no_mfa.to_numpy()] = "admin_without_mfa"
    why = code.map({
        "admin_without_mfa": "an administrator with no second factor: require MFA for it rather than exempting it",
        "unhealthy_break_glass": "looks like an emergency access account but would not work in an emergency "
                                 "(disabled, or no method registered): fix it before relying on it",
    })
    upn = frame["upn"].fillna("").astype(str)
    out = pd.DataFrame({"user_id": frame["id"].astype(str), "upn": upn,
                        "display_name": frame["display_name"].fillna("").astype(str), "code": code, "why": why,
                        "protected": upn.map(lambda u: u in protection).astype(bool)})
    out = out[out["code"].notna()].sort_values(["code", "upn"], kind="stable").reset_index(drop=True)
    return out.astype(RISK_COLUMNS)
