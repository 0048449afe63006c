"""Tenant objects rendered as Graph's JSON: users, directory roles, the organization, method items
and registration-report rows.

Pure functions from the model (``lib.emulator.model``) to plain dicts; the routes serialize them.
Property names are exactly Graph's v1.0 names (the ones msgraph-sdk's typed models know), so a
response deserializes without leftovers in ``additional_data``. Nothing here mutates the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from lib.emulator.model import (
    AUTHENTICATION_ADMINISTRATOR,
    AUTHENTICATION_POLICY_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    HELPDESK_ADMINISTRATOR,
    METHOD_KINDS,
    PHONE_TYPES,
    PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ROLE_NAMES,
    USER_ADMINISTRATOR,
    AuthMethod,
    SyntheticTenant,
    User,
)
from lib.emulator.user_schema import PER_USER_MFA_STATE, empty_value

JSON_CONTENT_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
                     "charset=utf-8")
"""The Content-Type Graph sends with OData JSON payloads."""

PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"
"""Graph's fixed id of every user's password method."""

AAD_PREMIUM_PLAN_ID = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"
"""Service plan AAD_PREMIUM (Microsoft Entra ID P1)."""

EXCHANGE_PLAN_ID = "efb87545-963c-4e0d-99df-69c6916d9eb0"
"""Service plan EXCHANGE_S_ENTERPRISE, which every demo tenant has."""

PRIVILEGED_ROLES = frozenset({
    GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, AUTHENTICATION_ADMINISTRATOR,
    AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER, USER_ADMINISTRATOR, HELPDESK_ADMINISTRATOR,
})
"""Roles Entra marks PRIVILEGED: the reports' ``includedUserRoles='privilegedAdmin'`` counts these."""

ROLE_DESCRIPTIONS: dict[str, str] = {
    GLOBAL_ADMINISTRATOR: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use "
    "Microsoft Entra identities.",
    AUTHENTICATION_POLICY_ADMINISTRATOR: "Can create and manage the authentication methods policy, "
    "tenant-wide MFA settings, password protection policy, and verifiable credentials.",
    PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: "Can access to view, set and reset authentication method "
    "information for any user (admin or non-admin).",
    AUTHENTICATION_ADMINISTRATOR: "Can access to view, set and reset authentication method information for "
    "any non-admin user.",
    GLOBAL_READER: "Can read everything that a Global Administrator can, but not update anything.",
    USER_ADMINISTRATOR: "Can manage all aspects of users and groups, including resetting passwords for "
    "limited admins.",
    HELPDESK_ADMINISTRATOR: "Can reset passwords for non-administrators and Helpdesk Administrators.",
}

SYSTEM_PREFERENCE = ("push", "oath", "sms", "voiceMobile", "voiceAlternateMobile", "voiceOffice")
"""Second factors from strongest to weakest, as system-preferred MFA picks them."""

DEFAULT_MFA_METHODS = frozenset({
    "mobilePhone", "alternateMobilePhone", "officePhone", "microsoftAuthenticatorPush",
    "softwareOneTimePasscode",
})
"""Values beta's ``defaultMfaMethod`` can take besides ``none``."""

REPORT_METHODS = (
    "password", "email", "mobilePhone", "alternateMobilePhone", "officePhone", "microsoftAuthenticatorPush",
    "softwareOneTimePasscode", "hardwareOneTimePasscode", "microsoftAuthenticatorPasswordless",
    "windowsHelloForBusiness", "fido2", "temporaryAccessPass", "securityQuestion",
)
"""Methods ``usersRegisteredByMethod`` counts, in the order it lists them."""

SSPR_METHODS = frozenset({
    "email", "mobilePhone", "alternateMobilePhone", "officePhone", "microsoftAuthenticatorPush",
    "softwareOneTimePasscode", "hardwareOneTimePasscode", "securityQuestion",
})
PASSWORDLESS_METHODS = frozenset({"fido2", "windowsHelloForBusiness", "microsoftAuthenticatorPasswordless"})


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """Graph's directory timestamp form: ``2019-02-22T21:46:47Z`` (None stays None)."""
    return None if dt is None else _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso7(dt: datetime | None) -> str | None:
    """The reports' timestamp form with seven fractional digits: ``2023-03-13T19:15:41.6195833Z``."""
    if dt is None:
        return None
    dt = _utc(dt)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}0Z"


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


# --------------------------------------------------------------------------------------------- users

def _mail_nickname(u: User) -> str:
    return u.upn.split("@", 1)[0]


def _licenses(u: User) -> list[dict]:
    return [{"disabledPlans": [], "skuId": sku} for sku in u.license_skus]


def _synced(u: User) -> bool | None:
    return True if u.on_premises_sync else None


