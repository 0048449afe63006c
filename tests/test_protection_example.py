"""Microsoft's documented example payloads (tests/fixtures/graph/protection/) through the protection model.

The documented Conditional Access list holds CA001 (MFA for 15 admin roles, excluding one group: the
break-glass accounts) and CA008 (password change AND the "Multifactor authentication" strength for high
user risk). The documented role assignments name three Global Administrators, two of them guests; the
documented transitive members listing supplies the excluded group's one member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lib.protection import (
    GLOBAL_ADMINISTRATOR,
    LATER_DEADLINE,
    SMS_VOICE_DEADLINE,
    CaAvailability,
    Conflict,
    CoveredBy,
    PolicyOutcome,
    ProtectionInputs,
    TenantConflict,
    UserFacts,
    evaluate,
    referenced_groups,
    referenced_roles,
    resolve_membership,
    role_holders,
    security_defaults_enabled,
    summarize,
    transitive_user_ids,
)
from tests.fixtures import PROTECTION_EXAMPLES, protection_example
from tests.protection_support import ca_policy

POLICIES = "v1.0-conditionalaccess-policies-list.json"
BREAK_GLASS_GROUP = "eedad040-3722-4bcb-bde5-bc7c857f4983"
JOEY, KALYAN, MARKIE = ("ace08ec9-aa11-4ada-9145-addf0398233e", "6f87972e-2e7e-4b49-9980-eb3888bdcfe1",
                        "10fc1cc8-ac36-4186-b99b-0cf814aa2dd5")
BREAK_GLASS = "11111111-2222-3333-4444-555555555555"
CA001 = "CA001: Require multi-factor authentication for admins"
CA008 = "CA008: Require password change for high-risk users"


def documented_membership(policies: list[dict]) -> tuple[dict, dict]:
    """What a reader builds from the documented listings: one per referenced group and role."""
    groups = {BREAK_GLASS_GROUP: transitive_user_ids(
        protection_example("v1.0-group-transitivemembers-list.json")["value"])}
    assert referenced_groups(policies) == set(groups)
    documented = protection_example("v1.0-roleassignments-list.json")["value"]
    # The tenant's break-glass account is a Global Administrator too: one more assignment in the same shape.
    break_glass = {**documented[0], "id": "break-glass-ga", "principalId": BREAK_GLASS,
                   "principal": {"@odata.type": "#microsoft.graph.user", "id": BREAK_GLASS, "userType": "Member"}}
    holders = role_holders([*documented, break_glass])
    roles = {role: holders.get(role, frozenset()) for role in referenced_roles(policies)}
    return groups, roles


def test_the_documented_policies_give_these_exact_verdicts() -> None:
    policies = protection_example(POLICIES)["value"]
    groups, roles = documented_membership(policies)
    assert len(roles) == 15 and roles[GLOBAL_ADMINISTRATOR] == {JOEY, KALYAN, MARKIE, BREAK_GLASS}
    users = [
        UserFacts(JOEY, "Member", "enforced", ("microsoftAuthenticatorPush",), is_admin=True, is_mfa_registered=True),
        UserFacts(KALYAN, "Guest", "disabled", ("mobilePhone",), is_admin=True, is_mfa_registered=True),
        UserFacts(MARKIE, "Guest", "disabled", ("fido2",), is_admin=True, is_mfa_registered=True),
        # A Global Administrator in the excluded group: the break-glass account.
        UserFacts(BREAK_GLASS, "Member", "disabled", ()),
        UserFacts("0a0a0a0a-0000-0000-0000-000000000001", "Member", "enabled", ("mobilePhone",),
                  is_mfa_registered=True),
        UserFacts("0b0b0b0b-0000-0000-0000-000000000002", "guest", "disabled", ("email",)),
    ]
    evaluation = evaluate(ProtectionInputs(users, policies, security_defaults=False,
                                           membership=resolve_membership(groups, roles)))
    got = {u.user_id: (u.covered_by, [p.name for p in u.policies], [(a.policy.name, a.outcome) for a in u.applied],
                       u.conflicts, u.sms_voice_deadline) for u in evaluation.users}
    both = [(CA001, PolicyOutcome.MFA_ALL_APPS), (CA008, PolicyOutcome.MFA_PARTIAL)]
    assert got == {
        JOEY: (CoveredBy.CA_ALL_APPS, [CA001], both, (Conflict.PER_USER_WITH_CA,), LATER_DEADLINE),
        KALYAN: (CoveredBy.CA_ALL_APPS, [CA001], both, (), LATER_DEADLINE),
        MARKIE: (CoveredBy.CA_ALL_APPS, [CA001], both, (), LATER_DEADLINE),
        BREAK_GLASS: (CoveredBy.CA_EXCLUDED, [CA001, CA008],
                      [(CA001, PolicyOutcome.EXCLUDED), (CA008, PolicyOutcome.EXCLUDED)], (), LATER_DEADLINE),
        # Per-user Enabled, but partial CA comes first in the verdict order (and is no conflict).
        "0a0a0a0a-0000-0000-0000-000000000001": (CoveredBy.CA_PARTIAL, [CA008],
                                                 [(CA008, PolicyOutcome.MFA_PARTIAL)], (), SMS_VOICE_DEADLINE),
        "0b0b0b0b-0000-0000-0000-000000000002": (CoveredBy.CA_PARTIAL, [CA008],
                                                 [(CA008, PolicyOutcome.MFA_PARTIAL)], (), LATER_DEADLINE),
    }
    ca008 = next(u for u in evaluation.users if u.user_id.startswith("0a0a")).applied[0]
    assert ca008.partial == ("risk levels",)
    summary = summarize(evaluation, datetime(2026, 12, 3, tzinfo=UTC))
    assert (summary.protected, summary.by_covered_by[CoveredBy.CA_EXCLUDED], summary.admins_not_protected) == (3, 1, 1)
    assert [(d.users, d.days_left) for d in summary.sms_voice_only] == [(1, 60), (1, 210)]


def test_the_documented_security_defaults_cover_a_tenant_without_conditional_access() -> None:
    enabled = security_defaults_enabled(protection_example("v1.0-identitysecuritydefaults-get.json"))
    assert enabled is True
    assert security_defaults_enabled({"id": "00000000-0000-0000-0000-000000000005"}) is None
    users = [UserFacts("a", per_user_state="disabled"), UserFacts("b", per_user_state="enforced")]
    evaluation = evaluate(ProtectionInputs(users, [], security_defaults=enabled, ca_availability=CaAvailability.NO_P1))
    assert [(u.covered_by, u.conflicts) for u in evaluation.users] == [
        (CoveredBy.SECURITY_DEFAULTS, ()), (CoveredBy.SECURITY_DEFAULTS, (Conflict.PER_USER_WITH_SECURITY_DEFAULTS,))]
    # The same defaults next to the documented (enabled) policies: Microsoft says disable one of them.
    both = evaluate(ProtectionInputs(users, protection_example(POLICIES)["value"], security_defaults=enabled,
                                     membership=resolve_membership(*documented_membership(
                                         protection_example(POLICIES)["value"]))))
    assert both.tenant_conflicts == (TenantConflict.DEFAULTS_WITH_CA,)


def test_the_documented_strengths_all_demand_mfa() -> None:
    strengths = protection_example("v1.0-authenticationstrengthpolicies-list.json")["value"]
    assert [s["displayName"] for s in strengths] == ["Multifactor authentication", "Passwordless MFA",
                                                     "Phishing resistant MFA"]
    for strength in strengths:
        policy = ca_policy(grant={"builtInControls": [], "authenticationStrength": strength})
        (user,) = evaluate(ProtectionInputs([UserFacts("a")], [policy])).users
        assert user.covered_by is CoveredBy.CA_ALL_APPS, strength["displayName"]
    # A copy of a built-in strength without requirementsSatisfied still counts (its id is Microsoft's).
    bare = {k: v for k, v in strengths[2].items() if k != "requirementsSatisfied"}
    (user,) = evaluate(ProtectionInputs([UserFacts("a")], [ca_policy(grant={"builtInControls": [],
                                                                            "authenticationStrength": bare})])).users
    assert user.covered_by is CoveredBy.CA_ALL_APPS


def test_every_vendored_protection_payload_is_used_valid_and_sourced() -> None:
    folder = PROTECTION_EXAMPLES
    names = sorted(p.name for p in folder.glob("*.json") if p.name != "v1.0-metadata-properties.json")
    assert len(names) == 6
    readme = (folder / "README.md").read_text(encoding="utf-8")
    tests = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(__file__).parent.glob("test_*protection*.py")))
    for name in names:
        wrapped = json.loads((folder / name).read_text(encoding="utf-8"))
        assert wrapped["source"] and "body" in wrapped["response"], name
        rows = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1 and "https://" in rows[0], name
        assert name in tests, f"no test loads {name}"
