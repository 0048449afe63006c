"""Where each UPN of a pasted or uploaded list went: matched, outside the scope (and by which rule), hidden
by the page's other filters, not in the snapshot, not a UPN, or listed twice.

A list filter that quietly shows 8 of 11 users leaves the admin guessing who was dropped and why; this
accounts for every entry, so the counts add up to what was pasted. Pure: frames and masks in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.users_filters import UpnList

__all__ = ["UpnAccount", "account_upns"]


@dataclass(frozen=True)
class UpnAccount:
    """Every entry of a list, in exactly one bucket (``entries`` is their sum)."""

    entries: int
    matched: tuple[str, ...]
    outside_scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Scope rule (``lib.scope.EXCLUSION_RULES``) → the UPNs it leaves out."""
    filtered_out: tuple[str, ...] = ()
    """In scope, but another filter on the page (state, department, …) hides them."""
    not_in_snapshot: tuple[str, ...] = ()
    not_upn: tuple[str, ...] = ()
    duplicates: int = 0
    ignored: tuple[str, ...] = ()
    """Words without an ``@`` (headers, states): not entries, but named so nothing vanishes silently."""

    @property
    def outside_count(self) -> int:
        return sum(len(v) for v in self.outside_scope.values())

    def total(self) -> int:
        """The buckets added up: equals ``entries``."""
        return (len(self.matched) + self.outside_count + len(self.filtered_out) + len(self.not_in_snapshot)
                + len(self.not_upn) + self.duplicates)


def _key(text: str) -> str:
    return text.strip().casefold()


def account_upns(listed: UpnList, keys: tuple[pd.Series, ...], excluded_as: pd.Series, filtered: np.ndarray
                 ) -> UpnAccount:
    """Account for ``listed`` against a snapshot.

    ``keys``: the snapshot's UPN and mail columns, stripped and case-folded (``address_keys``);
    ``excluded_as``: per row, the scope rule leaving it out or NA (``lib.scope.exclusion_reasons``);
    ``filtered``: per row, whether the page's other filters keep it (the list filter left out).
    A UPN that names several users (one's UPN, another's mail) counts as matched if any of them is shown.
    """
    wanted = {_key(u): u for u in listed.upns}
    rows: dict[str, list[int]] = {}
    for column in keys:
        values = column.to_numpy(dtype=object, na_value=None)
        for position in np.flatnonzero(column.isin(list(wanted)).to_numpy(dtype=bool, na_value=False)):
            rows.setdefault(values[position], []).append(int(position))
    reasons = excluded_as.to_numpy(dtype=object, na_value=None)
    matched: list[str] = []
    hidden: list[str] = []
    missing: list[str] = []
    outside: dict[str, list[str]] = {}
    for key, upn in wanted.items():
        positions = rows.get(key)
        if not positions:
            missing.append(upn)
            continue
        in_scope = [p for p in positions if reasons[p] is None]
        if any(filtered[p] for p in in_scope):
            matched.append(upn)
        elif in_scope:
            hidden.append(upn)
        else:
            outside.setdefault(str(reasons[positions[0]]), []).append(upn)
    return UpnAccount(
        entries=listed.entries, matched=tuple(matched),
        outside_scope={rule: tuple(upns) for rule, upns in outside.items()},
        filtered_out=tuple(hidden), not_in_snapshot=tuple(missing), not_upn=listed.invalid,
        duplicates=listed.duplicates, ignored=listed.ignored,
    )
