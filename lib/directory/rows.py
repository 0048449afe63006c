"""Graph rows → one typed row per user. Pure functions: no I/O, so every rule is unit-testable.

Three sources meet here: ``/users`` (who exists), registration (the P1 reports API, or each
user's authentication methods on tenants without P1) and per-user MFA state (beta
``authentication/requirements``). Where a fact could not be read, the row says so
(state ``unknown``) rather than guessing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from lib.columns import STATES, UNKNOWN_STATE, coerce_users, empty_users_frame, join_methods
from lib.countries import country_name

USER_SELECT: tuple[str, ...] = (
    "id", "displayName", "userPrincipalName", "mail", "givenName", "surname", "userType", "accountEnabled",
    "department", "jobTitle", "usageLocation", "country", "createdDateTime", "assignedLicenses",
)
"""The /users properties a snapshot reads (``signInActivity`` is added on P1 tenants)."""

# Method names as userRegistrationDetails spells them, keyed by the methods API's @odata.type.
_METHOD_NAME_BY_TYPE: dict[str, str] = {
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorPush",
    "#microsoft.graph.softwareOathAuthenticationMethod": "softwareOneTimePasscode",
    "#microsoft.graph.hardwareOathAuthenticationMethod": "hardwareOneTimePasscode",
    "#microsoft.graph.fido2AuthenticationMethod": "fido2",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusiness",
    "#microsoft.graph.temporaryAccessPassAuthenticationMethod": "temporaryAccessPass",
    "#microsoft.graph.emailAuthenticationMethod": "email",
    "#microsoft.graph.platformCredentialAuthenticationMethod": "macOsSecureEnclaveKey",
}
_PHONE_NAMES = {"mobile": "mobilePhone", "alternateMobile": "alternateMobilePhone", "office": "officePhone"}
NOT_SECOND_FACTORS = frozenset({"email", "securityQuestion", "temporaryAccessPass", "password"})
"""Methods that do not make a user MFA registered (they serve password reset or onboarding)."""

_BREAK_GLASS = re.compile(r"break.?glass|emergency|^bg[-_.]|[-_.]bg[-_.]?admin", re.IGNORECASE)
_SERVICE = re.compile(r"^(svc|service|srv|sa|app|sync|noreply|no-reply)[-_.]", re.IGNORECASE)


def shared(value: Any) -> Any:
    """One string object for every equal string (``sys.intern``); anything else as it is."""
    return sys.intern(value) if type(value) is str else value


class UserRecord(NamedTuple):
    """What a snapshot keeps of one /users row: a tuple, so 100k users stay small in memory."""

    id: str
    upn: str
    display_name: str
    mail: str | None
    given_name: str | None
    surname: str | None
    user_type: str | None
    account_enabled: bool
    department: str | None
    job_title: str | None
    country: str | None
    created: str | None
    licensed: bool
    last_sign_in: str | None

    @classmethod
    def from_graph(cls, user: Mapping) -> UserRecord:
        # A tenant has a few departments, titles and countries: one string object each, not one per user
        # (100k users keep tens of MB less while the snapshot is built).
        return cls(
            user["id"], user.get("userPrincipalName") or "", user.get("displayName") or "", user.get("mail"),
            user.get("givenName"), user.get("surname"), shared(user.get("userType")), bool(user.get("accountEnabled")),
            shared(user.get("department")), shared(user.get("jobTitle")),
            shared(user.get("country") or country_name(user.get("usageLocation"))),  # "SE" is listed as Sweden
            user.get("createdDateTime"), bool(user.get("assignedLicenses")),
            (user.get("signInActivity") or {}).get("lastSignInDateTime"),
        )


@dataclass(frozen=True, slots=True)
class Registration:
    """What one user has registered, from whichever source the tenant allows."""

    methods: tuple[str, ...]
    registered: bool
    capable: bool
    preferred_method: str = ""
    is_admin: bool | None = None
    """Known from the reports API; None when the source cannot tell (roles are read separately)."""


def method_name(item: Mapping) -> str | None:
    """The registration-report name of one item of ``/users/{id}/authentication/methods``."""
    kind = item.get("@odata.type") or item.get("odata.type") or ""
    if kind == "#microsoft.graph.phoneAuthenticationMethod":
        return _PHONE_NAMES.get(item.get("phoneType") or item.get("authenticationPhoneType") or "", "mobilePhone")
    if kind == "#microsoft.graph.passwordAuthenticationMethod":
        return None
    return _METHOD_NAME_BY_TYPE.get(kind, kind.rsplit(".", 1)[-1].removesuffix("AuthenticationMethod") or None)


def registration_from_report(row: Mapping) -> Registration:
    """One userRegistrationDetails row (P1 tenants)."""
    return Registration(
        methods=tuple(map(shared, row.get("methodsRegistered") or ())),
        registered=bool(row.get("isMfaRegistered")),
        capable=bool(row.get("isMfaCapable")),
        preferred_method=shared(row.get("userPreferredMethodForSecondaryAuthentication") or ""),
        is_admin=bool(row.get("isAdmin")),
    )


def registration_from_methods(items: Iterable[Mapping], account_enabled: bool) -> Registration:
    """A user's authentication methods (tenants without P1, and accounts the report leaves out).

    Registered = any method besides password that is a second factor (docs/graph.md).
    """
    names = sorted({n for n in (method_name(i) for i in items) if n})
    registered = any(n not in NOT_SECOND_FACTORS for n in names)
    return Registration(tuple(names), registered, registered and account_enabled)


def infer_account_kind(user: UserRecord) -> str:
    """Guess whether an account is a person, a service account, a shared mailbox or break-glass.

    Graph has no such property; these are the conventions admins use. A wrong guess only changes
    a default filter and a suggestion: protected accounts are always chosen by a person.
    """
    local = user.upn.split("@", 1)[0]
    name = user.display_name
    if _BREAK_GLASS.search(local) or _BREAK_GLASS.search(name):
        return "break_glass"
    if user.user_type == "Guest":
        return "person"
    if _SERVICE.search(local) or name.lower().startswith("service -") or "service account" in name.lower():
        return "service"
    nameless = not user.given_name and not user.surname
    if not user.licensed and nameless and ("shared" in name.lower() or (user.mail and not user.account_enabled)):
        return "shared"
    if not user.licensed and nameless and not user.mail:
        return "service"
    return "person"


def _state(value: str | None) -> str:
    return value if value in STATES else UNKNOWN_STATE


def build_users_frame(
    users: Iterable[UserRecord],
    registration: Mapping[str, Registration],
    states: Mapping[str, str | None],
    admins: set[str] | None,
    *,
    users_read_at: datetime,
    registration_read_at: datetime,
    state_read_at: datetime,
) -> pd.DataFrame:
    """The users frame of ``lib.columns`` from the three sources.

    ``admins`` (ids holding any directory role) overrides the report's ``isAdmin`` when given.
    """
    none = Registration((), False, False)
    joined: dict[tuple[str, ...], str] = {}  # a few method combinations, one string each
    columns: dict[str, list] = {name: [] for name in (
        "id", "upn", "display_name", "mail", "department", "country", "job_title", "is_guest", "account_enabled",
        "is_admin", "account_kind", "state", "registered", "capable", "methods", "method_count",
        "preferred_method", "created", "last_sign_in")}
    for user in users:
        reg = registration.get(user.id) or none
        methods = joined.get(reg.methods)
        if methods is None:
            methods = joined[reg.methods] = join_methods(reg.methods)
        for name, value in (
            ("id", user.id), ("upn", user.upn), ("display_name", user.display_name), ("mail", user.mail),
            ("department", user.department), ("country", user.country), ("job_title", user.job_title),
            ("is_guest", user.user_type == "Guest"), ("account_enabled", user.account_enabled),
            ("is_admin", user.id in admins if admins is not None else bool(reg.is_admin)),
            ("account_kind", infer_account_kind(user)), ("state", _state(states.get(user.id))),
            ("registered", reg.registered), ("capable", reg.capable), ("methods", methods),
            ("method_count", len(reg.methods)), ("preferred_method", reg.preferred_method),
            ("created", user.created), ("last_sign_in", user.last_sign_in),
        ):
            columns[name].append(value)
    if not columns["id"]:
        return empty_users_frame()
    frame = pd.DataFrame(columns)
    frame["users_read_at"] = users_read_at
    frame["registration_read_at"] = registration_read_at
    frame["state_read_at"] = state_read_at
    return coerce_users(frame)
