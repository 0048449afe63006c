"""Who a policy reaches: nested groups, roles held through role-assignable groups, guests, and resolving
each policy-referenced group once (not once per user)."""

from __future__ import annotations

from typing import Any

import pytest

from lib.protection import (
    CoveredBy,
    Membership,
    ProtectionInputError,
    referenced_groups,
    referenced_roles,
    resolve_membership,
    role_holders,
    transitive_user_ids,
)
from tests.protection_support import ALICE, BOB, GUEST, ca_policy, guest, member, run

SALES = "5a1e5000-0000-0000-0000-000000000001"
EMEA_SALES = "5a1e5000-0000-0000-0000-000000000002"
ADMINS_GROUP = "ad000000-0000-0000-0000-000000000001"
GA = "62e90394-69f5-4237-9190-012177145e10"
SECURITY_ADMIN = "194ae4cb-b126-40b2-bd5b-6091b380977d"


def test_nested_group_members_are_members() -> None:
    # transitiveMembers of Sales: the nested group itself, its member Bob, a device and Alice directly.
    listing = [
        {"@odata.type": "#microsoft.graph.group", "id": EMEA_SALES, "displayName": "EMEA Sales"},
        {"@odata.type": "#microsoft.graph.user", "id": BOB},
        {"@odata.type": "#microsoft.graph.device", "id": "d0000000-0000-0000-0000-000000000001"},
        {"@odata.type": "#microsoft.graph.user", "id": ALICE},
    ]
    sales = transitive_user_ids(listing)
    assert sales == {ALICE, BOB}
    policy = ca_policy(users={"includeUsers": [], "includeGroups": [SALES]}, name="Require MFA for Sales")
    alice, bob, carol = run([member(ALICE), member(BOB), member("c")], [policy],
                            resolve_membership({SALES: sales})).users
    assert [u.covered_by for u in (alice, bob, carol)] == [CoveredBy.CA_ALL_APPS] * 2 + [CoveredBy.NOT_COVERED]


def test_the_cast_listing_without_types_is_all_users() -> None:
    assert transitive_user_ids([{"id": ALICE.upper()}, {"id": BOB}]) == {ALICE, BOB}


def assignment(role: str, principal: dict[str, Any], scope: str = "/") -> dict[str, Any]:
    return {"id": f"{role}-{principal['id']}", "principalId": principal["id"], "roleDefinitionId": role,
            "directoryScopeId": scope, "resourceScope": scope, "principal": principal}


