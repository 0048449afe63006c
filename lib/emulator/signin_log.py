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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lib.emulator.ca_coverage import Coverage, coverage_of, registered_at
from lib.emulator.model import SyntheticTenant, User
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
        self._day_cache: tuple[date, list[tuple[int, int, int]]] | None = None

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
        """Generate and freeze every sign-in up to the tenant's ``now``; drop what retention expired."""
        with self._lock:
            now = self.tenant.now
            if now > self.frozen_until:
                self._extend(self.frozen_until, now)
                self.frozen_until = now
            self._expire(now - RETENTION)

    def _expire(self, horizon: datetime) -> None:
        cut = bisect.bisect_left(self.times, to_us(horizon))
        if cut and cut >= max(1024, len(self.times) // 16):  # trim in chunks: slicing copies the arrays
            for name in ("times", "users", "clients", "flags"):
                setattr(self, name, getattr(self, name)[cut:])
            self.base += cut

    def _extend(self, start: datetime, end: datetime) -> None:
        tenant = self.tenant
        start_us, end_us = to_us(start), to_us(end)
        fresh: list[tuple[int, int, int]] = []  # (time, user index, client)
        day = start.astimezone(UTC).date()
        while datetime.combine(day, time(), UTC) < end:
            for at_us, index, client in self._candidates(day):
                if start_us < at_us <= end_us:
                    user = tenant.users[index]
                    last = user.last_sign_in
                    if last is not None and to_us(user.created) <= at_us <= to_us(last):
                        fresh.append((at_us, index, client))
            day += timedelta(days=1)
        seen = {(t, i) for t, i, _ in fresh}
        for index, user in enumerate(tenant.users):
            last = user.last_sign_in
            if last is not None and start_us < to_us(last) <= end_us and (to_us(last), index) not in seen:
                fresh.append((to_us(last), index, self._last_client(user)))
        fresh.sort()
        coverage = coverage_of(tenant)
        for at_us, index, client in fresh:
            user = tenant.users[index]
            flags = mfa_requirement(tenant, user, from_us(at_us), index=index, client=client, coverage=coverage)
            if self._bad_password(user, at_us):
                flags |= BAD_PASSWORD
            self.times.append(at_us)
            self.users.append(index)
            self.clients.append(client)
            self.flags.append(flags)

    def _candidates(self, day: date) -> list[tuple[int, int, int]]:
        """Every sign-in the day's random stream offers, before the users' last sign-ins cut it."""
        if self._day_cache is not None and self._day_cache[0] == day:
            return self._day_cache[1]
        tenant = self.tenant
        rng = random.Random(f"signins:{tenant.seed}:{tenant.id}:{day.isoformat()}")
        day_us = to_us(datetime.combine(day, time(), UTC))
        out: list[tuple[int, int, int]] = []
        for index, user in enumerate(tenant.users):
            rate = user.sign_in_rate
            if rate <= 0 or not user.account_enabled or rng.random() >= rate:
                continue
            count = 1 + sum(rng.random() < p for p in EXTRA_SIGN_IN)
            legacy = legacy_client_of(user)
            for _ in range(count):
                seconds = 6 * 3600 + rng.random() * 13 * 3600  # a working day, in UTC
                use_legacy = legacy is not None and rng.random() < LEGACY_USE
                client = legacy if use_legacy and legacy is not None else int(rng.random() >= 0.55)
                out.append((day_us + int(seconds * _US_PER_S), index, client))
        out.sort()
        self._day_cache = (day, out)
        return out

    @staticmethod
    def _last_client(user: User) -> int:
        """The client of the sign-in at exactly ``last_sign_in``: modern, or the user's older client."""
        legacy = legacy_client_of(user)
        digest = hashlib.blake2b(f"last:{user.id}:{user.last_sign_in}".encode(), digest_size=2).digest()
        if legacy is not None and digest[0] / 256 < LEGACY_USE:
            return legacy
        return 0 if digest[1] < 141 else 1

    def _bad_password(self, user: User, at_us: int) -> bool:
        if user.last_sign_in is not None and at_us == to_us(user.last_sign_in):
            return False  # signInActivity's last sign-in is a successful one here
        digest = hashlib.blake2b(f"pw:{self.tenant.id}:{user.id}:{at_us}".encode(), digest_size=2).digest()
        return int.from_bytes(digest, "big") / 65_536 < BAD_PASSWORD_RATE


def get_sign_in_log(state: EmulatorState) -> SignInLog:
    """The emulator's sign-in log (``state.extras['sign_in_log']``), caught up to the tenant's ``now``.

    A log built for another tenant object (the state's tenant was replaced) is started afresh."""
    log = state.extras.get("sign_in_log")
    if log is None or log.tenant is not state.tenant:
        log = state.extras["sign_in_log"] = SignInLog(state.tenant)
    log.catch_up()
    return log
