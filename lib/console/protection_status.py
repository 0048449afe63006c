"""What protected the tenant's users at the latest snapshot: the record pages and the CLI show.

Read from the store only (a snapshot read the policies; nothing here calls Graph), so every page shows the
same answer as the users frame it came with. A snapshot taken before policies were read has no record:
``evaluated`` is False, and the words say to take a snapshot rather than "not covered".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from lib.console.workspace import Workspace
from lib.protection import (
    CaAvailability,
    Conflict,
    CoveredBy,
    MethodClass,
    ProtectionSummary,
    SmsVoiceDeadline,
    TenantConflict,
    days_left,
    label,
)
from lib.rollout import active_protection
from lib.rollout.break_glass import BreakGlassWarning, break_glass_warnings
from lib.store import ProtectionRecord

__all__ = ["CampaignState", "PolicyState", "ProtectionStatus", "protection_status", "summary_from_json"]

CERTIFICATE_METHOD = "x509certificate"
"""The methods policy's configuration id for certificate-based authentication (compared lower-cased)."""


@dataclass(frozen=True)
class PolicyState:
    """One Conditional Access policy the snapshot evaluated."""

    id: str
    name: str
    state: str
    """Graph's value: ``enabled``, ``disabled`` or ``enabledForReportingButNotEnforced``."""

    @property
    def state_label(self) -> str:
        """The state in words."""
        return {"enabled": "On", "disabled": "Off", "enabledforreportingbutnotenforced": "Report-only"}.get(
            self.state.lower(), self.state)


@dataclass(frozen=True)
class CampaignState:
    """The authentication methods policy's registration campaign, as the snapshot read it."""

    state: str
    """Graph's value: ``default`` (Microsoft managed), ``enabled`` or ``disabled``."""
    snooze_days: int | None
    include_targets: tuple[Mapping[str, Any], ...]
    exclude_targets: tuple[Mapping[str, Any], ...]

    @property
    def state_label(self) -> str:
        return {"default": "Microsoft managed", "enabled": "On", "disabled": "Off"}.get(self.state, self.state)


@dataclass(frozen=True)
class ProtectionStatus:
    """The protection record of one snapshot (``evaluated`` False: the snapshot predates policy reads)."""

    snapshot_id: int | None
    evaluated: bool
    read_at: pd.Timestamp | None = None
    ca_availability: CaAvailability | None = None
    ca_message: str | None = None
    security_defaults: bool | None = None
    security_defaults_message: str | None = None
    policies: tuple[PolicyState, ...] = ()
    campaign: CampaignState | None = None
    method_states: Mapping[str, str] = field(default_factory=dict)
    """Each authentication method configuration's id (``Fido2``, ``Sms``…) → ``enabled``/``disabled``."""
    methods_policy_message: str | None = None
    summary: ProtectionSummary | None = None
    break_glass: tuple[BreakGlassWarning, ...] = ()

    @property
    def headline(self) -> str:
        """One line a page leads with: how Conditional Access was read, in words."""
        if not self.evaluated:
            return "Protection not read yet: take a snapshot to read the tenant's policies."
        assert self.ca_availability is not None
        if self.ca_availability is CaAvailability.AVAILABLE:
            return f"{label(self.ca_availability)}: {len(self.policies)} policies evaluated"
        return self.ca_message or label(self.ca_availability)

    @property
    def security_defaults_label(self) -> str:
        if self.security_defaults is None:
            return self.security_defaults_message or "Security defaults could not be read"
        return "Security defaults on" if self.security_defaults else "Security defaults off"

    @property
    def messages(self) -> tuple[str, ...]:
        """Every sentence saying what could not be read (empty when everything was)."""
        return tuple(m for m in (self.ca_message if self.ca_availability is not CaAvailability.NO_P1 else None,
                                 self.security_defaults_message, self.methods_policy_message) if m)


def summary_from_json(data: Mapping[str, Any], now: Any) -> ProtectionSummary:
    """The summary a snapshot stored (``ProtectionSummary.as_json``), its days left counted from ``now``."""
    deadlines = tuple(SmsVoiceDeadline(date.fromisoformat(d["deadline"]), int(d["users"]),
                                       days_left(date.fromisoformat(d["deadline"]), now))
                      for d in data.get("sms_voice_only") or ())
    covered, methods = data.get("covered_by") or {}, data.get("method_class") or {}
    conflicts = data.get("conflicts") or {}
    return ProtectionSummary(
        users=int(data.get("users", 0)),
        protected=int(data.get("protected", 0)),
        by_covered_by={c: int(covered.get(str(c), 0)) for c in CoveredBy},
        by_method_class={m: int(methods.get(str(m), 0)) for m in MethodClass},
        conflicts={c: int(conflicts.get(str(c), 0)) for c in Conflict},
        users_with_conflicts=int(data.get("users_with_conflicts", 0)),
        sms_voice_only=deadlines,
        admins_not_protected=int(data.get("admins_not_protected", 0)),
        tenant_conflicts=tuple(TenantConflict(c) for c in data.get("tenant_conflicts") or ()),
    )


def _campaign(methods_policy: Mapping[str, Any] | None) -> CampaignState | None:
    campaign = (methods_policy or {}).get("campaign")
    if not isinstance(campaign, Mapping) or not campaign:
        return None
    snooze = campaign.get("snoozeDurationInDays")
    return CampaignState(str(campaign.get("state", "")), int(snooze) if isinstance(snooze, int) else None,
                         tuple(campaign.get("includeTargets") or ()), tuple(campaign.get("excludeTargets") or ()))


def _status(snapshot_id: int, record: ProtectionRecord, now: Any, warnings: list[BreakGlassWarning],
            ) -> ProtectionStatus:
    methods = dict((record.methods_policy or {}).get("methods") or {})
    return ProtectionStatus(
        snapshot_id=snapshot_id, evaluated=True, read_at=record.read_at,
        ca_availability=CaAvailability(record.ca_availability), ca_message=record.ca_message,
        security_defaults=record.security_defaults, security_defaults_message=record.security_defaults_message,
        policies=tuple(PolicyState(str(p.get("id", "")), str(p.get("displayName", "")), str(p.get("state", "")))
                       for p in record.policies),
        campaign=_campaign(record.methods_policy), method_states=methods,
        methods_policy_message=record.methods_policy_message, summary=summary_from_json(record.summary, now),
        break_glass=tuple(warnings))


def protection_status(ws: Workspace, frame: pd.DataFrame | None = None) -> ProtectionStatus:
    """The latest snapshot's protection record, with a break-glass warning per protected account that has
    no FIDO2 key or passkey. ``frame`` is that snapshot's users when the caller has them (saves a load)."""
    store, tenant_id = ws.store, ws.tenant_id
    latest = store.latest_snapshot(tenant_id)
    if latest is None:
        return ProtectionStatus(None, False)
    record = store.protection(latest.id)
    users = store.load_users(tenant_id, latest.id) if frame is None else frame
    methods = dict((record.methods_policy or {}).get("methods") or {}) if record else {}
    certificates = any(k.lower() == CERTIFICATE_METHOD and str(v).lower() == "enabled" for k, v in methods.items())
    warnings = break_glass_warnings(users, active_protection(store, tenant_id), certificates_enabled=certificates)
    if record is None:
        return ProtectionStatus(latest.id, False, break_glass=tuple(warnings))
    return _status(latest.id, record, ws.clock(), warnings)
