"""The demo tenant's sign-in log generation: the per-user fast path gives exactly the log the plain
per-sign-in rules give, spans split anywhere give the same log, and a span generated ahead after the
clock moved (in the background) is the one a read would have generated, or is dropped if the tenant
changed meanwhile."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta

import httpx

from lib.emulator import clock
from lib.emulator.ca_coverage import coverage_of
from lib.emulator.generator import demo_app, generate_tenant
from lib.emulator.model import SyntheticTenant, User
from lib.emulator.protection_seed import ADMIN_ROLE_TEMPLATES
from lib.emulator.server import start_emulator
from lib.emulator.signin_log import (
    BAD_PASSWORD,
    BAD_PASSWORD_RATE,
    EXTRA_SIGN_IN,
    LEGACY_USE,
    MFA_CA,
    MFA_SD,
    MFA_USER,
    RETENTION,
    SignInLog,
    from_us,
    get_sign_in_log,
    legacy_client_of,
    mfa_requirement,
    prepare_in_background,
    to_us,
)
from lib.emulator.state import EmulatorConfig, EmulatorState
from lib.emulator.tokens import mint_access_token
from tests.test_rollout_support import control

NOW = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


# ---------------------------------------------------------------- the plain rules, one sign-in at a time

def _reference_candidates(tenant: SyntheticTenant, day: date) -> list[tuple[int, int, int]]:
    rng = random.Random(f"signins:{tenant.seed}:{tenant.id}:{day.isoformat()}")
    day_us = to_us(datetime.combine(day, time(), UTC))
    out = []
    for index, user in enumerate(tenant.users):
        rate = user.sign_in_rate
        if rate <= 0 or not user.account_enabled or rng.random() >= rate:
            continue
        count = 1 + sum(rng.random() < p for p in EXTRA_SIGN_IN)
        legacy = legacy_client_of(user)
        for _ in range(count):
            seconds = 6 * 3600 + rng.random() * 13 * 3600
            use_legacy = legacy is not None and rng.random() < LEGACY_USE
            client = legacy if use_legacy and legacy is not None else int(rng.random() >= 0.55)
            out.append((day_us + int(seconds * 1_000_000), index, client))
    return sorted(out)


def _reference_last_client(user: User) -> int:
    legacy = legacy_client_of(user)
    digest = hashlib.blake2b(f"last:{user.id}:{user.last_sign_in}".encode(), digest_size=2).digest()
    if legacy is not None and digest[0] / 256 < LEGACY_USE:
        return legacy
    return 0 if digest[1] < 141 else 1


def _reference_bad_password(tenant: SyntheticTenant, user: User, at_us: int) -> bool:
    if user.last_sign_in is not None and at_us == to_us(user.last_sign_in):
        return False
    digest = hashlib.blake2b(f"pw:{tenant.id}:{user.id}:{at_us}".encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") / 65_536 < BAD_PASSWORD_RATE


def reference(tenant: SyntheticTenant, start: datetime, end: datetime) -> tuple[list, list, list, list]:
    """(times, users, clients, flags) of (start, end], each sign-in decided by :func:`mfa_requirement`."""
    start_us, end_us = to_us(start), to_us(end)
    fresh = []
    day = start.astimezone(UTC).date()
    while datetime.combine(day, time(), UTC) < end:
        for at_us, index, client in _reference_candidates(tenant, day):
            user = tenant.users[index]
            if start_us < at_us <= end_us and user.last_sign_in is not None \
                    and to_us(user.created) <= at_us <= to_us(user.last_sign_in):
                fresh.append((at_us, index, client))
        day += timedelta(days=1)
    seen = {(t, i) for t, i, _ in fresh}
    for index, user in enumerate(tenant.users):
        last = user.last_sign_in
        if last is not None and start_us < to_us(last) <= end_us and (to_us(last), index) not in seen:
            fresh.append((to_us(last), index, _reference_last_client(user)))
    fresh.sort()
    coverage = coverage_of(tenant)
    flags = []
    for at_us, index, client in fresh:
        user = tenant.users[index]
        value = mfa_requirement(tenant, user, from_us(at_us), index=index, client=client, coverage=coverage)
        flags.append(value | (BAD_PASSWORD if _reference_bad_password(tenant, user, at_us) else 0))
    return [t for t, _, _ in fresh], [i for _, i, _ in fresh], [c for _, _, c in fresh], flags


def arrays(log: SignInLog) -> tuple[list, list, list, list]:
    return log.times.tolist(), log.users.tolist(), log.clients.tolist(), log.flags.tolist()


def busy_tenant(users: int, seed: int, security_defaults: bool = False) -> SyntheticTenant:
    """A tenant whose recent past holds registrations, state changes at the same instant, role changes."""
    tenant = generate_tenant(users, seed=seed, now=NOW - timedelta(days=6), security_defaults=security_defaults)
    rng = random.Random(seed)
    for step in range(6):
        clock.advance(tenant, timedelta(days=1))
        for user in rng.sample(tenant.users, 40):
            at = tenant.now - timedelta(hours=rng.random() * 30)
            tenant.set_mfa_state(user, rng.choice(["enabled", "enforced", "disabled"]), "admin@x", at=at)
            if step % 2:  # a second change at the very same time: the later one in the events wins
                tenant.set_mfa_state(user, rng.choice(["enabled", "disabled"]), "admin@x", at=at)
    for user in rng.sample(tenant.users, 5):
        user.roles = (ADMIN_ROLE_TEMPLATES[0],)
    tenant.revision += 1
    return tenant


def _counts(flags: list[int]) -> tuple[int, int, int, int]:
    return tuple(sum(1 for f in flags if f & bit) for bit in (MFA_USER, MFA_CA, MFA_SD, BAD_PASSWORD))


# ------------------------------------------------------------------------------------------ the tests

def test_the_fast_generation_gives_the_plain_rules_log_exactly() -> None:
    tenant = busy_tenant(3000, seed=5)
    assert any(p.state == "enabled" for p in tenant.protection.conditional_access)
    log = SignInLog(tenant)
    log.catch_up()
    expected = reference(tenant, NOW - RETENTION, NOW)
    assert arrays(log) == expected
    user_mfa, ca, sd, bad = _counts(expected[3])
    assert len(expected[0]) > 30_000 and user_mfa > 1000 and ca > 1000 and sd == 0 and bad > 500
    assert any(c >= 2 for c in expected[2])  # older clients are in it


def test_the_fast_generation_matches_under_security_defaults_and_after_changes() -> None:
    tenant = busy_tenant(2000, seed=8, security_defaults=True)
    log = SignInLog(tenant)
    log.catch_up()
    first = reference(tenant, NOW - RETENTION, NOW)
    assert arrays(log) == first
    assert _counts(first[3])[2] > 1000  # security defaults asked for MFA
    # the clock moves, people change state and roles: the next span follows the tenant as it is then
    clock.advance(tenant, timedelta(days=2))
    rng = random.Random(3)
    for user in rng.sample(tenant.users, 60):
        tenant.set_mfa_state(user, "enforced", "admin@x", at=tenant.now - timedelta(hours=20))
    tenant.users[7].roles = (ADMIN_ROLE_TEMPLATES[0],)
    tenant.revision += 1
    log.catch_up()
    second = reference(tenant, NOW, tenant.now)
    assert arrays(log) == tuple(a + b for a, b in zip(first, second, strict=True))


def test_a_span_split_anywhere_gives_the_same_log() -> None:
    tenant = busy_tenant(1500, seed=9)
    whole, split = SignInLog(tenant), SignInLog(tenant)
    start = whole.frozen_until
    whole._extend(start, NOW)
    cuts = [start + timedelta(days=3, hours=7), start + timedelta(days=3, hours=7, microseconds=1),
            start + timedelta(days=17, hours=13, minutes=2), NOW - timedelta(hours=2)]
    for a, b in zip([start, *cuts], [*cuts, NOW], strict=True):
        split._extend(a, b)
    assert arrays(split) == arrays(whole)
    assert len(whole) == len(reference(tenant, start, NOW)[0])


def _read_advance(tenant: SyntheticTenant, ahead: bool, change: bool = False) -> tuple[SignInLog, bool, int]:
    """Read the log, move the clock a day, maybe prepare ahead, maybe make a person who signed in within
    the last 12 hours Enforced 12 hours ago, read again; the log, whether a span was ready, that person."""
    state = EmulatorState(tenant=tenant, config=EmulatorConfig())
    log = get_sign_in_log(state)
    clock.advance(tenant, timedelta(days=1))
    prepared = False
    if ahead:
        thread = prepare_in_background(state)
        assert thread is not None
        thread.join()
        prepared = log._pending is not None
    since = tenant.now - timedelta(hours=12)
    person = next(i for i, u in enumerate(tenant.users) if u.mfa_state == "disabled" and not u.roles
                  and u.last_sign_in is not None and u.last_sign_in > since)
    if change:
        tenant.set_mfa_state(tenant.users[person], "enforced", "admin@x", at=since)
    assert get_sign_in_log(state) is log
    assert log._pending is None
    return log, prepared, person


def _last_flags(log: SignInLog, person: int) -> int:
    last = to_us(log.tenant.users[person].last_sign_in)
    return next(f for t, i, f in zip(log.times, log.users, log.flags, strict=True) if i == person and t == last)


def test_a_span_prepared_after_the_clock_moved_is_the_one_a_read_generates() -> None:
    ahead, prepared, _ = _read_advance(generate_tenant(800, seed=4, now=NOW), ahead=True)
    assert prepared
    lazy, _, _ = _read_advance(generate_tenant(800, seed=4, now=NOW), ahead=False)
    assert arrays(ahead) == arrays(lazy)
    assert ahead.times[-1] > to_us(NOW) and ahead.frozen_until == NOW + timedelta(days=1)


def test_a_prepared_span_is_dropped_when_the_tenant_changed_before_the_read() -> None:
    ahead, prepared, person = _read_advance(generate_tenant(800, seed=4, now=NOW), ahead=True, change=True)
    assert prepared
    lazy, _, _ = _read_advance(generate_tenant(800, seed=4, now=NOW), ahead=False, change=True)
    assert arrays(ahead) == arrays(lazy)
    unchanged, _, _ = _read_advance(generate_tenant(800, seed=4, now=NOW), ahead=True)
    assert _last_flags(ahead, person) & MFA_USER and not _last_flags(unchanged, person) & MFA_USER


def test_a_log_never_read_is_started_when_the_clock_moves_and_none_without_p1() -> None:
    state = EmulatorState(tenant=generate_tenant(300, seed=4, now=NOW), config=EmulatorConfig())
    clock.advance(state.tenant, timedelta(days=1))
    prepare_in_background(state).join()
    prepared = state.extras["sign_in_log"]
    lazy = EmulatorState(tenant=generate_tenant(300, seed=4, now=NOW), config=EmulatorConfig())
    clock.advance(lazy.tenant, timedelta(days=1))
    assert list(get_sign_in_log(state).times) == list(get_sign_in_log(lazy).times) and len(prepared) > 1000
    without_p1 = EmulatorState(tenant=generate_tenant(300, seed=4, premium=False, now=NOW), config=EmulatorConfig())
    clock.advance(without_p1.tenant, timedelta(days=1))
    assert prepare_in_background(without_p1) is None and "sign_in_log" not in without_p1.extras


def test_the_clock_route_prepares_the_log_and_the_read_serves_it() -> None:
    with start_emulator(generate_tenant(300, seed=11, now=NOW), config=EmulatorConfig(throttle=False)) as emu:
        state = emu.state
        control(emu, "POST", "/clock/advance", {"days": 1})
        state.extras["sign_in_log"].preparing.join()  # never read: started by the clock
        app = demo_app(state.tenant)
        token = mint_access_token(state, app, app.permissions)[0]
        with httpx.Client(base_url=emu.graph_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            assert c.get("/beta/auditLogs/signIns", params={"$top": "1"}).status_code == 200
            log = state.extras["sign_in_log"]
            served = len(log)
            control(emu, "POST", "/clock/advance", {"days": 1})
            assert log.preparing is not None
            log.preparing.join()
            assert log._pending is not None
            assert c.get("/beta/auditLogs/signIns", params={"$top": "1"}).status_code == 200
            assert log._pending is None and len(log) > served
    tenant = generate_tenant(300, seed=11, now=NOW)
    clock.advance(tenant, timedelta(days=1))
    lazy = SignInLog(tenant)  # as the first read made it
    lazy.catch_up()
    clock.advance(lazy.tenant, timedelta(days=1))
    lazy.catch_up()
    assert arrays(lazy) == arrays(log)
