"""Read the whole tenant through Graph into one users frame, as fast as Graph's throttling allows.

The users listing asks for each user's per-user MFA state too (``perUserMfaState``, which Graph serves
there undocumented), and a random sample is checked against the documented
``authentication/requirements`` (``lib.graph.state_read``); only when Graph refuses the property or the
sample disagrees are the states read user by user. Reads keyed by user ids (those states, the disabled
accounts' methods) follow the listing; the registration report needs no ids and starts with it. They
overlap: they are throttled by different limits (the reports API allows 5 requests per 10 s; users and
state reads spend the identity token bucket), so the snapshot takes about as long as the slowest of
them, not their sum. The protection read (policies, groups, roles) needs no user facts either and runs in a
thread beside them; only its evaluation waits for the frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from lib.clock import Clock, utc_now
from lib.directory.protection_read import (
    PoliciesRead,
    PolicyInputs,
    evaluate_policies,
    read_policy_inputs,
    with_protection,
)
from lib.directory.rows import (
    USER_SELECT,
    Registration,
    UserRecord,
    build_users_frame,
    registration_from_methods,
    registration_from_report,
    shared,
)
from lib.graph import (
    FALLBACK,
    FAST,
    CancelToken,
    GraphError,
    GraphGateway,
    NoPremiumLicense,
    OperationCancelled,
    Progress,
    StateRead,
    state_read,
)

T = TypeVar("T")
REPORT_PATH = "/reports/authenticationMethods/userRegistrationDetails"
PhaseCallback = Callable[[str, int, int], None]
"""``(phase, done, total)``: phase is 'users', 'registration', 'state', 'protection' or (after the snapshot is
stored, lib/directory/refresh.py) 'sign_ins', whose done/total count the sign-in log's time windows; called from
any thread."""

PHASES = {"users": "Reading users", "registration": "Reading registration", "state": "Reading MFA state",
          "protection": "Reading Conditional Access and methods policies",
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
    state_read: StateRead = field(default_factory=lambda: StateRead(FALLBACK))
    """How the per-user MFA states were read (the users listing, or user by user) and why."""
    protection: PoliciesRead | None = None
    """The policies read after the users (None only for reads that skipped it)."""


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


class _PoliciesBeside:
    """The protection read, in a thread beside the users listing and the registration report.

    It needs no user facts, and its requests (Conditional Access is paced at 1 per second) would otherwise
    add seconds after the report. Its progress is held back until the snapshot reaches the "protection"
    phase, so a person still sees the phases one after another."""

    def __init__(self, gateway: GraphGateway, on_phase: PhaseCallback | None, cancel: CancelToken | None) -> None:
        self._on_phase = on_phase
        self._lock = threading.Lock()
        self._held: tuple[str, int, int] | None = None
        self._released = False
        self._cancel = CancelToken()  # its own, so a snapshot that fails elsewhere stops it too
        self._unlink = cancel.add_callback(self._cancel.cancel) if cancel is not None else (lambda: None)
        pool = ThreadPoolExecutor(1, thread_name_prefix="policies-read")
        self._future = pool.submit(read_policy_inputs, gateway, on_phase=self._report if on_phase else None,
                                   cancel=self._cancel)
        pool.shutdown(wait=False)

    def _report(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            if not self._released:
                self._held = (phase, done, total)
                return
        assert self._on_phase is not None
        self._on_phase(phase, done, total)

    def result(self) -> PolicyInputs:
        """What was read (waiting for the rest); its progress from now on goes straight to the caller."""
        with self._lock:
            self._released, held = True, self._held
        if held is not None and self._on_phase is not None:
            self._on_phase(*held)
        try:
            found = self._future.result()
        finally:
            self._unlink()
        if self._cancel.cancelled:  # a Cancel while the phase was shown, after the reads had finished
            raise OperationCancelled()
        return found

    def abandon(self) -> None:
        """The snapshot failed: stop the read and let it go."""
        self._cancel.cancel()
        self._unlink()


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
    # The report needs no user ids and is throttled apart (5 pages per 10 s): it starts with the listing.
    report_future = gateway.submit(_collect(gateway, REPORT_PATH, _report_row, on_phase, "registration", cancel, {}))
    policies = _PoliciesBeside(gateway, on_phase, cancel)
    try:
        return _read_tenant(gateway, org, report_future, policies, on_phase, cancel, clock, started,
                            requests_before, retries_before)
    except BaseException:
        policies.abandon()
        raise


def _read_tenant(gateway: GraphGateway, org: dict, report_future: Any, policies: _PoliciesBeside,
                 on_phase: PhaseCallback | None, cancel: CancelToken | None, clock: Clock, started: float,
                 requests_before: int, retries_before: int) -> TenantRead:
    listing = _UsersListing(gateway, on_phase, cancel)
    premium = True
    try:
        try:
            users = listing.read([*USER_SELECT, "signInActivity"])
        except NoPremiumLicense:
            premium = False
            users = listing.read(list(USER_SELECT))
        except GraphError as err:
            if err.status != 403:
                raise
            users = listing.read(list(USER_SELECT))  # no AuditLog.Read.All: no sign-in dates
    except BaseException:
        report_future.cancel()
        raise
    users_read_at = clock()
    if on_phase:
        on_phase("users", len(users), len(users))
    ids = [u.id for u in users]
    enabled = {u.id: u.account_enabled for u in users}

    states_future = gateway.submit(_states(gateway, ids, listing, on_phase, cancel))
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
            report_future.cancel()
            raise NoPremiumLicense("no Entra ID P1")
        registration.update(report_future.result())
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

    states_raw, state_read = states_future.result()
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
    user_count = len(users)
    # The frame holds it all now: let the per-user records go before the evaluation and the store's write
    # need memory of their own (100k users' records are tens of MB).
    del users, ids, enabled, registration, methods, states_raw, states, late
    del methods_future, states_future
    listing.states = None
    # Last: the policies were read meanwhile, but evaluating them needs the users' facts.
    protection = evaluate_policies(policies.result(), frame, premium=premium and source == "reports", clock=clock)
    frame = with_protection(frame, protection.evaluation)
    stats = {
        "users": user_count,
        "requests": gateway.stats.requests - requests_before,
        "retries": gateway.stats.retries - retries_before,
        "state_read_failures": failed_states,
        "protection_requests": protection.requests,
        "groups_resolved": protection.groups_resolved,
        "seconds": round(time.monotonic() - started, 3),
    }
    return TenantRead(frame, source, org.get("id", ""), org.get("displayName", ""), _default_domain(org),
                      users_read_at, registration_read_at, state_read_at, stats, state_read, protection)


class _UsersListing:
    """The snapshot's one users listing, asking for ``perUserMfaState`` too while Graph serves it.

    The states are kept aside as the pages arrive (one small dict, never the raw rows). When Graph
    refuses the property, the same listing is read without it and the refusal is remembered.
    """

    def __init__(self, gateway: GraphGateway, on_phase: PhaseCallback | None, cancel: CancelToken | None) -> None:
        self.gateway = gateway
        self.on_phase = on_phase
        self.cancel = cancel
        self.states: dict[str, Any] | None = None
        """The listed states, or None when the listing did not serve them."""
        self.refused = False

    def read(self, select: list[str]) -> list[UserRecord]:
        if not self.refused:
            states: dict[str, Any] = {}

            def convert(row: dict) -> UserRecord:
                record = UserRecord.from_graph(row)
                states[record.id] = shared(row.get(state_read.PROPERTY))
                return record

            try:
                users = _read_pages(self.gateway, "/users", convert, self.on_phase, "users", self.cancel,
                                    {"$select": [*select, state_read.PROPERTY]})
            except GraphError as err:
                if not state_read.is_refusal(err):
                    raise
                self.refused = True
            else:
                self.states = states
                return users
        return _read_pages(self.gateway, "/users", UserRecord.from_graph, self.on_phase, "users", self.cancel,
                           {"$select": select})


async def _states(
    gateway: GraphGateway, ids: list[str], listing: _UsersListing, on_phase: PhaseCallback | None,
    cancel: CancelToken | None,
) -> tuple[dict[str, str | GraphError], StateRead]:
    """Every user's state: the listed ones once a sample checks out, else every user read one by one."""
    if listing.states is not None:
        check = await state_read.cross_check(gateway.aio, listing.states, cancel=cancel)
        if check.path == FAST:
            if on_phase:
                on_phase("state", len(ids), len(ids))
            return {uid: listing.states[uid] for uid in ids}, check
    else:
        check = StateRead(FALLBACK, state_read.NOT_SERVED)
    states = await gateway.aio.read_mfa_states(ids, on_progress=_progress(on_phase, "state"), cancel=cancel)
    return states, check


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
    return gateway.submit(_collect(gateway, path, convert, on_phase, phase, cancel, params, total)).result()


async def _collect(
    gateway: GraphGateway,
    path: str,
    convert: Callable[[dict], T],
    on_phase: PhaseCallback | None,
    phase: str,
    cancel: CancelToken | None,
    params: dict,
    total: int = 0,
) -> list[T]:
    out: list[T] = []
    query = {"$top": gateway.options.page_size, **params}
    async for page in gateway.aio.iter_pages(path, params=query, cancel=cancel):
        out.extend(convert(row) for row in page)
        if on_phase:
            on_phase(phase, len(out), max(total, len(out)))
    return out


def _report_row(row: dict) -> tuple[str, Registration]:
    return row["id"], registration_from_report(row)


def _admin_ids(gateway: GraphGateway) -> set[str]:
    """Users holding any activated directory role (needed when the reports API can't say)."""
    roles = gateway.list_json("/directoryRoles", params={"$expand": "members($select=id)"})
    return {m["id"] for role in roles for m in role.get("members") or [] if m.get("id")}
