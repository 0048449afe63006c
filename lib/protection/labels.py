"""The one table of words a person reads for each protection category (pages, exports and the CLI use it).

Keyed by the categories in ``lib.protection.categories``; ``tests/test_protection_labels.py`` checks that
every category has a label and that no label is the raw value.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from lib.protection.categories import (
    CaAvailability,
    Conflict,
    CoveredBy,
    MethodClass,
    PolicyOutcome,
    TenantConflict,
)

__all__ = ["LABELS", "label"]

LABELS: Mapping[StrEnum, str] = {
    CoveredBy.CA_ALL_APPS: "Conditional Access: all cloud apps",
    CoveredBy.BLOCKED: "Blocked by Conditional Access",
    CoveredBy.CA_PARTIAL: "Conditional Access: some apps or conditions only",
    CoveredBy.SECURITY_DEFAULTS: "Security defaults",
    CoveredBy.PER_USER_ENFORCED: "Per-user MFA: Enforced",
    CoveredBy.PER_USER_ENABLED_REGISTERED: "Per-user MFA: Enabled, registered",
    CoveredBy.PER_USER_ENABLED_UNREGISTERED: "Per-user MFA: Enabled, not registered yet",
    CoveredBy.CA_EXCLUDED: "Excluded from Conditional Access MFA",
    CoveredBy.CA_REPORT_ONLY: "Conditional Access in report-only mode only (not enforced)",
    CoveredBy.CA_NOT_READABLE: "Unknown: Conditional Access could not be read",
    CoveredBy.DEFAULTS_UNKNOWN: "Unknown: security defaults could not be read",
    CoveredBy.CA_UNAVAILABLE: "Conditional Access unavailable (no Entra ID P1)",
    CoveredBy.NOT_COVERED: "Not covered by MFA",
    PolicyOutcome.MFA_ALL_APPS: "Requires MFA for all cloud apps",
    PolicyOutcome.MFA_PARTIAL: "Requires MFA for some apps or conditions only",
    PolicyOutcome.MFA_OR_ALTERNATIVE: "Requires MFA or another control instead",
    PolicyOutcome.REPORT_ONLY: "Report-only: would require MFA",
    PolicyOutcome.EXCLUDED: "Excludes this user from MFA",
    PolicyOutcome.BLOCKED: "Blocks every sign-in",
    PolicyOutcome.BLOCKED_PARTIAL: "Blocks some sign-ins",
    PolicyOutcome.LEGACY_AUTH_BLOCKED: "Blocks legacy authentication",
    PolicyOutcome.CUSTOM_CONTROL: "Custom control only (not Microsoft MFA)",
    PolicyOutcome.NO_SIGN_IN: "MFA for a user action only, not for sign-in",
    MethodClass.PHISHING_RESISTANT: "Phishing-resistant (passkey, Windows Hello, certificate)",
    MethodClass.PASSWORDLESS: "Passwordless (Authenticator phone sign-in)",
    MethodClass.MFA: "MFA (Authenticator or code)",
    MethodClass.SMS_VOICE_ONLY: "SMS or voice only",
    MethodClass.NONE: "No second factor",
    Conflict.PER_USER_WITH_CA: "Per-user MFA on while Conditional Access requires MFA (Microsoft advises Disabled)",
    Conflict.PER_USER_WITH_SECURITY_DEFAULTS:
        "Per-user MFA on while security defaults apply (Microsoft advises Disabled)",
    TenantConflict.DEFAULTS_WITH_CA: "Security defaults on while Conditional Access policies are enabled",
    CaAvailability.AVAILABLE: "Conditional Access read",
    CaAvailability.NO_P1: "Conditional Access unavailable (no Entra ID P1)",
    CaAvailability.NOT_READABLE: "Conditional Access could not be read",
}
"""Category → the words a person reads. One entry per member of every category enum."""


def label(value: StrEnum) -> str:
    """The words for ``value`` (a ``KeyError`` here is a missing table row, a programming error)."""
    return LABELS[value]
