"""The demo tenant's sign-in log: who signed in when, with which client, with one factor or with MFA.

A real log holds about 20 sign-ins per active user per month, so the log is not part of the tenant's
saved state. Each day's candidate sign-ins come from a random stream keyed by the tenant's seed and the
date, and the log is *frozen* as time passes: whenever it is read, the span between the last read and
the tenant's ``now`` is generated once and kept in compact arrays (about 13 bytes a sign-in); what was
served once never changes, as in Entra. Days older than the 30-day retention are dropped.

Consistency with the users (docs/graph.md, "Sign-in logs"):

- a user signs in only between their account's creation and their ``last_sign_in`` (the fact
  ``signInActivity`` serves), and that moment is always in the log: users who never sign in are absent;
- whether a sign-in used MFA is decided by :func:`mfa_requirement` from the user's per-user MFA state
  and registration at that moment (``Enforced``, or ``Enabled`` and registered), from the enabled
  Conditional Access policies that demand MFA of the user (lib/emulator/ca_coverage.py), and from
  security defaults when they are on (admins, and users once registered);
- some people keep an older client (IMAP4, POP3, Authenticated SMTP, Exchange ActiveSync, "Other
  clients") for part of their sign-ins; such a client cannot do MFA, so once MFA is required for the
  user its sign-ins fail with AADSTS50076 (MFA required) instead of succeeding with one factor.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lib.emulator.ca_coverage import Coverage, coverage_of, registered_at
from lib.emulator.model import METHOD_KINDS, SyntheticTenant, User
from lib.emulator.state import EmulatorState

RETENTION = timedelta(days=30)
"""What the log keeps with Entra ID P1/P2 (docs/graph.md, "Sign-in logs")."""

MODERN_CLIENTS = ("Browser", "Mobile Apps and Desktop clients")
LEGACY_CLIENTS = ("IMAP4", "POP3", "Authenticated SMTP", "Exchange ActiveSync", "Other clients")
CLIENTS = MODERN_CLIENTS + LEGACY_CLIENTS
"""``clientAppUsed`` values, indexed by the code the log stores."""

LEGACY_SHARE = 0.07
"""Share of people who still use an older client for some of their sign-ins."""
LEGACY_USE = 0.45
"""Share of such a person's sign-ins made with that client."""
BAD_PASSWORD_RATE = 0.03
EXTRA_SIGN_IN = (0.2, 0.05)
"""Chances of a second and a third sign-in on a day the user signs in (about 20 a month at the mean rate)."""

# Flag bits of a stored sign-in.
MFA_USER = 1
"""Per-user MFA (Enforced, or Enabled and registered) demanded MFA."""
MFA_CA = 2
"""Conditional Access demanded MFA."""
BAD_PASSWORD = 4
"""Failed at the first factor (AADSTS50126)."""
MFA_SD = 8
"""Security defaults demanded MFA."""
MFA_ANY = MFA_USER | MFA_CA | MFA_SD

_US_PER_S = 1_000_000
_NEVER = 2**63
_NO_CA = (_NEVER,) * len(CLIENTS)
_CLIENT_BITS = 3
_INDEX_BITS = 20
"""A generated sign-in is one int, ``time << 23 | user index << 3 | client``: sorting ints is several times
faster than sorting tuples, and the order is the same (time, then index, then client) for up to 2**20 users."""
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_CLIENT_MASK = (1 << _CLIENT_BITS) - 1
_TIME_SHIFT = _INDEX_BITS + _CLIENT_BITS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch (what the log stores and sorts by)."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


# ------------------------------------------------------------------------------ who needs MFA when

def _state_at(user: User, at: datetime) -> tuple[str, bool]:
    """The user's per-user MFA state and whether a second factor was registered, at ``at``."""
    state, when = "disabled", None
    for event in user.events:
        if event.kind == "state" and event.at <= at and (when is None or event.at >= when):
            state, when = event.value, event.at
    return state, registered_at(user, at)


def conditional_access_requires_mfa(tenant: SyntheticTenant, user: User, at: datetime,
                                    client: int | None = None) -> bool:
    """Whether an enabled Conditional Access policy demanded MFA of ``user``'s sign-in at ``at``
    (with the client of code ``client``, when given); the log then records ``multiConditionalAccess``."""
    index = next((i for i, u in enumerate(tenant.users) if u is user), None)
    return index is not None and coverage_of(tenant).conditional_access(index, at, client)


