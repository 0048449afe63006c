"""The demo tenant's protection policies, seeded deterministically from the tenant itself.

Its own random stream (keyed by the tenant's seed and id) leaves the generator's stream untouched, so
adding policies changes none of the users, methods or histories tests rely on. The policies are the
ones a security lead meets in practice (docs/graph.md "Protection policies"): MFA for admins by role,
MFA for all users still in report-only, MFA for Sales through a nested group with the break-glass
accounts excluded, MFA for Office 365 only (Finance), and a block of legacy authentication.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from lib.emulator.model import AUTHENTICATION_POLICY_ADMINISTRATOR, AuthMethod, SyntheticTenant, User
from lib.emulator.protection_model import (
    ALL_USERS_TARGET,
    ConditionalAccessPolicy,
    Group,
    GroupRoleAssignment,
    MethodConfiguration,
    ProtectionPolicies,
    RegistrationCampaign,
)

ADMIN_ROLE_TEMPLATES = (
    "62e90394-69f5-4237-9190-012177145e10", "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe", "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7", "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451", AUTHENTICATION_POLICY_ADMINISTRATOR,
)
"""The admin roles of Microsoft's "Require MFA for admins" example (Global Administrator first), plus the
Authentication Policy Administrator the demo assigns through a group."""

EMEA = frozenset({"SE", "GB", "DE", "NL", "NO", "DK", "FI", "FR"})

POLICY_ADMINS = "Require MFA for admins"
POLICY_ALL_USERS = "Require MFA for all users"
POLICY_SALES = "Require MFA for Sales"
POLICY_OFFICE = "Require MFA for Office 365 (Finance)"
POLICY_LEGACY = "Block legacy authentication"

EMAIL_ONLY_SHARE = 300
"""One person in this many registers only an email address (password reset), never a second factor."""


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _conditions(users: dict, apps: list[str] | None = None, client_apps: list[str] | None = None) -> dict:
    """A conditionalAccessConditionSet in the order and with the nulls of Microsoft's list example."""
    return {
        "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": client_apps or ["all"],
        "servicePrincipalRiskLevels": [], "insiderRiskLevels": None, "platforms": None, "locations": None,
        "devices": None, "clientApplications": None,
        "applications": {"includeApplications": apps or ["All"], "excludeApplications": [], "includeUserActions": [],
                         "includeAuthenticationContextClassReferences": [], "applicationFilter": None},
        "users": {"includeUsers": [], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                  "includeRoles": [], "excludeRoles": [], "includeGuestsOrExternalUsers": None,
                  "excludeGuestsOrExternalUsers": None, **users},
    }


def grant(*controls: str, operator: str = "OR") -> dict:
    return {"operator": operator, "builtInControls": list(controls), "customAuthenticationFactors": [],
            "termsOfUse": [], "authenticationStrength": None}


def method_configurations(tenant: SyntheticTenant) -> list[MethodConfiguration]:
    """The demo's methods policy: consistent with ``tenant.methods_off_by_policy`` (voice calls off)."""
    everyone = [{"targetType": "group", "id": ALL_USERS_TARGET, "isRegistrationRequired": False}]
    voice_on = not {"officePhone", "alternateMobilePhone"} & set(tenant.methods_off_by_policy)
    sms_on = "mobilePhone" not in tenant.methods_off_by_policy
    ns = "#microsoft.graph."
    return [
        MethodConfiguration("Fido2", f"{ns}fido2AuthenticationMethodConfiguration", "enabled", everyone, {
            "isSelfServiceRegistrationAllowed": True, "isAttestationEnforced": True,
            "keyRestrictions": {"isEnforced": False, "enforcementType": "block", "aaGuids": []}}),
        MethodConfiguration("MicrosoftAuthenticator", f"{ns}microsoftAuthenticatorAuthenticationMethodConfiguration",
                            "enabled", [{**everyone[0], "authenticationMode": "any"}]),
        MethodConfiguration("Sms", f"{ns}smsAuthenticationMethodConfiguration", "enabled" if sms_on else "disabled",
                            [{**everyone[0], "isUsableForSignIn": False}]),
        MethodConfiguration("Voice", f"{ns}voiceAuthenticationMethodConfiguration",
                            "enabled" if voice_on else "disabled", everyone, {"isOfficePhoneAllowed": voice_on}),
        MethodConfiguration("SoftwareOath", f"{ns}softwareOathAuthenticationMethodConfiguration", "enabled", everyone),
        MethodConfiguration("TemporaryAccessPass", f"{ns}temporaryAccessPassAuthenticationMethodConfiguration",
                            "enabled", everyone, {
                                "defaultLifetimeInMinutes": 60, "defaultLength": 8, "minimumLifetimeInMinutes": 60,
                                "maximumLifetimeInMinutes": 480, "isUsableOnce": False}),
        MethodConfiguration("Email", f"{ns}emailAuthenticationMethodConfiguration", "enabled", [],
                            {"allowExternalIdToUseEmailOtp": "default"}),
        MethodConfiguration("X509Certificate", f"{ns}x509CertificateAuthenticationMethodConfiguration", "disabled",
                            everyone),
    ]


