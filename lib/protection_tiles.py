"""The overview's protection tiles, in words, each with the Users page filter that lists exactly its users.

Pure: ``lib.protection_kpis.ProtectionKpis`` in, ``ProtectionTile``s out. ``pages/overview.py`` renders them and
hands a tile's ``preset`` to the Users page (``lib.ui.handoff``); a tile's ``count`` is what the Users page then
shows for the same scope (tests/test_page_overview_protection.py checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.protection import PROTECTED, Conflict, CoveredBy, MethodClass
from lib.protection_kpis import NOTHING_ASKS, ProtectionKpis
from lib.users_filters import UsersFilterPreset

__all__ = ["TILE_LABELS", "ProtectionTile", "protection_tiles", "trend_note"]

CAME_FROM = "Overview"

TILE_LABELS: frozenset[str] = frozenset({
    "Effectively protected", "Relying on SMS/voice only", "Phishing-resistant", "Conflicts to clean up",
    "Not covered by MFA", "Conditional Access unavailable (no Entra ID P1)",
})
"""Every protection tile's label (tests/test_protection_tiles.py checks the tiles use no other)."""


@dataclass(frozen=True)
class ProtectionTile:
    """One protection tile: what ``st.metric`` shows, the line under it, and where its link goes."""

    key: str
    label: str
    value: str
    basis: str
    help: str
    count: int
    """The users the tile stands for: the rows its ``preset`` shows on the Users page."""
    preset: UsersFilterPreset
    link: str
    """The link's words ("Show these 12 users")."""
    highlight: bool = False


def _users(n: int) -> str:
    return f"{n:,} user{'s' if n != 1 else ''}"


def _link(n: int) -> str:
    return "Show this user" if n == 1 else f"Show these {n:,} users"


def _preset(label: str, count: int, **filters: tuple[str, ...]) -> UsersFilterPreset:
    return UsersFilterPreset(label=label, came_from=CAME_FROM, counted=count, **filters)


def protection_tiles(k: ProtectionKpis) -> list[ProtectionTile]:
    """The tiles in page order: effectively protected, SMS/voice only, phishing-resistant, conflicts, and the users
    left open ("Not covered by MFA", or "Conditional Access unavailable (no Entra ID P1)" in a tenant without P1;
    both when both apply). Empty when the snapshot read nobody's protection (the page says so instead)."""
    if not k.protection_read:
        return []
    scope = f"of {k.users:,} users in scope"
    unread = f"; {k.users - k.read:,} not read" if k.read != k.users else ""
    feb, jul = k.deadlines
    tiles = [
        ProtectionTile(
            "protected", "Effectively protected", f"{k.pct_protected:.1f}%", f"{k.protected:,} {scope}{unread}",
            "Asked for MFA (or blocked) on every sign-in, by Conditional Access for all cloud apps, security "
            "defaults, or per-user MFA Enforced, or Enabled once registered. Partial, report-only and excluded "
            "Conditional Access coverage does not count.",
            k.protected, _preset("Effectively protected", k.protected, covered_by=tuple(sorted(map(str, PROTECTED)))),
            _link(k.protected)),
        ProtectionTile(
            "sms_voice", "Relying on SMS/voice only", f"{k.sms_voice_only:,}",
            f"{_users(feb.users)} by {feb.deadline:%-d %b %Y} ({_days(feb.days_left)}) · "
            f"{_users(jul.users)} by {jul.deadline:%-d %b %Y} ({_days(jul.days_left)}), {scope}",
            "Users whose only second factor is SMS or a voice call. Microsoft-provided SMS and voice end on "
            "1 February 2027 (1 July 2027 for Global Administrators and external users); these users then meet a "
            "blocking passkey registration.",
            k.sms_voice_only, _preset("Relying on SMS/voice only", k.sms_voice_only,
                                      method_classes=(str(MethodClass.SMS_VOICE_ONLY),)),
            _link(k.sms_voice_only), highlight=k.sms_voice_only > 0),
        ProtectionTile(
            "phishing_resistant", "Phishing-resistant", f"{k.pct_phishing_resistant:.1f}%",
            f"{k.phishing_resistant:,} {scope}",
            "Users whose strongest registered method is phishing-resistant: a passkey or FIDO2 key, Windows Hello "
            "for Business, or certificate-based authentication.",
            k.phishing_resistant, _preset("Phishing-resistant methods", k.phishing_resistant,
                                          method_classes=(str(MethodClass.PHISHING_RESISTANT),)),
            _link(k.phishing_resistant)),
        ProtectionTile(
            "conflicts", "Conflicts to clean up", f"{k.conflicts:,}",
            f"per-user MFA on while covered by Conditional Access or security defaults, {scope}",
            "Microsoft advises per-user MFA Disabled for users covered by Conditional Access or security defaults, "
            "and warns against combining them.",
            k.conflicts, _preset("Conflicts to clean up", k.conflicts, conflicts=tuple(str(c) for c in Conflict)),
            _link(k.conflicts)),
    ]
    if k.not_covered or not k.ca_unavailable:
        tiles.append(ProtectionTile(
            "not_covered", "Not covered by MFA", f"{k.not_covered:,}",
            f"covered by nothing or only by report-only policies, {scope}",
            "No enforced Conditional Access policy, no security defaults and no per-user MFA asks these users for "
            "MFA (a report-only policy never does). The MFA plans page closes the gap.",
            k.not_covered, _preset("Not covered by MFA", k.not_covered,
                                   covered_by=tuple(str(c) for c in NOTHING_ASKS)),
            _link(k.not_covered), highlight=k.not_covered > 0))
    if k.ca_unavailable:
        tiles.append(ProtectionTile(
            "ca_unavailable", "Conditional Access unavailable (no Entra ID P1)", f"{k.ca_unavailable:,}",
            f"neither security defaults nor per-user MFA, {scope}",
            "The tenant has no Microsoft Entra ID P1, so it cannot use Conditional Access: these users are asked for "
            "MFA only if security defaults or per-user MFA are turned on for them.",
            k.ca_unavailable, _preset("Conditional Access unavailable (no Entra ID P1)", k.ca_unavailable,
                                      covered_by=(str(CoveredBy.CA_UNAVAILABLE),)),
            _link(k.ca_unavailable), highlight=True))
    return tiles


def _days(left: int) -> str:
    if left > 1:
        return f"{left:,} days left"
    if left == 1:
        return "1 day left"
    if left == 0:
        return "today"
    return f"passed {-left:,} days ago"


def trend_note(trend: pd.DataFrame) -> str:
    """The trend's caption: its base, and the days left out because their snapshot did not read protection."""
    missing = int(trend["pct_protected"].isna().sum()) if len(trend) else 0
    base = "A share of all users of each day's snapshot, whatever the scope."
    if len(trend) and missing == len(trend):
        return base + " No stored snapshot has read protection yet: the line starts with the next one."
    if missing:
        first = trend.loc[trend["pct_protected"].notna(), "day"].min()
        return (base + f" {missing:,} earlier day{'s' if missing != 1 else ''} had snapshots taken before the console "
                f"read protection, so the line starts on {pd.Timestamp(first):%-d %b %Y}.")
    return base
