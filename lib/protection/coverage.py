"""Who is covered by MFA, and by what: the decision table of docs/graph.md applied to every user.

Policies are compiled once (``lib.protection.policy``); per user the work is a few set lookups per policy.
Users who share the same policy outcomes and per-user state share one verdict, computed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

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


@dataclass(frozen=True, slots=True)
class UserProtection:
    """The model's answer for one user."""

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


def _placement(policy: CompiledPolicy, uid: str, kinds: frozenset[str]) -> int:
    """0 not included, 1 included, 2 included but excluded (exclusion wins)."""
    inc, exc = policy.include, policy.exclude
    included = inc.everyone or uid in inc.ids or bool(
        kinds and (inc.any_guest or (inc.all_tenants and inc.guest_kinds and kinds <= inc.guest_kinds)))
    if not included:
        return 0
    excluded = exc.everyone or uid in exc.ids or bool(kinds and (exc.any_guest or kinds & exc.guest_kinds))
    return 2 if excluded else 1


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


def evaluate(inputs: ProtectionInputs) -> Evaluation:
    """Every user's coverage, conflicts, method class and SMS/voice deadline."""
    policies = _compiled(inputs)
    outcomes = [(index, _outcomes(p)) for index, p in enumerate(policies)]
    relevant = [(policies[index], pair) for index, pair in outcomes if pair != (None, None)]
    global_admins = inputs.membership.roles.get(GLOBAL_ADMINISTRATOR, frozenset())
    verdicts: dict[tuple[object, ...], tuple[CoveredBy, tuple[PolicyRef, ...], tuple[Conflict, ...]]] = {}
    strengths: dict[tuple[str, ...], MethodStrength] = {}
    results: list[UserProtection] = []
    for user in inputs.users:
        uid = user.id.lower()
        kinds = _guest_kinds(user)
        applied_list: list[Applied] = []
        for policy, pair in relevant:
            place = _placement(policy, uid, kinds)
            if place and (hit := pair[place - 1]) is not None:
                applied_list.append(hit)
        applied = tuple(applied_list)
        state = user.per_user_state.lower() if user.per_user_state else None
        key = (*(id(a) for a in applied), state, user.is_mfa_registered)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = _verdict(applied, state, user.is_mfa_registered, inputs)
        strength = strengths.get(user.methods_registered)
        if strength is None:
            strength = strengths[user.methods_registered] = method_strength(user.methods_registered)
        is_ga = user.is_global_admin or uid in global_admins
        results.append(UserProtection(
            user_id=user.id, covered_by=verdict[0], policies=verdict[1], applied=applied, conflicts=verdict[2],
            method=strength, per_user_state=state, is_admin=user.is_admin or is_ga, is_global_admin=is_ga,
            is_external=user.is_external,
            sms_voice_deadline=sms_voice_deadline(is_global_admin=is_ga, is_external=user.is_external),
        ))
    enabled_ca = any(p.enabled for p in policies)
    tenant = (TenantConflict.DEFAULTS_WITH_CA,) if inputs.security_defaults is True and enabled_ca else ()
    return Evaluation(tuple(results), policies, inputs.ca_availability, inputs.security_defaults, tenant)

