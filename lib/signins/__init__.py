"""Sign-in evidence: what the sign-in log says about each user, kept as small per-user aggregates.

The log itself (beta ``auditLogs/signIns``) is large, throttled and kept for 30 days only, so the
console never stores raw events: :mod:`lib.signins.events` turns Graph's sign-in objects into compact
events, :mod:`lib.signins.evidence` folds them into per-user evidence that a later, incremental read
extends, and :mod:`lib.signins.readiness` says which wave members are ready to be Enforced.
"""

from lib.signins.events import LEGACY_CLIENTS, SignInEvent, event_from_graph, is_legacy_client
from lib.signins.evidence import RETENTION_DAYS, TenantEvidence, UserEvidence, fold
from lib.signins.readiness import READY_WINDOW_DAYS, Readiness, readiness

__all__ = [
    "LEGACY_CLIENTS",
    "READY_WINDOW_DAYS",
    "RETENTION_DAYS",
    "Readiness",
    "SignInEvent",
    "TenantEvidence",
    "UserEvidence",
    "event_from_graph",
    "fold",
    "is_legacy_client",
    "readiness",
]
