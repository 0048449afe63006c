"""The Conditional Access decision table (docs/graph.md, "Protection"), one case per row, and the verdict order.

Each case changes one thing in a clean "require MFA for all users, all cloud apps" policy and checks both
the policy's outcome for the user and the user's ``covered_by``.
"""

from __future__ import annotations

from typing import Any

import pytest

from lib.protection import (
    CaAvailability,
    Conflict,
    CoveredBy,
    PolicyOutcome,
    ProtectionInputError,
    TenantConflict,
    resolve_membership,
)
from tests.protection_support import ALICE, BOB, ca_policy, guest, member, run

GROUP = "99999999-0000-0000-0000-0000000000aa"
ROLE = "62e90394-69f5-4237-9190-012177145e10"
NONE_STRENGTH = {"id": "custom-1", "displayName": "Password only", "policyType": "custom",
                 "requirementsSatisfied": "none", "allowedCombinations": ["password"]}
MFA_STRENGTH = {"id": "00000000-0000-0000-0000-000000000002", "displayName": "Multifactor authentication",
                "policyType": "builtIn", "requirementsSatisfied": "mfa", "allowedCombinations": ["password,sms"]}

ROWS: list[tuple[str, dict[str, Any], PolicyOutcome | None, CoveredBy]] = [
    ("clean policy", {}, PolicyOutcome.MFA_ALL_APPS, CoveredBy.CA_ALL_APPS),
    ("disabled is ignored", {"state": "disabled"}, None, CoveredBy.NOT_COVERED),
    ("report-only never protects", {"state": "enabledForReportingButNotEnforced"},
     PolicyOutcome.REPORT_ONLY, CoveredBy.CA_REPORT_ONLY),
    ("excluded by id", {"users": {"excludeUsers": [ALICE]}}, PolicyOutcome.EXCLUDED, CoveredBy.CA_EXCLUDED),
    ("excluded by group", {"users": {"excludeGroups": [GROUP]}}, PolicyOutcome.EXCLUDED, CoveredBy.CA_EXCLUDED),
    ("excluded by role", {"users": {"excludeRoles": [ROLE]}}, PolicyOutcome.EXCLUDED, CoveredBy.CA_EXCLUDED),
    ("not included", {"users": {"includeUsers": [BOB]}}, None, CoveredBy.NOT_COVERED),
    ("included by None", {"users": {"includeUsers": ["None"]}}, None, CoveredBy.NOT_COVERED),
    ("block is blocked", {"grant": {"builtInControls": ["block"]}}, PolicyOutcome.BLOCKED, CoveredBy.BLOCKED),
    ("block on legacy clients", {"grant": {"builtInControls": ["block"]},
                                 "conditions": {"clientAppTypes": ["exchangeActiveSync", "other"]}},
     PolicyOutcome.LEGACY_AUTH_BLOCKED, CoveredBy.NOT_COVERED),
    ("block on some apps", {"grant": {"builtInControls": ["block"]},
                            "applications": {"includeApplications": ["Office365"]}},
     PolicyOutcome.BLOCKED_PARTIAL, CoveredBy.NOT_COVERED),
    ("strength that satisfies mfa", {"grant": {"builtInControls": [], "authenticationStrength": MFA_STRENGTH}},
     PolicyOutcome.MFA_ALL_APPS, CoveredBy.CA_ALL_APPS),
    ("strength that satisfies none", {"grant": {"builtInControls": [], "authenticationStrength": NONE_STRENGTH}},
     None, CoveredBy.NOT_COVERED),
    ("mfa AND compliant device still demands MFA", {"grant": {"operator": "AND",
                                                               "builtInControls": ["mfa", "compliantDevice"]}},
     PolicyOutcome.MFA_ALL_APPS, CoveredBy.CA_ALL_APPS),
    ("OR with a non-MFA control", {"grant": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}},
     PolicyOutcome.MFA_OR_ALTERNATIVE, CoveredBy.CA_PARTIAL),
    ("OR with terms of use", {"grant": {"operator": "OR", "termsOfUse": ["tou-1"]}},
     PolicyOutcome.MFA_OR_ALTERNATIVE, CoveredBy.CA_PARTIAL),
    ("only custom factors", {"grant": {"builtInControls": [], "customAuthenticationFactors": ["Duo"]}},
     PolicyOutcome.CUSTOM_CONTROL, CoveredBy.NOT_COVERED),
    ("no MFA control at all", {"grant": {"operator": "AND", "builtInControls": ["compliantDevice"]}},
     None, CoveredBy.NOT_COVERED),
    ("All apps but some", {"applications": {"excludeApplications": ["00000002-0000-0ff1-ce00-000000000000"]}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("a suite only", {"applications": {"includeApplications": ["Office365"]}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("app ids only", {"applications": {"includeApplications": ["797f4846-ba00-4fd7-ba43-dac1f8f63013"]}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("user action only", {"applications": {"includeApplications": [],
                                           "includeUserActions": ["urn:user:registersecurityinfo"]}},
     PolicyOutcome.NO_SIGN_IN, CoveredBy.NOT_COVERED),
    ("authentication context only", {"applications": {"includeApplications": [],
                                                      "includeAuthenticationContextClassReferences": ["c1"]}},
     PolicyOutcome.NO_SIGN_IN, CoveredBy.NOT_COVERED),
    ("some client apps", {"conditions": {"clientAppTypes": ["browser", "mobileAppsAndDesktopClients"]}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("platforms", {"conditions": {"platforms": {"includePlatforms": ["android"], "excludePlatforms": []}}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("locations", {"conditions": {"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("devices", {"conditions": {"devices": {"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant"}}}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("sign-in risk", {"conditions": {"signInRiskLevels": ["high", "medium"]}},
     PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
    ("user risk", {"conditions": {"userRiskLevels": ["high"]}}, PolicyOutcome.MFA_PARTIAL, CoveredBy.CA_PARTIAL),
]


@pytest.mark.parametrize(("overrides", "outcome", "covered_by"), [row[1:] for row in ROWS],
                         ids=[row[0] for row in ROWS])
def test_each_row_of_the_decision_table(overrides: dict[str, Any], outcome: PolicyOutcome | None,
                                        covered_by: CoveredBy) -> None:
    policy = ca_policy(**overrides)
    membership = resolve_membership({GROUP: [ALICE]}, {ROLE: [ALICE]})
    (alice,) = run([member()], [policy], membership).users
    assert [a.outcome for a in alice.applied] == ([outcome] if outcome else [])
    assert alice.covered_by is covered_by
    expected_names = ["Require MFA for all users"] if covered_by.value.startswith(("ca_", "blocked")) else []
    assert [p.name for p in alice.policies] == expected_names


def test_partial_outcomes_say_why_in_words() -> None:
    policy = ca_policy(conditions={"clientAppTypes": ["browser"], "locations": {"includeLocations": ["All"]}},
                       applications={"includeApplications": ["Office365"]})
    (alice,) = run([member()], [policy]).users
    assert alice.applied[0].partial == ("some apps only", "some client apps only", "locations")


def test_exclusion_wins_over_every_inclusion() -> None:
    policy = ca_policy(users={"includeUsers": [ALICE], "includeGroups": [GROUP], "excludeUsers": [ALICE]})
    (alice,) = run([member()], [policy], resolve_membership({GROUP: [ALICE]})).users
    assert alice.covered_by is CoveredBy.CA_EXCLUDED


def test_an_exclusion_only_matters_for_users_the_policy_includes() -> None:
    policy = ca_policy(users={"includeUsers": [BOB], "excludeUsers": [ALICE]})
    alice, bob = run([member(ALICE), member(BOB)], [policy]).users
    assert (alice.covered_by, bob.covered_by) == (CoveredBy.NOT_COVERED, CoveredBy.CA_ALL_APPS)


def test_excluded_from_a_block_is_simply_not_blocked() -> None:
    policy = ca_policy(grant={"builtInControls": ["block"]}, users={"excludeUsers": [ALICE]})
    (alice,) = run([member()], [policy]).users
    assert (alice.covered_by, alice.applied) == (CoveredBy.NOT_COVERED, ())


def test_report_only_excluded_user_gets_nothing_from_it() -> None:
    policy = ca_policy(state="enabledForReportingButNotEnforced", users={"excludeUsers": [ALICE]})
    (alice,) = run([member()], [policy]).users
    assert (alice.covered_by, alice.applied) == (CoveredBy.NOT_COVERED, ())


def test_legacy_auth_block_is_noted_on_the_user() -> None:
    block = ca_policy(grant={"builtInControls": ["block"]}, conditions={"clientAppTypes": ["exchangeActiveSync"]},
                      name="Block legacy authentication", policy_id="legacy")
    alice, bob = run([member(ALICE), member(BOB)], [block, ca_policy(users={"includeUsers": [BOB]})]).users
    assert alice.legacy_auth_blocked and alice.covered_by is CoveredBy.NOT_COVERED
    assert bob.legacy_auth_blocked and bob.covered_by is CoveredBy.CA_ALL_APPS


# The verdict order: clean CA, block, partial CA, security defaults, per-user, then what is not protection.

ORDER = [
    ("clean CA beats partial", [ca_policy(policy_id="a", name="A"),
                                ca_policy(policy_id="b", name="B", conditions={"userRiskLevels": ["high"]})],
     {}, "disabled", CoveredBy.CA_ALL_APPS, ["A"]),
    ("partial CA beats security defaults", [ca_policy(conditions={"clientAppTypes": ["browser"]})],
     {"security_defaults": True}, "disabled", CoveredBy.CA_PARTIAL, ["Require MFA for all users"]),
    ("security defaults beat per-user", [], {"security_defaults": True}, "enforced",
     CoveredBy.SECURITY_DEFAULTS, []),
    ("per-user enforced", [], {}, "enforced", CoveredBy.PER_USER_ENFORCED, []),
    ("per-user beats an exclusion", [ca_policy(users={"excludeUsers": [ALICE]})], {}, "enforced",
     CoveredBy.PER_USER_ENFORCED, []),
    ("exclusion beats report-only", [ca_policy(users={"excludeUsers": [ALICE]}, policy_id="x", name="X"),
                                     ca_policy(state="enabledForReportingButNotEnforced", policy_id="r", name="R")],
     {}, "disabled", CoveredBy.CA_EXCLUDED, ["X"]),
    ("nothing at all", [], {}, "disabled", CoveredBy.NOT_COVERED, []),
    ("per-user state unread", [], {}, None, CoveredBy.NOT_COVERED, []),
]


@pytest.mark.parametrize(("policies", "facts", "state", "covered_by", "names"), [o[1:] for o in ORDER],
                         ids=[o[0] for o in ORDER])
def test_the_verdict_order(policies: list[dict[str, Any]], facts: dict[str, Any], state: str | None,
                           covered_by: CoveredBy, names: list[str]) -> None:
    (alice,) = run([member(per_user_state=state)], policies, **facts).users
    assert (alice.covered_by, [p.name for p in alice.policies]) == (covered_by, names)


@pytest.mark.parametrize(("registered", "covered_by"), [
    (True, CoveredBy.PER_USER_ENABLED_REGISTERED), (False, CoveredBy.PER_USER_ENABLED_UNREGISTERED)])
def test_per_user_enabled_says_whether_the_user_registered(registered: bool, covered_by: CoveredBy) -> None:
    (alice,) = run([member(per_user_state="Enabled", is_mfa_registered=registered)], []).users
    assert alice.covered_by is covered_by
    assert alice.protected is registered


# Security defaults, no P1, not readable.

def test_security_defaults_cover_everyone_when_there_is_no_conditional_access() -> None:
    users = [member(ALICE), guest(), member(BOB, per_user_state="enforced")]
    result = run(users, [], security_defaults=True, ca_availability=CaAvailability.NO_P1)
    assert [u.covered_by for u in result.users] == [CoveredBy.SECURITY_DEFAULTS] * 3
    assert [u.conflicts for u in result.users] == [(), (), (Conflict.PER_USER_WITH_SECURITY_DEFAULTS,)]
    assert result.tenant_conflicts == ()


def test_security_defaults_alongside_enabled_policies_is_a_tenant_conflict() -> None:
    result = run([member()], [ca_policy()], security_defaults=True)
    assert result.tenant_conflicts == (TenantConflict.DEFAULTS_WITH_CA,)
    assert run([member()], [ca_policy(state="disabled")], security_defaults=True).tenant_conflicts == ()


@pytest.mark.parametrize("policies", [[], [ca_policy()]], ids=["empty list", "policies answered anyway"])
def test_without_p1_conditional_access_is_unavailable_never_not_covered(policies: list[dict[str, Any]]) -> None:
    result = run([member(), member(BOB, per_user_state="enforced")], policies, ca_availability=CaAvailability.NO_P1)
    assert [u.covered_by for u in result.users] == [CoveredBy.CA_UNAVAILABLE, CoveredBy.PER_USER_ENFORCED]
    assert result.policies == ()


def test_unreadable_conditional_access_and_unknown_defaults_are_unknown_not_uncovered() -> None:
    unreadable = run([member()], [], ca_availability=CaAvailability.NOT_READABLE).users[0]
    unknown_defaults = run([member()], [], security_defaults=None).users[0]
    assert (unreadable.covered_by, unknown_defaults.covered_by) == (CoveredBy.CA_NOT_READABLE,
                                                                    CoveredBy.DEFAULTS_UNKNOWN)


# Conflicts: Microsoft advises per-user Disabled for users covered by CA or security defaults.

@pytest.mark.parametrize(("state", "policy", "defaults", "conflicts"), [
    ("enforced", ca_policy(), False, (Conflict.PER_USER_WITH_CA,)),
    ("enabled", ca_policy(), False, (Conflict.PER_USER_WITH_CA,)),
    ("disabled", ca_policy(), False, ()),
    ("enforced", ca_policy(conditions={"clientAppTypes": ["browser"]}), False, ()),
    ("enforced", ca_policy(state="enabledForReportingButNotEnforced"), False, ()),
    ("enabled", None, True, (Conflict.PER_USER_WITH_SECURITY_DEFAULTS,)),
    ("enforced", ca_policy(), True, (Conflict.PER_USER_WITH_CA, Conflict.PER_USER_WITH_SECURITY_DEFAULTS)),
], ids=["enforced+CA", "enabled+CA", "disabled+CA", "enforced+partial CA", "enforced+report-only",
        "enabled+defaults", "enforced+both"])
def test_conflicts(state: str, policy: dict[str, Any] | None, defaults: bool,
                   conflicts: tuple[Conflict, ...]) -> None:
    (alice,) = run([member(per_user_state=state)], [policy] if policy else [], security_defaults=defaults).users
    assert alice.conflicts == conflicts


# Membership must be complete: a policy's group the reader did not resolve is an error, not "nobody".

def test_an_unresolved_group_or_role_is_a_clear_error() -> None:
    with pytest.raises(ProtectionInputError, match=f"Group {GROUP} is named by a Conditional Access policy"):
        run([member()], [ca_policy(users={"excludeGroups": [GROUP]})])
    with pytest.raises(ProtectionInputError, match=f"Role {ROLE} is named"):
        run([member()], [ca_policy(users={"includeRoles": [ROLE]})])


def test_a_disabled_policy_needs_no_membership() -> None:
    (alice,) = run([member()], [ca_policy(state="disabled", users={"excludeGroups": [GROUP]})]).users
    assert alice.covered_by is CoveredBy.NOT_COVERED


def test_ids_match_whatever_their_case() -> None:
    policy = ca_policy(users={"includeUsers": [ALICE.upper()], "includeGroups": [GROUP.upper()]})
    alice, bob = run([member(ALICE), member(BOB.upper())], [policy], resolve_membership({GROUP: [BOB]})).users
    assert (alice.covered_by, bob.covered_by) == (CoveredBy.CA_ALL_APPS, CoveredBy.CA_ALL_APPS)
