"""``GET /{v1.0|beta}/auditLogs/signIns``: the demo tenant's sign-in log in Graph's wire format.

Each version in its own shape: beta adds ``authenticationRequirement``, ``authenticationDetails``,
``authenticationRequirementPolicies`` and ``signInEventTypes``, which v1.0's ``signIn`` lacks. Pages of
up to 1,000, newest first, paged with a signed ``$skiptoken`` holding the ordinal of the next sign-in,
so paging shows every sign-in once while the log grows at its newest end. ``$filter`` takes
``createdDateTime`` (``ge``, ``le``, ``gt``, ``lt``, ``eq``) and ``eq`` on ``userId``,
``userPrincipalName``, ``clientAppUsed``, ``status/errorCode``, and on beta ``authenticationRequirement``
and ``signInEventTypes/any(t: t eq '…')``, joined with ``and`` (docs/graph.md, "Sign-in logs").

The route (graph_api.py) charges the reports bucket (5 requests per 10 s) and answers 403 without
Entra ID P1, like the registration report.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.emulator import odata
from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.model import SyntheticTenant, User
from lib.emulator.signin_log import (
    BAD_PASSWORD,
    CLIENTS,
    MFA_CA,
    MFA_SD,
    MFA_USER,
    SignIn,
    SignInLog,
    from_us,
    get_sign_in_log,
    to_us,
)
from lib.emulator.state import EmulatorState

PATH = "auditLogs/signIns"
TYPE_NAME = "microsoft.graph.signIn"
DEFAULT_PAGE = 1000
MAX_PAGE = 1000
OPTIONS = frozenset({"$top", "$filter", "$skiptoken", "$select", "$orderby"})
PERMISSIONS = frozenset({"AuditLog.Read.All"})
"""The route needs AuditLog.Read.All, and Directory.Read.All besides (checked by :func:`authorize`)."""
DIRECTORY_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})

# From Microsoft's published Graph metadata (microsoftgraph/msgraph-metadata: clean_v10_metadata and the
# beta CSDL): every property of microsoft.graph.signIn, per version.
V1_PROPERTIES = frozenset({
    "id", "appDisplayName", "appId", "appliedConditionalAccessPolicies", "authenticationAppDeviceDetails",
    "clientAppUsed", "conditionalAccessStatus", "correlationId", "createdDateTime", "deviceDetail",
    "homeTenantId", "ipAddress", "isInteractive", "location", "resourceDisplayName", "resourceId",
    "resourceTenantId", "riskDetail", "riskEventTypes", "riskEventTypes_v2", "riskLevelAggregated",
    "riskLevelDuringSignIn", "riskState", "servicePrincipalId", "servicePrincipalName", "status", "userAgent",
    "userDisplayName", "userId", "userPrincipalName",
})
BETA_PROPERTIES = frozenset({
    "id", "alternateSignInName", "appDisplayName", "appId", "appOwnerTenantId", "appTokenProtectionStatus",
    "appliedConditionalAccessPolicies", "authenticationAppDeviceDetails",
    "authenticationAppPolicyEvaluationDetails", "authenticationDetails", "authenticationMethodsUsed",
    "authenticationProcessingDetails", "authenticationProtocol", "authenticationRequirement",
    "authenticationRequirementPolicies", "clientAppUsed", "clientSessionId", "conditionalAccessAudiences",
    "conditionalAccessStatus", "correlationId", "createdDateTime", "crossTenantAccessType", "deviceDetail",
    "flaggedForReview", "globalSecureAccessIpAddress", "homeTenantId", "ipAddress",
    "ipAddressFromResourceProvider", "isInteractive", "isThroughGlobalSecureAccess", "location",
    "managedServiceIdentity", "mfaDetail", "networkLocationDetails", "originalRequestId",
    "originalTransferMethod", "processingTimeInMilliseconds", "resourceDisplayName", "resourceId",
    "resourceOwnerTenantId", "resourceTenantId", "riskDetail", "riskEventTypes", "riskEventTypes_v2",
    "riskLevelAggregated", "riskLevelDuringSignIn", "riskState", "servicePrincipalId", "servicePrincipalName",
    "sessionId", "signInEventTypes", "signInIdentifier", "signInIdentifierType", "signInTokenProtectionStatus",
    "status", "tokenIssuerName", "tokenIssuerType", "tokenProtectionStatusDetails", "userAgent",
    "userDisplayName", "userId", "userPrincipalName", "userType",
})

BAD_PASSWORD_STATUS = {
    "errorCode": 50126,
    "failureReason": "Error validating credentials due to invalid username or password.",
    "additionalDetails": "The user didn't enter the right credentials.  It's expected to see some number of "
                         "these errors in your logs due to users making mistakes.",
}
"""As in Microsoft's beta example (tests/fixtures/graph/beta-signins-list.json)."""
MFA_REQUIRED_STATUS = {
    "errorCode": 50076,
    "failureReason": "Due to a configuration change made by your administrator, or because you moved to a new "
                     "location, you must use multi-factor authentication to access the resource.",
    "additionalDetails": "MFA is required, and this client cannot perform it.",
}
"""AADSTS50076 (UserStrongAuthClientAuthNRequired): what a legacy client meets once MFA is required."""