def _sign_in_activity(u: User) -> dict:
    last = iso(u.last_sign_in)
    rid = _stable_id("signin", u.id, last) if last else None
    return {
        "lastSignInDateTime": last,
        "lastSignInRequestId": rid,
        "lastNonInteractiveSignInDateTime": last,
        "lastNonInteractiveSignInRequestId": rid,
        "lastSuccessfulSignInDateTime": last,
        "lastSuccessfulSignInRequestId": rid,
    }


def _none(_: User) -> None:
    return None


def _empty(_: User) -> list:
    return []


USER_PROPERTIES: dict[str, Callable[[User], Any]] = {
    "id": lambda u: u.id,
    "displayName": lambda u: u.display_name,
    "givenName": lambda u: u.given_name,
    "surname": lambda u: u.surname,
    "mail": lambda u: u.mail,
    "userPrincipalName": lambda u: u.upn,
    "userType": lambda u: u.user_type,
    "accountEnabled": lambda u: u.account_enabled,
    "department": lambda u: u.department,
    "jobTitle": lambda u: u.job_title,
    "usageLocation": lambda u: u.usage_location,
    "country": lambda u: u.country,
    "createdDateTime": lambda u: iso(u.created),
    "onPremisesSyncEnabled": _synced,
    "assignedLicenses": _licenses,
    "businessPhones": lambda u: list(getattr(u, "business_phones", None) or ()),
    "mobilePhone": lambda u: getattr(u, "mobile_phone", None),
    "officeLocation": lambda u: getattr(u, "office_location", None),
    "preferredLanguage": lambda u: getattr(u, "preferred_language", None),
    "signInActivity": _sign_in_activity,
    # Real user properties the demo tenant has no data for: served so $select of them works as on Graph.
    "mailNickname": _mail_nickname,
    "otherMails": _empty,
    "proxyAddresses": lambda u: [f"SMTP:{u.mail}"] if u.mail else [],
    "imAddresses": _empty,
    "city": _none,
    "state": _none,
    "streetAddress": _none,
    "postalCode": _none,
    "companyName": _none,
    "employeeId": _none,
    "employeeType": _none,
    "faxNumber": _none,
    "ageGroup": _none,
    "consentProvidedForMinor": _none,
    "legalAgeGroupClassification": _none,
    "passwordPolicies": _none,
    "showInAddressList": _none,
    "creationType": lambda u: "Invitation" if u.is_guest else None,
    "externalUserState": lambda u: "Accepted" if u.is_guest else None,
    "externalUserStateChangeDateTime": lambda u: iso(u.created) if u.is_guest else None,
    "lastPasswordChangeDateTime": lambda u: iso(u.created),
    "onPremisesImmutableId": lambda u: _stable_id("immutable", u.id) if u.on_premises_sync else None,
    "onPremisesSamAccountName": lambda u: _mail_nickname(u) if u.on_premises_sync else None,
    "onPremisesUserPrincipalName": lambda u: u.upn if u.on_premises_sync else None,
    "onPremisesDomainName": lambda u: u.upn.split("@", 1)[-1] if u.on_premises_sync else None,
    "onPremisesLastSyncDateTime": _none,
}
"""The user properties the demo tenant has data for, by their Graph name (every other property of
Microsoft's user type, lib/emulator/user_schema.py, is served as null or an empty list)."""


DEFAULT_USER_PROPERTIES = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
    "preferredLanguage", "surname", "userPrincipalName", "id",
)
"""What ``GET /users`` returns without ``$select`` (user-list.md Example 1), in its order."""


def user_json(user: User, properties: Iterable[str] = DEFAULT_USER_PROPERTIES, version: str = "v1.0",
              mfa_state: Callable[[User], str] | None = None) -> dict:
    """One user as Graph renders it with ``$select`` = ``properties`` (Graph names).

    A property of Microsoft's user type the demo tenant has no data for is null (an empty list for a
    collection); ``perUserMfaState`` is ``mfa_state(user)`` (default: the user's state).
    """
    out: dict[str, Any] = {}
    for name in properties:
        render = USER_PROPERTIES.get(name)
        if render is not None:
            out[name] = render(user)
        elif name == PER_USER_MFA_STATE:
            out[name] = mfa_state(user) if mfa_state is not None else user.mfa_state
        else:
            out[name] = empty_value(version, name)
    return out


# --------------------------------------------------------------------------------- roles, organization

def directory_role_json(tenant: SyntheticTenant, template_id: str) -> dict:
    """An activated directoryRole: tenant-specific id, fixed roleTemplateId, ``deletedDateTime`` null."""
    return {
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": _stable_id(tenant.id, "directoryRole", template_id),
        "deletedDateTime": None,
        "description": ROLE_DESCRIPTIONS.get(template_id, ""),
        "displayName": ROLE_NAMES.get(template_id, "Directory Role"),
        "roleTemplateId": template_id,
    }


