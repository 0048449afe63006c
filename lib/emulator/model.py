"""The demo tenant's state: users, their authentication methods, per-user MFA state and history.

This is the emulator's ground truth. The HTTP layer renders it in Graph's wire format; the
simulated clock moves it forward. The per-user MFA lifecycle rules live here, in one place,
because both an admin's PATCH and the clock must follow them exactly as Entra does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lib.emulator.protection_model import ProtectionPolicies

# Directory role template ids (docs/graph.md): fixed across every tenant.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
AUTHENTICATION_POLICY_ADMINISTRATOR = "0526716b-113d-4c15-b2c8-68e3c22b9f80"
PRIVILEGED_AUTHENTICATION_ADMINISTRATOR = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
AUTHENTICATION_ADMINISTRATOR = "c4e39bd9-1100-46d3-8c65-fb160da0071f"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8"

ROLE_NAMES: dict[str, str] = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    AUTHENTICATION_POLICY_ADMINISTRATOR: "Authentication Policy Administrator",
    PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: "Privileged Authentication Administrator",
    AUTHENTICATION_ADMINISTRATOR: "Authentication Administrator",
    GLOBAL_READER: "Global Reader",
    USER_ADMINISTRATOR: "User Administrator",
    HELPDESK_ADMINISTRATOR: "Helpdesk Administrator",
}

MFA_WRITER_ROLES = frozenset({GLOBAL_ADMINISTRATOR, AUTHENTICATION_POLICY_ADMINISTRATOR})
"""Roles whose delegated token may PATCH per-user MFA state (docs/graph.md: least privileged + GA)."""

STATES = ("disabled", "enabled", "enforced")


@dataclass(frozen=True, slots=True)
class MethodKind:
    """One kind of authentication method and how Graph names it in each API."""

    report_name: str
    """The name in userRegistrationDetails.methodsRegistered."""
    odata_type: str
    """The @odata.type in /users/{id}/authentication/methods."""
    mfa: bool
    """Whether it counts as a second factor (email and security questions only serve SSPR)."""
    preferred: str
    """userPreferredMethodForSecondaryAuthentication / systemPreferred value it maps to ('' if none)."""


METHOD_KINDS: dict[str, MethodKind] = {
    k.report_name: k
    for k in (
        MethodKind("microsoftAuthenticatorPush", "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                   True, "push"),
        MethodKind("microsoftAuthenticatorPasswordless",
                   "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", True, "push"),
        MethodKind("softwareOneTimePasscode", "#microsoft.graph.softwareOathAuthenticationMethod", True, "oath"),
        MethodKind("hardwareOneTimePasscode", "#microsoft.graph.hardwareOathAuthenticationMethod", True, "oath"),
        MethodKind("mobilePhone", "#microsoft.graph.phoneAuthenticationMethod", True, "sms"),
        MethodKind("alternateMobilePhone", "#microsoft.graph.phoneAuthenticationMethod", True,
                   "voiceAlternateMobile"),
        MethodKind("officePhone", "#microsoft.graph.phoneAuthenticationMethod", True, "voiceOffice"),
        MethodKind("fido2", "#microsoft.graph.fido2AuthenticationMethod", True, ""),
        MethodKind("windowsHelloForBusiness", "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                   True, ""),
        MethodKind("temporaryAccessPass", "#microsoft.graph.temporaryAccessPassAuthenticationMethod", False, ""),
        MethodKind("email", "#microsoft.graph.emailAuthenticationMethod", False, ""),
    )
}

PHONE_TYPES = {"mobilePhone": "mobile", "alternateMobilePhone": "alternateMobile", "officePhone": "office"}


@dataclass(slots=True)
class AuthMethod:
    """A registered authentication method (the password is implicit and never stored here)."""

    kind: str
    """A key of METHOD_KINDS."""
    id: str
    created: datetime
    detail: str = ""
    """Phone number, device or display name: whatever the kind's Graph resource shows."""


@dataclass(slots=True)
class Event:
    """One thing that happened to a user, kept so history and timelines can be rebuilt."""

    at: datetime
    kind: str
    """'state' (value = new per-user MFA state), 'method' (value = method kind registered),
    'account' (value = 'enabled'|'disabled'), 'wave' (value = wave name)."""
    value: str
    actor: str = ""
    """UPN of the admin who did it, or '' for the user themself / the system."""


