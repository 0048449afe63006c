"""The users page's filters as pure, vectorised functions: a users frame and a ``UserFilters`` in, a mask out.

Every filter is a boolean numpy array aligned with the frame's rows, so they combine with ``&`` and a
100k-user snapshot filters in a few milliseconds. No Streamlit in here: ``pages/users.py`` turns its
widgets into a :class:`UserFilters` and renders what :func:`filter_mask` keeps.

The filters (each one off by default, so ``UserFilters()`` keeps everyone):

- ``text``: free text over display name and UPN, case-insensitive; every word must appear in one of them;
- ``states``: per-user MFA state (``disabled``, ``enabled``, ``enforced``, ``unknown``);
- ``registered``, ``capable``, ``admin``, ``guest``, ``account_enabled``: yes (True), no (False) or any (None);
- ``departments``, ``countries``: any of these values; :data:`NONE` stands for "no value";
- ``methods``: users with at least one of these registered methods (:data:`NONE`: no method at all);
- ``account_kinds``: ``person``, ``service``, ``shared``, ``break_glass``;
- ``last_sign_in``: a code from :data:`SIGN_IN_OPTIONS` (age relative to ``now``);
- ``upns``: only the users whose UPN *or* mail address is in this set (a pasted or uploaded list;
  compared stripped and case-folded); ``None`` means no list;
- ``covered_by``: what protects the user (``lib.protection.CoveredBy`` values; ``NOT_READ``: the snapshot
  did not read protection); ``policies``: covered by any of these Conditional Access policies (names);
- ``conflicts``: ``lib.protection.Conflict`` values (:data:`NONE`: no conflict);
- ``method_classes``: the strongest registered method class (``lib.protection.MethodClass`` values);
- ``sms_voice_deadlines``: relying on SMS/voice alone with this deadline (ISO dates of ``DEADLINES``);
- ``sign_in_evidence``: codes of ``lib.signins.columns.EVIDENCE_FILTERS`` (legacy client, one factor, no
  sign-in), each kept by every user matched; they need the evidence columns and the read they describe
  (``evidence_as_of``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from lib.charts import METHOD_LABELS as METHOD_NAMES
from lib.columns import ACCOUNT_KINDS, METHODS_SEPARATOR, POLICIES_SEPARATOR, STATES, UNKNOWN_STATE
from lib.countries import country_names
from lib.protection import PROTECTED, Conflict, CoveredBy, MethodClass
from lib.protection import label as protection_label
from lib.protection_kpis import DEADLINES, NOT_READ, coverage_values, deadline_values
from lib.signins.columns import EVIDENCE_COLUMNS, EVIDENCE_FILTERS, evidence_mask

__all__ = [
    "ACCOUNT_KIND_LABELS",
    "CONFLICT_OPTIONS",
    "COVERAGE_OPTIONS",
    "DEADLINE_OPTIONS",
    "EXPORT_COLUMNS",
    "MAX_UPN_LIST",
    "METHOD_CLASS_OPTIONS",
    "NONE",
    "PROTECTION_EXPORT_COLUMNS",
    "PROTECTION_LABELS",
    "SIGN_IN_OPTIONS",
    "STATE_FILTER_OPTIONS",
    "STATE_LABELS",
    "FilterOptions",
    "PreparedUsers",
    "UpnList",
    "UserFilters",
    "UsersFilterPreset",
    "address_keys",
    "bool_mask",
    "describe_filters",
    "export_frame",
    "filter_mask",
    "filter_options",
    "known_addresses",
    "merge_upn_lists",
    "methods_mask",
    "parse_upn_list",
    "policies_mask",
    "prepare_users",
    "protection_words",
    "search_index",
    "sign_in_mask",
    "state_mask",
    "text_mask",
    "unmatched_upns",
    "upn_list_mask",
    "values_mask",
    "with_states",
]

NONE = "(none)"
"""The option that stands for a missing department, country or method."""

STATE_FILTER_OPTIONS: tuple[str, ...] = (*STATES, UNKNOWN_STATE)
STATE_LABELS: dict[str, str] = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced",
                                UNKNOWN_STATE: "Unknown"}
ACCOUNT_KIND_LABELS: dict[str, str] = {"person": "Person", "service": "Service account",
                                       "shared": "Shared mailbox", "break_glass": "Break-glass"}

SIGN_IN_OPTIONS: dict[str, tuple[str, str | None, int]] = {
    "any": ("Any time (or never)", None, 0),
    "within_7": ("In the last 7 days", "within", 7),
    "within_30": ("In the last 30 days", "within", 30),
    "within_90": ("In the last 90 days", "within", 90),
    "older_30": ("Not in 30 days (or never)", "older", 30),
    "older_90": ("Not in 90 days (or never)", "older", 90),
    "never": ("Never signed in", "never", 0),
}
"""Last sign-in filter: code → (label, mode, days). ``older`` includes users who never signed in."""

COVERAGE_OPTIONS: tuple[str, ...] = (*(str(c) for c in CoveredBy), NOT_READ)
CONFLICT_OPTIONS: tuple[str, ...] = (*(str(c) for c in Conflict), NONE)
METHOD_CLASS_OPTIONS: tuple[str, ...] = (*(str(m) for m in MethodClass), NOT_READ)
DEADLINE_OPTIONS: tuple[str, ...] = tuple(d.isoformat() for d in DEADLINES)
PROTECTION_LABELS: dict[str, str] = {
    **{str(v): protection_label(v) for v in (*CoveredBy, *Conflict, *MethodClass)},
    # lib.protection.LABELS is keyed by StrEnum members, which hash as their text: CoveredBy.BLOCKED and
    # PolicyOutcome.BLOCKED are both "blocked", so the table holds the policy's words for both.
    str(CoveredBy.BLOCKED): "Blocked by Conditional Access",
    NOT_READ: "Not read (snapshot from before protection was read)",
    NONE: "No conflict",
    **{d.isoformat(): f"SMS/voice only, ends {d:%-d %b %Y}" for d in DEADLINES},
}
"""Protection filter values → the words the widgets, captions and exports show (``lib.protection.label``)."""

MAX_UPN_LIST = 200_000
"""Most UPNs one pasted or uploaded list may hold (the CSV import's limit)."""

_UPN = re.compile(r"[^@\s,;\"'<>()]+@[^@\s,;\"'<>()]+")
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class UserFilters:
    """The users page's filters; each field's default filters nothing. Validated on construction."""

    text: str = ""
    states: tuple[str, ...] = ()
    registered: bool | None = None
    capable: bool | None = None
    admin: bool | None = None
    guest: bool | None = None
    account_enabled: bool | None = None
    departments: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    account_kinds: tuple[str, ...] = ()
    last_sign_in: str = "any"
    upns: frozenset[str] | None = field(default=None)
    covered_by: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    method_classes: tuple[str, ...] = ()
    sms_voice_deadlines: tuple[str, ...] = ()
    sign_in_evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError(f"text must be a string, got {type(self.text).__name__}")
        for name in ("states", "departments", "countries", "methods", "account_kinds", "covered_by", "policies",
                     "conflicts", "method_classes", "sms_voice_deadlines", "sign_in_evidence"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a collection of values, not one string")
            object.__setattr__(self, name, tuple(value))
        bad = [s for s in self.states if s not in STATE_FILTER_OPTIONS]
        if bad:
            raise ValueError(f"unknown state {bad[0]!r}: use {', '.join(STATE_FILTER_OPTIONS)}")
        for name, allowed in (("covered_by", COVERAGE_OPTIONS), ("conflicts", CONFLICT_OPTIONS),
                              ("method_classes", METHOD_CLASS_OPTIONS), ("sms_voice_deadlines", DEADLINE_OPTIONS),
                              ("sign_in_evidence", tuple(EVIDENCE_FILTERS))):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"unknown {name.replace('_', ' ')} {bad[0]!r}: use {', '.join(allowed)}")
        bad = [k for k in self.account_kinds if k not in ACCOUNT_KINDS]
        if bad:
            raise ValueError(f"unknown account kind {bad[0]!r}: use {', '.join(ACCOUNT_KINDS)}")
        for name in ("registered", "capable", "admin", "guest", "account_enabled"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None, got {value!r}")
        if self.last_sign_in not in SIGN_IN_OPTIONS:
            raise ValueError(f"unknown last sign-in filter {self.last_sign_in!r}: use {', '.join(SIGN_IN_OPTIONS)}")
        if self.upns is not None:
            if isinstance(self.upns, str):
                raise ValueError("upns must be a collection of UPNs, not one string")
            object.__setattr__(self, "upns", frozenset(_key(u) for u in self.upns if _key(u)))

    @property
    def active(self) -> bool:
        """True when any filter narrows the users."""
        return self != UserFilters()

    def signature(self) -> tuple:
        """A hashable value that changes whenever the filters do (the page resets its selection on change)."""
        return tuple(getattr(self, f.name) for f in fields(self))


def _key(text: Any) -> str:
    return text.strip().casefold() if isinstance(text, str) else ""


def _strings(series: pd.Series) -> pd.Series:
    return series.astype("string")


# -- single filters ------------------------------------------------------------------------------

def state_mask(frame: pd.DataFrame, states: Iterable[str]) -> np.ndarray:
    """Users in any of ``states``; ``unknown`` also matches a missing or unreadable state."""
    wanted = list(states)
    state = _strings(frame["state"])
    mask = state.isin(wanted).to_numpy(dtype=bool, na_value=False, copy=True)
    if UNKNOWN_STATE in wanted:
        mask |= ~state.isin(list(STATES)).to_numpy(dtype=bool, na_value=False)
    return mask


def bool_mask(frame: pd.DataFrame, column: str, wanted: bool | None) -> np.ndarray:
    """Rows whose boolean ``column`` equals ``wanted`` (every row for None; a missing value is False)."""
    if wanted is None:
        return np.ones(len(frame), dtype=bool)
    values = frame[column].to_numpy(dtype=bool, na_value=False, copy=True)
    return values if wanted else ~values


def values_mask(frame: pd.DataFrame, column: str, values: Iterable[str]) -> np.ndarray:
    """Rows whose ``column`` is any of ``values``; :data:`NONE` matches a missing or blank value."""
    wanted = list(values)
    series = _strings(frame[column])
    mask = series.isin([v for v in wanted if v != NONE]).to_numpy(dtype=bool, na_value=False, copy=True)
    if NONE in wanted:
        mask |= (series.fillna("").str.strip() == "").to_numpy(dtype=bool, na_value=True)
    return mask


def methods_mask(frame: pd.DataFrame, methods: Iterable[str]) -> np.ndarray:
    """Users with at least one of ``methods`` registered; :data:`NONE` matches users with no method."""
    wanted = list(methods)
    cells = _strings(frame["methods"]).fillna("")
    named = [m for m in wanted if m != NONE]
    mask = np.zeros(len(frame), dtype=bool)
    if named:
        sep = re.escape(METHODS_SEPARATOR)
        pattern = rf"(?:^|{sep})(?:{'|'.join(re.escape(m) for m in named)})(?:{sep}|$)"
        mask |= cells.str.contains(pattern, regex=True).to_numpy(dtype=bool, na_value=False)
    if NONE in wanted:
        mask |= (cells == "").to_numpy(dtype=bool, na_value=True)
    return mask


def policies_mask(frame: pd.DataFrame, policies: Iterable[str]) -> np.ndarray:
    """Users covered by any of these Conditional Access policies (``covered_by_policies`` holds names joined
    by "; "); compared whole, so "Sales" does not match "Sales EU"."""
    wanted = {p.strip() for p in policies if p.strip()}
    if not wanted or "covered_by_policies" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    cells = _strings(frame["covered_by_policies"]).fillna("")
    hits = {cell: bool(wanted & {p.strip() for p in cell.split(POLICIES_SEPARATOR.strip())}) for cell in cells.unique()}
    return cells.map(hits).to_numpy(dtype=bool, na_value=False)


def _protection_mask(frame: pd.DataFrame, filters: UserFilters) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    if filters.covered_by:
        mask &= coverage_values(frame).isin(list(filters.covered_by)).to_numpy(dtype=bool)
    if filters.policies:
        mask &= policies_mask(frame, filters.policies)
    if filters.conflicts:
        conflict = (_strings(frame["protection_conflict"]).fillna("").str.strip()
                    if "protection_conflict" in frame.columns else pd.Series("", index=frame.index, dtype="string"))
        wanted = [c for c in filters.conflicts if c != NONE] + ([""] if NONE in filters.conflicts else [])
        mask &= conflict.isin(wanted).to_numpy(dtype=bool)
    if filters.method_classes:
        read = coverage_values(frame) != NOT_READ
        method = (_strings(frame["method_class"]).fillna("").str.strip() if "method_class" in frame.columns
                  else pd.Series("", index=frame.index, dtype="string"))
        method = method.where(read & (method != ""), NOT_READ)
        mask &= method.isin(list(filters.method_classes)).to_numpy(dtype=bool)
    if filters.sms_voice_deadlines:
        sms = (_strings(frame["method_class"]).fillna("") == str(MethodClass.SMS_VOICE_ONLY)
               if "method_class" in frame.columns else pd.Series(False, index=frame.index))
        mask &= (sms & deadline_values(frame).isin(list(filters.sms_voice_deadlines))).to_numpy(dtype=bool)
    return mask


def sign_in_mask(frame: pd.DataFrame, code: str, now: datetime | pd.Timestamp) -> np.ndarray:
    """Users by last sign-in age relative to ``now`` (see :data:`SIGN_IN_OPTIONS`)."""
    if code not in SIGN_IN_OPTIONS:
        raise ValueError(f"unknown last sign-in filter {code!r}: use {', '.join(SIGN_IN_OPTIONS)}")
    _, mode, days = SIGN_IN_OPTIONS[code]
    if mode is None:
        return np.ones(len(frame), dtype=bool)
    last = frame["last_sign_in"]
    never = last.isna().to_numpy(copy=True)
    if mode == "never":
        return never
    moment = pd.Timestamp(now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    cutoff = moment - pd.Timedelta(days=days)
    recent = (last >= cutoff).to_numpy(dtype=bool, na_value=False, copy=True)
    return recent if mode == "within" else ~recent


def search_index(frame: pd.DataFrame) -> pd.Series:
    """Display name and UPN case-folded into one string per user: compute once per snapshot, pass to
    :func:`text_mask` / :func:`filter_mask` so a search does not case-fold 100k names on every rerun."""
    name = _strings(frame["display_name"]).fillna("")
    upn = _strings(frame["upn"]).fillna("")
    return (name + "\n" + upn).str.casefold()


def text_mask(frame: pd.DataFrame, text: str, *, index: pd.Series | None = None) -> np.ndarray:
    """Users whose display name or UPN contains every word of ``text`` (case-insensitive, literal)."""
    words = [w for w in text.casefold().split() if w]
    if not words:
        return np.ones(len(frame), dtype=bool)
    haystack = search_index(frame) if index is None else index
    if len(haystack) != len(frame):
        raise ValueError("the search index does not belong to this frame (different length)")
    mask = np.ones(len(frame), dtype=bool)
    for word in words:
        mask &= haystack.str.contains(word, regex=False).to_numpy(dtype=bool, na_value=False)
    return mask


def address_keys(frame: pd.DataFrame) -> tuple[pd.Series, ...]:
    """The UPN and mail columns stripped and case-folded: what :func:`upn_list_mask` compares. Compute once
    per snapshot and pass as ``keys`` (case-folding 100k addresses on every rerun costs tens of ms)."""
    return tuple(_strings(frame[c]).str.strip().str.casefold() for c in ("upn", "mail") if c in frame.columns)


def upn_list_mask(frame: pd.DataFrame, upns: Iterable[str], *, keys: tuple[pd.Series, ...] | None = None
                  ) -> np.ndarray:
    """Users whose UPN or mail address is in ``upns`` (stripped, case-folded); ``keys`` from :func:`address_keys`."""
    wanted = list({_key(u) for u in upns} - {""})
    mask = np.zeros(len(frame), dtype=bool)
    if not wanted:
        return mask
    for column in address_keys(frame) if keys is None else keys:
        if len(column) != len(frame):
            raise ValueError("the address keys do not belong to this frame (different length)")
        mask |= column.isin(wanted).to_numpy(dtype=bool, na_value=False)
    return mask


@dataclass(frozen=True)
class UpnList:
    """A pasted or uploaded list: the UPNs found (in order, once each) and the tokens that were not UPNs."""

    upns: tuple[str, ...]
    invalid: tuple[str, ...]
    """Tokens with an ``@`` that are not a UPN (e.g. ``not@@valid``)."""
    duplicates: int
    ignored: tuple[str, ...] = ()
    """Words without an ``@`` (a CSV header, a state column, a display name): not counted as entries."""

    @property
    def entries(self) -> int:
        """What the list holds that looks meant as an address: UPNs, repeats of them and malformed ones."""
        return len(self.upns) + self.duplicates + len(self.invalid)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(_key(u) for u in self.upns)


def parse_upn_list(data: str | bytes, *, limit: int = MAX_UPN_LIST) -> UpnList:
    """UPNs from pasted text or an uploaded file: one per line, or separated by commas, semicolons or
    spaces; a CSV with a header works too (tokens without an ``@`` — headers, states — are ignored
    unless they look like a mistyped UPN). Raises ValueError for undecodable bytes or too many UPNs."""
    if isinstance(data, bytes):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ValueError("the file is UTF-16: save it as UTF-8 (Excel: CSV UTF-8)")
        if b"\x00" in data:  # UTF-16 saved without its mark, or not text at all
            raise ValueError("the file holds NUL bytes, so it is UTF-16 or not text: save it as UTF-8 "
                             "(Excel: CSV UTF-8)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("the file is not UTF-8 text: save it as UTF-8 (Excel: CSV UTF-8)") from None
    else:
        text = data[1:] if data.startswith("\ufeff") else data
        if "\x00" in text:
            raise ValueError("the list holds NUL characters: paste plain text")
    found: dict[str, str] = {}
    invalid: list[str] = []
    ignored: list[str] = []
    duplicates = 0
    for raw in _SPLIT.split(text):
        token = raw.strip().strip("\"'<>()")
        if not token:
            continue
        if _UPN.fullmatch(token):
            key = _key(token)
            if key in found:
                duplicates += 1
            else:
                found[key] = token
                if len(found) > limit:
                    raise ValueError(f"the list has more than {limit:,} UPNs: split it")
        elif "@" in token:
            invalid.append(token)
        else:
            ignored.append(token)
    return UpnList(tuple(found.values()), tuple(invalid), duplicates, tuple(ignored))


def merge_upn_lists(lists: Iterable[UpnList]) -> UpnList:
    """Several lists (pasted and uploaded) as one: a UPN on two of them is a duplicate, whatever its case."""
    found: dict[str, str] = {}
    invalid: list[str] = []
    ignored: list[str] = []
    duplicates = 0
    for one in lists:
        duplicates += one.duplicates
        invalid.extend(one.invalid)
        ignored.extend(one.ignored)
        for upn in one.upns:
            if _key(upn) in found:
                duplicates += 1
            else:
                found[_key(upn)] = upn
    return UpnList(tuple(found.values()), tuple(invalid), duplicates, tuple(ignored))


def known_addresses(frame: pd.DataFrame, keys: tuple[pd.Series, ...] | None = None) -> frozenset[str]:
    """Every UPN and mail address of the frame, case-folded (for :func:`unmatched_upns`)."""
    known: set[str] = set()
    for column in address_keys(frame) if keys is None else keys:
        known.update(column.dropna().tolist())
    known.discard("")
    return frozenset(known)


def unmatched_upns(frame: pd.DataFrame, upns: Iterable[str], *, known: frozenset[str] | None = None) -> list[str]:
    """The listed UPNs that match no user's UPN or mail (in the order given); ``known`` from
    :func:`known_addresses`, computed once per snapshot."""
    found = known_addresses(frame) if known is None else known
    return [u for u in upns if _key(u) not in found]


# -- all together --------------------------------------------------------------------------------

def filter_mask(
    frame: pd.DataFrame,
    filters: UserFilters,
    now: datetime | pd.Timestamp | None = None,
    *,
    index: pd.Series | None = None,
    keys: tuple[pd.Series, ...] | None = None,
    evidence_as_of: datetime | None = None,
) -> np.ndarray:
    """The rows of ``frame`` every active filter keeps (a boolean array aligned with the frame).

    ``now`` is needed for the last sign-in filter (the demo tenant has its own clock); ``index`` is
    :func:`search_index` and ``keys`` :func:`address_keys` of the same frame, each computed once;
    ``evidence_as_of`` is the sign-in log read the frame's evidence columns describe.
    """
    mask = np.ones(len(frame), dtype=bool)
    if filters.upns is not None:
        mask &= upn_list_mask(frame, filters.upns, keys=keys)
    if filters.states:
        mask &= state_mask(frame, filters.states)
    for column, wanted in (("registered", filters.registered), ("capable", filters.capable),
                           ("is_admin", filters.admin), ("is_guest", filters.guest),
                           ("account_enabled", filters.account_enabled)):
        if wanted is not None:
            mask &= bool_mask(frame, column, wanted)
    if filters.departments:
        mask &= values_mask(frame, "department", filters.departments)
    if filters.countries:
        mask &= values_mask(frame, "country", filters.countries)
    if filters.account_kinds:
        mask &= values_mask(frame, "account_kind", filters.account_kinds)
    if filters.methods:
        mask &= methods_mask(frame, filters.methods)
    if (filters.covered_by or filters.policies or filters.conflicts or filters.method_classes
            or filters.sms_voice_deadlines):
        mask &= _protection_mask(frame, filters)
    if filters.last_sign_in != "any":
        if now is None:
            raise ValueError("the last sign-in filter needs 'now'")
        mask &= sign_in_mask(frame, filters.last_sign_in, now)
    if filters.sign_in_evidence:
        if evidence_as_of is None:
            raise ValueError("sign-in evidence filters need the sign-in log's read (evidence_as_of)")
        for code in filters.sign_in_evidence:
            mask &= evidence_mask(frame, code, evidence_as_of)
    if filters.text.strip() and mask.any():
        mask &= text_mask(frame, filters.text, index=index)
    return mask


@dataclass(frozen=True)
class FilterOptions:
    """The choices the filter widgets offer for one snapshot (values sorted; :data:`NONE` last when present)."""

    departments: tuple[str, ...]
    countries: tuple[str, ...]
    methods: tuple[str, ...]
    sign_ins_known: bool
    policies: tuple[str, ...] = ()
    """Conditional Access policy names some user is covered by (``covered_by_policies``)."""
    protection_read: bool = False
    """Whether the snapshot read protection for anyone (else the protection filters have nothing to filter)."""


def _choices(series: pd.Series) -> tuple[str, ...]:
    values = _strings(series)
    blank = (values.fillna("").str.strip() == "").to_numpy(dtype=bool, na_value=True)
    present = sorted(set(values[~blank].tolist()), key=str.casefold)
    return (*present, NONE) if blank.any() else tuple(present)


def filter_options(frame: pd.DataFrame) -> FilterOptions:
    """Departments, countries and methods present in ``frame``, and whether sign-in times are known."""
    cells = _strings(frame["methods"]).fillna("")
    methods = sorted({m for cell in cells.unique().tolist() for m in cell.split(METHODS_SEPARATOR) if m},
                     key=str.casefold)
    has_none = bool((cells == "").any())
    return FilterOptions(
        departments=_choices(frame["department"]),
        countries=_choices(frame["country"]),
        methods=(*methods, NONE) if has_none else tuple(methods),
        sign_ins_known=bool(frame["last_sign_in"].notna().any()),
        policies=_policy_names(frame),
        protection_read=bool((coverage_values(frame) != NOT_READ).any()),
    )


def _policy_names(frame: pd.DataFrame) -> tuple[str, ...]:
    if "covered_by_policies" not in frame.columns:
        return ()
    cells = _strings(frame["covered_by_policies"]).fillna("").unique().tolist()
    names = {p.strip() for cell in cells for p in cell.split(POLICIES_SEPARATOR.strip()) if p.strip()}
    return tuple(sorted(names, key=str.casefold))


def _yes_no(value: bool | None) -> str:
    return "yes" if value else "no"


def _listed(values: Iterable[str], labels: Mapping[str, str] | None = None) -> str:
    shown = [labels.get(v, v) if labels else v for v in values]
    return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")


def describe_filters(filters: UserFilters) -> list[str]:
    """The active filters as short phrases (for captions and export notes); empty when none is active."""
    out: list[str] = []
    if filters.text.strip():
        out.append(f"name or UPN contains “{filters.text.strip()}”")
    if filters.states:
        out.append(f"state: {_listed(filters.states, STATE_LABELS)}")
    for name, label in (("registered", "registered"), ("capable", "MFA capable"), ("admin", "admin"),
                        ("guest", "guest"), ("account_enabled", "account enabled")):
        value = getattr(filters, name)
        if value is not None:
            out.append(f"{label}: {_yes_no(value)}")
    if filters.departments:
        out.append(f"department: {_listed(filters.departments)}")
    if filters.countries:
        out.append(f"country: {_listed(filters.countries)}")
    if filters.methods:
        out.append(f"method: {_listed(filters.methods, METHOD_NAMES)}")
    if filters.account_kinds:
        out.append(f"kind: {_listed(filters.account_kinds, ACCOUNT_KIND_LABELS)}")
    for name, words in (("covered_by", "protected by"), ("conflicts", "conflict"),
                        ("method_classes", "method strength"), ("sms_voice_deadlines", "deadline")):
        values = getattr(filters, name)
        if values:
            out.append(f"{words}: {_listed(values, PROTECTION_LABELS)}")
    if filters.policies:
        out.append(f"Conditional Access policy: {_listed(filters.policies)}")
    if filters.last_sign_in != "any":
        out.append(f"last sign-in: {SIGN_IN_OPTIONS[filters.last_sign_in][0].lower()}")
    for code in filters.sign_in_evidence:
        out.append(EVIDENCE_FILTERS[code][0].lower() + EVIDENCE_FILTERS[code][1:])
    if filters.upns is not None:
        count = len(filters.upns)
        out.append(f"in a list of {count:,} UPN{'s' if count != 1 else ''}")
    return out


# -- per snapshot ---------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[str, ...] = (
    "display_name", "upn", "mail", "state", "registered", "capable", "methods", "method_count", "preferred_method",
    "department", "country", "job_title", "is_admin", "is_guest", "account_enabled", "account_kind", "created",
    "last_sign_in", "state_read_at", "id",
)
"""The stored columns of the users page's CSV/XLSX export, in order (the CLI's ``users`` export takes them too)."""

PROTECTION_EXPORT_COLUMNS: tuple[str, ...] = (
    "coverage", "protected", "coverage_policies", "conflict", "method_strength", "sms_voice_deadline",
)
"""The protection columns the users page's export appends, in words (``protection_words``)."""


def protection_words(frame: pd.DataFrame) -> pd.DataFrame:
    """The protection columns as a person reads them: ``coverage``, ``protected`` (yes/no, empty when not read),
    ``coverage_policies``, ``conflict``, ``method_strength`` and ``sms_voice_deadline`` ("1 Feb 2027")."""
    coverage = coverage_values(frame)
    read = coverage != NOT_READ
    words = coverage.map(lambda v: PROTECTION_LABELS.get(v, v)).astype("string")
    protected = coverage.isin([str(c) for c in PROTECTED]).map({True: "yes", False: "no"}).astype("string")
    conflict = (_strings(frame["protection_conflict"]).fillna("").str.strip() if "protection_conflict" in frame.columns
                else pd.Series("", index=frame.index, dtype="string"))
    method = (_strings(frame["method_class"]).fillna("").str.strip() if "method_class" in frame.columns
              else pd.Series("", index=frame.index, dtype="string"))
    policies = (_strings(frame["covered_by_policies"]).fillna("") if "covered_by_policies" in frame.columns
                else pd.Series("", index=frame.index, dtype="string"))
    deadline = deadline_values(frame)
    sms = method == str(MethodClass.SMS_VOICE_ONLY)
    pretty = {d.isoformat(): f"{d:%-d %b %Y}" for d in DEADLINES}
    return pd.DataFrame({
        "coverage": words,
        "protected": protected.where(read, ""),
        "coverage_policies": policies,
        "conflict": conflict.map(lambda v: PROTECTION_LABELS.get(v, v) if v else "").astype("string"),
        "method_strength": method.map(lambda v: PROTECTION_LABELS.get(v, v) if v else "").astype("string")
                                 .where(read, ""),
        "sms_voice_deadline": deadline.map(lambda v: pretty.get(v, v)).astype("string").where(sms, ""),
    }, index=frame.index)


@dataclass(frozen=True)
class PreparedUsers:
    """A snapshot's users made ready for the page once: sorted by name, with the search index and the
    widgets' choices. Treat it as read-only (it is shared by every session looking at the snapshot)."""

    frame: pd.DataFrame
    index: pd.Series
    options: FilterOptions
    state_codes: np.ndarray
    keys: tuple[pd.Series, ...]
    """:func:`address_keys` of ``frame``."""
    known: frozenset[str]
    """:func:`known_addresses` of ``frame``."""
    evidence_as_of: datetime | None = None
    """The sign-in log read whose evidence columns ``frame`` carries (None: no evidence columns)."""
    """Each user's state as its position in :data:`STATE_FILTER_OPTIONS` (unknown last): counting by state
    is then one ``np.bincount``."""

    def __len__(self) -> int:
        return len(self.frame)

    def mask(self, filters: UserFilters, now: datetime | pd.Timestamp | None = None) -> np.ndarray:
        """:func:`filter_mask` with this snapshot's precomputed search index and address keys."""
        return filter_mask(self.frame, filters, now, index=self.index, keys=self.keys,
                           evidence_as_of=self.evidence_as_of)

    def state_counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Users per state (every state of :data:`STATE_FILTER_OPTIONS`, zeros included) among ``mask``."""
        codes = self.state_codes if mask is None else self.state_codes[mask]
        counts = np.bincount(codes, minlength=len(STATE_FILTER_OPTIONS))
        return {state: int(n) for state, n in zip(STATE_FILTER_OPTIONS, counts, strict=True)}


def _state_codes(state: pd.Series) -> np.ndarray:
    state = _strings(state)
    codes = np.full(len(state), len(STATES), dtype=np.int8)
    for position, name in enumerate(STATES):
        codes[state.eq(name).to_numpy(dtype=bool, na_value=False)] = position
    return codes


def with_states(prepared: PreparedUsers, states: Mapping[str, str]) -> PreparedUsers:
    """``prepared`` with some users' states replaced (those an operation observed after the snapshot).

    The shared ``prepared`` is left as it is: the new frame shares every column but ``state``."""
    if not states:
        return prepared
    frame = prepared.frame.copy(deep=False)
    observed = frame["id"].astype("string").map(dict(states))
    frame["state"] = observed.where(observed.notna(), frame["state"]).astype(prepared.frame["state"].dtype)
    return replace(prepared, frame=frame, state_codes=_state_codes(frame["state"]))


def prepare_users(frame: pd.DataFrame, evidence_as_of: datetime | None = None) -> PreparedUsers:
    """Sort a users frame by display name (then UPN), case-insensitively, and build its search index;
    ``evidence_as_of``: the sign-in log read of the frame's evidence columns, if it carries them."""
    ordered = frame.sort_values(["display_name", "upn"], key=lambda s: _strings(s).fillna("").str.casefold(),
                                kind="stable", na_position="last").reset_index(drop=True)
    ordered["country"] = country_names(ordered["country"])  # "SE" (a usageLocation) is Sweden too
    codes = _state_codes(ordered["state"])
    keys = address_keys(ordered)
    return PreparedUsers(ordered, search_index(ordered), filter_options(ordered), codes, keys,
                         known_addresses(ordered, keys), evidence_as_of)


def export_frame(frame: pd.DataFrame, mask: np.ndarray | None = None) -> pd.DataFrame:
    """The rows ``mask`` keeps, with :data:`EXPORT_COLUMNS` and the sign-in evidence columns (those present),
    then :data:`PROTECTION_EXPORT_COLUMNS` in words, for a CSV/XLSX download."""
    rows = frame if mask is None else frame.loc[mask]
    stored = rows.loc[:, [c for c in (*EXPORT_COLUMNS, *EVIDENCE_COLUMNS) if c in rows.columns]]
    return pd.concat([stored, protection_words(rows)], axis=1).reset_index(drop=True)


@dataclass(frozen=True)
class UsersFilterPreset:
    """Filters another page hands to the Users page (e.g. the Overview's "admins without a method" tile)."""

    label: str
    """What the filtered list is, shown in the Users page's banner."""
    came_from: str
    """The page it came from (its title), named in the banner."""
    admin: bool | None = None
    registered: bool | None = None
    guest: bool | None = None
    capable: bool | None = None
    covered_by: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    method_classes: tuple[str, ...] = ()
    sms_voice_deadlines: tuple[str, ...] = ()
    sign_in_evidence: tuple[str, ...] = ()
    """Codes of ``lib.signins.columns.EVIDENCE_FILTERS``."""
    user_ids: tuple[str, ...] | None = None
    """Who the sending page counted: the banner says so when the Users page finds another number."""
    counted: int | None = None
    """How many users the sending page counted, when it sends no ids (the banner compares it the same way)."""

    @property
    def count(self) -> int | None:
        return len(self.user_ids) if self.user_ids is not None else self.counted
