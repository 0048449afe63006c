"""The Users page's account of a pasted or uploaded UPN list: one line whose counts add up to the list,
and, on request, which UPNs landed where (so nobody has to guess why 8 of 11 are shown)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import streamlit as st

from lib.scope import Scope, exclusion_reasons
from lib.ui.rollout_widgets import md
from lib.upn_accounting import UpnAccount, account_upns
from lib.users_filters import PreparedUsers, UpnList, UserFilters

SHOWN_NAMES = 20
"""UPNs named per bucket (the rest are counted)."""
SCOPE_CHECKBOX = {"disabled account": "Disabled accounts", "guest": "Guests", "service account": "Service accounts",
                  "shared mailbox": "Shared mailboxes", "protected account": "Protected accounts"}


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _names(upns: tuple[str, ...]) -> str:
    shown = ", ".join(md(u) for u in upns[:SHOWN_NAMES])
    return shown + (f" and {len(upns) - SHOWN_NAMES:,} more" if len(upns) > SHOWN_NAMES else "")


def summary_line(account: UpnAccount, filters_active: bool) -> str:
    """``11 entries on the list: 8 shown · 1 outside the scope (disabled account) · …`` (markdown)."""
    parts = [f"**{account.entries:,}** {'entry' if account.entries == 1 else 'entries'} on the list: "
             f"**{len(account.matched):,} shown**"]
    if account.outside_scope:
        rules = ", ".join(f"{_plural(len(v), k)}" for k, v in account.outside_scope.items())
        parts.append(f"{account.outside_count:,} outside the scope ({rules})")
    if account.filtered_out or filters_active:
        parts.append(f"{len(account.filtered_out):,} hidden by the other filters")
    parts.append(f"{len(account.not_in_snapshot):,} not in the snapshot")
    parts.append(f"{len(account.not_upn):,} not a UPN")
    parts.append(f"{account.duplicates:,} listed twice")
    return " · ".join(parts)


def upn_list_note(prepared: PreparedUsers, filters: UserFilters, scope: Scope, parsed: UpnList,
                  now: datetime) -> UpnAccount:
    """Account for every entry of ``parsed`` and show it under the filters."""
    others = replace(filters, upns=None)
    account = account_upns(parsed, prepared.keys, exclusion_reasons(prepared.frame, scope),
                           prepared.mask(others, now))
    with st.container(border=True, key="users_upn_account"):
        st.markdown(summary_line(account, others.active))
        details = []
        for rule, upns in account.outside_scope.items():
            details.append(f"- **Outside the scope, {md(rule)}** (tick *{SCOPE_CHECKBOX.get(rule, rule)}* under "
                           f"Scope to include them): {_names(upns)}")
        if account.filtered_out:
            details.append(f"- **Hidden by the other filters** (reset them to see these): "
                           f"{_names(account.filtered_out)}")
        if account.not_in_snapshot:
            details.append(f"- **Not in the snapshot** (a typo, a deleted user, or one created since the last "
                           f"refresh): {_names(account.not_in_snapshot)}")
        if account.not_upn:
            details.append(f"- **Not a UPN** (a UPN looks like name@domain): {_names(account.not_upn)}")
        if account.duplicates:
            details.append(f"- **Listed twice**: {_plural(account.duplicates, 'repeat')}, each user counted once")
        if account.ignored:
            details.append(f"- Words without an @ were read as headers or notes, not entries: "
                           f"{_names(account.ignored)}")
        if details:
            with st.expander("Which entries are not shown, and why", icon=":material/rule:"):
                st.markdown("\n".join(details))
    return account
