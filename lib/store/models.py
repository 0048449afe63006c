"""The plain records the store hands back (frozen, so a cached value cannot be edited by a page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Tenant:
    """A directory the console has read: the demo tenant or a real Microsoft tenant."""

    id: str
    name: str
    domain: str
    mode: str
    first_seen: pd.Timestamp


@dataclass(frozen=True)
class Snapshot:
    """One refresh of a tenant; only a ``complete`` one is ever shown as current."""

    id: int
    tenant_id: str
    started_at: pd.Timestamp
    finished_at: pd.Timestamp | None
    status: str
    registration_source: str
    users_read_at: pd.Timestamp | None
    registration_read_at: pd.Timestamp | None
    state_read_at: pd.Timestamp | None
    user_count: int | None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class SnapshotSummary:
    """What completing a snapshot wrote: rows for new, changed and removed users (the rest are shared)."""

    snapshot_id: int
    user_count: int
    new: int
    changed: int
    removed: int

    @property
    def rows_written(self) -> int:
        """``user_versions`` rows this snapshot added."""
        return self.new + self.changed + self.removed


@dataclass(frozen=True)
class ProtectionRecord:
    """What one snapshot's protection answer was computed from, as the store keeps it (plain JSON values).

    The store does not interpret it: ``lib.directory.protection_read`` builds it, ``lib.console`` reads it.
    A ``*_message`` is the sentence saying why that part could not be read (None when it was read).
    """

    ca_availability: str
    """A ``lib.protection.CaAvailability`` value."""
    policies: tuple[dict[str, Any], ...]
    """The Conditional Access policies evaluated, as Graph sent them."""
    security_defaults: bool | None
    methods_policy: dict[str, Any] | None
    """``{"campaign": registrationEnforcement.authenticationMethodsRegistrationCampaign, "methods": {id: state}}``."""
    summary: dict[str, Any]
    """``lib.protection.ProtectionSummary.as_json()`` of the evaluation."""
    read_at: pd.Timestamp
    ca_message: str | None = None
    security_defaults_message: str | None = None
    methods_policy_message: str | None = None
