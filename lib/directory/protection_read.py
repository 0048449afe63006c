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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from lib.clock import Clock, utc_now
from lib.columns import POLICIES_SEPARATOR, PROTECTION_COLUMNS, STATES, split_methods
from lib.errors import describe
from lib.graph import CancelToken, Forbidden, GraphError, GraphGateway, NoPremiumLicense, OperationCancelled
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

__all__ = ["PoliciesRead", "protection_columns", "read_policies", "with_protection"]

CA_PATH = "/identity/conditionalAccess/policies"
DEFAULTS_PATH = "/policies/identitySecurityDefaultsEnforcementPolicy"
METHODS_POLICY_PATH = "/policies/authenticationMethodsPolicy"
STRENGTHS_PATH = "/policies/authenticationStrengthPolicies"
ROLE_ASSIGNMENTS_PATH = "/roleManagement/directory/roleAssignments"
BUILT_IN_STRENGTHS = frozenset({f"00000000-0000-0000-0000-00000000000{n}" for n in (2, 3, 4)})
"""Microsoft's built-in strengths (the model knows they require MFA; docs/graph.md)."""
GROUP_PRINCIPAL = "#microsoft.graph.group"

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


def _read_ca(gateway: GraphGateway, premium: bool, cancel: CancelToken | None,
             ) -> tuple[list[dict[str, Any]], CaAvailability, str | None]:
    """The policies, whether Conditional Access could be read, and why not."""
    try:
        policies = gateway.list_json(CA_PATH, cancel=cancel)
    except OperationCancelled:
        raise
    except NoPremiumLicense:
        return [], CaAvailability.NO_P1, "Conditional Access unavailable (no Entra ID P1)"
    except GraphError as err:
        why = _why(err, "Policy.Read.All")
        return [], CaAvailability.NOT_READABLE, f"Conditional Access policies could not be read: {why}"
    if not policies and not premium:  # without P1 the list may come back empty: that says nothing
        return [], CaAvailability.NO_P1, "Conditional Access unavailable (no Entra ID P1)"
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


def read_policies(
    gateway: GraphGateway,
    frame: pd.DataFrame,
    *,
    premium: bool,
    on_phase: PhaseCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock = utc_now,
) -> PoliciesRead:
    """Read the tenant's protection and evaluate every user of ``frame``.

    ``premium`` is whether the snapshot found Entra ID P1 (an empty policy list then means "none"; without
    it, "unavailable"). Raises only OperationCancelled: every other failure is recorded in words.
    """
    requests_before = gateway.stats.requests
    notes: list[str] = []
    done, total = 0, 3

    def step(more: int = 0) -> None:
        nonlocal done, total
        done, total = done + 1, total + more
        if on_phase:
            on_phase("protection", done, total)

    if on_phase:
        on_phase("protection", 0, total)
    policies, availability, ca_message = _read_ca(gateway, premium, cancel)
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
    roles = sorted(referenced_roles(policies) | {GLOBAL_ADMINISTRATOR}) if availability is CaAvailability.AVAILABLE \
        else [GLOBAL_ADMINISTRATOR]
    groups = set(referenced_groups(policies)) if availability is CaAvailability.AVAILABLE else set()
    step(len(roles))
    assignments: list[dict[str, Any]] = []
    group_users: dict[str, frozenset[str]] = {}
    try:
        for role in roles:
            try:
                assignments += _role_assignments(gateway, role, cancel)
            except (Forbidden, GraphError) as err:
                if isinstance(err, OperationCancelled) or role in referenced_roles(policies):
                    raise
                notes.append("Global Administrators could not be told apart for the SMS/voice deadline: "
                             f"{_why(err, 'RoleManagement.Read.Directory')}")
            step()
        groups |= {str(a["principal"]["id"]).lower() for a in assignments
                   if str((a.get("principal") or {}).get("@odata.type", "")).lower() == GROUP_PRINCIPAL}
        total += len(groups)
        for gid in sorted(groups):
            group_users[gid] = _group_users(gateway, gid, cancel)
            step()
        holders = role_holders(assignments, group_users)
        membership = resolve_membership(group_users, {role: holders.get(role.lower(), frozenset()) for role in roles})
    except OperationCancelled:
        raise
    except GraphError as err:
        needs = "GroupMember.Read.All and RoleManagement.Read.Directory"
        ca_message = ("The groups and roles the Conditional Access policies name could not be read, so their "
                      f"coverage is unknown: {_why(err, needs)}")
        availability, membership = CaAvailability.NOT_READABLE, resolve_membership({}, {})
    if availability is not CaAvailability.AVAILABLE:
        membership = resolve_membership({}, {GLOBAL_ADMINISTRATOR: membership.roles.get(GLOBAL_ADMINISTRATOR, ())})
    facts = user_facts(frame)
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
        else (), security_defaults=defaults, methods_policy=methods_policy, summary=summary.as_json(),
        read_at=pd.Timestamp(now), ca_message=ca_message, security_defaults_message=defaults_message,
        methods_policy_message=methods_message if not notes else "; ".join(filter(None, [methods_message, *notes])))
    return PoliciesRead(record, evaluation, summary, gateway.stats.requests - requests_before,
                        len(group_users), len(roles), tuple(notes))


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


def policy_rows(policies: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """(id, name, state) of each stored policy, for the use-case layer and the pages."""
    return [{"id": str(p.get("id", "")), "name": str(p.get("displayName", "")), "state": str(p.get("state", ""))}
            for p in policies]
