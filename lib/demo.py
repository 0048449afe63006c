"""Demo mode: the built-in tenant, served in-process, with its simulated past in the store.

Everything after this module is the same code a real tenant runs: the console signs in through
the emulator's identity endpoints with MSAL and reads it through ``lib.graph``. Only three things
are demo-specific and live here: starting the emulator, the sign-in configuration that points
``lib.auth`` at it (plain values: authority, client id, Graph URL, CA file), and seeding 90 days
of history so the adoption trend is there on first start. This is the one product module that
imports ``lib.emulator`` (tests/test_layering.py keeps it that way).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lib.auth import AuthConfig
from lib.clock import SimulatedClock
from lib.directory.history import TimelineEvent, daily_frames, history_days
from lib.directory.refresh import RefreshResult, refresh_snapshot
from lib.directory.snapshot import read_tenant
from lib.emulator.clock import advance
from lib.emulator.generator import HISTORY_DAYS, demo_public_app, generate_tenant
from lib.emulator.model import SyntheticTenant
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.tenant_file import tenant_from_json, tenant_to_json
from lib.graph import GraphGateway, MsalClientCredential
from lib.private_files import private_dir, write_private
from lib.rollout.waves import import_waves
from lib.settings import DEFAULT_REDIRECT_URI, Settings
from lib.store import Store

_lock = threading.Lock()
_running: dict[tuple, RunningEmulator] = {}
_clocks: dict[tuple, SimulatedClock] = {}


@dataclass(frozen=True)
class DemoTenant:
    """What the rest of the console needs to know about the running demo tenant."""

    emulator: RunningEmulator
    public_client_id: str
    clock: SimulatedClock

    @property
    def tenant(self) -> SyntheticTenant:
        return self.emulator.state.tenant

    def now(self) -> datetime:
        """The demo tenant's simulated time, running on in real time between advances: what 'now' means
        for everything the console stamps in demo mode (the store's clock)."""
        return self.clock()


def _tenant_file(settings: Settings) -> Path:
    licence = "p1" if settings.demo_premium else "no-p1"
    defaults = "-security-defaults" if settings.demo_security_defaults else ""
    return settings.data_dir / f"demo-tenant-{settings.demo_users}-{settings.demo_seed}-{licence}{defaults}.json"


def _load_tenant(path: Path) -> SyntheticTenant | None:
    """The demo tenant as it was when the console last ran (its changes and clock), if saved.

    The file is JSON read by ``lib.emulator.tenant_file``, which builds only the model's own records: a
    replaced or damaged file gives a fresh tenant, never code run. (Earlier versions' pickle files are
    not read at all.)"""
    try:
        return tenant_from_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def save_tenant(tenant: SyntheticTenant, path: Path) -> None:
    """Write the tenant atomically and private (``0600``), so a crash mid-write never leaves a half file."""
    write_private(path, tenant_to_json(tenant))


def _keep_saved(tenant: SyntheticTenant, path: Path, stop: threading.Event, every: float = 5.0) -> None:
    saved = tenant.revision
    while not stop.wait(every):
        if tenant.revision != saved:
            saved = tenant.revision
            save_tenant(tenant, path)


def tenant_clock(emulator: RunningEmulator) -> SimulatedClock:
    """The console's clock for this demo tenant: its simulated time, running on in real time between advances."""
    return SimulatedClock(lambda: emulator.state.tenant.now)


def demo_emulator_config(settings: Settings) -> EmulatorConfig:
    """The demo tenant's knobs: Graph's throttle limits, refilling ``demo_throttle_speedup`` times faster (the
    emulator's own time scale; the Graph client is the one a real tenant uses and only honours Retry-After)."""
    return EmulatorConfig(time_scale=1.0 / settings.demo_throttle_speedup)


def demo_tenant(settings: Settings) -> DemoTenant:
    """The process's demo tenant for these settings, started on first use (one per process).

    The tenant is kept in the data folder and reloaded on the next start, so what an admin changed
    (and the demo clock) survives a restart, just as a real tenant would remember it.
    """
    key = (settings.demo_users, settings.demo_seed, settings.demo_premium, settings.demo_security_defaults,
           str(settings.data_dir))
    with _lock:
        running = _running.get(key)
        if running is None or not running.running:
            cert_dir = private_dir(settings.data_dir / "emulator-tls")
            path = _tenant_file(settings)
            tenant = _load_tenant(path) or generate_tenant(settings.demo_users, settings.demo_seed,
                                                           settings.demo_premium,
                                                           security_defaults=settings.demo_security_defaults)
            save_tenant(tenant, path)
            running = start_emulator(tenant, config=demo_emulator_config(settings), cert_dir=str(cert_dir))
            threading.Thread(target=_keep_saved, args=(tenant, path, threading.Event()), daemon=True,
                             name="demo-tenant-saver").start()
            _running[key] = running
            _clocks[key] = tenant_clock(running)
        clock = _clocks[key]
    return DemoTenant(running, demo_public_app(running.state.tenant).client_id, clock)


def demo_auth_config(emulator: RunningEmulator, redirect_uri: str = DEFAULT_REDIRECT_URI, *,
                     app_only: bool = False, **overrides: Any) -> AuthConfig:
    """Sign-in to the demo tenant: its public client (interactive sign-in), or its app-only app with ``app_only``."""
    values: dict[str, Any] = {
        "client_id": emulator.client_id if app_only else demo_public_app(emulator.state.tenant).client_id,
        "authority": emulator.authority,
        "graph_url": emulator.graph_url,
        "redirect_uri": redirect_uri,
        "client_secret": emulator.client_secret if app_only else "",
        "ca_cert": emulator.ca_cert,
    }
    return AuthConfig(**{**values, **overrides})


def app_gateway(emulator: RunningEmulator) -> GraphGateway:
    """A gateway with the demo's app-only credentials (seeding, the CLI and unattended refresh)."""
    credential = MsalClientCredential(emulator.client_id, emulator.client_secret, emulator.authority,
                                      ca_cert=emulator.ca_cert)
    return GraphGateway(emulator.graph_url, credential)


def timelines(tenant: SyntheticTenant) -> dict[str, list[TimelineEvent]]:
    """Every user's events, as the history replay reads them."""
    return {u.id: [TimelineEvent(e.at, e.kind, e.value, e.actor) for e in u.events] for u in tenant.users}


def ensure_demo_history(store: Store, demo: DemoTenant) -> RefreshResult | None:
    """Seed the simulated past and take today's snapshot, once per database; None if already there."""
    emulator = demo.emulator
    with _lock:
        if store.latest_snapshot(emulator.tenant_id) is not None:
            return None
        with app_gateway(emulator) as gateway:
            org = gateway.organization()
            domain = demo.tenant.domain
            store.upsert_tenant(emulator.tenant_id, org.get("displayName", ""), domain, "demo")
            current = read_tenant(gateway, org=org, clock=demo.now).frame
            days = history_days(demo.tenant.now, HISTORY_DAYS)
            store.seed_history(emulator.tenant_id, daily_frames(current, timelines(demo.tenant), days,
                                                                not_capable=demo.tenant.methods_off_by_policy))
            import_waves(store, emulator.tenant_id, demo.tenant.waves)
            return refresh_snapshot(store, gateway, mode="demo", clock=demo.now)


def advance_demo_clock(demo: DemoTenant, days: float) -> dict:
    """Move the demo tenant's clock ``days`` past the console's "now" (people sign in and register); the
    caller refreshes after.

    The console's demo time has run on in real time since the last advance; the tenant is first moved
    over that stretch too, so afterwards both read the same instant and nothing is stamped twice."""
    return advance(demo.tenant, timedelta(days=days) + demo.clock.catch_up())
