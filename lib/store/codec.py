"""Converting between typed users frames and database rows, a column at a time.

The database holds instants as integer nanoseconds (UTC) and booleans as booleans; pandas holds
``datetime64[ns, UTC]``, ``string`` and numpy ``bool``/``int16``. Converting whole columns (never
cell by cell through pandas) keeps 100k-user snapshots fast and the dtypes exact both ways.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from lib.columns import FACT_COLUMNS, USER_COLUMNS, UTC_TIMESTAMP, coerce_users
from lib.store.schema import LATEST_COLUMNS

STORED_COLUMNS: tuple[str, ...] = ("id", *FACT_COLUMNS, *LATEST_COLUMNS)
"""The per-user columns of a users frame the store keeps (the read times live on the snapshot)."""

STORED_DTYPES: dict[str, str] = {name: USER_COLUMNS[name] for name in STORED_COLUMNS}
"""Their dtypes, for ``frame_from_rows``."""

VERSION_COLUMNS: tuple[str, ...] = ("user_id", *FACT_COLUMNS, *LATEST_COLUMNS)
"""The same columns under their ``user_versions`` names."""

_NAT = np.iinfo(np.int64).min


def to_ns(value: datetime | pd.Timestamp, name: str) -> int:
    """Nanoseconds since the epoch for a timezone-aware instant; naive times are ambiguous, so refused."""
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"{name} must be a time, got NaT")
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {stamp.isoformat()}")
    return int(stamp.value)


def from_ns(value: int | None) -> pd.Timestamp | None:
    """The UTC timestamp stored as ``value`` nanoseconds (None stays None)."""
    return None if value is None else pd.Timestamp(int(value), unit="ns", tz="UTC")


def utc_day(ns: int) -> date:
    """The UTC calendar day of an instant: the key of ``daily_aggregates``."""
    return pd.Timestamp(ns, unit="ns", tz="UTC").date()


def prepare_users(frame: pd.DataFrame) -> pd.DataFrame:
    """The stored columns of ``frame``, typed, validated early with a clear ValueError."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"expected a users DataFrame, got {type(frame).__name__}")
    users = frame.reset_index(drop=True) if _already_typed(frame) else coerce_users(frame)
    missing = int(users["id"].isna().sum())
    if missing:
        raise ValueError(f"users frame has {missing} row(s) without an id")
    duplicated = users["id"][users["id"].duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(str(v) for v in duplicated[:5])
        raise ValueError(f"users frame has {len(duplicated)} duplicated id(s), e.g. {shown}")
    return users.loc[:, list(STORED_COLUMNS)]


_SCHEMA_DTYPES = {name: pd.api.types.pandas_dtype(dtype) for name, dtype in USER_COLUMNS.items()}


def _already_typed(frame: pd.DataFrame) -> bool:
    """True when ``coerce_users`` would change nothing we store (saves its conversions per frame)."""
    return all(name in frame.columns and frame[name].dtype == dtype for name, dtype in _SCHEMA_DTYPES.items())


def python_values(column: pd.Series) -> list[Any]:
    """A column as plain Python values for the driver: None for NA, int nanoseconds for instants."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        naive = column.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = naive.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(object)
        ns[column.isna().to_numpy()] = None
        return ns.tolist()
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return column.to_numpy().tolist()
    if pd.api.types.is_integer_dtype(dtype) and not column.hasnans:
        return column.to_numpy(dtype=np.int64).tolist()
    return column.to_numpy(dtype=object, na_value=None).tolist()


BULK_CHUNK = 5_000
"""Rows per executemany: the driver's parameter dicts of a 100k-user snapshot never exist all at once."""

VERSION_ROW_COLUMNS = {**dict(zip(VERSION_COLUMNS, STORED_COLUMNS, strict=True)), "removed": "removed"}


def version_rows(users: pd.DataFrame, constants: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``user_versions`` parameter rows for ``users``: stored columns plus a boolean ``removed``."""
    return bulk_rows(users, VERSION_ROW_COLUMNS, constants)


def bulk_row_chunks(
    frame: pd.DataFrame, columns: Mapping[str, str], constants: Mapping[str, Any] | None = None,
    size: int = BULK_CHUNK,
) -> Iterator[list[dict[str, Any]]]:
    """``bulk_rows`` of ``frame``, ``size`` rows at a time (Python objects for one chunk only)."""
    for start in range(0, len(frame), size):
        yield bulk_rows(frame.iloc[start:start + size], columns, constants)


def bulk_rows(
    frame: pd.DataFrame, columns: Mapping[str, str], constants: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """executemany parameters: one dict per row, ``columns`` maps SQL name → frame column."""
    if frame.empty:
        return []
    values = [python_values(frame[name]) for name in columns.values()]
    rows = []
    for row_values in zip(*values, strict=True):
        row = dict(zip(columns, row_values, strict=True))
        if constants:
            row.update(constants)
        rows.append(row)
    return rows


def typed_column(values: Sequence[Any], dtype: str) -> Any:
    """A column of driver values as a pandas array of the schema dtype (None becomes NA/NaT)."""
    values = list(values)
    if dtype == UTC_TIMESTAMP:
        ns = pd.array(values, dtype="Int64").to_numpy(dtype=np.int64, na_value=_NAT)
        return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    if dtype == "bool":
        return np.array(values, dtype=bool)
    if dtype in ("int16", "int64"):
        return np.array(values, dtype=dtype)
    if dtype == "datetime64[ns]":
        return pd.DatetimeIndex(pd.to_datetime(values)).astype("datetime64[ns]")
    return pd.array(values, dtype=dtype)


def frame_from_rows(rows: Sequence[Sequence[Any]], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame of ``rows`` (in ``dtypes`` order) with each column converted to its dtype."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in dtypes]
    pairs = zip(dtypes.items(), columns, strict=True)
    data = {name: typed_column(values, dtype) for (name, dtype), values in pairs}
    return pd.DataFrame(data, columns=list(dtypes))