def test_roles_held_through_a_role_assignable_group_count() -> None:
    assignments = [
        assignment(GA, {"@odata.type": "#microsoft.graph.user", "id": ALICE, "userType": "Member"}),
        assignment(SECURITY_ADMIN, {"@odata.type": "#microsoft.graph.group", "id": ADMINS_GROUP}),
        assignment(SECURITY_ADMIN, {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-1"}),
        assignment(GA, {"@odata.type": "#microsoft.graph.user", "id": "scoped"}, scope="/administrativeUnits/au-1"),
    ]
    holders = role_holders(assignments, {ADMINS_GROUP: [BOB]})
    assert holders == {GA: {ALICE}, SECURITY_ADMIN: {BOB}}
    policy = ca_policy(users={"includeUsers": [], "includeRoles": [GA, SECURITY_ADMIN]},
                       name="Require MFA for admins")
    alice, bob, scoped = run([member(ALICE), member(BOB), member("scoped")], [policy],
                             resolve_membership({}, holders)).users
    assert [u.covered_by for u in (alice, bob, scoped)] == [CoveredBy.CA_ALL_APPS, CoveredBy.CA_ALL_APPS,
                                                            CoveredBy.NOT_COVERED]
    assert (alice.is_global_admin, bob.is_global_admin, bob.is_admin) == (True, False, False)


def test_a_group_principal_needs_its_members_and_a_principal_must_be_expanded() -> None:
    with pytest.raises(ProtectionInputError, match=f"Group {ADMINS_GROUP} holds role"):
        role_holders([assignment(GA, {"@odata.type": "#microsoft.graph.group", "id": ADMINS_GROUP})])
    with pytest.raises(ProtectionInputError, match=r"\$expand=principal"):
        role_holders([{"id": "x", "principalId": ALICE, "roleDefinitionId": GA, "directoryScopeId": "/"}])


def test_the_reader_is_told_which_groups_and_roles_to_resolve() -> None:
    policies = [
        ca_policy(users={"includeGroups": [SALES.upper()], "excludeGroups": [EMEA_SALES]}),
        ca_policy(users={"includeRoles": [GA], "excludeGroups": [SALES]}),
        ca_policy(state="disabled", users={"includeGroups": ["ignored"], "includeRoles": ["ignored-role"]}),
    ]
    assert referenced_groups(policies) == {SALES, EMEA_SALES}
    assert referenced_roles(policies) == {GA}


class CountingMembership(Membership):
    """Counts look-ups, to show groups are resolved per policy reference, not per user."""

    calls: list[str]

    def group(self, group_id: str) -> frozenset[str]:
        self.calls.append(group_id)
        return super().group(group_id)


@pytest.mark.parametrize("users", [10, 2_000])
def test_each_policy_referenced_group_is_looked_up_once_whatever_the_number_of_users(users: int) -> None:
    resolved = resolve_membership({SALES: [ALICE], EMEA_SALES: [BOB]})
    membership = CountingMembership(groups=resolved.groups, roles=resolved.roles)
    object.__setattr__(membership, "calls", [])
    policies = [ca_policy(users={"includeGroups": [SALES], "excludeGroups": [EMEA_SALES]}),
                ca_policy(users={"includeGroups": [SALES]})]
    result = run([member(f"user-{n}") for n in range(users)] + [member(ALICE), member(BOB)], policies, membership)
    assert sorted(membership.calls) == sorted([SALES, EMEA_SALES, SALES])
    assert result.users[-2].covered_by is CoveredBy.CA_ALL_APPS


# Guests and external users.

ALL_GUEST_KINDS = "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser," \
                  "otherExternalUser,serviceProvider"


def guest_condition(kinds: str, tenants: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"guestOrExternalUserTypes": kinds,
            "externalTenants": tenants or {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                                           "membershipKind": "all"}}


@pytest.mark.parametrize(("users", "expected"), [
    ({"includeUsers": ["All"]}, [CoveredBy.CA_ALL_APPS, CoveredBy.CA_ALL_APPS, CoveredBy.CA_ALL_APPS]),
    ({"includeUsers": ["GuestsOrExternalUsers"]}, [CoveredBy.NOT_COVERED, CoveredBy.CA_ALL_APPS,
                                                   CoveredBy.CA_ALL_APPS]),
    ({"includeUsers": [], "includeGuestsOrExternalUsers": guest_condition(ALL_GUEST_KINDS)},
     [CoveredBy.NOT_COVERED, CoveredBy.CA_ALL_APPS, CoveredBy.CA_ALL_APPS]),
    # A guest of unknown kind may be internal or B2B: an include naming only one of them does not count…
    ({"includeUsers": [], "includeGuestsOrExternalUsers": guest_condition("b2bCollaborationGuest")},
     [CoveredBy.NOT_COVERED, CoveredBy.NOT_COVERED, CoveredBy.CA_ALL_APPS]),
    # …while an exclude naming either does (exclusion wins, so doubt goes against coverage).
    ({"excludeGuestsOrExternalUsers": guest_condition("b2bCollaborationGuest")},
     [CoveredBy.CA_ALL_APPS, CoveredBy.CA_EXCLUDED, CoveredBy.CA_EXCLUDED]),
    ({"excludeGuestsOrExternalUsers": guest_condition("internalGuest")},
     [CoveredBy.CA_ALL_APPS, CoveredBy.CA_EXCLUDED, CoveredBy.CA_ALL_APPS]),
    ({"excludeUsers": ["GuestsOrExternalUsers"]}, [CoveredBy.CA_ALL_APPS, CoveredBy.CA_EXCLUDED,
                                                   CoveredBy.CA_EXCLUDED]),
    # Only some external tenants named: the console cannot tell a guest's home tenant, so no inclusion.
    ({"includeUsers": [], "includeGuestsOrExternalUsers": guest_condition(
        ALL_GUEST_KINDS, {"@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                          "membershipKind": "enumerated", "members": ["tenant-1"]})},
     [CoveredBy.NOT_COVERED, CoveredBy.NOT_COVERED, CoveredBy.NOT_COVERED]),
], ids=["All users includes guests", "legacy GuestsOrExternalUsers", "every guest kind", "one kind: include",
        "one kind: exclude", "internal guests excluded", "legacy exclude", "enumerated tenants"])
def test_guests_and_external_users(users: dict[str, Any], expected: list[CoveredBy]) -> None:
    people = [member(ALICE), guest(GUEST), guest("b2b", guest_type="b2bCollaborationGuest")]
    result = run(people, [ca_policy(users=users)])
    assert [u.covered_by for u in result.users] == expected


def test_guests_are_external_for_the_deadline_and_members_are_not() -> None:
    alice, visitor, b2b_member = run([member(ALICE), guest(GUEST), member(BOB, guest_type="b2bCollaborationMember")],
                                     []).users
    assert (alice.is_external, visitor.is_external, b2b_member.is_external) == (False, True, True)