def organization_json(tenant: SyntheticTenant) -> dict:
    """The tenant's organization object; ``assignedPlans`` has the P1 plan only when premium."""
    created = iso(tenant.created)
    domains = [{
        "capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
        "isInitial": tenant.domain.endswith(".onmicrosoft.com"), "name": tenant.domain, "type": "Managed",
    }]
    if not tenant.domain.endswith(".onmicrosoft.com"):
        initial = tenant.domain.split(".", 1)[0] + ".onmicrosoft.com"
        domains.append({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": False,
                        "isInitial": True, "name": initial, "type": "Managed"})
    plans = [{"assignedDateTime": created, "capabilityStatus": "Enabled", "service": "exchange",
              "servicePlanId": EXCHANGE_PLAN_ID}]
    if tenant.premium:
        plans.append({"assignedDateTime": created, "capabilityStatus": "Enabled",
                      "service": "AADPremiumService", "servicePlanId": AAD_PREMIUM_PLAN_ID})
    return {
        "id": tenant.id,
        "displayName": tenant.name,
        "createdDateTime": created,
        "tenantType": "AAD",
        "countryLetterCode": None,
        "verifiedDomains": domains,
        "assignedPlans": plans,
    }


# --------------------------------------------------------------------------- authentication methods

def password_method_json(user: User) -> dict:
    return {
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "password": None,
        "createdDateTime": iso(user.created),
    }


def method_json(method: AuthMethod) -> dict:
    """One registered method as ``/authentication/methods`` lists it (v1.0 property names)."""
    kind = METHOD_KINDS[method.kind]
    item: dict[str, Any] = {"@odata.type": kind.odata_type, "id": method.id}
    created = iso(method.created)
    detail = method.detail
    if method.kind in PHONE_TYPES:
        item["phoneNumber"] = detail or "+1 4255550100"
        item["phoneType"] = PHONE_TYPES[method.kind]
        item["smsSignInState"] = "notAllowedByPolicy" if method.kind == "mobilePhone" else "notSupported"
    elif method.kind in ("microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless"):
        item["displayName"] = detail or "iPhone"
        item["deviceTag"] = "SoftwareTokenActivated"
        item["phoneAppVersion"] = "6.2401.0119"
        item["createdDateTime"] = created
    elif method.kind == "fido2":
        item["displayName"] = detail or "Security key"
        item["model"] = "YubiKey 5 NFC"
        item["aaGuid"] = "2fc0579f-8113-47ea-b116-555a8db9202a"
        item["attestationCertificates"] = []
        item["attestationLevel"] = "attested"
        item["createdDateTime"] = created
    elif method.kind == "windowsHelloForBusiness":
        item["displayName"] = detail or "Windows device"
        item["keyStrength"] = "normal"
        item["createdDateTime"] = created
    elif method.kind == "softwareOneTimePasscode":
        item["secretKey"] = None
        item["createdDateTime"] = created
    elif method.kind == "email":
        item["emailAddress"] = detail or "user@example.com"
    elif method.kind == "temporaryAccessPass":
        item["createdDateTime"] = created
        item["startDateTime"] = created
        item["lifetimeInMinutes"] = 60
        item["isUsableOnce"] = False
        item["isUsable"] = False
        item["methodUsabilityReason"] = "Expired"
        item["temporaryAccessPass"] = None
    else:  # hardwareOneTimePasscode: v1.0 SDK models know only the base type's properties
        item["createdDateTime"] = created
    return item


def methods_json(user: User) -> list[dict]:
    """The real-time method list: the password first, then every registered method."""
    return [password_method_json(user), *(method_json(m) for m in user.methods)]


# ------------------------------------------------------------------------------- registration report

def registered_names(tenant: SyntheticTenant, user: User) -> list[str]:
    """``methodsRegistered``: the kinds the (lagging) report sees, first registration first."""
    names: list[str] = []
    for m in tenant.visible_methods(user):
        if m.kind not in names:
            names.append(m.kind)
    return names


def is_mfa_registered(names: Iterable[str]) -> bool:
    return any(METHOD_KINDS[n].mfa for n in names if n in METHOD_KINDS)


def _preferences(user: User, names: list[str]) -> tuple[list[str], str]:
    prefs = {METHOD_KINDS[n].preferred for n in names if n in METHOD_KINDS and METHOD_KINDS[n].mfa}
    prefs.discard("")
    system = next((p for p in SYSTEM_PREFERENCE if p in prefs), None)
    preferred = ""
    if user.preferred_kind in names and METHOD_KINDS.get(user.preferred_kind):
        preferred = METHOD_KINDS[user.preferred_kind].preferred
    if not preferred and system:
        preferred = system
    return ([system] if system else []), preferred


