"""CSV import: a file of UPNs (with an optional desired state per row) → validated rows → a plan.

File-level problems raise :class:`~lib.rollout.errors.CsvImportError` with a stable ``code`` and a
message that says how to fix the file: ``empty``, ``encoding`` (names the encoding to save as),
``not_text``, ``delimiter`` (semicolons or tabs where commas were expected), ``too_many_rows``,
``no_upn_column``. Row-level problems are collected, one :class:`CsvRowError` per row, with the
line number a spreadsheet shows: ``missing_upn``, ``bad_upn``, ``duplicate``, ``missing_state``,
``bad_state``, ``unknown_user``. A UTF-8 byte-order mark is fine; so is a file without a header
(first column UPN, optional second column state) and the usual header spellings
(``UserPrincipalName``, ``UPN``, ``Email``, ``User principal name``; ``State``, ``Desired state``,
``MFA state``, ``perUserMfaState``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.columns import STATES
from lib.exports import to_csv_bytes
from lib.rollout.errors import CsvImportError
from lib.rollout.plan import Plan, plan
from lib.rollout.protected import upn_key

__all__ = [
    "MAX_ROWS",
    "ROW_ERROR_CODES",
    "CsvImport",
    "CsvRow",
    "CsvRowError",
    "detect_delimiter",
    "parse_users_csv",
    "plan_from_csv",
]

MAX_ROWS = 200_000
"""Most data rows one import takes (a bigger list is split into several operations)."""

ROW_ERROR_CODES: tuple[str, ...] = (
    "missing_upn", "bad_upn", "duplicate", "missing_state", "bad_state", "unknown_user",
)

SAVE_AS = "save it as \"CSV UTF-8 (Comma delimited) (*.csv)\" (Excel: File → Save As)"
_UPN_HEADERS = frozenset({"upn", "userprincipalname", "email", "emailaddress", "mail", "user", "username",
                          "signinname", "login", "account"})
_STATE_HEADERS = frozenset({"state", "desiredstate", "mfastate", "perusermfastate", "requestedstate",
                            "targetstate", "newstate", "mfa", "perusermfa"})
_UPN = re.compile(r"[^@\s]+@[^@\s]+")
_DELIMITER_NAMES = {",": "commas (,)", ";": "semicolons (;)", "\t": "tabs"}


def _header_key(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.strip().lower())


@dataclass(frozen=True)
class CsvRow:
    line: int
    upn: str
    user_id: str
    state: str


@dataclass(frozen=True)
class CsvRowError:
    line: int
    upn: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class CsvImport:
    """A parsed file: the valid rows and one error per rejected row."""

    rows: tuple[CsvRow, ...]
    errors: tuple[CsvRowError, ...]
    has_header: bool
    data_rows: int
    """Non-blank data rows read (valid + rejected)."""
    delimiter: str = ","
    """The separator the file was read with (chosen, or detected)."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def targets(self) -> dict[str, str]:
        """User id → desired state, in file order (what :func:`plan_from_csv` plans)."""
        return {row.user_id: row.state for row in self.rows}

    def error_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for error in self.errors:
            counts[error.code] = counts.get(error.code, 0) + 1
        return {code: counts[code] for code in ROW_ERROR_CODES if code in counts}

    def errors_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "line": pd.Series([e.line for e in self.errors], dtype="int64"),
            "upn": pd.Series([e.upn for e in self.errors], dtype="string"),
            "code": pd.Series([e.code for e in self.errors], dtype="string"),
            "message": pd.Series([e.message for e in self.errors], dtype="string"),
        })

    def errors_csv(self) -> bytes:
        """The rejected rows as a CSV download (formula cells neutralised)."""
        return to_csv_bytes(self.errors_frame())

    def describe_errors(self) -> str:
        """One line: how many rows were rejected, and the first reason."""
        if not self.errors:
            return "no errors"
        first = self.errors[0]
        many = len(self.errors)
        return f"{many:,} row{'s' if many != 1 else ''} rejected; first: {first}"


