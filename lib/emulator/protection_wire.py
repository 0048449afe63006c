"""The protection records in Graph's wire format (v1.0 property names, order and nulls of Microsoft's
examples in tests/fixtures/graph/protection/), so msgraph-sdk's models parse them with nothing left over."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from lib.emulator.model import SyntheticTenant, User
from lib.emulator.protection_model import (
    SECURITY_DEFAULTS_ID,
    ConditionalAccessPolicy,
    Group,
    MethodConfiguration,
    ProtectionPolicies,
    RoleAssignment,
)
from lib.emulator.user_schema import user_properties
from lib.emulator.wire import DEFAULT_USER_PROPERTIES, iso, user_json

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"

# ----------------------------------------------------------------------------------- Conditional Access

CA_PROPERTIES: dict[str, Callable[[ConditionalAccessPolicy], Any]] = {
    "id": lambda p: p.id,
    "templateId": lambda p: p.template_id,
    "displayName": lambda p: p.display_name,
    "createdDateTime": lambda p: iso(p.created),
    "modifiedDateTime": lambda p: iso(p.modified),
    "state": lambda p: p.state,
    "conditions": lambda p: copy.deepcopy(p.conditions),
    "grantControls": lambda p: copy.deepcopy(p.grant_controls),
    "sessionControls": lambda p: copy.deepcopy(p.session_controls),
    "description": lambda p: None,
    "deletedDateTime": lambda p: None,
}
CA_DEFAULT = ("id", "templateId", "displayName", "createdDateTime", "modifiedDateTime", "state", "conditions",
              "grantControls", "sessionControls")
"""What the list returns without ``$select`` (Microsoft's example has no ``description``)."""


def ca_policy_json(policy: ConditionalAccessPolicy, properties: Iterable[str] = CA_DEFAULT) -> dict:
    return {name: CA_PROPERTIES[name](policy) for name in properties}


# ---------------------------------------------------------------------------------- security defaults

SECURITY_DEFAULTS_DESCRIPTION = (
    "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, "
    "these recommendations will be automatically enforced in your organization. Administrators and users will be "
    "better protected from common identity related attacks.")


def security_defaults_json(policies: ProtectionPolicies) -> dict:
    """The singleton as Microsoft's example shows it (identitysecuritydefaultsenforcementpolicy-get)."""
    return {"description": SECURITY_DEFAULTS_DESCRIPTION, "displayName": "Security Defaults",
            "id": SECURITY_DEFAULTS_ID, "isEnabled": policies.security_defaults}


# ---------------------------------------------------------------------------- authentication methods

METHODS_POLICY_DESCRIPTION = (
    "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication "
    "method registration requirements, and self-service password reset settings")


def method_configuration_json(config: MethodConfiguration) -> dict:
    item: dict[str, Any] = {"@odata.type": config.odata_type, "id": config.id, "state": config.state}
    item.update(copy.deepcopy(config.properties))
    if config.exclude_targets:
        item["excludeTargets"] = copy.deepcopy(config.exclude_targets)
    item["includeTargets"] = copy.deepcopy(config.include_targets)
    return item


def campaign_json(policies: ProtectionPolicies) -> dict:
    c = policies.campaign
    return {"snoozeDurationInDays": c.snooze_days, "state": c.state,
            "excludeTargets": copy.deepcopy(c.exclude_targets), "includeTargets": copy.deepcopy(c.include_targets)}


def methods_policy_json(tenant: SyntheticTenant) -> dict:
    """authenticationMethodsPolicy with its configurations expanded (Graph always expands them)."""
    policies = tenant.protection
    return {
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": METHODS_POLICY_DESCRIPTION,
        "lastModifiedDateTime": iso(policies.methods_policy_modified or tenant.created),
        "policyVersion": "1.5",
        "policyMigrationState": policies.policy_migration_state,
        "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": campaign_json(policies)},
        "authenticationMethodConfigurations": [method_configuration_json(c) for c in policies.method_configurations],
    }


# ------------------------------------------------------------------------------ authentication strength

