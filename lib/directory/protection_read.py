"""Read what protects the tenant's users (the snapshot's "protection" phase) and evaluate it per user.

Reads through the gateway: the Conditional Access policies (paced by the gateway: 1 request per second per
tenant, its 429 has no ``Retry-After``), security defaults, the authentication methods policy, the strengths
only when a policy names one whose requirement it does not carry, each policy-referenced group's transitive
users once, and each referenced role's active assignments (plus Global Administrator's, whose holders keep
SMS/voice longer). ``lib.protection.evaluate`` then answers per user.

A part that cannot be read never loses the snapshot: it is recorded with a sentence saying why, and the
model is told (no P1 → ``CaAvailability.NO_P1``; missing permission or other failure → ``NOT_READABLE``;
security defaults unread → None), so a user is never "not covered" because a read failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from lib.clock import Clock, utc_now
from lib.columns import POLICIES_SEPARATOR, PROTECTION_COLUMNS, STATES, split_methods
from lib.errors import describe
from lib.graph import (
    CancelToken,
    Forbidden,
    GraphError,
    GraphGateway,
    NoPremiumLicense,
    OperationCancelled,
    count_requests,
)
from lib.protection import (
    GLOBAL_ADMINISTRATOR,
    CaAvailability,
    Evaluation,
    ProtectionInputError,
    ProtectionInputs,
    ProtectionSummary,
    UserFacts,
    evaluate,
    referenced_groups,
    referenced_roles,
    resolve_membership,
    role_holders,
    security_defaults_enabled,
    summarize,
    transitive_user_ids,
)
from lib.store import ProtectionRecord

__all__ = ["PoliciesRead", "PolicyInputs", "evaluate_policies", "methods_policy_record", "protection_columns",
           "read_policies", "read_policy_inputs", "user_facts", "with_protection"]

CA_PATH = "/identity/conditionalAccess/policies"
DEFAULTS_PATH = "/policies/identitySecurityDefaultsEnforcementPolicy"
METHODS_POLICY_PATH = "/policies/authenticationMethodsPolicy"
STRENGTHS_PATH = "/policies/authenticationStrengthPolicies"
ROLE_ASSIGNMENTS_PATH = "/roleManagement/directory/roleAssignments"
BUILT_IN_STRENGTHS = frozenset({f"00000000-0000-0000-0000-00000000000{n}" for n in (2, 3, 4)})
"""Microsoft's built-in strengths (the model knows they require MFA; docs/graph.md)."""
GROUP_PRINCIPAL = "#microsoft.graph.group"
NO_P1_MESSAGE = "Conditional Access unavailable (no Entra ID P1)"

PhaseCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PoliciesRead:
    """One protection read: the record the snapshot stores, and the model's answer per user."""

    record: ProtectionRecord
    evaluation: Evaluation
    summary: ProtectionSummary
    requests: int = 0
    groups_resolved: int = 0
    roles_resolved: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _why(err: GraphError, needs: str) -> str:
    """A sentence for a part that could not be read: the permission when it is one, else Graph's answer."""
    if isinstance(err, Forbidden):
        missing = err.missing or needs
        return f"not granted: the app or the signed-in admin needs {missing}"
    return describe(err)


def _read_ca(gateway: GraphGateway, cancel: CancelToken | None,
             ) -> tuple[list[dict[str, Any]], CaAvailability, str | None]:
    """The policies, whether Conditional Access could be read, and why not (an empty list without P1 is
    told apart later, by :func:`evaluate_policies`)."""
    try:
        policies = gateway.list_json(CA_PATH, cancel=cancel)
    except OperationCancelled:
        raise
    except NoPremiumLicense:
        return [], CaAvailability.NO_P1, NO_P1_MESSAGE
    except GraphError as err:
        why = _why(err, "Policy.Read.All")
        return [], CaAvailability.NOT_READABLE, f"Conditional Access policies could not be read: {why}"
    return policies, CaAvailability.AVAILABLE, None