_APPS = {
    "Browser": ("OfficeHome", "4765445b-32c6-49b0-83e6-1d93765276ca", "Office 365 SharePoint Online",
                "00000003-0000-0ff1-ce00-000000000000"),
    "Mobile Apps and Desktop clients": ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
                                        "Microsoft Graph", "00000003-0000-0000-c000-000000000000"),
}
_EXCHANGE = ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000",
             "Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000")
_DEVICES = {
    "Browser": ("Windows 10", "Edge 120.0.0"),
    "Mobile Apps and Desktop clients": ("Ios", "Teams 6.2"),
}
_CITIES = {"SE": ("Stockholm", "Stockholms län"), "US": ("Seattle", "Washington"), "GB": ("London", "England"),
           "DE": ("Berlin", "Berlin"), "NL": ("Amsterdam", "Noord-Holland"), "NO": ("Oslo", "Oslo"),
           "DK": ("Copenhagen", "Hovedstaden"), "FI": ("Helsinki", "Uusimaa"), "FR": ("Paris", "Paris"),
           "IN": ("Bengaluru", "Karnataka")}
_SECOND_FACTOR = {
    "microsoftAuthenticatorPush": "Mobile app notification",
    "microsoftAuthenticatorPasswordless": "Mobile app notification",
    "softwareOneTimePasscode": "OATH verification code",
    "hardwareOneTimePasscode": "OATH verification code",
    "mobilePhone": "Text message",
    "alternateMobilePhone": "Phone call (alternate phone)",
    "officePhone": "Phone call (office phone)",
    "fido2": "FIDO2 security key",
    "windowsHelloForBusiness": "Windows Hello for Business",
}


# ------------------------------------------------------------------------------------ permissions

def authorize(permissions: frozenset[str]) -> None:
    """Directory.Read.All on top of AuditLog.Read.All (signin-list's permission table)."""
    if not DIRECTORY_READ & permissions:
        raise EmulatedGraphError(403, "Authorization_RequestDenied",
                                 "Insufficient privileges to complete the operation.")


# ----------------------------------------------------------------------------------------- render

def _hex_id(*parts: object) -> str:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _iso7(us: int) -> str:
    at = from_us(us)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond:06d}0Z"


def _second_factor(user: User, at: datetime) -> str:
    methods = [m for m in user.methods if m.created <= at and m.kind in _SECOND_FACTOR]
    return _SECOND_FACTOR[methods[-1].kind] if methods else "Mobile app notification"


def _ca_status(sign_in: SignIn) -> str:
    """``success`` or ``failure`` when a Conditional Access policy demanded MFA, else ``notApplied``."""
    if not sign_in.flags & MFA_CA or sign_in.flags & BAD_PASSWORD:
        return "notApplied"
    return "success" if sign_in.succeeded else "failure"


