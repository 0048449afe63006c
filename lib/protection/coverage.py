"""Who is covered by MFA, and by what: the decision table of docs/graph.md applied to every user.

Policies are compiled once (``lib.protection.policy``) and placed for the whole tenant at once
(``lib.protection.placement``); users who share the same placements and per-user state share one verdict,
computed once, so the per-user work is a few dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from lib.protection.categories import (
    PROTECTED,
    CaAvailability,
    Conflict,
    CoveredBy,
    MethodClass,
    PolicyOutcome,
    TenantConflict,
)
from lib.protection.deadlines import sms_voice_deadline
from lib.protection.facts import GLOBAL_ADMINISTRATOR, ProtectionInputs, UserFacts
from lib.protection.methods import MethodStrength, method_strength
from lib.protection.placement import place, placement_at
from lib.protection.policy import AppScope, CompiledPolicy, Effect, PolicyRef, compile_policy

__all__ = ["Applied", "Evaluation", "UserProtection", "evaluate"]

POSSIBLE_GUEST_KINDS = frozenset({"internalguest", "b2bcollaborationguest"})
"""What a ``userType: guest`` may be when the exact kind is unknown: an include must name both to count,
an exclude of either counts (exclusion wins, so the doubt goes against coverage)."""

PARTIAL_OUTCOMES = frozenset({PolicyOutcome.MFA_PARTIAL, PolicyOutcome.MFA_OR_ALTERNATIVE})


@dataclass(frozen=True, slots=True)
class Applied:
    """One policy's outcome for one user, and why it is partial (words), for a preview to name."""

    policy: PolicyRef
    outcome: PolicyOutcome
    partial: tuple[str, ...] = ()


class UserProtection(NamedTuple):
    """The model's answer for one user (a named tuple: 100k of them are built per evaluation)."""

    user_id: str
    covered_by: CoveredBy
    policies: tuple[PolicyRef, ...]
    """The Conditional Access policies behind ``covered_by`` (empty for security defaults and per-user)."""
    applied: tuple[Applied, ...]
    """Every policy that reaches the user, with what it does (a legacy-auth block, a report-only policy…)."""
    conflicts: tuple[Conflict, ...]
    method: MethodStrength
    per_user_state: str | None
    is_admin: bool
    is_global_admin: bool
    is_external: bool
    sms_voice_deadline: date

    @property
    def protected(self) -> bool:
        """Asked for MFA (or refused) on every sign-in."""
        return self.covered_by in PROTECTED

    @property
    def sms_voice_only(self) -> bool:
        """Relies on SMS or voice alone: meets a blocking passkey registration at ``sms_voice_deadline``."""
        return self.method.method_class is MethodClass.SMS_VOICE_ONLY

    @property
    def legacy_auth_blocked(self) -> bool:
        return any(a.outcome is PolicyOutcome.LEGACY_AUTH_BLOCKED for a in self.applied)


@dataclass(frozen=True)
class Evaluation:
    """Every user's answer, and what it was computed from (a snapshot stores the policies it evaluated)."""

    users: tuple[UserProtection, ...]
    policies: tuple[CompiledPolicy, ...]
    ca_availability: CaAvailability
    security_defaults: bool | None
    tenant_conflicts: tuple[TenantConflict, ...]


def _outcomes(policy: CompiledPolicy) -> tuple[Applied | None, Applied | None]:
    """(the outcome for an included user, for an included-but-excluded one); None = the policy does nothing here."""
    ref, scope = policy.ref, policy.scope
    excluded = Applied(ref, PolicyOutcome.EXCLUDED) if policy.enabled and policy.demands_mfa else None
    if policy.report_only:
        return (Applied(ref, PolicyOutcome.REPORT_ONLY, policy.partial) if policy.demands_mfa else None), None
    if not policy.enabled or scope is AppScope.NONE:
        return None, None
    effect = policy.effect
    if effect is Effect.BLOCK:
        if policy.legacy_only:
            return Applied(ref, PolicyOutcome.LEGACY_AUTH_BLOCKED, policy.partial), None
        whole = scope is AppScope.ALL and not policy.partial
        return Applied(ref, PolicyOutcome.BLOCKED if whole else PolicyOutcome.BLOCKED_PARTIAL, policy.partial), None
    if effect in (Effect.MFA, Effect.MFA_OR_ALTERNATIVE) and scope is AppScope.NO_SIGN_IN:
        return Applied(ref, PolicyOutcome.NO_SIGN_IN), None
    if effect is Effect.MFA:
        clean = scope is AppScope.ALL and not policy.partial
        outcome = PolicyOutcome.MFA_ALL_APPS if clean else PolicyOutcome.MFA_PARTIAL
        return Applied(ref, outcome, policy.partial), excluded
    if effect is Effect.MFA_OR_ALTERNATIVE:
        return Applied(ref, PolicyOutcome.MFA_OR_ALTERNATIVE, ("MFA or another control", *policy.partial)), excluded
    if effect is Effect.CUSTOM_CONTROL and scope is not AppScope.NO_SIGN_IN:
        return Applied(ref, PolicyOutcome.CUSTOM_CONTROL, policy.partial), None
    return None, None


def _guest_kinds(user: UserFacts) -> frozenset[str]:
    if user.guest_type:
        return frozenset({user.guest_type.lower()})
    return POSSIBLE_GUEST_KINDS if user.user_type.lower() == "guest" else frozenset()


def _of(applied: Iterable[Applied], outcomes: frozenset[PolicyOutcome]) -> tuple[PolicyRef, ...]:
    return tuple(a.policy for a in applied if a.outcome in outcomes)