def mfa_requirement(tenant: SyntheticTenant, user: User, at: datetime, *, index: int | None = None,
                    client: int | None = None, coverage: Coverage | None = None) -> int:
    """The flags of what demanded MFA of a sign-in at ``at`` (0: nothing, a single factor suffices).

    Per-user MFA demands it when the user is Enforced, or Enabled with a second factor registered;
    Conditional Access when an enabled MFA policy covers the user; security defaults of admins and of
    registered users. ``index`` (the user's place in ``tenant.users``) and ``coverage`` spare the
    generator looking them up for each sign-in."""
    state, registered = _state_at(user, at)
    flags = MFA_USER if state == "enforced" or (state == "enabled" and registered) else 0
    coverage = coverage or coverage_of(tenant)
    if index is None:
        index = next((i for i, u in enumerate(tenant.users) if u is user), -1)
    if coverage.conditional_access(index, at, client):
        flags |= MFA_CA
    if coverage.security_defaults and (registered or user.is_admin):
        flags |= MFA_SD
    return flags


def legacy_client_of(user: User) -> int | None:
    """The code of the older client a person keeps using, or None (a stable pick from their id)."""
    if user.kind != "person":
        return None
    digest = hashlib.blake2b(user.id.encode(), digest_size=8).digest()
    pick = int.from_bytes(digest, "big")
    if (pick % 10_000) / 10_000 >= LEGACY_SHARE:
        return None
    return len(MODERN_CLIENTS) + (pick // 10_000) % len(LEGACY_CLIENTS)


# ------------------------------------------------------------------------------------------ the log

@dataclass(frozen=True, slots=True)
class SignIn:
    """One stored sign-in, decoded."""

    ordinal: int
    at_us: int
    user_index: int
    client: int
    flags: int

    @property
    def at(self) -> datetime:
        return from_us(self.at_us)

    @property
    def legacy(self) -> bool:
        return self.client >= len(MODERN_CLIENTS)

    @property
    def mfa_required(self) -> bool:
        return bool(self.flags & MFA_ANY)

    @property
    def succeeded(self) -> bool:
        return not self.flags & BAD_PASSWORD and not (self.legacy and self.mfa_required)


@dataclass(slots=True)
class _Batch:
    """The sign-ins of one generated span, not yet part of the log, and the day cache they leave."""

    times: array
    users: array
    clients: array
    flags: array
    day_cache: tuple[date, list[int]] | None
    complete: bool = True

    @classmethod
    def abandoned(cls, day_cache: tuple[date, list[int]] | None) -> _Batch:
        return cls(array("q"), array("i"), array("b"), array("b"), day_cache, complete=False)


class _Facts:
    """What generating the log needs of each user, kept between generations instead of worked out per sign-in.

    The answers are those of :func:`mfa_requirement`, ``_bad_password`` and :func:`legacy_client_of`, in
    microseconds: the per-user MFA state as a sorted timeline (the latest event at or before a sign-in wins,
    the later one in ``user.events`` among equal times, as ``_state_at`` decides), the creation of the first
    MFA-capable method (:func:`registered_at`), and the Conditional Access rules covering the user. A user's
    entry is kept while their events, methods and roles are the same objects and counts (the tenant only ever
    appends to events and methods, and replaces roles) and the tenant's coverage is the same one."""

    def __init__(self, tenant: SyntheticTenant) -> None:
        self.tenant = tenant
        self.coverage: Coverage | None = None
        self.eligible: list[tuple[int, float, int | None]] = []
        """(index, daily rate, older client) of everyone who can sign in, in ``tenant.users`` order."""
        self.created_us: list[int] = []
        self.last_us: list[int] = []
        """Each user's last sign-in in microseconds, -1 for none."""
        self._last_seen: list[datetime | None] = []
        self._legacy: dict[int, int | None] = {}
        self._users: dict[int, tuple[tuple, tuple[list[int], list[int], tuple[int, ...], str]]] = {}

    def refresh(self) -> None:
        """Bring the per-generation facts up to the tenant as it is now (once per generation)."""
        tenant = self.tenant
        users = tenant.users
        coverage = coverage_of(tenant)
        if coverage is not self.coverage:
            self.coverage, self._users = coverage, {}
        if len(users) > _INDEX_MASK + 1:
            raise ValueError(f"the sign-in log holds at most {_INDEX_MASK + 1} users")
        self.eligible = [(i, u.sign_in_rate, self.legacy(i, u)) for i, u in enumerate(users)
                         if u.sign_in_rate > 0 and u.account_enabled]
        if len(self.created_us) != len(users):
            self.created_us = [to_us(u.created) for u in users]
            self.last_us, self._last_seen = [-1] * len(users), [None] * len(users)
        last_us, seen = self.last_us, self._last_seen
        for index, user in enumerate(users):
            last = user.last_sign_in
            if last is not seen[index]:
                seen[index], last_us[index] = last, -1 if last is None else to_us(last)

    def legacy(self, index: int, user: User) -> int | None:
        found = self._legacy.get(index, -1)
        if found == -1:
            found = self._legacy[index] = legacy_client_of(user)
        return found

    def user(self, index: int, user: User) -> tuple[list[int], list[int], tuple[int, ...], str]:
        """User ``index``'s facts: (bounds, flags, ca_since, password key). Between ``bounds`` the flags of
        per-user MFA and security defaults do not change (``flags[bisect_right(bounds, t)]`` at ``t``);
        Conditional Access demands MFA of a sign-in with client ``c`` from ``ca_since[c]`` on."""
        found = self._users.get(index)
        key = (user.events, len(user.events), user.methods, len(user.methods), user.roles)
        if found is not None:
            events, n_events, methods, n_methods, roles = found[0]
            if (events is key[0] and n_events == key[1] and methods is key[2] and n_methods == key[3]
                    and roles is key[4]):
                return found[1]
        # The key is taken first: an event appended meanwhile (by another thread) makes the next call redo this.
        assert self.coverage is not None
        events, methods = key[0][:key[1]], key[2][:key[3]]
        timeline = sorted((to_us(e.at), order, e.value) for order, e in enumerate(events) if e.kind == "state")
        times, states = [t for t, _, _ in timeline], [v for _, _, v in timeline]
        capable = [to_us(m.created) for m in methods if METHOD_KINDS[m.kind].mfa]
        registered_us = min(capable) if capable else None
        defaults, admin = self.coverage.security_defaults, user.is_admin

        def flags_at(at_us: int | None) -> int:  # None: before anything happened
            at = 0 if at_us is None else bisect.bisect_right(times, at_us)
            state = states[at - 1] if at else "disabled"
            registered = at_us is not None and registered_us is not None and registered_us <= at_us
            flags = MFA_USER if state == "enforced" or (state == "enabled" and registered) else 0
            return flags | MFA_SD if defaults and (registered or admin) else flags

        bounds = sorted(set(times) | ({registered_us} if registered_us is not None else set()))
        values = [flags_at(None)] + [flags_at(t) for t in bounds]
        rules = self.coverage.by_user.get(index, ())
        ca_since = tuple(min((to_us(r.since) for r in rules if code in r.clients), default=_NEVER)
                         for code in range(len(CLIENTS))) if rules else _NO_CA
        facts = (bounds, values, ca_since, f"pw:{self.tenant.id}:{user.id}:")
        self._users[index] = (key, facts)
        return facts


class SignInLog:
    """The frozen log of one tenant: parallel arrays in time order, ordinals counted from ``base``."""

    def __init__(self, tenant: SyntheticTenant) -> None:
        self.tenant = tenant
        self.times = array("q")
        self.users = array("i")
        self.clients = array("b")
        self.flags = array("b")
        self.base = 0
        """Ordinal of the first kept sign-in (older ones were dropped with the retention)."""
        self.frozen_until: datetime = tenant.now - RETENTION
        self._lock = threading.Lock()
        self._day_cache: tuple[date, list[int]] | None = None
        self._facts = _Facts(tenant)
        self._pending: tuple[datetime, datetime, int, _Batch] | None = None
        """(from, to, tenant revision, sign-ins) generated ahead by :meth:`prepare`, not yet frozen."""
        self.preparing: threading.Thread | None = None
        """The last background :meth:`prepare` started by :func:`prepare_in_background`."""

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self.times)

    @property
    def end(self) -> int:
        """One past the newest ordinal."""
        return self.base + len(self.times)

    def get(self, ordinal: int) -> SignIn:
        i = ordinal - self.base
        return SignIn(ordinal, self.times[i], self.users[i], self.clients[i], self.flags[i])

    def ordinal_range(self, since_us: int | None, until_us: int | None) -> tuple[int, int]:
        """Ordinals [lo, hi) of the sign-ins within [since, until] (both inclusive, None: open)."""
        lo = 0 if since_us is None else bisect.bisect_left(self.times, since_us)
        hi = len(self.times) if until_us is None else bisect.bisect_right(self.times, until_us)
        return self.base + lo, self.base + max(lo, hi)

    # ------------------------------------------------------------------ moving with the clock

    def catch_up(self) -> None:
        """Generate and freeze every sign-in up to the tenant's ``now``; drop what retention expired.

        A span :meth:`prepare` generated ahead is taken as it is when the tenant has not changed since
        (same ``now`` and ``revision``): it then holds exactly what generating it here would."""
        with self._lock:
            now = self.tenant.now
            if now > self.frozen_until:
                pending, self._pending = self._pending, None
                if pending is not None and pending[:3] == (self.frozen_until, now, self.tenant.revision):
                    self._commit(pending[3])
                else:
                    self._extend(self.frozen_until, now)
                self.frozen_until = now
            self._expire(now - RETENTION)

    def prepare(self) -> None:
        """Generate the span up to the tenant's ``now`` ahead of the next read, without freezing it.

        Runs in a background thread after the clock moved. The log is frozen when it is read, from the
        tenant as it is then, so the span is only kept for :meth:`catch_up` while the tenant's ``now`` and
        ``revision`` (which every change of users, methods, states, roles and policies moves) stay those
        it started from; a change meanwhile abandons it, and the read generates the span itself."""
        with self._lock:
            tenant = self.tenant
            now, revision, since = tenant.now, tenant.revision, self.frozen_until
            if now <= since:
                return

            def stale() -> bool:
                return tenant.revision != revision or tenant.now != now

            batch = self._generate(since, now, self._day_cache, stale)
            if batch.complete and not stale():
                self._pending = (since, now, revision, batch)

    def _expire(self, horizon: datetime) -> None:
        cut = bisect.bisect_left(self.times, to_us(horizon))
        if cut and cut >= max(1024, len(self.times) // 16):  # trim in chunks: slicing copies the arrays
            for name in ("times", "users", "clients", "flags"):
                setattr(self, name, getattr(self, name)[cut:])
            self.base += cut

    def _extend(self, start: datetime, end: datetime) -> None:
        self._commit(self._generate(start, end, self._day_cache))

    def _commit(self, batch: _Batch) -> None:
        self.times.extend(batch.times)
        self.users.extend(batch.users)
        self.clients.extend(batch.clients)
        self.flags.extend(batch.flags)
        self._day_cache = batch.day_cache

    def _generate(self, start: datetime, end: datetime,
                  day_cache: tuple[date, list[int]] | None,
                  stale: Callable[[], bool] | None = None) -> _Batch:
        """The sign-ins of (start, end], in time order, and the day cache as it ends up; ``stale`` (asked
        once a day and once more before the flags) abandons the work (returns None-filled batch) when true."""
        tenant = self.tenant
        users = tenant.users
        start_us, end_us = to_us(start), to_us(end)
        facts = self._facts
        facts.refresh()
        fresh: list[int] = []  # time << _TIME_SHIFT | user index << _CLIENT_BITS | client
        keep = fresh.append
        at_last: set[int] = set()  # users with a candidate at exactly their last sign-in
        created, last = facts.created_us, facts.last_us
        day = start.astimezone(UTC).date()
        while datetime.combine(day, time(), UTC) < end:
            if stale is not None and stale():
                return _Batch.abandoned(day_cache)
            if day_cache is None or day_cache[0] != day:
                day_cache = (day, self._candidates_of(day, facts))
            for candidate in day_cache[1]:
                at_us = candidate >> _TIME_SHIFT
                if start_us < at_us <= end_us:
                    index = (candidate >> _CLIENT_BITS) & _INDEX_MASK
                    last_us = last[index]
                    if created[index] <= at_us <= last_us:
                        keep(candidate)
                        if at_us == last_us:
                            at_last.add(index)
            day += timedelta(days=1)
        for index, last_us in enumerate(last):
            if start_us < last_us <= end_us and index not in at_last:
                user = users[index]
                client = self._last_client(user, facts.legacy(index, user))
                keep(last_us << _TIME_SHIFT | index << _CLIENT_BITS | client)
        fresh.sort()
        if stale is not None and stale():
            return _Batch.abandoned(day_cache)
        flags: list[int] = []
        mark = flags.append
        known: dict[int, tuple[list[int], list[int], tuple[int, ...], str]] = {}
        user_facts, blake2b, bisect_right = facts.user, hashlib.blake2b, bisect.bisect_right
        times, indexes, clients = array("q"), array("i"), array("b")
        for candidate in fresh:
            at_us, index, client = (candidate >> _TIME_SHIFT, (candidate >> _CLIENT_BITS) & _INDEX_MASK,
                                    candidate & _CLIENT_MASK)
            times.append(at_us)
            indexes.append(index)
            clients.append(client)
            found = known.get(index)
            if found is None:
                found = known[index] = user_facts(index, users[index])
            bounds, values, ca_since, password_key = found
            value = values[bisect_right(bounds, at_us)] if bounds else values[0]
            if at_us >= ca_since[client]:
                value |= MFA_CA
            if at_us != last[index]:  # signInActivity's last sign-in is a successful one here
                digest = blake2b(f"{password_key}{at_us}".encode(), digest_size=2).digest()
                if int.from_bytes(digest, "big") / 65_536 < BAD_PASSWORD_RATE:
                    value |= BAD_PASSWORD
            mark(value)
        return _Batch(times, indexes, clients, array("b", flags), day_cache)

    def _candidates_of(self, day: date, facts: _Facts) -> list[int]:
        """Every sign-in the day's random stream offers, before the users' last sign-ins cut it (unsorted:
        the span's sign-ins are sorted whole)."""
        # The random stream is consumed in exactly this order (rate, the extra sign-ins' two draws, then
        # per sign-in its time, the older client's draw when the person has one, and the modern client's).
        tenant = self.tenant
        rng = random.Random(f"signins:{tenant.seed}:{tenant.id}:{day.isoformat()}")
        draw = rng.random
        second, third = EXTRA_SIGN_IN
        day_us = to_us(datetime.combine(day, time(), UTC))
        out: list[int] = []
        append = out.append
        for index, rate, legacy in facts.eligible:
            if draw() >= rate:
                continue
            count = 1 + (draw() < second) + (draw() < third)
            for _ in range(count):
                seconds = 6 * 3600 + draw() * 13 * 3600  # a working day, in UTC
                client = legacy if legacy is not None and draw() < LEGACY_USE else int(draw() >= 0.55)
                append((day_us + int(seconds * _US_PER_S)) << _TIME_SHIFT | index << _CLIENT_BITS | client)
        return out

    @staticmethod
    def _last_client(user: User, legacy: int | None) -> int:
        """The client of the sign-in at exactly ``last_sign_in``: modern, or the user's older client."""
        digest = hashlib.blake2b(f"last:{user.id}:{user.last_sign_in}".encode(), digest_size=2).digest()
        if legacy is not None and digest[0] / 256 < LEGACY_USE:
            return legacy
        return 0 if digest[1] < 141 else 1


def get_sign_in_log(state: EmulatorState) -> SignInLog:
    """The emulator's sign-in log (``state.extras['sign_in_log']``), caught up to the tenant's ``now``.

    A log built for another tenant object (the state's tenant was replaced) is started afresh."""
    log = state.extras.get("sign_in_log")
    if log is None or log.tenant is not state.tenant:
        log = state.extras["sign_in_log"] = SignInLog(state.tenant)
    log.catch_up()
    return log


def prepare_in_background(state: EmulatorState) -> threading.Thread | None:
    """After the demo clock moved: generate the new span of the log in a daemon thread, so that the read
    that follows (the console reads sign-ins after users, registration and states) finds it ready.

    A tenant without Entra ID P1 has no log to prepare. A log not read yet in this process (a fresh demo, or
    one restarted from its file) is started here: its first read generates 30 days, about 11 s of CPU at
    100,000 users, which then overlaps the console's users and registration reads instead of following them.
    A read arriving mid-way waits on the log's lock."""
    if not state.tenant.premium:
        return None
    log = state.extras.get("sign_in_log")
    if log is None or log.tenant is not state.tenant:
        log = state.extras["sign_in_log"] = SignInLog(state.tenant)
    thread = threading.Thread(target=log.prepare, daemon=True, name="sign-in-log")
    log.preparing = thread
    thread.start()
    return thread