def render(tenant: SyntheticTenant, sign_in: SignIn, beta: bool) -> dict[str, Any]:
    """One sign-in as Graph serves it in this version."""
    user = tenant.users[sign_in.user_index]
    client = CLIENTS[sign_in.client]
    app, app_id, resource, resource_id = _APPS.get(client, _EXCHANGE)
    os_name, browser = _DEVICES.get(client, ("", ""))
    city, region = _CITIES.get(user.usage_location or "", ("", ""))
    when = _iso7(sign_in.at_us)
    if sign_in.flags & BAD_PASSWORD:
        status: dict[str, Any] = dict(BAD_PASSWORD_STATUS)
    elif not sign_in.succeeded:
        status = dict(MFA_REQUIRED_STATUS)
    else:
        status = {"errorCode": 0, "failureReason": None, "additionalDetails": None}
    body: dict[str, Any] = {
        "id": _hex_id(tenant.id, sign_in.at_us, sign_in.user_index),
        "createdDateTime": when,
        "userDisplayName": user.display_name,
        "userPrincipalName": user.upn,
        "userId": user.id,
        "appId": app_id,
        "appDisplayName": app,
        "ipAddress": f"198.51.100.{1 + sign_in.user_index % 254}",
        "clientAppUsed": client,
        "userAgent": "" if sign_in.legacy else f"Mozilla/5.0 ({os_name}) {browser}",
        "correlationId": _hex_id("correlation", tenant.id, sign_in.at_us, sign_in.user_index),
        "conditionalAccessStatus": _ca_status(sign_in),
        "isInteractive": True,
        "homeTenantId": tenant.id,
        "resourceDisplayName": resource,
        "resourceId": resource_id,
        "resourceTenantId": tenant.id,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "servicePrincipalId": "",
        "status": status,
        "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": os_name, "browser": browser,
                         "isCompliant": False, "isManaged": False, "trustType": ""},
        "location": {"city": city, "state": region, "countryOrRegion": user.usage_location or "",
                     "geoCoordinates": {}},
        "appliedConditionalAccessPolicies": [],
    }
    if beta:
        body.update(_beta_fields(user, sign_in, when))
    return body


def _beta_fields(user: User, sign_in: SignIn, when: str) -> dict[str, Any]:
    required = sign_in.mfa_required
    policies = []
    if sign_in.flags & MFA_USER:
        policies.append({"requirementProvider": "user", "detail": "Per-user MFA"})
    if sign_in.flags & MFA_CA:
        policies.append({"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"})
    if sign_in.flags & MFA_SD:
        policies.append({"requirementProvider": "securityDefaults", "detail": "Security defaults"})
    password_ok = not sign_in.flags & BAD_PASSWORD
    steps = [{
        "authenticationStepDateTime": when, "authenticationMethod": "Password",
        "authenticationMethodDetail": "Password in the cloud", "succeeded": password_ok,
        "authenticationStepResultDetail": "Correct password" if password_ok else
        "Invalid username or password or Invalid on-premise username or password.",
        "authenticationStepRequirement": "Primary authentication",
    }]
    if required and password_ok:
        second = not sign_in.legacy
        steps.append({
            "authenticationStepDateTime": when,
            "authenticationMethod": _second_factor(user, sign_in.at) if second else "",
            "authenticationMethodDetail": "", "succeeded": second,
            "authenticationStepResultDetail": "MFA successfully completed" if second else
            "MFA required but the client cannot perform it",
            "authenticationStepRequirement": "Multifactor authentication",
        })
    return {
        "authenticationRequirement": "multiFactorAuthentication" if required else "singleFactorAuthentication",
        "authenticationRequirementPolicies": policies,
        "authenticationDetails": steps,
        "authenticationMethodsUsed": [],
        "signInEventTypes": ["interactiveUser"],
        "signInIdentifier": user.upn,
        "userType": "guest" if user.is_guest else "member",
        "flaggedForReview": False,
        "crossTenantAccessType": "none",
        "tokenIssuerType": "AzureAD",
        "tokenIssuerName": "",
        "authenticationProtocol": "none" if sign_in.legacy else "oAuth2",
    }


# ------------------------------------------------------------------------------------------ $filter

@dataclass
class SignInQuery:
    """A parsed ``$filter``: a createdDateTime window (microseconds, inclusive) and per-sign-in tests."""

    since_us: int | None = None
    until_us: int | None = None
    tests: list[Callable[[SignIn], bool]] = field(default_factory=list)

    def narrow(self, since: int | None = None, until: int | None = None) -> None:
        if since is not None:
            self.since_us = since if self.since_us is None else max(self.since_us, since)
        if until is not None:
            self.until_us = until if self.until_us is None else min(self.until_us, until)

    def matches(self, sign_in: SignIn) -> bool:
        return all(test(sign_in) for test in self.tests)


_TOKEN = re.compile(r"\s*(?:(?P<time>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)"
                    r"|(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[(),/:]))")
_COMPARE = ("ge", "le", "gt", "lt", "eq")