def registration_json(tenant: SyntheticTenant, user: User, beta: bool = False) -> dict:
    """One userRegistrationDetails row, computed from what the report can see (``visible_methods``)."""
    visible = tenant.visible_methods(user)
    names = registered_names(tenant, user)
    mfa = is_mfa_registered(names)
    sspr_registered = any(n in SSPR_METHODS for n in names)
    system, preferred = _preferences(user, names)
    updated = max((m.created for m in visible), default=user.created)
    row = {
        "id": user.id,
        "userPrincipalName": user.upn,
        "userDisplayName": user.display_name,
        "isAdmin": bool(user.roles),
        "isSsprRegistered": sspr_registered,
        "isSsprEnabled": False,
        "isSsprCapable": False,
        "isMfaRegistered": mfa,
        "isMfaCapable": user.account_enabled and any(tenant.allowed_second_factor(n) for n in names),
        "isPasswordlessCapable": user.account_enabled and any(n in PASSWORDLESS_METHODS for n in names),
        "lastUpdatedDateTime": iso7(updated),
        "methodsRegistered": names,
        "isSystemPreferredAuthenticationMethodEnabled": True,
        "systemPreferredAuthenticationMethods": system,
        "userPreferredMethodForSecondaryAuthentication": preferred,
        "userType": user.user_type.lower(),
    }
    if beta:
        default = user.preferred_kind if user.preferred_kind in names else next(
            (n for n in names if n in DEFAULT_MFA_METHODS), "none")
        row["defaultMfaMethod"] = default if default in DEFAULT_MFA_METHODS else "none"
    return row


REGISTRATION_PROPERTIES = (
    "id", "userPrincipalName", "userDisplayName", "isAdmin", "isSsprRegistered", "isSsprEnabled",
    "isSsprCapable", "isMfaRegistered", "isMfaCapable", "isPasswordlessCapable", "lastUpdatedDateTime",
    "methodsRegistered", "isSystemPreferredAuthenticationMethodEnabled",
    "systemPreferredAuthenticationMethods", "userPreferredMethodForSecondaryAuthentication", "userType",
)
"""The documented v1.0 properties of userRegistrationDetails (beta adds ``defaultMfaMethod``)."""


def in_scope(user: User, user_types: str, user_roles: str) -> bool:
    """Whether a user counts for ``includedUserTypes`` / ``includedUserRoles`` of the summaries."""
    if (user_types == "member" and user.is_guest) or (user_types == "guest" and not user.is_guest):
        return False
    if user_roles == "privilegedAdmin":
        return any(r in PRIVILEGED_ROLES for r in user.roles)
    if user_roles == "admin":
        return bool(user.roles)
    if user_roles == "user":
        return not user.roles
    return True


def method_summary_json(tenant: SyntheticTenant, user_types: str, user_roles: str) -> dict:
    """``usersRegisteredByMethod``: how many listed users registered each method (password: all)."""
    counts = dict.fromkeys(REPORT_METHODS, 0)
    total = 0
    for user in tenant.users:
        if not user.account_enabled or not in_scope(user, user_types, user_roles):
            continue
        total += 1
        counts["password"] += 1
        for name in registered_names(tenant, user):
            if name in counts:
                counts[name] += 1
    return {
        "@odata.type": "#microsoft.graph.userRegistrationMethodSummary",
        "totalUserCount": total,
        "userTypes": user_types,
        "userRoles": user_roles,
        "userRegistrationMethodCounts": [{"authenticationMethod": k, "userCount": v}
                                         for k, v in counts.items()],
    }


def feature_summary_json(tenant: SyntheticTenant, user_types: str, user_roles: str) -> dict:
    """``usersRegisteredByFeature``: totals of the report's is… flags over the listed users."""
    features = dict.fromkeys(("ssprRegistered", "ssprEnabled", "ssprCapable", "passwordlessCapable",
                              "mfaCapable"), 0)
    total = 0
    for user in tenant.users:
        if not user.account_enabled or not in_scope(user, user_types, user_roles):
            continue
        total += 1
        row = registration_json(tenant, user)
        features["ssprRegistered"] += row["isSsprRegistered"]
        features["ssprEnabled"] += row["isSsprEnabled"]
        features["ssprCapable"] += row["isSsprCapable"]
        features["passwordlessCapable"] += row["isPasswordlessCapable"]
        features["mfaCapable"] += row["isMfaCapable"]
    return {
        "@odata.type": "#microsoft.graph.userRegistrationFeatureSummary",
        "totalUserCount": total,
        "userTypes": user_types,
        "userRoles": user_roles,
        "userRegistrationFeatureCounts": [{"feature": k, "userCount": v} for k, v in features.items()],
    }