def _looks_utf16(data: bytes) -> bool:
    """UTF-16 without its byte-order mark: in text of Latin letters every other byte is NUL."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    even, odd = sample[0::2], sample[1::2]
    return even.count(0) > 0.6 * len(even) or odd.count(0) > 0.6 * len(odd)


def _nul_error(data: bytes) -> CsvImportError:
    """Why a file with a NUL byte cannot be read: UTF-16 saved without a mark, or damaged / not text."""
    if _looks_utf16(data):
        return CsvImportError(f"the file is UTF-16 (Excel's \"Unicode Text\"), not UTF-8: {SAVE_AS}", code="encoding")
    line = data[:data.index(b"\x00")].count(b"\n") + 1
    return CsvImportError(f"line {line:,} holds a NUL byte, which no text file has (the file is damaged, or it is "
                          f"not a CSV file): {SAVE_AS}", code="not_text")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        text = data[1:] if data.startswith("\ufeff") else data
        if "\x00" in text:
            raise _nul_error(text.encode("utf-8"))
    else:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise CsvImportError(f"the file is UTF-16 (Excel's \"Unicode Text\"), not UTF-8: {SAVE_AS}",
                                 code="encoding")
        if data.startswith(b"PK\x03\x04"):
            raise CsvImportError(f"this is an Excel workbook (.xlsx), not a CSV file: {SAVE_AS}", code="not_text")
        if b"\x00" in data:
            raise _nul_error(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            try:
                data.decode("cp1252")
                guess = "it looks like Windows-1252 (\"ANSI\", what Excel's plain \"CSV (Comma delimited)\" writes)"
            except UnicodeDecodeError:
                guess = "it is in another encoding"
            raise CsvImportError(f"the file is not UTF-8 ({guess}; first bad byte on line {line}): {SAVE_AS}",
                                 code="encoding") from None
    if not text.strip():
        raise CsvImportError("the file is empty: it needs one user principal name per line", code="empty")
    return text


def detect_delimiter(text: str) -> str:
    """The separator of the first non-blank line: the most frequent of comma, semicolon and tab (a comma when
    none occurs: a single column of UPNs). Excel writes semicolons where the decimal mark is a comma."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_delimiter(text: str, delimiter: str) -> None:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if delimiter in first:
        return
    for other in (";", "\t", ","):
        if other != delimiter and other in first:
            raise CsvImportError(
                f"the file is separated by {_DELIMITER_NAMES[other]}, not {_DELIMITER_NAMES[delimiter]}: "
                f"{SAVE_AS}, or choose {_DELIMITER_NAMES[other]} as the separator", code="delimiter")


