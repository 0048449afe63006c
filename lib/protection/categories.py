"""The categories the protection model answers with, as stable values (stored, exported, filtered on).

They are ``StrEnum``s so a value is its own string in JSON, CSV and the store; what a person reads is
in ``lib.protection.labels``, never the value itself.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CaAvailability", "Conflict", "CoveredBy", "MethodClass", "PolicyOutcome", "TenantConflict"]


class CaAvailability(StrEnum):
    """Whether the tenant's Conditional Access policies could be read (Graph's answer without P1 is undocumented)."""

    AVAILABLE = "available"
    NO_P1 = "no_p1"
    NOT_READABLE = "not_readable"


class CoveredBy(StrEnum):
    """What makes a user answer MFA, strongest source first (the order ``lib.protection.coverage`` decides in)."""

    CA_ALL_APPS = "ca_all_apps"
    BLOCKED = "blocked"
    CA_PARTIAL = "ca_partial"
    SECURITY_DEFAULTS = "security_defaults"
    PER_USER_ENFORCED = "per_user_enforced"
    PER_USER_ENABLED_REGISTERED = "per_user_enabled_registered"
    PER_USER_ENABLED_UNREGISTERED = "per_user_enabled_unregistered"
    CA_EXCLUDED = "ca_excluded"
    CA_REPORT_ONLY = "ca_report_only"
    CA_NOT_READABLE = "ca_not_readable"
    DEFAULTS_UNKNOWN = "defaults_unknown"
    CA_UNAVAILABLE = "ca_unavailable"
    NOT_COVERED = "not_covered"


PROTECTED: frozenset[CoveredBy] = frozenset({
    CoveredBy.CA_ALL_APPS, CoveredBy.BLOCKED, CoveredBy.SECURITY_DEFAULTS, CoveredBy.PER_USER_ENFORCED,
    CoveredBy.PER_USER_ENABLED_REGISTERED,
})
"""Sources that demand MFA (or refuse) on every sign-in. Partial CA leaves some sign-ins open; an Enabled user
who has not registered yet can be registered by whoever knows the password."""


class PolicyOutcome(StrEnum):
    """What one Conditional Access policy does to one user (the rows of the decision table in docs/graph.md)."""

    MFA_ALL_APPS = "mfa_all_apps"
    MFA_PARTIAL = "mfa_partial"
    MFA_OR_ALTERNATIVE = "mfa_or_alternative"
    REPORT_ONLY = "report_only"
    EXCLUDED = "excluded"
    BLOCKED = "blocked"
    BLOCKED_PARTIAL = "blocked_partial"
    LEGACY_AUTH_BLOCKED = "legacy_auth_blocked"
    CUSTOM_CONTROL = "custom_control"
    NO_SIGN_IN = "no_sign_in"


class MethodClass(StrEnum):
    """The strongest kind of second factor a user has registered, strongest first."""

    PHISHING_RESISTANT = "phishing_resistant"
    PASSWORDLESS = "passwordless"
    MFA = "mfa"
    SMS_VOICE_ONLY = "sms_voice_only"
    NONE = "none"


class Conflict(StrEnum):
    """A per-user MFA state Microsoft advises against, given the user's other coverage.

    "Disabled is the appropriate status for users who are using security defaults or Conditional Access based
    MFA" (Entra, security defaults); "Don't enable or enforce per-user MFA if you use Conditional Access"
    (Entra, per-user MFA states). Sources in docs/graph.md.
    """

    PER_USER_WITH_CA = "per_user_with_ca"
    PER_USER_WITH_SECURITY_DEFAULTS = "per_user_with_security_defaults"


class TenantConflict(StrEnum):
    """A tenant-wide combination Microsoft advises against ("must disable security defaults" to use CA)."""

    DEFAULTS_WITH_CA = "defaults_with_ca"