def _syntax(text: str) -> EmulatedGraphError:
    return EmulatedGraphError(400, "BadRequest", f"Invalid filter clause: Syntax error in '{text}'.")


def _unsupported(name: str) -> EmulatedGraphError:
    return EmulatedGraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                              f"specified for property '{name}' of resource 'signIn'.")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, text = 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax(text)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _moment(text: str, raw: str) -> int:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _syntax(raw) from None
    return to_us(at if at.tzinfo else at.replace(tzinfo=UTC))


class _Parser:
    def __init__(self, text: str, tenant: SyntheticTenant, beta: bool) -> None:
        self.raw, self.tenant, self.beta = text, tenant, beta
        self.tokens = _tokens(text)
        self.pos = 0
        self.query = SignInQuery()

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise _syntax(self.raw)
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _expect(self, value: str) -> None:
        if self._next()[1].lower() != value:
            raise _syntax(self.raw)

    def _string(self) -> str:
        kind, text = self._next()
        if kind != "str":
            raise _syntax(self.raw)
        return text[1:-1].replace("''", "'")

    def parse(self) -> SignInQuery:
        if not self.tokens:
            raise EmulatedGraphError(400, "BadRequest",
                                     "Invalid filter clause: The $filter expression must not be empty.")
        self._clause()
        while self.pos < len(self.tokens):
            _, word = self._next()
            if word.lower() == "or":
                raise EmulatedGraphError(400, "Request_UnsupportedQuery", "Unsupported query operator 'or'.")
            if word.lower() != "and":
                raise _syntax(self.raw)
            self._clause()
        return self.query

    def _clause(self) -> None:
        kind, name = self._next()
        if kind == "punct" and name == "(":
            self._clause()
            while self.pos < len(self.tokens) and self.tokens[self.pos][1].lower() == "and":
                self.pos += 1
                self._clause()
            self._expect(")")
            return
        if kind != "word":
            raise _syntax(self.raw)
        lowered = name.lower()
        if lowered == "startswith":
            self._starts_with()
            return
        if self.pos < len(self.tokens) and self.tokens[self.pos][1] == "/":
            self.pos += 1
            self._path(lowered, name)
            return
        _, op = self._next()
        op = op.lower()
        if op not in _COMPARE:
            raise EmulatedGraphError(400, "Request_UnsupportedQuery", f"Unsupported query operator '{op}'.")
        if lowered == "createddatetime":
            kind, text = self._next()
            if kind != "time":
                raise _syntax(self.raw)
            at = _moment(text, self.raw)
            bounds = {"ge": (at, None), "gt": (at + 1, None), "le": (None, at), "lt": (None, at - 1),
                      "eq": (at, at)}[op]
            self.query.narrow(*bounds)
            return
        if op != "eq":
            raise _unsupported(name)
        self.query.tests.append(self._equals(lowered, name, self._string()))

    def _equals(self, lowered: str, name: str, value: str) -> Callable[[SignIn], bool]:
        folded = value.casefold()
        users = self.tenant.users
        if lowered == "userid":
            return lambda s: users[s.user_index].id.casefold() == folded
        if lowered == "userprincipalname":
            return lambda s: users[s.user_index].upn.casefold() == folded
        if lowered == "clientappused":
            return lambda s: CLIENTS[s.client].casefold() == folded
        if lowered == "authenticationrequirement" and self.beta:
            return lambda s: ("multifactorauthentication" if s.mfa_required
                              else "singlefactorauthentication") == folded
        if lowered in ("authenticationrequirement", "signineventtypes") and not self.beta:
            raise EmulatedGraphError(400, "BadRequest", f"Could not find a property named '{name}' on type "
                                     f"'{TYPE_NAME}'.")
        raise _unsupported(name)

    def _starts_with(self) -> None:
        self._expect("(")
        _, prop = self._next()
        self._expect(",")
        value = self._string().casefold()
        self._expect(")")
        if prop.lower() == "authenticationrequirement" and self.beta:
            self.query.tests.append(lambda s: ("multifactorauthentication" if s.mfa_required
                                               else "singlefactorauthentication").startswith(value))
            return
        if prop.lower() == "userprincipalname":
            users = self.tenant.users
            self.query.tests.append(lambda s: users[s.user_index].upn.casefold().startswith(value))
            return
        raise _unsupported(prop)

    def _path(self, lowered: str, name: str) -> None:
        if lowered == "status":
            _, sub = self._next()
            self._expect("eq")
            kind, num = self._next()
            if sub.lower() != "errorcode" or kind != "num":
                raise _syntax(self.raw)
            code = int(num)
            self.query.tests.append(lambda s: _error_code(s) == code)
            return
        if lowered != "signineventtypes":
            raise _unsupported(name)
        if not self.beta:
            raise EmulatedGraphError(400, "BadRequest", f"Could not find a property named '{name}' on type "
                                     f"'{TYPE_NAME}'.")
        self._expect("any")
        self._expect("(")
        _, var = self._next()
        self._expect(":")
        _, ref = self._next()
        if ref != var:
            raise _syntax(self.raw)
        _, op = self._next()
        value = self._string().casefold()
        self._expect(")")
        if op.lower() == "eq":
            self.query.tests.append(lambda s: value == "interactiveuser")
        elif op.lower() == "ne":
            self.query.tests.append(lambda s: value != "interactiveuser")
        else:
            raise EmulatedGraphError(400, "Request_UnsupportedQuery", f"Unsupported query operator '{op}'.")


