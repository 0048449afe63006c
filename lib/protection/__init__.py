"""The protection model: who is actually covered by MFA, how strong their methods are, and their SMS/voice deadline.

Pure (no I/O, no Graph): the reader hands it Graph's shapes (Conditional Access policies, the security
defaults flag, group and role membership resolved once per referenced group, per-user facts) and it answers
per user and per tenant. The rules, with their sources, are in docs/graph.md ("Protection").
"""

from __future__ import annotations

from lib.protection.categories import (
    PROTECTED,
    CaAvailability,
    Conflict,
    CoveredBy,
    MethodClass,
    PolicyOutcome,
    TenantConflict,
)
from lib.protection.coverage import Applied, Evaluation, UserProtection, evaluate
from lib.protection.deadlines import LATER_DEADLINE, SMS_VOICE_DEADLINE, days_left, sms_voice_deadline
from lib.protection.errors import ProtectionInputError
from lib.protection.facts import GLOBAL_ADMINISTRATOR, ProtectionInputs, UserFacts, security_defaults_enabled
from lib.protection.labels import LABELS, label
from lib.protection.membership import (
    Membership,
    referenced_groups,
    referenced_roles,
    resolve_membership,
    role_holders,
    transitive_user_ids,
)
from lib.protection.methods import MethodStrength, method_strength
from lib.protection.policy import PolicyRef
from lib.protection.summary import ProtectionSummary, SmsVoiceDeadline, summarize

__all__ = [
    "GLOBAL_ADMINISTRATOR",
    "LABELS",
    "LATER_DEADLINE",
    "PROTECTED",
    "SMS_VOICE_DEADLINE",
    "Applied",
    "CaAvailability",
    "Conflict",
    "CoveredBy",
    "Evaluation",
    "Membership",
    "MethodClass",
    "MethodStrength",
    "PolicyOutcome",
    "PolicyRef",
    "ProtectionInputError",
    "ProtectionInputs",
    "ProtectionSummary",
    "SmsVoiceDeadline",
    "TenantConflict",
    "UserFacts",
    "UserProtection",
    "days_left",
    "evaluate",
    "label",
    "method_strength",
    "referenced_groups",
    "referenced_roles",
    "resolve_membership",
    "role_holders",
    "security_defaults_enabled",
    "sms_voice_deadline",
    "summarize",
    "transitive_user_ids",
]
