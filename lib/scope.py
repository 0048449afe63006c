"""Which users the overview and the users page count: one ``Scope``, one ``apply_scope``.

The default is what a security lead means by "our users": people whose account can sign in, guests
included; service accounts, shared mailboxes and protected (break-glass) accounts left out, because
they are managed by other rules and would make the adoption numbers look worse than they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_SCOPE", "EXCLUSION_RULES", "Scope", "apply_scope", "exclusion_reasons", "normalise_upns",
           "scope_mask"]


def normalise_upns(upns: Iterable[str]) -> frozenset[str]:
    """UPNs as the scope compares them: stripped and case-folded (Entra ID UPNs ignore case)."""
    out = set()
    for upn in upns:
        if not isinstance(upn, str):
            raise ValueError(f"protected UPN must be a string, got {type(upn).__name__}")
        cleaned = upn.strip().casefold()
        if cleaned:
            out.add(cleaned)
    return frozenset(out)


@dataclass(frozen=True)
class Scope:
    """Which kinds of account are counted. Every flag is an *include*: False leaves them out.

    - ``include_disabled_accounts``: accounts with ``account_enabled`` False (cannot sign in).
    - ``include_guests``: ``is_guest`` True (B2B guests).
    - ``include_service``: ``account_kind == 'service'``.
    - ``include_shared``: ``account_kind == 'shared'`` (shared mailboxes).
    - ``include_protected``: protected accounts — ``account_kind == 'break_glass'`` and every user
      whose UPN is in ``protected_upns`` (compared case-insensitively).

    A user is in scope when no flag excludes them; a row with no ``account_kind`` counts as a person.
    """

    include_disabled_accounts: bool = False
    include_guests: bool = True
    include_service: bool = False
    include_shared: bool = False
    include_protected: bool = False
    protected_upns: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("include_disabled_accounts", "include_guests", "include_service", "include_shared",
                     "include_protected"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"Scope.{name} must be True or False, got {value!r}")
        if isinstance(self.protected_upns, str):
            raise ValueError("Scope.protected_upns must be a collection of UPNs, not one string")
        object.__setattr__(self, "protected_upns", normalise_upns(self.protected_upns))

    def describe(self) -> str:
        """One line for a page caption or a report, e.g. 'Enabled accounts; guests included; …'."""
        parts = [
            "all accounts" if self.include_disabled_accounts else "enabled accounts only",
            "guests included" if self.include_guests else "guests excluded",
        ]
        for flag, noun in ((self.include_service, "service"), (self.include_shared, "shared"),
                           (self.include_protected, "protected")):
            parts.append(f"{noun} accounts {'included' if flag else 'excluded'}")
        return "; ".join(parts).capitalize()


DEFAULT_SCOPE = Scope()


def scope_mask(frame: pd.DataFrame, scope: Scope = DEFAULT_SCOPE) -> pd.Series:
    """A boolean Series, aligned with ``frame``, True for the users ``scope`` counts."""
    keep = np.ones(len(frame), dtype=bool)
    if not scope.include_disabled_accounts:
        keep &= frame["account_enabled"].to_numpy(dtype=bool, na_value=False)
    if not scope.include_guests:
        keep &= ~frame["is_guest"].to_numpy(dtype=bool, na_value=False)
    kind = frame["account_kind"]
    excluded_kinds = [k for k, included in (("service", scope.include_service), ("shared", scope.include_shared),
                                            ("break_glass", scope.include_protected)) if not included]
    if excluded_kinds:
        keep &= ~kind.isin(excluded_kinds).to_numpy(dtype=bool, na_value=False)
    if not scope.include_protected and scope.protected_upns:
        upn = frame["upn"].astype("string").str.strip().str.casefold()
        keep &= ~upn.isin(scope.protected_upns).to_numpy(dtype=bool, na_value=False)
    return pd.Series(keep, index=frame.index, name="in_scope")


EXCLUSION_RULES: tuple[str, ...] = ("disabled account", "guest", "service account", "shared mailbox",
                                     "protected account")
"""Why the scope leaves a user out, in the order the rules are checked (each names a scope checkbox)."""


def exclusion_reasons(frame: pd.DataFrame, scope: Scope = DEFAULT_SCOPE) -> pd.Series:
    """Per user, the first scope rule that leaves them out (one of :data:`EXCLUSION_RULES`), or NA when in
    scope: so a page can say *why* a listed user is not shown, not only that."""
    reason = pd.Series(pd.NA, index=frame.index, dtype="string", name="excluded_as")
    kind = frame["account_kind"]
    protected = kind.eq("break_glass").to_numpy(dtype=bool, na_value=False, copy=True)
    if scope.protected_upns:
        upn = frame["upn"].astype("string").str.strip().str.casefold()
        protected |= upn.isin(scope.protected_upns).to_numpy(dtype=bool, na_value=False)
    rules = (
        (not scope.include_disabled_accounts, ~frame["account_enabled"].to_numpy(dtype=bool, na_value=False)),
        (not scope.include_guests, frame["is_guest"].to_numpy(dtype=bool, na_value=False)),
        (not scope.include_service, kind.eq("service").to_numpy(dtype=bool, na_value=False)),
        (not scope.include_shared, kind.eq("shared").to_numpy(dtype=bool, na_value=False)),
        (not scope.include_protected, protected),
    )
    for label, (active, hit) in zip(EXCLUSION_RULES, rules, strict=True):
        if active:
            reason[hit & reason.isna().to_numpy()] = label
    return reason


def apply_scope(frame: pd.DataFrame, scope: Scope = DEFAULT_SCOPE) -> pd.DataFrame:
    """The rows of a users frame (``lib.columns`` schema) that ``scope`` counts, index reset.

    Columns and dtypes are unchanged, so the result is still a valid users frame.
    """
    return frame.loc[scope_mask(frame, scope).to_numpy()].reset_index(drop=True)
