"""Every entry of a pasted UPN list lands in exactly one bucket, and the buckets add up to the list."""

from __future__ import annotations

from dataclasses import replace

from lib.scope import DEFAULT_SCOPE, Scope, exclusion_reasons, scope_mask
from lib.upn_accounting import account_upns
from lib.users_filters import UserFilters, merge_upn_lists, parse_upn_list, prepare_users
from tests.test_rollout_support import user, users

FRAME = users(
    user(1), user(2), user(3, department="Legal"),
    user(4, account_enabled=False),
    user(5, account_kind="service"),
    user(6, is_guest=True, account_enabled=False),  # two rules: the first one checked is named
    user(7, account_kind="break_glass"),
    user(8, mail="eight.alias@contoso.example"),
    user(9),
)


def _account(text: str, filters: UserFilters = UserFilters(), scope: Scope = DEFAULT_SCOPE):
    prepared = prepare_users(FRAME)
    parsed = parse_upn_list(text)
    return account_upns(parsed, prepared.keys, exclusion_reasons(prepared.frame, scope),
                        prepared.mask(replace(filters, upns=None)))


def test_eleven_pasted_entries_are_each_accounted_for() -> None:
    text = ("USER1@contoso.example\nuser2@contoso.example; user3@contoso.example, user4@contoso.example\n"
            "user5@contoso.example user6@contoso.example user7@contoso.example\n"
            "eight.alias@contoso.example nobody@contoso.example not@@a-upn user1@contoso.example\nState")
    account = _account(text, UserFilters(departments=("Sales",)))
    assert account.entries == 11 and account.total() == 11
    assert account.matched == ("USER1@contoso.example", "user2@contoso.example", "eight.alias@contoso.example")
    assert account.filtered_out == ("user3@contoso.example",)  # in scope, but in Legal
    assert account.outside_scope == {
        "disabled account": ("user4@contoso.example", "user6@contoso.example"),
        "service account": ("user5@contoso.example",),
        "protected account": ("user7@contoso.example",),
    }
    assert account.not_in_snapshot == ("nobody@contoso.example",)
    assert account.not_upn == ("not@@a-upn",)
    assert account.duplicates == 1
    assert account.ignored == ("State",)  # a word without an @: named, not counted


def test_a_wider_scope_moves_users_from_outside_to_shown() -> None:
    text = "user4@contoso.example user5@contoso.example user7@contoso.example"
    narrow = _account(text)
    assert narrow.matched == () and narrow.outside_count == 3
    wide = _account(text, scope=Scope(include_disabled_accounts=True, include_service=True, include_protected=True))
    assert len(wide.matched) == 3 and wide.outside_scope == {} and wide.total() == 3


def test_a_protected_upn_from_the_list_is_named_as_such() -> None:
    account = _account("user9@contoso.example", scope=Scope(protected_upns={"USER9@contoso.example"}))
    assert account.outside_scope == {"protected account": ("user9@contoso.example",)}


def test_exclusion_reasons_agree_with_the_scope_mask() -> None:
    for scope in (DEFAULT_SCOPE, Scope(include_guests=False), Scope(include_disabled_accounts=True),
                  Scope(include_protected=True, include_service=True, include_shared=True)):
        reasons = exclusion_reasons(FRAME, scope)
        assert (reasons.isna().to_numpy() == scope_mask(FRAME, scope).to_numpy()).all()


def test_pasted_and_uploaded_lists_merge_with_cross_list_repeats_counted() -> None:
    merged = merge_upn_lists([parse_upn_list("a@x.example\nb@x.example"),
                              parse_upn_list(b"UserPrincipalName\nA@X.example\nc@x.example\nbad@")])
    assert merged.upns == ("a@x.example", "b@x.example", "c@x.example")
    assert merged.duplicates == 1 and merged.invalid == ("bad@",) and merged.ignored == ("UserPrincipalName",)
    assert merged.entries == 5
