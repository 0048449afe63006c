"""The per-day adoption counts the dashboard charts, computed once when a snapshot completes.

Every count is over **all** users in the snapshot — enabled or disabled accounts, members and
guests — so the numbers add up to ``users`` and match the users page without a hidden filter;
``enabled_accounts`` is kept so a chart can show how many of them can sign in at all.
"""

from __future__ import annotations

import pandas as pd

from lib.columns import STATES


def daily_counts(users: pd.DataFrame) -> dict[str, int]:
    """Counts for one snapshot's users frame (``lib.columns`` dtypes).

    ``state_unknown`` is every user whose state is not one of ``lib.columns.STATES`` (unread, NA or
    a value Graph added later); ``admins_unregistered`` is admins with no registered second factor.
    """
    state = users["state"]
    counts = {
        "users": len(users),
        "enabled_accounts": int(users["account_enabled"].sum()),
        "guests": int(users["is_guest"].sum()),
        "admins": int(users["is_admin"].sum()),
        "registered": int(users["registered"].sum()),
        "capable": int(users["capable"].sum()),
    }
    known = 0
    for name in STATES:
        count = int((state == name).fillna(False).sum())
        counts[f"state_{name}"] = count
        known += count
    counts["state_unknown"] = len(users) - known
    counts["admins_unregistered"] = int((users["is_admin"] & ~users["registered"]).sum())
    return counts
