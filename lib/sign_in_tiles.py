"""The overview's "Sign-ins, last 30 days" tiles in words, and the caption that says what they count.

Pure: ``lib.signins.figures.SignInFigures`` in, ``SignInTile``s out. The legacy-client tile carries the Users
page filter that lists exactly its users (the same window and the same scope), so its count is the rows the
Users page then shows (tests/test_page_overview_sign_ins.py checks that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lib.signins.columns import EVIDENCE_FILTERS
from lib.signins.figures import SignInFigures
from lib.users_filters import UsersFilterPreset

__all__ = ["SIGN_IN_TILE_LABELS", "SignInTile", "section_caption", "sign_in_tiles"]

CAME_FROM = "Overview"
SINGLE_FACTOR_LABEL = "Single-factor sign-ins (30 days)"
SIGN_IN_TILE_LABELS: tuple[str, ...] = (SINGLE_FACTOR_LABEL, "Sign-ins with MFA", "Users on legacy clients (30 days)")


@dataclass(frozen=True)
class SignInTile:
    """One tile: what ``st.metric`` shows, the line under it, and (the legacy tile) where its link goes."""

    key: str
    label: str
    value: str
    basis: str
    help: str
    delta: str | None = None
    delta_arrow: str = "off"
    """``st.metric``'s arrow: the words say up or down, so the arrow is set, not parsed from them."""
    delta_color: str = "gray"
    """Named, for the same reason: fewer single-factor sign-ins is good (green), more is bad (red)."""
    count: int = 0
    preset: UsersFilterPreset | None = None
    link: str = ""


_COLOURS = {"up": "red", "down": "green", "off": "gray"}


def _arrow(f: SignInFigures) -> str:
    if f.last_week == f.week_before or f.trend.startswith("about"):
        return "off"
    return "up" if f.last_week > f.week_before else "down"


def sign_in_tiles(f: SignInFigures) -> list[SignInTile]:
    """Single-factor sign-ins with the week-on-week trend, the share with MFA, and the users on legacy clients."""
    share = f.mfa_share
    clients = " · ".join(f"{client} {n:,}" for client, n in f.legacy_by_client.items())
    legacy = f.legacy_users
    return [
        SignInTile(
            "signin_single_factor", SINGLE_FACTOR_LABEL, f"{f.single_factor:,}",
            f"of {f.sign_ins:,} successful sign-ins",
            "Successful sign-ins that asked for one factor only (the sign-in log's authenticationRequirement). "
            "The change compares the 7 full days before the log's last read with the 7 days before them.",
            delta=f.trend, delta_arrow=_arrow(f), delta_color=_COLOURS[_arrow(f)]),
        SignInTile(
            "signin_mfa", "Sign-ins with MFA", "—" if share is None else f"{100 * share:.1f}%",
            "no sign-in whose requirement the log states" if share is None else
            f"{f.mfa:,} of {f.judged:,} sign-ins whose requirement the log states",
            "Successful sign-ins that satisfied multifactor authentication, as a share of those the log says "
            "asked for one factor or for MFA."),
        SignInTile(
            "signin_legacy", "Users on legacy clients (30 days)", f"{legacy:,}",
            clients or "nobody used IMAP4, POP3, SMTP, ActiveSync or another legacy client",
            "Users with at least one sign-in attempt from a client without modern authentication. Enforced per-user "
            "MFA breaks these clients unless the user sets up an app password.",
            count=legacy,
            preset=UsersFilterPreset(label=EVIDENCE_FILTERS["legacy_30"], came_from=CAME_FROM,
                                     sign_in_evidence=("legacy_30",), user_ids=f.legacy_user_ids),
            link="Show this user" if legacy == 1 else f"Show these {legacy:,} users"),
    ]


def section_caption(*, users: int, tenant_users: int, as_of: datetime, read_at: datetime | None) -> str:
    """What the figures are a share of, and when the log was read ("Sign-in log read 3 Dec 14:05 UTC")."""
    who = (f"the {users:,} users in scope ({tenant_users:,} in the snapshot; the scope above decides)"
           if users != tenant_users else f"all {users:,} users of the snapshot")
    read = read_at or as_of
    return (f"Sign-ins by {who}, in the 30 days up to {as_of.astimezone(UTC):%-d %b}. "
            f"Sign-in log read {read.astimezone(UTC):%-d %b %H:%M} UTC.")