@dataclass(slots=True)
class User:
    """A directory user with what Graph knows about their MFA."""

    id: str
    upn: str
    display_name: str
    given_name: str | None
    surname: str | None
    mail: str | None
    user_type: str
    """'Member' or 'Guest' as /users spells it (the reports API lowercases it)."""
    account_enabled: bool
    department: str | None
    job_title: str | None
    usage_location: str | None
    """ISO country code, as Graph's usageLocation."""
    country: str | None
    created: datetime
    on_premises_sync: bool
    license_skus: tuple[str, ...]
    kind: str
    """Ground truth only, never served: 'person' | 'service' | 'shared' | 'break_glass'."""
    roles: tuple[str, ...] = ()
    """Directory role template ids."""
    mfa_state: str = "disabled"
    methods: list[AuthMethod] = field(default_factory=list)
    last_sign_in: datetime | None = None
    needs_reregistration: bool = False
    """Set when an admin disables per-user MFA: re-enabling then does not promote on its own."""
    sign_in_rate: float = 0.5
    """Chance per simulated day that the user signs in interactively."""
    register_rate: float = 0.2
    """Chance per simulated day, once asked at sign-in, that the user completes registration."""
    preferred_kind: str = "microsoftAuthenticatorPush"
    """The method the user registers when they do."""
    events: list[Event] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return bool(self.roles)

    @property
    def is_guest(self) -> bool:
        return self.user_type == "Guest"

    def mfa_methods(self) -> list[AuthMethod]:
        return [m for m in self.methods if METHOD_KINDS[m.kind].mfa]

    def has_mfa_method(self) -> bool:
        return any(METHOD_KINDS[m.kind].mfa for m in self.methods)


@dataclass(slots=True)
class SyntheticWave:
    """A named batch of users enabled together during the tenant's simulated past."""

    name: str
    launched_at: datetime
    actor: str
    user_ids: list[str]


@dataclass(slots=True)
class App:
    """An app registration that can get tokens from the emulator's identity endpoints."""

    client_id: str
    display_name: str
    client_secret: str | None = field(repr=False)
    """Never in a repr: a tenant printed in a log or a test failure must not show it."""
    permissions: frozenset[str] = field(default_factory=frozenset)
    """Graph permissions granted (app roles for client credentials, scopes for delegated)."""
    redirect_uris: tuple[str, ...] = ()
    public_client: bool = False


@dataclass
class SyntheticTenant:
    """A whole synthetic tenant. Mutated only through its methods and the clock."""

    id: str
    name: str
    domain: str
    premium: bool
    created: datetime
    now: datetime
    seed: int
    users: list[User]
    waves: list[SyntheticWave]
    apps: dict[str, App]
    report_lag: timedelta = timedelta(hours=3)
    methods_off_by_policy: tuple[str, ...] = ("officePhone", "alternateMobilePhone")
    """Methods the tenant's authentication methods policy does not allow (voice calls here). A user whose
    only second factors are these is MFA *registered* but not MFA *capable*, as the report says
    (``isMfaRegistered`` true, ``isMfaCapable`` false)."""
    clock_steps: int = 0
    """How many clock steps have run (the clock's random stream is keyed by it)."""
    revision: int = 0
    """Bumped on every change, so a saver knows when the tenant needs writing again."""
    protection: ProtectionPolicies = field(default_factory=ProtectionPolicies)
    """Conditional Access, security defaults, groups, role assignments, authentication methods policy."""
    by_id: dict[str, User] = field(default_factory=dict, repr=False)
    by_upn: dict[str, User] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.by_id = {u.id: u for u in self.users}
        self.by_upn = {u.upn.lower(): u for u in self.users}

    def lookup(self, key: str) -> User | None:
        """A user by object id or by UPN (case-insensitive), as /users/{id|upn} accepts."""
        return self.by_id.get(key) or self.by_upn.get(key.lower())

    def set_mfa_state(self, user: User, requested: str, actor: str, at: datetime | None = None) -> str:
        """Apply an admin's per-user MFA change with Entra's rules; return the resulting state.

        Enabling a user who already has a second factor makes them Enforced at once, unless
        their state was disabled by an admin since they registered (then they must re-register,
        and Entra does not promote them on its own).
        """
        if requested not in STATES:
            raise ValueError(f"unknown per-user MFA state {requested!r}")
        at = at or self.now
        result = requested
        if requested == "enabled" and user.has_mfa_method() and not user.needs_reregistration:
            result = "enforced"
        if requested == "disabled" and user.mfa_state != "disabled":
            user.needs_reregistration = True
        if requested == "enforced":
            user.needs_reregistration = False
        if result != user.mfa_state:
            user.mfa_state = result
            user.events.append(Event(at, "state", result, actor))
        self.revision += 1
        return result

    def register_method(self, user: User, method: AuthMethod) -> None:
        """The user registers a method; an Enabled user with a second factor becomes Enforced."""
        self.revision += 1
        user.methods.append(method)
        user.events.append(Event(method.created, "method", method.kind))
        if METHOD_KINDS[method.kind].mfa:
            user.needs_reregistration = False
            if user.mfa_state == "enabled":
                user.mfa_state = "enforced"
                user.events.append(Event(method.created, "state", "enforced"))

    def allowed_second_factor(self, kind: str) -> bool:
        """A kind that counts towards MFA capable: a second factor the policy allows."""
        found = METHOD_KINDS.get(kind)
        return found is not None and found.mfa and kind not in self.methods_off_by_policy

    def visible_methods(self, user: User) -> list[AuthMethod]:
        """Methods the registration report shows: it lags real time by ``report_lag``."""
        horizon = self.now - self.report_lag
        return [m for m in user.methods if m.created <= horizon]