def _verdict(applied: tuple[Applied, ...], state: str | None, registered: bool, inputs: ProtectionInputs,
             ) -> tuple[CoveredBy, tuple[PolicyRef, ...], tuple[Conflict, ...]]:
    """``covered_by`` in the doc's verdict order, the policies behind it, and the conflicts."""
    defaults = inputs.security_defaults
    ca_all = _of(applied, frozenset({PolicyOutcome.MFA_ALL_APPS}))
    conflicts: list[Conflict] = []
    if state in ("enabled", "enforced"):
        if ca_all:
            conflicts.append(Conflict.PER_USER_WITH_CA)
        if defaults is True:
            conflicts.append(Conflict.PER_USER_WITH_SECURITY_DEFAULTS)
    found: tuple[CoveredBy, tuple[PolicyRef, ...]]
    if ca_all:
        found = CoveredBy.CA_ALL_APPS, ca_all
    elif blocked := _of(applied, frozenset({PolicyOutcome.BLOCKED})):
        found = CoveredBy.BLOCKED, blocked
    elif partial := _of(applied, PARTIAL_OUTCOMES):
        found = CoveredBy.CA_PARTIAL, partial
    elif defaults is True:
        found = CoveredBy.SECURITY_DEFAULTS, ()
    elif state == "enforced":
        found = CoveredBy.PER_USER_ENFORCED, ()
    elif state == "enabled":
        found = (CoveredBy.PER_USER_ENABLED_REGISTERED if registered else CoveredBy.PER_USER_ENABLED_UNREGISTERED), ()
    elif excluded := _of(applied, frozenset({PolicyOutcome.EXCLUDED})):
        found = CoveredBy.CA_EXCLUDED, excluded
    elif report_only := _of(applied, frozenset({PolicyOutcome.REPORT_ONLY})):
        found = CoveredBy.CA_REPORT_ONLY, report_only
    elif inputs.ca_availability is CaAvailability.NOT_READABLE:
        found = CoveredBy.CA_NOT_READABLE, ()
    elif defaults is None:
        found = CoveredBy.DEFAULTS_UNKNOWN, ()
    elif inputs.ca_availability is CaAvailability.NO_P1:
        found = CoveredBy.CA_UNAVAILABLE, ()
    else:
        found = CoveredBy.NOT_COVERED, ()
    return found[0], found[1], tuple(conflicts)


def _compiled(inputs: ProtectionInputs) -> tuple[CompiledPolicy, ...]:
    """The policies that count: none unless Conditional Access was read (an empty list without P1 means nothing)."""
    if inputs.ca_availability is not CaAvailability.AVAILABLE:
        return ()
    return tuple(compile_policy(p, inputs.membership) for p in inputs.policies
                 if str(p.get("state", "")).lower() != "disabled")


def _user_parts(applied: tuple[Applied, ...], raw_state: str | None, registered: bool, methods: tuple[str, ...],
                is_admin: bool, is_ga: bool, external: bool, inputs: ProtectionInputs) -> tuple[Any, ...]:
    """Every field of a ``UserProtection`` but the id (shared by all users with the same facts)."""
    state = raw_state.lower() if raw_state else None
    covered_by, policies, conflicts = _verdict(applied, state, registered, inputs)
    return (covered_by, policies, applied, conflicts, method_strength(methods), state, is_admin or is_ga, is_ga,
            external, sms_voice_deadline(is_global_admin=is_ga, is_external=external))


def evaluate(inputs: ProtectionInputs) -> Evaluation:
    """Every user's coverage, conflicts, method class and SMS/voice deadline."""
    policies = _compiled(inputs)
    relevant = [(p, pair) for p in policies if (pair := _outcomes(p)) != (None, None)]
    kinds_cache: dict[tuple[str, str | None], tuple[frozenset[str], bool]] = {}
    uids: list[str] = []
    externals: list[bool] = []
    by_kind: dict[frozenset[str], list[str]] = {}
    for user in inputs.users:
        uid = user.id.lower()
        kind_key = (user.user_type, user.guest_type)
        if (found := kinds_cache.get(kind_key)) is None:
            found = kinds_cache[kind_key] = (_guest_kinds(user), user.is_external)
        uids.append(uid)
        externals.append(found[1])
        if found[0]:
            by_kind.setdefault(found[0], []).append(uid)
    base, deltas = place([p for p, _pair in relevant], uids, by_kind)
    global_admins = inputs.membership.roles.get(GLOBAL_ADMINISTRATOR, frozenset())
    applied_by_code: dict[int, tuple[Applied, ...]] = {}
    parts: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    results: list[UserProtection] = []
    for user, uid, external in zip(inputs.users, uids, externals, strict=True):
        code = base + deltas.get(uid, 0)
        is_ga = user.is_global_admin or uid in global_admins
        key = (code, user.per_user_state, user.is_mfa_registered, user.methods_registered, user.is_admin, is_ga,
               external)
        if (shared := parts.get(key)) is None:
            if (applied := applied_by_code.get(code)) is None:
                applied = applied_by_code[code] = tuple(
                    hit for index, (_policy, pair) in enumerate(relevant)
                    if (where := placement_at(code, index)) and (hit := pair[where - 1]) is not None)
            shared = parts[key] = _user_parts(applied, user.per_user_state, user.is_mfa_registered,
                                              user.methods_registered, user.is_admin, is_ga, external, inputs)
        results.append(UserProtection(user.id, *shared))
    enabled_ca = any(p.enabled for p in policies)
    tenant = (TenantConflict.DEFAULTS_WITH_CA,) if inputs.security_defaults is True and enabled_ca else ()
    return Evaluation(tuple(results), policies, inputs.ca_availability, inputs.security_defaults, tenant)