_BUILT_IN_CREATED = "2021-12-01T00:00:00Z"
_MFA_COMBINATIONS = (
    "windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush", "temporaryAccessPassOneTime",
    "temporaryAccessPassMultiUse", "password,microsoftAuthenticatorPush", "password,softwareOath",
    "password,hardwareOath", "password,x509CertificateSingleFactor", "password,x509CertificateMultiFactor",
    "password,sms", "password,voice", "federatedMultiFactor", "microsoftAuthenticatorPush,federatedSingleFactor",
    "softwareOath,federatedSingleFactor", "hardwareOath,federatedSingleFactor", "sms,federatedSingleFactor",
    "voice,federatedSingleFactor",
)
BUILT_IN_STRENGTHS = (
    ("00000000-0000-0000-0000-000000000002", "Multifactor authentication",
     "Combinations of methods that satisfy strong authentication, such as a password + SMS", _MFA_COMBINATIONS),
    ("00000000-0000-0000-0000-000000000003", "Passwordless MFA",
     "Passwordless methods that satisfy strong authentication, such as Passwordless sign-in with the Microsoft "
     "Authenticator", ("windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush")),
    ("00000000-0000-0000-0000-000000000004", "Phishing resistant MFA",
     "Phishing resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
     ("windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor")),
)
"""The three built-in strengths exactly as Microsoft's list example has them (all ``requirementsSatisfied: mfa``)."""


def strength_policies_json() -> list[dict]:
    return [{"id": sid, "createdDateTime": _BUILT_IN_CREATED, "modifiedDateTime": _BUILT_IN_CREATED,
             "displayName": name, "description": description, "policyType": "builtIn",
             "requirementsSatisfied": "mfa", "allowedCombinations": list(combinations),
             "combinationConfigurations": []}
            for sid, name, description, combinations in BUILT_IN_STRENGTHS]


# ------------------------------------------------------------------------------------------- groups

GROUP_PROPERTIES: dict[str, Callable[[Group], Any]] = {
    "id": lambda g: g.id,
    "deletedDateTime": lambda g: None,
    "classification": lambda g: None,
    "createdDateTime": lambda g: iso(g.created),
    "description": lambda g: g.description,
    "displayName": lambda g: g.display_name,
    "expirationDateTime": lambda g: None,
    "groupTypes": lambda g: [],
    "isAssignableToRole": lambda g: g.is_assignable_to_role,
    "mail": lambda g: None,
    "mailEnabled": lambda g: False,
    "mailNickname": lambda g: g.mail_nickname,
    "membershipRule": lambda g: None,
    "membershipRuleProcessingState": lambda g: None,
    "onPremisesSyncEnabled": lambda g: None,
    "preferredDataLocation": lambda g: None,
    "proxyAddresses": lambda g: [],
    "renewedDateTime": lambda g: iso(g.created),
    "securityEnabled": lambda g: True,
    "visibility": lambda g: None,
}
GROUP_PROPERTY_NAMES = {name.lower(): name for name in GROUP_PROPERTIES}


def group_json(group: Group, properties: Iterable[str] | None = None) -> dict:
    return {name: GROUP_PROPERTIES[name](group) for name in (properties or GROUP_PROPERTIES)}


def member_json(obj: User | Group, properties: Iterable[str] | None, typed: bool = True) -> dict:
    """A directoryObject in a members collection: ``@odata.type`` first, then the (selected) properties.

    ``$select`` on a mixed collection may name either type's properties; each object shows the ones it has.
    """
    wanted = tuple(properties) if properties is not None else None
    if isinstance(obj, Group):
        names = [n for n in wanted if n in GROUP_PROPERTIES] if wanted else list(GROUP_PROPERTIES)
        body = group_json(obj, names)
        odata_type = GROUP_TYPE
    else:
        names = [n for n in wanted if n in user_properties("v1.0")] if wanted else list(DEFAULT_USER_PROPERTIES)
        body = user_json(obj, names)
        odata_type = USER_TYPE
    return {"@odata.type": odata_type, **body} if typed else body


# ------------------------------------------------------------------------------------ role assignments

def principal_json(obj: User | Group) -> dict:
    """An expanded ``principal``, with the properties Microsoft's example shows."""
    if isinstance(obj, Group):
        return {"@odata.type": GROUP_TYPE, "id": obj.id, "displayName": obj.display_name,
                "isAssignableToRole": obj.is_assignable_to_role, "mail": None, "mailEnabled": False,
                "mailNickname": obj.mail_nickname, "securityEnabled": True}
    return {"@odata.type": USER_TYPE, "id": obj.id, "accountEnabled": obj.account_enabled,
            "displayName": obj.display_name, "imAddresses": [], "mail": obj.mail,
            "mailNickname": obj.upn.split("@", 1)[0], "userType": obj.user_type}


def role_assignment_json(assignment: RoleAssignment, principal: User | Group | None = None) -> dict:
    """v1.0 unifiedRoleAssignment (Microsoft's example adds ``resourceScope``, which v1.0's metadata lacks)."""
    item: dict[str, Any] = {"id": assignment.id, "principalId": assignment.principal_id, "directoryScopeId": "/",
                            "roleDefinitionId": assignment.role_template_id}
    if principal is not None:
        item["principal"] = principal_json(principal)
    return item
