"""What one running emulator holds: the tenant, its knobs, and the URLs it is reachable at.

Shared by the Graph routes, the identity routes and the control routes of one server; nothing
here is global, so tests can run several emulators in one process.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from lib.emulator.model import SyntheticTenant

CA_WITHOUT_PREMIUM = ("forbidden", "empty")


@dataclass
class EmulatorConfig:
    """Knobs a test, a benchmark or the demo turns. All can be changed while serving."""

    latency_ms: float = 0.0
    """Added to every HTTP request (once per $batch, not per item), like a network round trip."""
    time_scale: float = 1.0
    """Multiplies every throttle window and Retry-After: 0.01 makes a 10 s window last 0.1 s."""
    fault_rate: float = 0.0
    """Fraction of requests (and of $batch items) failing with 500/503/504 or a dropped connection."""
    throttle: bool = True
    """Whether the documented throttle limits are enforced."""
    seed: int = 0
    """Seeds fault injection so a run can be repeated."""
    fault_kinds: tuple[str, ...] | None = None
    """Which faults ``fault_rate`` draws from (names in lib/emulator/faults.py); None: 5xx and drops."""
    fault_paths: tuple[str, ...] | None = None
    """Path prefixes (after ``/v1.0`` or ``/beta``, e.g. ``/users``, ``/$batch``) faults may hit; None: all."""
    fault_on: str = "any"
    """``any``, ``reads`` or ``writes`` (a PATCH, or a $batch carrying one): which requests faults hit."""
    hold_requests: bool = False
    """Graph requests wait at the door while true: a test freezes a run mid-flight without racing it."""
    hold_after_writes: int | None = None
    """Writes (a PATCH, or a $batch carrying one) wait at the door once this many per-user MFA PATCHes
    have applied (None: never); reads still pass, so a run is frozen with its next change in flight."""
    ca_without_premium: str = "forbidden"
    """How a tenant without Entra ID P1 answers the Conditional Access policies list (Microsoft is silent,
    docs/graph.md): ``forbidden`` (403 Authentication_RequestFromNonPremiumTenantOrB2CTenant, as the reports
    answer) or ``empty`` (200 with no policies)."""
    bulk_mfa_state: bool = True
    """Whether ``/users`` serves ``$select=…,perUserMfaState`` as real Graph does; off, it answers the 400
    "Could not find a property named 'perUserMfaState'…", as if Graph had stopped serving it."""
    bulk_mfa_state_stale: int = 0
    """The listing's ``perUserMfaState`` lags for this many users (those changed most recently show their
    state before that change), while ``authentication/requirements`` is current."""


@dataclass
class EmulatorState:
    """One emulator's mutable world."""

    tenant: SyntheticTenant
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Signs the tokens the emulator issues; never leaves the process."""
    control_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    """Per-run random key every control route call must carry (lib/emulator/control.py)."""
    graph_url: str = ""
    """Plain-http base URL whose /v1.0 and /beta paths are Graph (kiota allows http on loopback)."""
    authority_host: str = ""
    """https base URL of the identity endpoints (MSAL insists on https)."""
    ca_cert_path: str = ""
    """PEM file of the certificate clients must trust for ``authority_host``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Per-component runtime state (throttle buckets, pending auth codes…), keyed by component."""

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant.id}"
