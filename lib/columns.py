"""The one-row-per-user table every part of the console shares.

A snapshot of the tenant (``lib.directory``), the store (``lib.store``), the charts and the users
page all speak this schema, so it lives in one place. ``empty_users_frame`` and ``coerce_users``
keep dtypes exact: a column that silently became ``object`` makes filters slow and charts wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

STATES: tuple[str, ...] = ("disabled", "enabled", "enforced")
"""Per-user MFA states in lifecycle order (Graph also defines ``unknownFutureValue``)."""

UNKNOWN_STATE = "unknown"
"""A state the console could not read (the read failed for good, or Graph sent a future value)."""

ACCOUNT_KINDS: tuple[str, ...] = ("person", "service", "shared", "break_glass")

REGISTRATION_SOURCES: tuple[str, ...] = ("reports", "methods")
"""Where registration facts came from: the P1 reports API or per-user authentication methods."""

METHODS_SEPARATOR = ","
"""``methods`` holds the registered method names, sorted, joined by this separator."""

PHISHING_RESISTANT_METHODS: frozenset[str] = frozenset(
    {"fido2", "passKeyDeviceBound", "passKeySynced", "windowsHelloForBusiness",
     "microsoftAuthenticatorPasswordless", "macOsSecureEnclaveKey"}
)

UTC_TIMESTAMP = "datetime64[ns, UTC]"

USER_COLUMNS: dict[str, str] = {
    "id": "string",
    "upn": "string",
    "display_name": "string",
    "mail": "string",
    "department": "string",
    "country": "string",
    "job_title": "string",
    "is_guest": "bool",
    "account_enabled": "bool",
    "is_admin": "bool",
    "account_kind": "string",
    "state": "string",
    "registered": "bool",
    "capable": "bool",
    "methods": "string",
    "method_count": "int16",
    "preferred_method": "string",
    "covered_by": "string",
    "covered_by_policies": "string",
    "protection_conflict": "string",
    "method_class": "string",
    "sms_voice_deadline": "string",
    "created": UTC_TIMESTAMP,
    "last_sign_in": UTC_TIMESTAMP,
    "users_read_at": UTC_TIMESTAMP,
    "registration_read_at": UTC_TIMESTAMP,
    "state_read_at": UTC_TIMESTAMP,
}
"""Column name → pandas dtype of a users frame, in display order."""

PROTECTION_COLUMNS: tuple[str, ...] = (
    "covered_by", "covered_by_policies", "protection_conflict", "method_class", "sms_voice_deadline",
)
"""The protection model's answer per user (``lib.protection``), filled in by the snapshot's policies read.

``covered_by`` is a ``lib.protection.CoveredBy`` value, ``covered_by_policies`` the names of the Conditional
Access policies behind it joined with ``POLICIES_SEPARATOR`` ("" if none), ``protection_conflict`` a
``lib.protection.Conflict`` value or "", ``method_class`` a ``lib.protection.MethodClass`` value, and
``sms_voice_deadline`` the ISO date SMS/voice ends for a user whose ``method_class`` is ``sms_voice_only``
(else ""). Missing (NA) in snapshots taken before the console read policies: a frame built without them is
still valid, so every older frame and fixture keeps working and "not evaluated" is never mistaken for
"not covered".
"""

POLICIES_SEPARATOR = "; "
"""``covered_by_policies`` joins the policy names with this separator."""

VOLATILE_COLUMNS: tuple[str, ...] = ("last_sign_in", "users_read_at", "registration_read_at", "state_read_at")
"""Columns that move on nearly every refresh (people sign in daily): kept as latest values, not as history."""

FACT_COLUMNS: tuple[str, ...] = tuple(c for c in USER_COLUMNS if c != "id" and c not in VOLATILE_COLUMNS)
"""The columns whose change makes a user's row 'changed' between two snapshots."""


def empty_users_frame() -> pd.DataFrame:
    """A users frame with no rows and every column typed."""
    return coerce_users(pd.DataFrame({name: [] for name in USER_COLUMNS}))


def coerce_users(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns, in order, with the schema's dtypes.

    Raises ValueError naming any missing column, so a half-built frame never reaches a page; only the
    ``PROTECTION_COLUMNS`` may be absent (they become NA: not evaluated).
    """
    missing = [name for name in USER_COLUMNS if name not in frame.columns and name not in PROTECTION_COLUMNS]
    if missing:
        raise ValueError(f"users frame is missing columns: {', '.join(missing)}")
    out = frame.reindex(columns=list(USER_COLUMNS))
    for name, dtype in USER_COLUMNS.items():
        if dtype == UTC_TIMESTAMP:
            out[name] = pd.to_datetime(out[name], utc=True, errors="coerce").astype(UTC_TIMESTAMP)
        elif dtype == "bool":
            out[name] = out[name].fillna(False).astype(bool)
        else:
            out[name] = out[name].astype(dtype)
    return out.reset_index(drop=True)


def split_methods(methods: str | None) -> list[str]:
    """The method names packed in a ``methods`` cell."""
    if not isinstance(methods, str) or not methods:  # None, NaN and pd.NA (whose truth value raises) alike
        return []
    return methods.split(METHODS_SEPARATOR)


def join_methods(methods: list[str] | tuple[str, ...] | set[str]) -> str:
    """Pack method names into a ``methods`` cell (sorted, so equal sets compare equal)."""
    return METHODS_SEPARATOR.join(sorted(set(methods)))


def ids_among(ids: pd.Series, wanted: Iterable[str]) -> np.ndarray:
    """Which of ``ids`` are in ``wanted``, as a boolean array.

    ``Series.isin`` on an Arrow string column converts every wanted value to an Arrow scalar in Python: half
    a second for a 100k-user selection, held against every page rerun of the server meanwhile; a set lookup
    per id takes 25 ms."""
    keep = wanted if isinstance(wanted, set | frozenset) else set(wanted)
    return np.fromiter((i in keep for i in ids.tolist()), dtype=bool, count=len(ids))
