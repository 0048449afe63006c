"""The overview's sign-in tiles and caption in words, and the Users page's evidence filters (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from lib.columns import coerce_users, empty_users_frame
from lib.sign_in_tiles import SIGN_IN_TILE_LABELS, section_caption, sign_in_tiles
from lib.signins.columns import EVIDENCE_COLUMNS, with_evidence
from lib.signins.evidence import DayCount, TenantEvidence, UserEvidence
from lib.signins.figures import sign_in_figures
from lib.users_filters import UserFilters, describe_filters, export_frame, filter_mask, prepare_users

AS_OF = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def evidence() -> TenantEvidence:
    return TenantEvidence(users={
        "a": UserEvidence(last_single_factor_sign_in=at(date(2026, 12, 1)),
                          legacy_clients={"IMAP4": at(date(2026, 11, 28)), "POP3": at(date(2026, 11, 20))},
                          days={date(2026, 12, 1): DayCount(1200, 200, 0), date(2026, 11, 24): DayCount(800, 0, 0)}),
        "b": UserEvidence(last_mfa_sign_in=at(date(2026, 12, 2)), legacy_clients={"IMAP4": at(date(2026, 12, 2))},
                          days={date(2026, 12, 2): DayCount(3, 3, 0)}),
    }, read_until=AS_OF)


def users() -> pd.DataFrame:
    frame = empty_users_frame()
    rows = pd.DataFrame({c: [None] * 3 for c in frame.columns})
    rows["method_count"] = 0
    rows["id"] = ["a", "b", "c"]
    rows["upn"] = ["a@x", "b@x", "c@x"]
    rows["display_name"] = ["A", "B", "C"]
    return coerce_users(rows)


def test_tiles_say_the_figures_in_words() -> None:
    single, mfa, legacy = sign_in_tiles(sign_in_figures(evidence(), AS_OF))
    assert (single.label, mfa.label, legacy.label) == SIGN_IN_TILE_LABELS
    assert (single.key, single.value, single.basis) == ("signin_single_factor", "1,800", "of 2,003 successful sign-ins")
    assert (single.delta, single.delta_arrow, single.delta_color) == ("up 25% on the week before", "up", "red")
    assert (mfa.value, mfa.basis) == ("10.1%", "203 of 2,003 sign-ins whose requirement the log states")
    assert (legacy.value, legacy.basis, legacy.count, legacy.link) == ("2", "IMAP4 2 · POP3 1", 2, "Show these 2 users")
    assert legacy.preset is not None and legacy.preset.sign_in_evidence == ("legacy_30",)
    assert legacy.preset.user_ids == ("a", "b") and legacy.preset.count == 2
    assert legacy.preset.label == "Signed in with a legacy client (30 days)"


def test_tiles_with_nothing_to_count() -> None:
    single, mfa, legacy = sign_in_tiles(sign_in_figures(TenantEvidence(), AS_OF))
    assert (single.value, single.delta, single.delta_arrow, single.delta_color) == (
        "0", "none in either of the last two weeks", "off", "gray")
    assert (mfa.value, mfa.basis) == ("—", "no sign-in whose requirement the log states")
    assert (legacy.value, legacy.count, legacy.link) == ("0", 0, "Show these 0 users")


def test_fewer_single_factor_sign_ins_read_green() -> None:
    days = {date(2026, 11, 24): DayCount(10, 0, 0), date(2026, 12, 1): DayCount(4, 0, 0)}
    single = sign_in_tiles(sign_in_figures(TenantEvidence(users={"x": UserEvidence(days=days)}), AS_OF))[0]
    assert (single.delta, single.delta_arrow, single.delta_color) == ("down 60% on the week before", "down", "green")


def test_the_caption_says_whose_sign_ins_and_when_the_log_was_read() -> None:
    read = datetime(2026, 12, 3, 14, 7, tzinfo=UTC)
    assert section_caption(users=240, tenant_users=300, as_of=AS_OF, read_at=read) == (
        "Sign-ins by the 240 users in scope (300 in the snapshot; the scope above decides), in the 30 days up to "
        "3 Dec. Sign-in log read 3 Dec 14:07 UTC.")
    assert section_caption(users=300, tenant_users=300, as_of=AS_OF, read_at=None) == (
        "Sign-ins by all 300 users of the snapshot, in the 30 days up to 3 Dec. Sign-in log read 3 Dec 14:05 UTC.")


def test_the_evidence_filters_through_the_users_filters() -> None:
    prepared = prepare_users(with_evidence(users(), evidence(), AS_OF), AS_OF)

    def kept(*codes: str) -> list[str]:
        return prepared.frame.loc[prepared.mask(UserFilters(sign_in_evidence=codes)), "upn"].tolist()

    assert kept("legacy_30") == ["a@x", "b@x"]
    assert kept("legacy_30", "single_factor_14") == ["a@x"]
    assert kept("no_sign_in_30") == ["c@x"]
    assert describe_filters(UserFilters(sign_in_evidence=("legacy_30", "no_sign_in_30"))) == [
        "signed in with a legacy client (30 days)", "no sign-in in 30 days"]
    with pytest.raises(ValueError, match="unknown sign in evidence 'soon'"):
        UserFilters(sign_in_evidence=("soon",))
    with pytest.raises(ValueError, match="need the sign-in log's read"):
        filter_mask(prepared.frame, UserFilters(sign_in_evidence=("legacy_30",)))


def test_the_export_appends_the_evidence_columns_when_joined() -> None:
    joined = export_frame(with_evidence(users(), evidence(), AS_OF))
    assert [c for c in joined.columns if c in EVIDENCE_COLUMNS] == list(EVIDENCE_COLUMNS)
    assert joined["legacy_clients"].tolist() == ["IMAP4 (28 Nov), POP3 (20 Nov)", "IMAP4 (2 Dec)", ""]
    assert not set(EVIDENCE_COLUMNS) & set(export_frame(users()).columns)