def seed_protection(tenant: SyntheticTenant, security_defaults: bool = False) -> ProtectionPolicies:
    """The tenant's policies. Security defaults exclude Conditional Access (Entra allows one or the other),
    and a tenant without Entra ID P1 has no Conditional Access policies."""
    rng = random.Random(f"protection:{tenant.seed}:{tenant.id}")
    created = tenant.created
    people = [u for u in tenant.users if u.kind == "person" and not u.is_guest]

    def group(name: str, description: str, users: list[User] = (), groups: list[Group] = (),
              role_assignable: bool = False) -> Group:
        nickname = "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c == "-")
        return Group(_uuid(rng), name, description, nickname, created + timedelta(days=rng.uniform(30, 900)),
                     [u.id for u in users], [g.id for g in groups], role_assignable)

    break_glass = [u for u in tenant.users if u.kind == "break_glass"]
    sales = [u for u in people if u.department == "Sales"]
    emergency = group("Emergency access accounts", "Break-glass accounts, excluded from every policy", break_glass)
    sales_emea = group("Sales EMEA", "Sales in Europe", [u for u in sales if u.usage_location in EMEA])
    sales_rest = group("Sales Americas and APAC", "Sales outside Europe",
                       [u for u in sales if u.usage_location not in EMEA])
    all_sales = group("All Sales", "Every Sales team (nested groups)", groups=[sales_emea, sales_rest])
    finance = group("Finance", "The Finance department", [u for u in people if u.department == "Finance"])
    policy_admin = [u for u in tenant.users if AUTHENTICATION_POLICY_ADMINISTRATOR in u.roles]
    identity_admins = group("Identity Administrators", "Holds the Authentication Policy Administrator role",
                            policy_admin, role_assignable=True)
    groups = [emergency, all_sales, sales_emea, sales_rest, finance, identity_admins]

    policies: list[ConditionalAccessPolicy] = []
    if tenant.premium and not security_defaults:
        def policy(name: str, state: str, conditions: dict, controls: dict) -> ConditionalAccessPolicy:
            made = created + timedelta(days=rng.uniform(900, 2000))
            return ConditionalAccessPolicy(_uuid(rng), name, state, made,
                                           min(tenant.now, made + timedelta(days=rng.uniform(1, 400))),
                                           conditions, controls)
        excluded = {"excludeGroups": [emergency.id]}
        policies = [
            policy(POLICY_ADMINS, "enabled",
                   _conditions({"includeRoles": list(ADMIN_ROLE_TEMPLATES), **excluded}), grant("mfa")),
            policy(POLICY_ALL_USERS, "enabledForReportingButNotEnforced",
                   _conditions({"includeUsers": ["All"], **excluded}), grant("mfa")),
            policy(POLICY_SALES, "enabled",
                   _conditions({"includeGroups": [all_sales.id], "excludeUsers": [u.id for u in break_glass]}),
                   grant("mfa")),
            policy(POLICY_OFFICE, "enabled",
                   _conditions({"includeGroups": [finance.id], **excluded}, apps=["Office365"]), grant("mfa")),
            policy(POLICY_LEGACY, "enabled",
                   _conditions({"includeUsers": ["All"], **excluded}, client_apps=["exchangeActiveSync", "other"]),
                   grant("block")),
        ]
    return ProtectionPolicies(
        security_defaults=security_defaults, conditional_access=policies, groups=groups,
        group_role_assignments=[GroupRoleAssignment(AUTHENTICATION_POLICY_ADMINISTRATOR, identity_admins.id)],
        method_configurations=method_configurations(tenant), campaign=RegistrationCampaign(),
        methods_policy_modified=created + timedelta(days=1500),
    )


def seed_email_only_users(tenant: SyntheticTenant) -> list[User]:
    """A few people who registered only an email address for password reset: registered, not MFA capable.

    Chosen among people with no method, no role and per-user MFA Disabled, so no per-user MFA figure moves;
    their own random stream keeps the rest of the tenant as the generator made it.
    """
    rng = random.Random(f"email-only:{tenant.seed}:{tenant.id}")
    candidates = [u for u in tenant.users if u.kind == "person" and not u.is_guest and not u.roles
                  and u.account_enabled and not u.methods and u.mfa_state == "disabled" and u.sign_in_rate > 0]
    chosen = rng.sample(candidates, min(len(candidates), max(1, len(tenant.users) // EMAIL_ONLY_SHARE)))
    for user in chosen:
        at = tenant.now - timedelta(days=rng.uniform(5, 80))
        address = f"{(user.given_name or 'user').lower()}{rng.randrange(10, 99)}@outlook.com"
        tenant.register_method(user, AuthMethod("email", _uuid(rng), at, address))
        if user.last_sign_in is None or user.last_sign_in < at:
            user.last_sign_in = at
    return chosen
