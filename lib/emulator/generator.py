"""A seeded, deterministic synthetic partner tenant with 90 days of MFA rollout history.

The same ``(users, seed, premium, now)`` always gives the same tenant, so tests can assert exact
figures and a demo looks the same every time. The past is generated per user from the same
rates the simulated clock uses afterwards, so the trend continues smoothly when the clock moves.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from lib.emulator.model import (
    AUTHENTICATION_ADMINISTRATOR,
    AUTHENTICATION_POLICY_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    HELPDESK_ADMINISTRATOR,
    PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    USER_ADMINISTRATOR,
    App,
    AuthMethod,
    Event,
    SyntheticTenant,
    SyntheticWave,
    User,
)
from lib.emulator.protection_seed import seed_email_only_users, seed_protection

MIN_USERS = 50
MAX_USERS = 200_000
HISTORY_DAYS = 90

SKU_M365_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
"""Microsoft 365 E3: includes Entra ID P1."""
SKU_BUSINESS_STANDARD = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
"""Microsoft 365 Business Standard: no Entra ID P1."""

DEMO_APP_NAME = "MFA Rollout Console (demo, app-only)"
DEMO_PUBLIC_APP_NAME = "MFA Rollout Console (demo)"

APP_PERMISSIONS = frozenset({
    "User.Read.All", "Directory.Read.All", "AuditLog.Read.All", "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod", "UserAuthenticationMethod.Read.All",
    "Organization.Read.All", "RoleManagement.Read.Directory", "GroupMember.Read.All",
})
DELEGATED_SCOPES = frozenset({
    "User.Read", "User.Read.All", "Directory.Read.All", "AuditLog.Read.All", "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod", "UserAuthenticationMethod.Read.All",
    "RoleManagement.Read.Directory", "GroupMember.Read.All",
})

DEMO_ADMIN = "admin"
"""Local part of the demo Global Administrator, who ran the two earlier waves."""

TENANT_NAMES = (
    ("Northwind Traders", "northwindtraders.com"),
    ("Contoso Partners", "contosopartners.com"),
    ("Fabrikam Consulting", "fabrikamconsulting.com"),
    ("Tailspin Advisors", "tailspinadvisors.com"),
    ("Woodgrove Services", "woodgroveservices.com"),
)
FIRST_NAMES = (
    "Alex", "Allan", "Bianca", "Christie", "Debra", "Diego", "Emily", "Enrico", "Grady", "Henrietta",
    "Irvin", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor",
    "Patti", "Pradeep", "Astrid", "Björn", "Sofia", "Erik", "Ingrid", "Lars", "Maja", "Nils",
    "Aisha", "Omar", "Priya", "Ravi", "Mei", "Chen", "Yuki", "Hiro", "Fatima", "Kwame",
    "Lucia", "Mateo", "Chloé", "Louis", "Greta", "Jonas", "Sanne", "Daan", "Freya", "Oskar",
    "Noah", "Olivia", "Liam", "Emma", "Elias", "Saga", "Hugo", "Alma", "Leon", "Wilma",
)
LAST_NAMES = (
    "Wilber", "Deyoung", "Pisani", "Cline", "Berg", "Zarate", "Braun", "Fernandes", "Archie", "Gonzalez",
    "Bellow", "Ruiz", "Lauer", "Sherman", "Gu", "Holloway", "Robbins", "Bowen", "Hunter", "Wilke",
    "Fernandez", "Gupta", "Lindqvist", "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson",
    "Larsson", "Olsson", "Persson", "Svensson", "Khan", "Haddad", "Sharma", "Iyer", "Wang", "Li",
    "Tanaka", "Sato", "Mensah", "Okafor", "Rossi", "Romano", "Dubois", "Moreau", "Schmidt", "Müller",
    "de Vries", "Jansen", "Hansen", "Nielsen", "Virtanen", "Korhonen", "Smith", "Johnson", "Brown",
    "Taylor", "Walker", "Clarke",
)
DEPARTMENTS = (
    ("Sales", 18), ("Engineering", 16), ("Support", 12), ("Operations", 10), ("Finance", 8),
    ("Marketing", 8), ("IT", 6), ("HR", 5), ("Legal", 3), ("Executive", 2),
)
JOB_TITLES = {
    "Sales": ("Account Manager", "Sales Representative", "Sales Director"),
    "Engineering": ("Software Engineer", "Senior Engineer", "Engineering Manager"),
    "Support": ("Support Specialist", "Support Lead"),
    "Operations": ("Operations Analyst", "Operations Manager"),
    "Finance": ("Accountant", "Controller", "Financial Analyst"),
    "Marketing": ("Marketing Specialist", "Content Manager"),
    "IT": ("Systems Administrator", "IT Manager", "Service Desk Analyst"),
    "HR": ("HR Partner", "Recruiter"),
    "Legal": ("Legal Counsel", "Paralegal"),
    "Executive": ("Chief Executive Officer", "Chief Operating Officer", "Executive Assistant"),
}
COUNTRIES = (
    ("SE", "Sweden", 30), ("US", "United States", 20), ("GB", "United Kingdom", 12), ("DE", "Germany", 10),
    ("NL", "Netherlands", 7), ("NO", "Norway", 6), ("DK", "Denmark", 5), ("FI", "Finland", 4),
    ("FR", "France", 3), ("IN", "India", 3),
)
GUEST_DOMAINS = ("gmail.com", "outlook.com", "partner-firm.com", "auditco.com", "contractor.io")
SERVICE_ACCOUNTS = ("svc-backup", "svc-scanner", "svc-crm-sync", "svc-payroll", "svc-build", "svc-monitoring",
                    "svc-hr-import", "svc-print", "svc-sharepoint", "svc-reporting")
SHARED_MAILBOXES = ("reception", "info", "support-mailbox", "invoices", "careers", "press", "facilities",
                    "helpdesk-queue", "orders", "meeting-room-a")
METHOD_MIX = (
    ("microsoftAuthenticatorPush", 55), ("mobilePhone", 22), ("softwareOneTimePasscode", 7),
    ("fido2", 6), ("windowsHelloForBusiness", 6), ("officePhone", 2), ("alternateMobilePhone", 2),
)
DEVICES = {
    "microsoftAuthenticatorPush": ("iPhone 15", "iPhone 14", "Pixel 8", "Galaxy S23", "iPhone 13"),
    "microsoftAuthenticatorPasswordless": ("iPhone 15", "Pixel 8"),
    "fido2": ("YubiKey 5 NFC", "YubiKey 5C", "Feitian ePass K9"),
    "windowsHelloForBusiness": ("LAPTOP-7F3K2", "DESKTOP-Q1W2E3", "SURFACE-PRO-9"),
    "softwareOneTimePasscode": ("Google Authenticator", "Authy"),
}

WAVE_PLAN = (
    ("Pilot: IT and Finance", 75, ("IT", "Finance")),
    ("Wave 2: Sales, Marketing and Support", 40, ("Sales", "Marketing", "Support")),
)
"""(name, days before now, departments): the two earlier rollout waves."""
ADMIN_HARDENING_DAYS = 85
"""Days before now when the admins were set to Enforced, before any wave."""


def _weighted(rng: random.Random, table: tuple) -> tuple:
    total = sum(row[-1] for row in table)
    pick = rng.random() * total
    for row in table:
        pick -= row[-1]
        if pick < 0:
            return row
    return table[-1]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _days_until(rng: random.Random, daily_rate: float) -> float | None:
    """Days until an event with the given daily chance happens (None if it never will)."""
    if daily_rate <= 0:
        return None
    if daily_rate >= 1:
        return rng.random()
    return -math.log(1.0 - rng.random()) / -math.log(1.0 - daily_rate)


def new_method(rng: random.Random, kind: str, at: datetime, country_code: str | None) -> AuthMethod:
    """A plausible method of ``kind`` registered at ``at``; the clock uses it too."""
    if kind in ("mobilePhone", "alternateMobilePhone", "officePhone"):
        prefix = {"SE": "+46 70", "US": "+1 206", "GB": "+44 7700", "DE": "+49 151"}.get(country_code or "", "+1 425")
        detail = f"{prefix} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
    elif kind == "email":
        detail = f"user{rng.randrange(10_000)}@outlook.com"
    else:
        detail = rng.choice(DEVICES.get(kind, ("Device",)))
    return AuthMethod(kind, _uuid(rng), at, detail)


def generate_tenant(users: int, seed: int, premium: bool = True, now: datetime | None = None,
                    security_defaults: bool = False) -> SyntheticTenant:
    """A tenant of ``users`` users (50..200,000), deterministic for (users, seed, premium, now, security_defaults).

    ``security_defaults`` gives a tenant protected by security defaults and without Conditional Access;
    a tenant without ``premium`` (Entra ID P1) has no Conditional Access either (lib/emulator/protection_seed.py).

    ``now`` defaults to the start of the current UTC day, so a demo started twice on one day is
    identical and the simulated past ends today.
    """
    if not MIN_USERS <= users <= MAX_USERS:
        raise ValueError(f"users must be between {MIN_USERS} and {MAX_USERS}, got {users}")
    if now is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(f"tenant:{seed}:{users}:{premium}")
    name, domain = TENANT_NAMES[seed % len(TENANT_NAMES)]
    tenant_id = _uuid(rng)
    start = now - timedelta(days=HISTORY_DAYS)
    tenant = SyntheticTenant(
        id=tenant_id, name=name, domain=domain, premium=premium, created=now - timedelta(days=2900),
        now=now, seed=seed, users=[], waves=[], apps=_demo_apps(rng),
    )
    people = _make_users(rng, tenant, users)
    tenant.users = people
    tenant.reindex()
    _simulate_past(rng, tenant, start)
    seed_email_only_users(tenant)
    tenant.protection = seed_protection(tenant, security_defaults)
    return tenant


def _demo_apps(rng: random.Random) -> dict[str, App]:
    daemon = App(_uuid(rng), DEMO_APP_NAME, f"demo~{rng.getrandbits(96):024x}", APP_PERMISSIONS)
    public = App(_uuid(rng), DEMO_PUBLIC_APP_NAME, None, DELEGATED_SCOPES, public_client=True)
    return {daemon.client_id: daemon, public.client_id: public}


def demo_app(tenant: SyntheticTenant) -> App:
    """The built-in app-only (client credentials) demo app."""
    return next(a for a in tenant.apps.values() if a.client_secret)


def demo_public_app(tenant: SyntheticTenant) -> App:
    """The built-in public client used for interactive demo sign-in."""
    return next(a for a in tenant.apps.values() if a.public_client)


def _make_users(rng: random.Random, tenant: SyntheticTenant, count: int) -> list[User]:
    now, domain = tenant.now, tenant.domain
    sku = SKU_M365_E3 if tenant.premium else SKU_BUSINESS_STANDARD
    used: set[str] = set()
    next_suffix: dict[str, int] = {}
    out: list[User] = []

    def unique(local: str) -> str:
        candidate, n = local, next_suffix.get(local, 1)
        while candidate in used:
            n += 1
            candidate = f"{local}{n}"
        next_suffix[local] = n
        used.add(candidate)
        return candidate

    def person(local: str | None = None, roles: tuple[str, ...] = (), **overrides) -> User:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        dept = _weighted(rng, DEPARTMENTS)[0]
        code, country, _ = _weighted(rng, COUNTRIES)
        login = unique(local or f"{first}.{last}".lower().replace(" ", "").replace("ö", "o").replace("ü", "u")
                       .replace("é", "e").replace("ö", "o"))
        created = now - timedelta(days=rng.uniform(1, 2800))
        user = User(
            id=_uuid(rng), upn=f"{login}@{domain}", display_name=f"{first} {last}", given_name=first,
            surname=last, mail=f"{login}@{domain}", user_type="Member", account_enabled=True,
            department=dept, job_title=rng.choice(JOB_TITLES[dept]), usage_location=code, country=country,
            created=created, on_premises_sync=rng.random() < 0.6, license_skus=(sku,), kind="person",
            roles=roles, sign_in_rate=rng.choice((0.9, 0.8, 0.7, 0.5, 0.3, 0.15)),
            register_rate=rng.choice((0.6, 0.5, 0.4, 0.3, 0.15, 0.05)),
            preferred_kind=_weighted(rng, METHOD_MIX)[0],
        )
        for key, value in overrides.items():
            setattr(user, key, value)
        return user

    # The named accounts every demo relies on.
    out.append(person(DEMO_ADMIN, (GLOBAL_ADMINISTRATOR,), display_name="MOD Administrator", department="IT",
                      job_title="IT Manager", sign_in_rate=1.0, register_rate=1.0, created=tenant.created))
    out.append(person("authpolicy.admin", (AUTHENTICATION_POLICY_ADMINISTRATOR,), department="IT",
                      display_name="Auth Policy Admin", job_title="Identity Engineer", sign_in_rate=0.9))
    # The reader never registered a second factor: every demo has an admin without MFA to find.
    out.append(person("security.reader", (GLOBAL_READER,), department="IT", display_name="Security Reader",
                      job_title="Security Analyst", sign_in_rate=0.9, register_rate=0.0))
    onmicrosoft = f"{domain.split('.')[0]}.onmicrosoft.com"
    for login, display, has_key in (("breakglass01", "Break Glass Account 1", True),
                                    ("emergency-access02", "Emergency Access Account 2", False)):
        used.add(login)
        out.append(User(
            id=_uuid(rng), upn=f"{login}@{onmicrosoft}", display_name=display, given_name=None, surname=None,
            mail=None, user_type="Member", account_enabled=True, department=None, job_title=None,
            usage_location="SE", country=None, created=tenant.created, on_premises_sync=False,
            license_skus=(), kind="break_glass", roles=(GLOBAL_ADMINISTRATOR,), sign_in_rate=0.01,
            register_rate=0.0, preferred_kind="fido2",
            methods=[new_method(rng, "fido2", tenant.created + timedelta(days=30), "SE")] if has_key else [],
        ))

    extra_admin_roles = (GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR, HELPDESK_ADMINISTRATOR, GLOBAL_READER,
                         AUTHENTICATION_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR)
    services = max(1, round(count * 0.012))
    shared = max(1, round(count * 0.015))
    guests = max(1, round(count * 0.03))
    for i in range(services):
        base = SERVICE_ACCOUNTS[i % len(SERVICE_ACCOUNTS)]
        login = unique(base)
        out.append(User(
            id=_uuid(rng), upn=f"{login}@{domain}", display_name=f"Service - {login[4:].replace('-', ' ').title()}",
            given_name=None, surname=None, mail=None, user_type="Member", account_enabled=True,
            department=None, job_title=None, usage_location=None, country=None,
            created=now - timedelta(days=rng.uniform(30, 2500)), on_premises_sync=rng.random() < 0.5,
            license_skus=(), kind="service", sign_in_rate=0.0, register_rate=0.0,
        ))
    for i in range(shared):
        base = SHARED_MAILBOXES[i % len(SHARED_MAILBOXES)]
        login = unique(base)
        out.append(User(
            id=_uuid(rng), upn=f"{login}@{domain}", display_name=f"{login.replace('-', ' ').title()} (shared)",
            given_name=None, surname=None, mail=f"{login}@{domain}", user_type="Member",
            account_enabled=rng.random() < 0.3, department=None, job_title=None, usage_location="SE",
            country=None, created=now - timedelta(days=rng.uniform(30, 2500)), on_premises_sync=False,
            license_skus=(), kind="shared", sign_in_rate=0.0, register_rate=0.0,
        ))
    for _ in range(guests):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        ext_domain = rng.choice(GUEST_DOMAINS)
        local = unique(f"{first}.{last}".lower().replace(" ", "") + "_" + ext_domain.replace(".", "_"))
        out.append(User(
            id=_uuid(rng), upn=f"{local}#EXT#@{onmicrosoft}", display_name=f"{first} {last} (Guest)",
            given_name=first, surname=last, mail=f"{first}.{last}@{ext_domain}".lower().replace(" ", ""),
            user_type="Guest", account_enabled=True, department=None, job_title=None, usage_location=None,
            country=None, created=now - timedelta(days=rng.uniform(5, 1500)), on_premises_sync=False,
            license_skus=(), kind="person", sign_in_rate=rng.choice((0.2, 0.05, 0.0)), register_rate=0.3,
            preferred_kind=_weighted(rng, METHOD_MIX)[0],
        ))
    admins_wanted = max(0, round(count * 0.01) - 3)
    while len(out) < count:
        roles: tuple[str, ...] = ()
        if admins_wanted > 0 and rng.random() < 0.2:
            roles = (rng.choice(extra_admin_roles),)
            admins_wanted -= 1
        user = person(roles=roles)
        if user.roles:
            user.department = "IT"
        roll = rng.random()
        if roll < 0.04:
            user.account_enabled = False
            user.sign_in_rate = 0.0
        elif roll < 0.07:
            user.sign_in_rate = 0.0  # has an account, never signs in
        out.append(user)
    return out[:count]


def _simulate_past(rng: random.Random, tenant: SyntheticTenant, start: datetime) -> None:
    """Give every user a history from ``start`` to ``tenant.now``, in time order per user."""
    now = tenant.now
    admin_upn = f"{DEMO_ADMIN}@{tenant.domain}"
    hardening = now - timedelta(days=ADMIN_HARDENING_DAYS)
    waves = [SyntheticWave(name, now - timedelta(days=days), admin_upn, []) for name, days, _ in WAVE_PLAN]
    wave_of_department = {dept: wave for wave, (_, _, depts) in zip(waves, WAVE_PLAN, strict=True) for dept in depts}
    reenabled_left = max(2, len(tenant.users) // 400)

    for user in tenant.users:
        if user.kind != "person":
            user.last_sign_in = _last_sign_in(rng, user, now)
            continue
        born = max(user.created, start - timedelta(days=400))
        actions: list[tuple[datetime, str, str]] = []
        # Some people registered a method long before any rollout (SSPR, Authenticator for other apps).
        if user.sign_in_rate > 0 and user.register_rate > 0 and rng.random() < 0.3:
            at = born + (now - born) * rng.random()
            actions.append((at, "register", ""))
            if rng.random() < 0.15:
                actions.append((at, "register_email", ""))
        if user.is_admin:
            actions.append((max(hardening, user.created), "state", "enforced"))
        wave = wave_of_department.get(user.department or "") if not user.is_guest else None
        if wave is not None and user.created < wave.launched_at and not user.is_admin:
            enable_at = wave.launched_at + timedelta(minutes=rng.uniform(0, 90))
            actions.append((enable_at, "wave", wave.name))
            actions.append((enable_at, "state", "enabled"))
            wave.user_ids.append(user.id)
        actions.sort(key=lambda a: a[0])
        state_changed_at: datetime | None = None
        for at, kind, value in actions:
            if at > now:
                continue
            if kind == "register":
                tenant.register_method(user, new_method(rng, user.preferred_kind, at, user.usage_location))
            elif kind == "register_email":
                tenant.register_method(user, new_method(rng, "email", at, user.usage_location))
            elif kind == "wave":
                user.events.append(Event(at, "wave", value, admin_upn))
            elif kind == "state":
                tenant.set_mfa_state(user, value, admin_upn, at)
                state_changed_at = at
        # Asked to register by the rollout: registers at a later sign-in, or not yet.
        if state_changed_at is not None and user.mfa_state in ("enabled", "enforced") and not user.has_mfa_method():
            wait = _days_until(rng, user.sign_in_rate * user.register_rate)
            if wait is not None and state_changed_at + timedelta(days=wait) <= now:
                at = state_changed_at + timedelta(days=wait)
                tenant.register_method(user, new_method(rng, user.preferred_kind, at, user.usage_location))
        # A few pilot users were reset by the helpdesk and re-enabled: Entra leaves them Enabled.
        if reenabled_left > 0 and wave is waves[0] and user.mfa_state == "enforced" and not user.is_admin:
            reset_at = waves[0].launched_at + timedelta(days=20)
            if user.methods and user.methods[-1].created < reset_at:
                tenant.set_mfa_state(user, "disabled", admin_upn, reset_at)
                tenant.set_mfa_state(user, "enabled", admin_upn, reset_at + timedelta(days=1))
                reenabled_left -= 1
        user.last_sign_in = _last_sign_in(rng, user, now)
        # Leavers: some accounts were disabled after their wave launched.
        if not user.account_enabled and user.events:
            user.events.append(Event(max(e.at for e in user.events) + timedelta(days=2), "account", "disabled",
                                     admin_upn))
    tenant.waves = waves


def _last_sign_in(rng: random.Random, user: User, now: datetime) -> datetime | None:
    """When the user last signed in interactively; never before their last registration."""
    if user.sign_in_rate <= 0:
        floor = user.methods[-1].created if user.methods else None
        return floor if user.kind != "service" else None
    ago = _days_until(rng, user.sign_in_rate) or 0.0
    at = max(user.created, now - timedelta(days=ago))
    if user.methods:
        at = max(at, max(m.created for m in user.methods))
    return at
