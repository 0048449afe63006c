"""Builders for the protection model's tests: Graph-shaped Conditional Access policies and users.

``ca_policy`` starts from the shape of Microsoft's documented list example (every key present, nulls where
the example has them) and overrides what a test names, so each case differs from a clean "require MFA for
all users on all cloud apps" policy by exactly the row it tests.
"""

from __future__ import annotations

import copy
from typing import Any

from lib.protection import Evaluation, Membership, ProtectionInputs, UserFacts, evaluate

ALICE = "aaaaaaaa-0000-0000-0000-000000000001"
BOB = "bbbbbbbb-0000-0000-0000-000000000002"
GUEST = "cccccccc-0000-0000-0000-000000000003"

BASE_POLICY: dict[str, Any] = {
    "id": "00000000-1111-2222-3333-444444444444",
    "displayName": "Require MFA for all users",
    "state": "enabled",
    "conditions": {
        "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": ["all"], "servicePrincipalRiskLevels": [],
        "insiderRiskLevels": None, "platforms": None, "locations": None, "devices": None, "clientApplications": None,
        "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [],
                         "includeAuthenticationContextClassReferences": [], "applicationFilter": None},
        "users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                  "includeRoles": [], "excludeRoles": [], "includeGuestsOrExternalUsers": None,
                  "excludeGuestsOrExternalUsers": None},
    },
    "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [],
                      "termsOfUse": [], "authenticationStrength": None},
    "sessionControls": None,
}


def ca_policy(*, state: str | None = None, users: dict[str, Any] | None = None,
              applications: dict[str, Any] | None = None, conditions: dict[str, Any] | None = None,
              grant: dict[str, Any] | None = None, name: str | None = None, policy_id: str | None = None,
              ) -> dict[str, Any]:
    """The base policy with the named parts overridden (each dict updates the part it names)."""
    policy = copy.deepcopy(BASE_POLICY)
    if state is not None:
        policy["state"] = state
    if name is not None:
        policy["displayName"] = name
    if policy_id is not None:
        policy["id"] = policy_id
    policy["conditions"]["users"].update(users or {})
    policy["conditions"]["applications"].update(applications or {})
    policy["conditions"].update(conditions or {})
    policy["grantControls"].update(grant or {})
    return policy


def member(uid: str = ALICE, **facts: Any) -> UserFacts:
    return UserFacts(id=uid, user_type="member", **facts)


def guest(uid: str = GUEST, **facts: Any) -> UserFacts:
    return UserFacts(id=uid, user_type="guest", **facts)


def run(users: list[UserFacts], policies: list[dict[str, Any]], membership: Membership | None = None,
        **facts: Any) -> Evaluation:
    """Evaluate ``users`` under ``policies`` (security defaults off, CA available unless told)."""
    return evaluate(ProtectionInputs(users=users, policies=policies, membership=membership or Membership(), **facts))