def parse_users_csv(
    data: bytes | str,
    frame: pd.DataFrame,
    *,
    default_state: str | None = None,
    delimiter: str | None = ",",
    max_rows: int = MAX_ROWS,
) -> CsvImport:
    """Read and validate a CSV of UPNs against the users frame (the latest snapshot).

    ``default_state`` applies to rows without a state (the CLI's ``--state``, the page's button).
    ``delimiter`` None: the one the file uses (:func:`detect_delimiter`); a chosen one the file does not use
    is refused, naming the one it does.
    Raises ``CsvImportError`` for a file that cannot be used at all; row problems are in ``errors``.
    """
    if delimiter is not None and delimiter not in _DELIMITER_NAMES:
        raise ValueError(f"delimiter must be ',', ';' or a tab, got {delimiter!r}")
    if default_state is not None and default_state not in STATES:
        raise ValueError(f"default_state must be one of {', '.join(STATES)}, got {default_state!r}")
    text = _decode(data)
    if delimiter is None:
        delimiter = detect_delimiter(text)
    _check_delimiter(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if "".join(cells).strip():
                records.append((reader.line_num, cells))
                if len(records) > max_rows + 1:
                    break
    except csv.Error as exc:
        raise CsvImportError(f"the file is not valid CSV near line {reader.line_num}: {exc}", code="not_text") from None
    if not records:
        raise CsvImportError("the file is empty: it needs one user principal name per line", code="empty")

    first = records[0][1]
    keys = [_header_key(c) for c in first]
    has_header = any(k in _UPN_HEADERS or k in _STATE_HEADERS for k in keys)
    if has_header:
        upn_col = next((i for i, k in enumerate(keys) if k in _UPN_HEADERS), None)
        state_col = next((i for i, k in enumerate(keys) if k in _STATE_HEADERS), None)
        if upn_col is None:
            found = ", ".join(c.strip() for c in first if c.strip())
            raise CsvImportError(f"no column of user principal names: name it UserPrincipalName (found: {found})",
                                 code="no_upn_column")
        body = records[1:]
    elif "@" in first[0]:
        upn_col, state_col, body = 0, (1 if len(first) > 1 else None), records
    else:
        found = ", ".join(c.strip() for c in first if c.strip())
        raise CsvImportError(
            f"no column of user principal names: the first line ({found}) is neither a header such as "
            "UserPrincipalName,State nor a UPN", code="no_upn_column")
    if len(body) > max_rows:
        raise CsvImportError(f"the file has more than {max_rows:,} rows: split it into files of at most "
                             f"{max_rows:,}", code="too_many_rows")
    if not body:
        raise CsvImportError("the file has a header but no users", code="empty")

    by_upn: dict[str, str] = {}
    for uid, upn in zip(frame["id"].tolist(), frame["upn"].tolist(), strict=True):
        if isinstance(upn, str):
            by_upn.setdefault(upn_key(upn), str(uid))
    rows: list[CsvRow] = []
    errors: list[CsvRowError] = []
    seen: dict[str, int] = {}
    for line, cells in body:
        upn = cells[upn_col].strip() if upn_col < len(cells) else ""
        raw_state = cells[state_col].strip() if state_col is not None and state_col < len(cells) else ""

        def reject(code: str, message: str, upn: str | None = upn or None, line: int = line) -> None:
            errors.append(CsvRowError(line, upn, code, message))

        if not upn:
            reject("missing_upn", "no user principal name on this line")
            continue
        if not _UPN.fullmatch(upn):
            reject("bad_upn", f"{upn!r} is not a user principal name (name@domain)")
            continue
        key = upn_key(upn)
        if key in seen:
            reject("duplicate", f"{upn} is listed again (first on line {seen[key]}); each user once")
            continue
        seen[key] = line
        if raw_state:
            state = raw_state.lower()
            if state not in STATES:
                reject("bad_state", f"{raw_state!r} is not a state: use disabled, enabled or enforced")
                continue
        elif default_state is not None:
            state = default_state
        else:
            reject("missing_state", "no state on this line and no default state chosen")
            continue
        user_id = by_upn.get(key)
        if user_id is None:
            reject("unknown_user", f"{upn} is not in the tenant's latest snapshot (deleted, or a typo?)")
            continue
        rows.append(CsvRow(line, upn, user_id, state))
    return CsvImport(tuple(rows), tuple(errors), has_header, len(body), delimiter)


def plan_from_csv(frame: pd.DataFrame, imported: CsvImport, *, protected: Any = None, actor: Any,
                  reregistration_due: Iterable[str] = ()) -> Plan:
    """The plan of an import's valid rows (one state for all, or each row's own); ``reregistration_due``
    as for :func:`lib.rollout.plan.plan`."""
    states = {row.state for row in imported.rows}
    if len(states) == 1:
        (state,) = states
        return plan(frame, state, [row.user_id for row in imported.rows], protected=protected, actor=actor,
                    source="csv", reregistration_due=reregistration_due)
    return plan(frame, targets=imported.targets, protected=protected, actor=actor, source="csv",
                reregistration_due=reregistration_due)
