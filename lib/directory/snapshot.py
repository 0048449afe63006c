"""Read the whole tenant through Graph into one users frame, as fast as Graph's throttling allows.

The users listing comes first (every other read is keyed by its ids). Then registration and the
per-user MFA state are read at the same time: they are throttled by different limits (the
reports API allows 5 requests per 10 s; state reads spend the identity token bucket), so
overlapping them makes the snapshot take about as long as the slower of the two, not their sum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from lib.clock import Clock, utc_now
from lib.directory.rows import (
    USER_SELECT,
    Registration,
    UserRecord,
    build_users_frame,
    registration_from_methods,
    registration_from_report,
)
from lib.graph import CancelToken, GraphError, GraphGateway, NoPremiumLicense, OperationCancelled, Progress

T = TypeVar("T")
REPORT_PATH = "/reports/authenticationMethods/userRegistrationDetails"
PhaseCallback = Callable[[str, int, int], None]
"""``(phase, done, total)``: phase is 'users', 'registration', 'state' or (after the snapshot is stored,
lib/directory/refresh.py) 'sign_ins', whose done/total count the sign-in log's time windows; called from any
thread."""

PHASES = {"users": "Reading users", "registration": "Reading registration", "state": "Reading MFA state",
          "sign_ins": "Reading sign-in evidence (time windows)"}


@dataclass
class TenantRead:
    """One complete read of the tenant."""

    frame: pd.DataFrame
    registration_source: str
    """'reports' (Entra ID P1) or 'methods' (per-user authentication methods)."""
    tenant_id: str
    tenant_name: str
    tenant_domain: str
    users_read_at: datetime
    registration_read_at: datetime
    state_read_at: datetime
    stats: dict[str, Any] = field(default_factory=dict)


class IncompleteRead(GraphError):
    """Some users' MFA state could not be read even after every retry, so the snapshot is not taken."""

    code = reason = "incomplete_read"
    retryable = True

    def __init__(self, first: GraphError, failed: int, total: int) -> None:
        super().__init__(f"the MFA state of {failed} of {total} users could not be read, so no snapshot was "
                         f"taken and the previous one stays current; the first failure: {first}",
                         status=first.status, graph_code=first.graph_code, request_id=first.request_id)


def _progress(on_phase: PhaseCallback | None, phase: str) -> Callable[[Progress], None] | None:
    if on_phase is None:
        return None
    return lambda p: on_phase(phase, p.done, p.total)


def _default_domain(org: dict) -> str:
    domains = org.get("verifiedDomains") or []
    default = next((d for d in domains if d.get("isDefault")), domains[0] if domains else {})
    return default.get("name", "")