def _error_code(sign_in: SignIn) -> int:
    if sign_in.flags & BAD_PASSWORD:
        return 50126
    return 0 if sign_in.succeeded else 50076


def parse_filter(text: str | None, tenant: SyntheticTenant, beta: bool) -> SignInQuery:
    """The query a ``$filter`` describes (every sign-in when absent)."""
    if text is None:
        return SignInQuery()
    return _Parser(text, tenant, beta).parse()


# ------------------------------------------------------------------------------------------- list

def _tokens_signer(state: EmulatorState) -> odata.SkipTokens:
    signer = state.extras.get("signin_skiptokens")
    if signer is None:
        signer = state.extras["signin_skiptokens"] = odata.SkipTokens(state.signing_key)
    return signer


def _scan(log: SignInLog, query: SignInQuery, start: int, lo: int, top: int) -> tuple[list[SignIn], int | None]:
    """Up to ``top`` matches going down from ordinal ``start`` (inclusive) to ``lo``; and the next one."""
    found: list[SignIn] = []
    ordinal = start
    while ordinal >= lo:
        sign_in = log.get(ordinal)
        if query.matches(sign_in):
            if len(found) == top:
                return found, ordinal
            found.append(sign_in)
        ordinal -= 1
    return found, None


def list_body(state: EmulatorState, version: str, options: Mapping[str, str]) -> dict[str, Any]:
    """One page of the log for this query, newest first."""
    beta = version == "beta"
    tenant = state.tenant
    known = BETA_PROPERTIES if beta else V1_PROPERTIES
    select = odata.parse_select(options.get("$select"), {n.lower(): n for n in known}, TYPE_NAME)
    orderby = (options.get("$orderby") or "createdDateTime desc").strip().lower().split()
    if orderby not in (["createddatetime", "desc"],):
        raise EmulatedGraphError(400, "Request_UnsupportedQuery", "Sorting is supported only on "
                                 "'createdDateTime desc' for this resource.")
    top = odata.parse_top(options.get("$top"), DEFAULT_PAGE, MAX_PAGE)
    query = parse_filter(options.get("$filter"), tenant, beta)
    log = get_sign_in_log(state)
    lo, hi = log.ordinal_range(query.since_us, query.until_us)
    lo = max(lo, log.ordinal_range(to_us(tenant.now) - 30 * 86_400 * 1_000_000, None)[0])
    path = f"{version}/{PATH}"
    context = odata.query_context(path.lower(), options)
    token = options.get("$skiptoken")
    start = hi - 1
    if token is not None:
        start = _tokens_signer(state).read(token, context)
        if start >= hi:
            raise EmulatedGraphError(400, "Request_BadRequest", "The specified page token value is invalid "
                                     "or has expired.")
    found, nxt = _scan(log, query, start, lo, top)
    base = state.graph_url or "https://graph.microsoft.com"
    body: dict[str, Any] = {"@odata.context": f"{base}/{version}/$metadata#{PATH}"}
    if nxt is not None:
        body["@odata.nextLink"] = odata.next_link(base, path, options, _tokens_signer(state).make(context, nxt))
    rows = [render(tenant, s, beta) for s in found]
    if select:
        rows = [{k: row.get(k) for k in select} for row in rows]
    body["value"] = rows
    return body