def _read_defaults(gateway: GraphGateway, cancel: CancelToken | None) -> tuple[bool | None, str | None]:
    try:
        body = gateway.get_json(DEFAULTS_PATH, cancel=cancel)
    except OperationCancelled:
        raise
    except GraphError as err:
        return None, f"Security defaults could not be read: {_why(err, 'Policy.Read.All')}"
    found = security_defaults_enabled(body)
    return found, None if found is not None else "Security defaults could not be read: Graph's answer had no isEnabled"


def methods_policy_record(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of the authentication methods policy a snapshot keeps: the campaign and each method's state."""
    enforcement = body.get("registrationEnforcement") or {}
    campaign = enforcement.get("authenticationMethodsRegistrationCampaign") or {}
    methods = {str(c.get("id")): str(c.get("state", "")) for c in body.get("authenticationMethodConfigurations") or ()
               if isinstance(c, Mapping) and c.get("id")}
    return {"campaign": dict(campaign), "methods": methods}


def _read_methods_policy(gateway: GraphGateway, cancel: CancelToken | None,
                         ) -> tuple[dict[str, Any] | None, str | None]:
    try:
        body = gateway.get_json(METHODS_POLICY_PATH, cancel=cancel)
    except OperationCancelled:
        raise
    except GraphError as err:
        return None, ("The authentication methods policy could not be read: "
                      f"{_why(err, 'Policy.Read.AuthenticationMethod (or Policy.ReadWrite.AuthenticationMethod)')}")
    if not isinstance(body, Mapping):
        return None, "The authentication methods policy could not be read: Graph's answer was not an object"
    return methods_policy_record(body), None


def _unresolved_strengths(policies: Sequence[Mapping[str, Any]]) -> set[str]:
    """Custom strengths a policy names without saying what they require (only then are strengths read)."""
    found = set()
    for policy in policies:
        strength = (policy.get("grantControls") or {}).get("authenticationStrength") or {}
        sid = str(strength.get("id", ""))
        if sid and sid not in BUILT_IN_STRENGTHS and not strength.get("requirementsSatisfied"):
            found.add(sid)
    return found


def _fill_strengths(gateway: GraphGateway, policies: list[dict[str, Any]], cancel: CancelToken | None,
                    ) -> list[dict[str, Any]]:
    """Copy each named custom strength's ``requirementsSatisfied`` into the policies that name it."""
    wanted = _unresolved_strengths(policies)
    if not wanted:
        return policies
    known = {str(s.get("id")): s for s in gateway.list_json(STRENGTHS_PATH, cancel=cancel)}
    filled = []
    for policy in policies:
        grant = policy.get("grantControls") or {}
        strength = grant.get("authenticationStrength") or {}
        sid = str(strength.get("id", ""))
        if sid in wanted and sid in known:
            satisfied = known[sid].get("requirementsSatisfied")
            policy = {**policy, "grantControls": {**grant, "authenticationStrength": {
                **strength, "requirementsSatisfied": satisfied}}}
        filled.append(policy)
    return filled


def _group_users(gateway: GraphGateway, group_id: str, cancel: CancelToken | None) -> frozenset[str]:
    """The group's transitive users: one paged read of the user cast (an advanced query)."""
    members = gateway.list_json(f"/groups/{group_id}/transitiveMembers/microsoft.graph.user",
                                params={"$select": "id", "$count": "true"},
                                headers={"ConsistencyLevel": "eventual"}, cancel=cancel)
    return transitive_user_ids(members)


def _role_assignments(gateway: GraphGateway, role_id: str, cancel: CancelToken | None) -> list[dict[str, Any]]:
    return gateway.list_json(ROLE_ASSIGNMENTS_PATH, params={
        "$filter": f"roleDefinitionId eq '{role_id}'", "$expand": "principal"}, cancel=cancel)


def user_facts(frame: pd.DataFrame) -> list[UserFacts]:
    """What the model needs of each row of a users frame (states it could not read stay None)."""
    out = []
    for uid, guest, state, methods, admin, registered in zip(
            frame["id"], frame["is_guest"], frame["state"], frame["methods"], frame["is_admin"],
            frame["registered"], strict=True):
        out.append(UserFacts(
            id=str(uid), user_type="guest" if guest else "member",
            per_user_state=state if isinstance(state, str) and state in STATES else None,
            methods_registered=tuple(split_methods(methods)), is_admin=bool(admin),
            is_mfa_registered=bool(registered)))
    return out


@dataclass(frozen=True)
class PolicyInputs:
    """What Graph said of the tenant's protection, before any user is evaluated (it needs no user facts, so
    a snapshot reads it while the registration report, throttled apart, is still coming in)."""

    policies: tuple[dict[str, Any], ...]
    availability: CaAvailability
    ca_message: str | None
    security_defaults: bool | None
    defaults_message: str | None
    methods_policy: dict[str, Any] | None
    methods_message: str | None
    membership: Any
    notes: tuple[str, ...]
    """A strength not read (kept with Conditional Access's message)."""
    deadline_note: str | None
    """Global Administrators unknown (the SMS/voice deadline: kept with the methods policy's message)."""
    requests: int
    groups_resolved: int
    roles_resolved: int


def read_policy_inputs(gateway: GraphGateway, *, on_phase: PhaseCallback | None = None,
                       cancel: CancelToken | None = None) -> PolicyInputs:
    """Read the policies, security defaults, the methods policy and the groups and roles the policies name.

    Raises only OperationCancelled: every other failure is recorded in words."""
    notes: list[str] = []
    deadline_note: str | None = None
    done, total = 0, 3

    def step(more: int = 0) -> None:
        nonlocal done, total
        done, total = done + 1, total + more
        if on_phase:
            on_phase("protection", done, total)

    if on_phase:
        on_phase("protection", 0, total)
    with count_requests() as sent:
        policies, availability, ca_message = _read_ca(gateway, cancel)
        step()
        defaults, defaults_message = _read_defaults(gateway, cancel)
        step()
        methods_policy, methods_message = _read_methods_policy(gateway, cancel)
        if availability is CaAvailability.AVAILABLE:
            try:
                policies = _fill_strengths(gateway, policies, cancel)
            except OperationCancelled:
                raise
            except GraphError as err:
                notes.append(f"Authentication strengths could not be read: {_why(err, 'Policy.Read.All')}")
        roles = sorted(referenced_roles(policies) | {GLOBAL_ADMINISTRATOR}) \
            if availability is CaAvailability.AVAILABLE else [GLOBAL_ADMINISTRATOR]
        groups = set(referenced_groups(policies)) if availability is CaAvailability.AVAILABLE else set()
        step(len(roles))
        assignments: list[dict[str, Any]] = []
        group_users: dict[str, frozenset[str]] = {}
        try:
            for role in roles:
                try:
                    assignments += _role_assignments(gateway, role, cancel)
                except GraphError as err:
                    if isinstance(err, OperationCancelled) or role in referenced_roles(policies):
                        raise
                    deadline_note = ("Global Administrators could not be told apart, so everyone is given the "
                                     "1 February 2027 SMS/voice deadline: "
                                     f"{_why(err, 'RoleManagement.Read.Directory')}")
                step()
            groups |= {str(a["principal"]["id"]).lower() for a in assignments
                       if str((a.get("principal") or {}).get("@odata.type", "")).lower() == GROUP_PRINCIPAL}
            total += len(groups)
            for gid in sorted(groups):
                group_users[gid] = _group_users(gateway, gid, cancel)
                step()
            holders = role_holders(assignments, group_users)
            membership = resolve_membership(group_users, {role: holders.get(role.lower(), frozenset())
                                                          for role in roles})
        except OperationCancelled:
            raise
        except GraphError as err:
            needs = "GroupMember.Read.All and RoleManagement.Read.Directory"
            ca_message = ("The groups and roles the Conditional Access policies name could not be read, so their "
                          f"coverage is unknown: {_why(err, needs)}")
            availability, membership = CaAvailability.NOT_READABLE, resolve_membership({}, {})
    return PolicyInputs(tuple(policies), availability, ca_message, defaults, defaults_message, methods_policy,
                        methods_message, membership, tuple(notes), deadline_note, sent.requests, len(group_users),
                        len(roles))


def evaluate_policies(inputs: PolicyInputs, frame: pd.DataFrame, *, premium: bool,
                      clock: Clock = utc_now) -> PoliciesRead:
    """Evaluate every user of ``frame`` against what was read.

    ``premium`` is whether the snapshot found Entra ID P1: without it, an empty policy list says nothing
    (Graph may answer an empty list rather than refuse), so Conditional Access is "unavailable", not "none"."""
    policies, availability, ca_message = list(inputs.policies), inputs.availability, inputs.ca_message
    if availability is CaAvailability.AVAILABLE and not policies and not premium:
        availability, ca_message = CaAvailability.NO_P1, NO_P1_MESSAGE
    membership = inputs.membership
    if availability is not CaAvailability.AVAILABLE:
        membership = resolve_membership({}, {GLOBAL_ADMINISTRATOR: membership.roles.get(GLOBAL_ADMINISTRATOR, ())})
    facts = user_facts(frame)
    defaults = inputs.security_defaults
    try:
        evaluation = evaluate(ProtectionInputs(
            users=facts, policies=policies if availability is CaAvailability.AVAILABLE else (),
            security_defaults=defaults, ca_availability=availability, membership=membership))
    except ProtectionInputError as err:  # a policy names something the read did not resolve: say so, keep going
        ca_message = f"Conditional Access policies could not be evaluated: {err}"
        availability = CaAvailability.NOT_READABLE
        evaluation = evaluate(ProtectionInputs(users=facts, security_defaults=defaults, ca_availability=availability,
                                               membership=resolve_membership({}, {})))
    now = clock()
    summary = summarize(evaluation, now)
    record = ProtectionRecord(
        ca_availability=str(availability), policies=tuple(policies) if availability is CaAvailability.AVAILABLE
        else (), security_defaults=defaults, methods_policy=inputs.methods_policy, summary=summary.as_json(),
        read_at=pd.Timestamp(now), security_defaults_message=inputs.defaults_message,
        ca_message=_joined(ca_message, *inputs.notes) if availability is CaAvailability.AVAILABLE else ca_message,
        methods_policy_message=_joined(inputs.methods_message, inputs.deadline_note))
    return PoliciesRead(record, evaluation, summary, inputs.requests, inputs.groups_resolved, inputs.roles_resolved,
                        tuple(n for n in (*inputs.notes, inputs.deadline_note) if n))


def read_policies(
    gateway: GraphGateway,
    frame: pd.DataFrame,
    *,
    premium: bool,
    on_phase: PhaseCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock = utc_now,
) -> PoliciesRead:
    """Read the tenant's protection and evaluate every user of ``frame`` (both steps, one after the other).

    Raises only OperationCancelled: every other failure is recorded in words.
    """
    return evaluate_policies(read_policy_inputs(gateway, on_phase=on_phase, cancel=cancel), frame,
                             premium=premium, clock=clock)


def _joined(*messages: str | None) -> str | None:
    """The sentences that apply, as one text (None when none does)."""
    found = [m for m in messages if m]
    return " ".join(m if m.endswith(".") else f"{m}." for m in found) if found else None


def _deadline(value: date | None) -> str:
    return value.isoformat() if value else ""


def protection_columns(evaluation: Evaluation) -> pd.DataFrame:
    """``id`` and the ``PROTECTION_COLUMNS`` of every evaluated user (``lib.columns`` describes each)."""
    rows: dict[str, list[str]] = {"id": [], **{name: [] for name in PROTECTION_COLUMNS}}
    for user in evaluation.users:
        rows["id"].append(user.user_id)
        rows["covered_by"].append(str(user.covered_by))
        rows["covered_by_policies"].append(POLICIES_SEPARATOR.join(p.name for p in user.policies))
        rows["protection_conflict"].append(str(user.conflicts[0]) if user.conflicts else "")
        rows["method_class"].append(str(user.method.method_class))
        rows["sms_voice_deadline"].append(_deadline(user.sms_voice_deadline) if user.sms_voice_only else "")
    return pd.DataFrame(rows, dtype="string")


def with_protection(frame: pd.DataFrame, evaluation: Evaluation) -> pd.DataFrame:
    """``frame`` with its protection columns filled from ``evaluation`` (same users, same order)."""
    columns = protection_columns(evaluation)
    out = frame.copy()
    by_id = columns.set_index("id")
    for name in PROTECTION_COLUMNS:
        out[name] = out["id"].map(by_id[name]).astype("string")
    return out