def read_tenant(
    gateway: GraphGateway,
    *,
    org: dict | None = None,
    on_phase: PhaseCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock = utc_now,
) -> TenantRead:
    """Users, registration and per-user MFA state of every user, as one typed frame.

    ``clock`` stamps when each fact was read (the demo tenant runs on its own simulated clock).

    Raises the gateway's GraphError subclasses (Unauthorized, Forbidden naming the permission,
    GraphUnavailable…) or OperationCancelled; a partial read is never returned.
    """
    started = time.monotonic()
    requests_before = gateway.stats.requests
    retries_before = gateway.stats.retries
    org = org or gateway.organization()
    if on_phase:
        on_phase("users", 0, 0)
    premium = True
    try:
        users = _read_pages(gateway, "/users", UserRecord.from_graph, on_phase, "users", cancel,
                            {"$select": [*USER_SELECT, "signInActivity"]})
    except NoPremiumLicense:
        premium = False
        users = _read_pages(gateway, "/users", UserRecord.from_graph, on_phase, "users", cancel,
                            {"$select": list(USER_SELECT)})
    except GraphError as err:
        if err.status != 403:
            raise
        users = _read_pages(gateway, "/users", UserRecord.from_graph, on_phase, "users", cancel,
                            {"$select": list(USER_SELECT)})  # no AuditLog.Read.All: no sign-in dates
    users_read_at = clock()
    if on_phase:
        on_phase("users", len(users), len(users))
    ids = [u.id for u in users]
    enabled = {u.id: u.account_enabled for u in users}

    states_future = gateway.submit(
        gateway.aio.read_mfa_states(ids, on_progress=_progress(on_phase, "state"), cancel=cancel))
    # The report leaves disabled accounts out, and without P1 there is no report: read their methods
    # at the same time as everything else.
    disabled = [uid for uid in ids if not enabled[uid]]
    methods_future = gateway.submit(gateway.aio.read_auth_methods(
        disabled if premium else ids, on_progress=None if premium else _progress(on_phase, "registration"),
        cancel=cancel))
    registration: dict[str, Registration] = {}
    source = "reports"
    try:
        if not premium:
            raise NoPremiumLicense("no Entra ID P1")
        if on_phase:
            on_phase("registration", 0, len(ids))
        rows = _read_pages(gateway, REPORT_PATH, lambda row: (row["id"], registration_from_report(row)),
                           on_phase, "registration", cancel, {}, total=len(ids))
        registration.update(rows)
        if on_phase:
            on_phase("registration", len(registration), len(ids))
    except NoPremiumLicense:
        source = "methods"
        if premium:  # the listing had sign-in data, yet the report says no P1: read everyone's methods
            methods_future.result()
            methods_future = gateway.submit(gateway.aio.read_auth_methods(
                ids, on_progress=_progress(on_phase, "registration"), cancel=cancel))
    methods = methods_future.result()
    # Users the report did not list although enabled (created since its last refresh): ask too.
    late = [uid for uid in ids if uid not in registration and uid not in methods]
    if late:
        methods.update(gateway.read_auth_methods(late, cancel=cancel))
    for uid, items in methods.items():
        if isinstance(items, GraphError):
            raise items
        if uid not in registration or source == "methods":
            registration[uid] = registration_from_methods(items, enabled.get(uid, False))
    admins = _admin_ids(gateway) if source == "methods" else None
    registration_read_at = clock()

    states_raw = states_future.result()
    state_read_at = clock()
    failures = [v for v in states_raw.values() if isinstance(v, GraphError)]
    if failures:  # a state left unknown would overwrite the known one: the read fails as a whole instead
        cancelled = next((f for f in failures if isinstance(f, OperationCancelled)), None)
        if cancelled is not None:
            raise cancelled
        raise IncompleteRead(failures[0], len(failures), len(states_raw))
    states = {uid: (value if isinstance(value, str) else None) for uid, value in states_raw.items()}
    failed_states = sum(1 for v in states_raw.values() if not isinstance(v, str))
    frame = build_users_frame(users, registration, states, admins, users_read_at=users_read_at,
                              registration_read_at=registration_read_at, state_read_at=state_read_at)
    stats = {
        "users": len(users),
        "requests": gateway.stats.requests - requests_before,
        "retries": gateway.stats.retries - retries_before,
        "state_read_failures": failed_states,
        "seconds": round(time.monotonic() - started, 3),
    }
    return TenantRead(frame, source, org.get("id", ""), org.get("displayName", ""), _default_domain(org),
                      users_read_at, registration_read_at, state_read_at, stats)


def _read_pages(
    gateway: GraphGateway,
    path: str,
    convert: Callable[[dict], T],
    on_phase: PhaseCallback | None,
    phase: str,
    cancel: CancelToken | None,
    params: dict,
    total: int = 0,
) -> list[T]:
    """Every row of a paged collection, converted page by page so raw JSON never piles up."""

    async def collect() -> list[T]:
        out: list[T] = []
        query = {"$top": gateway.options.page_size, **params}
        async for page in gateway.aio.iter_pages(path, params=query, cancel=cancel):
            out.extend(convert(row) for row in page)
            if on_phase:
                on_phase(phase, len(out), max(total, len(out)))
        return out

    return gateway.submit(collect()).result()


def _admin_ids(gateway: GraphGateway) -> set[str]:
    """Users holding any activated directory role (needed when the reports API can't say)."""
    roles = gateway.list_json("/directoryRoles", params={"$expand": "members($select=id)"})
    return {m["id"] for role in roles for m in role.get("members") or [] if m.get("id")}
