"""Demo mode: the built-in tenant, served by its own process, with its simulated past in the store.

Everything after this module is the same code a real tenant runs: the console signs in through the demo
tenant's identity endpoints with MSAL and reads it through ``lib.graph``, over HTTP. Only three things are
demo-specific and live here: starting the demo tenant's process (once per console process, see
``lib.demo_process``), the sign-in configuration that points ``lib.auth`` at it (plain values: authority,
client id, Graph URL, CA file), and seeding its 90 days of history so the adoption trend is there. What the
console needs beyond Graph (the tenant's clock, its people's past) it asks the demo tenant's control routes
(``/_emulator/…``, with the per-run key its process printed): nothing here reaches into the tenant's objects,
which live in the other process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lib.auth import AuthConfig
from lib.clock import SimulatedClock
from lib.demo_process import DemoLink, DemoProcess, DemoTenantError, control, start_demo_process
from lib.directory.history import TimelineEvent, daily_frames, history_days
from lib.directory.snapshot import read_tenant
from lib.errors import describe
from lib.gc_policy import freeze_long_lived
from lib.graph import GraphGateway, MsalClientCredential
from lib.private_files import private_dir, write_private
from lib.rollout.waves import import_waves
from lib.settings import DEFAULT_REDIRECT_URI, Settings
from lib.store import Store

__all__ = ["HISTORY_DAYS", "DemoLink", "DemoTenant", "HistoryBuild", "advance_demo_clock", "app_gateway",
           "demo_auth_config", "demo_for_command", "demo_tenant", "ensure_demo_history", "history_build",
           "running_file", "tenant_clock", "tenant_file"]

ROOT = Path(__file__).resolve().parents[1]
HISTORY_DAYS = 90
"""Days of simulated past seeded into a new store (the demo tenant's people have events that far back)."""
CLOCK_REREAD_S = 1.0
"""How long the console runs the demo time on by itself before asking the demo tenant where its clock
stopped again (someone else, a test or another console, may have moved it)."""

_lock = threading.Lock()
"""Guards the process's demo tenants and history builds (held only briefly)."""
_seeding = threading.Lock()
"""One history seed at a time in this process (minutes, for a large tenant)."""
_running: dict[tuple, DemoTenant] = {}
_builds: weakref.WeakKeyDictionary[Store, dict[str, HistoryBuild]] = weakref.WeakKeyDictionary()
"""Each store's builds by tenant (a store that is gone takes its builds with it)."""

ProgressCallback = Callable[[float, str], None]
"""``(fraction done 0..1, what is being done, in words)``."""


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _DemoClock(SimulatedClock):
    """The demo tenant's time as the console stamps it: where its clock last stopped (asked over HTTP, at most
    once a second, and at once after this console moved it), running on in real time since."""

    def __init__(self, link: Any) -> None:
        self._link = link
        self._known: datetime | None = None
        self._asked = 0.0
        self._ask_lock = threading.Lock()
        super().__init__(self._tenant_now)

    def _tenant_now(self) -> datetime:
        with self._ask_lock:
            if self._known is None or time.monotonic() - self._asked > CLOCK_REREAD_S:
                try:
                    answer = control(self._link, "GET", "/clock", timeout=30)
                except DemoTenantError:
                    if self._known is None:
                        raise
                    self._asked = time.monotonic()  # a busy moment: run on from what is known, ask again later
                else:
                    self._known, self._asked = _parse_time(answer["tenant_now"]), time.monotonic()
            return self._known

    def moved(self) -> None:
        """This console just moved the tenant's clock: ask where it stopped on the next reading."""
        with self._ask_lock:
            self._known = None


def tenant_clock(emulator: Any) -> SimulatedClock:
    """The console's clock for the demo tenant ``emulator`` points at: its simulated time, running on in real
    time between advances."""
    return _DemoClock(emulator)


@dataclass(frozen=True)
class DemoTenant:
    """What the rest of the console needs to know about the running demo tenant: how to reach it (``emulator``:
    its URLs, app credentials and control key), its public client (interactive sign-in) and its clock."""

    emulator: Any
    """A :class:`lib.demo_process.DemoLink` (or, in tests, an in-process server with the same attributes)."""
    public_client_id: str
    clock: SimulatedClock
    process: DemoProcess | None = field(default=None, repr=False, compare=False)
    """Its process, when this console started it."""

    def now(self) -> datetime:
        """The demo tenant's simulated time, running on in real time between advances: what 'now' means
        for everything the console stamps in demo mode (the store's clock)."""
        return self.clock()

    @property
    def running(self) -> bool:
        return self.process is None or self.process.running


def _key(settings: Settings) -> tuple:
    return (settings.demo_users, settings.demo_seed, settings.demo_premium, settings.demo_security_defaults,
            settings.demo_throttle_speedup, str(settings.data_dir))


def tenant_file(settings: Settings) -> Path:
    """Where the demo tenant for these settings is kept between runs (its process loads and saves it)."""
    licence = "p1" if settings.demo_premium else "no-p1"
    defaults = "-security-defaults" if settings.demo_security_defaults else ""
    return settings.data_dir / f"demo-tenant-{settings.demo_users}-{settings.demo_seed}-{licence}{defaults}.json"


def running_file(settings: Settings) -> Path:
    """Where the console that started the demo tenant's process says how to reach it (its printed line and
    pid; ``0600`` in the private data folder, like the tenant file that holds the same app secret)."""
    return tenant_file(settings).with_suffix(".running.json")


def _running_elsewhere(settings: Settings) -> DemoLink | None:
    """The demo tenant another process of this data folder started, if it still answers to its key."""
    try:
        info = json.loads(running_file(settings).read_bytes())
        link = DemoLink.from_line(info)
        control(link, "GET", "/clock", timeout=5)
    except (OSError, ValueError, KeyError, TypeError, DemoTenantError):
        return None
    return link


def demo_emulator_args(settings: Settings) -> tuple[str, ...]:
    """The demo tenant's knobs: security defaults, and Graph's throttle limits refilling
    ``demo_throttle_speedup`` times faster (the emulator's own time scale; the Graph client is the one a real
    tenant uses and only honours Retry-After)."""
    defaults = ("--security-defaults",) if settings.demo_security_defaults else ()
    return (*defaults, "--time-scale", repr(1.0 / settings.demo_throttle_speedup))


def demo_tenant(settings: Settings, *, reuse_running: bool = False) -> DemoTenant:
    """The console process's demo tenant for these settings, its process started on first use (one per console
    process, however many browser sessions), and started again should it have died.

    The tenant is kept in the data folder by its process and reloaded on the next start, so what an admin
    changed (and the demo clock) survives a restart, just as a real tenant would remember it. With
    ``reuse_running`` (the CLI), a demo tenant the app of this data folder is serving is used instead, since one
    tenant file has one server at a time.
    """
    key = _key(settings)
    with _lock:
        demo = _running.get(key)
        if demo is None or not demo.running:
            link = _running_elsewhere(settings) if reuse_running else None
            if link is not None:
                demo = DemoTenant(link, link.public_client_id, tenant_clock(link))
            else:
                process = start_demo_process(
                    users=settings.demo_users, seed=settings.demo_seed, premium=settings.demo_premium,
                    tenant_file=tenant_file(settings), cert_dir=private_dir(settings.data_dir / "emulator-tls"),
                    log_path=settings.data_dir / "demo-tenant.log", extra_args=demo_emulator_args(settings))
                link = process.link
                write_private(running_file(settings), json.dumps(
                    {**process.line, "pid": process.pid}).encode("utf-8"))
                demo = DemoTenant(link, link.public_client_id, tenant_clock(link), process)
            _running[key] = demo
    return demo


def demo_for_command(settings: Settings) -> tuple[DemoTenant, Callable[[], None]]:
    """The demo tenant for one command (the CLI's ``--demo``): the app's when it serves this data folder, else
    one started now; and what to call when the command ends (stops a process started for it, nothing else)."""
    with _lock:
        known = _running.get(_key(settings))
        before = known.process if known is not None and known.running else None
    demo = demo_tenant(settings, reuse_running=True)
    started = demo.process if demo.process is not None and demo.process is not before else None
    return demo, (started.stop if started is not None else lambda: None)


def _public_client_id(emulator: Any) -> str:
    known = getattr(emulator, "public_client_id", "")
    return known or control(emulator, "GET", "/demo-app", timeout=30)["public_client_id"]


def demo_auth_config(emulator: Any, redirect_uri: str = DEFAULT_REDIRECT_URI, *,
                     app_only: bool = False, **overrides: Any) -> AuthConfig:
    """Sign-in to the demo tenant: its public client (interactive sign-in), or its app-only app with ``app_only``."""
    values: dict[str, Any] = {
        "client_id": emulator.client_id if app_only else _public_client_id(emulator),
        "authority": emulator.authority,
        "graph_url": emulator.graph_url,
        "redirect_uri": redirect_uri,
        "client_secret": emulator.client_secret if app_only else "",
        "ca_cert": emulator.ca_cert,
    }
    return AuthConfig(**{**values, **overrides})


def app_gateway(emulator: Any) -> GraphGateway:
    """A gateway with the demo's app-only credentials (seeding, the CLI and unattended refresh)."""
    credential = MsalClientCredential(emulator.client_id, emulator.client_secret, emulator.authority,
                                      ca_cert=emulator.ca_cert)
    return GraphGateway(emulator.graph_url, credential)


def _timelines(history: dict) -> dict[str, list[TimelineEvent]]:
    """Every user's events from ``/_emulator/truth/history``, as the history replay reads them."""
    return {u["id"]: [TimelineEvent(_parse_time(e["at"]), e["kind"], e["value"], e.get("actor") or "")
                      for e in u["events"]] for u in history["users"]}


def _read_progress(on_progress: ProgressCallback | None) -> Callable[[str, int, int], None] | None:
    """Reading the tenant is the first half of the bar: its users, then their registration."""
    if on_progress is None:
        return None

    def phase(name: str, done: int, total: int) -> None:
        share = done / total if total else 0.0
        if name == "users":
            on_progress(0.05 + 0.1 * share, "Reading the demo tenant's users")
        else:
            on_progress(0.15 + 0.35 * share, "Reading who registered which methods")

    return phase


def ensure_demo_history(store: Store, demo: DemoTenant, on_progress: ProgressCallback | None = None) -> bool:
    """Seed the simulated past and take today's snapshot, once per database; False if already there.

    The tenant is read through Graph once: that read is today's snapshot, and, replayed back over each user's
    events, the 90 days before it."""
    emulator = demo.emulator
    tell = on_progress or (lambda fraction, words: None)
    with _seeding:
        if store.latest_snapshot(emulator.tenant_id) is not None:
            return False
        tell(0.0, "Starting")
        with app_gateway(emulator) as gateway:
            org = gateway.organization()
            domain = next((d.get("name", "") for d in org.get("verifiedDomains") or [] if d.get("isDefault")), "")
            store.upsert_tenant(emulator.tenant_id, org.get("displayName", ""), domain, "demo")
            started = demo.now()
            read = read_tenant(gateway, org=org, clock=demo.now, on_phase=_read_progress(on_progress))
        # The people's past only now (it is large, and every collection in this process would walk it).
        tell(0.5, "Reading the people's past from the demo tenant")
        history = control(emulator, "GET", "/truth/history")
        facts = history["tenant"]
        days = history_days(_parse_time(facts["now"]), HISTORY_DAYS)
        timelines = _timelines(history)
        waves = history["waves"]
        del history

        def frames() -> Any:
            for n, day in enumerate(daily_frames(read.frame, timelines, days,
                                                 not_capable=facts["methods_off_by_policy"])):
                tell(0.5 + 0.4 * n / len(days), f"Replaying the past: day {n + 1} of {len(days)}")
                yield day

        store.seed_history(emulator.tenant_id, frames())
        tell(0.92, "Recording the rollout waves and today's snapshot")
        import_waves(store, emulator.tenant_id, waves)
        snapshot_id = store.begin_snapshot(emulator.tenant_id, "reports", started_at=started)
        store.complete_snapshot(snapshot_id, read.frame, users_read_at=read.users_read_at,
                                registration_read_at=read.registration_read_at, state_read_at=read.state_read_at,
                                stats=read.stats, registration_source=read.registration_source,
                                state_read=read.state_read.as_dict(),
                                protection=read.protection.record if read.protection else None,
                                finished_at=demo.now())
        tell(1.0, "Ready")
        return True


@dataclass
class HistoryBuild:
    """The demo history being built in the background (one per store and tenant in a console process)."""

    fraction: float = 0.0
    words: str = "Starting"
    done: bool = False
    built: bool = False
    """Whether this build wrote the history (False: the store already had it)."""
    error: str = ""
    """What went wrong, in words (the build then stopped; the next start tries again)."""
    seconds: float = 0.0
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.done and not self.error

    def _progress(self, fraction: float, words: str) -> None:
        self.fraction, self.words = max(self.fraction, min(1.0, fraction)), words

    def _run(self, store: Store, demo: DemoTenant) -> None:
        begun = time.monotonic()
        try:
            self.built = ensure_demo_history(store, demo, self._progress)
            if self.built:
                freeze_long_lived()  # what the build leaves for good (the store's state) out of later collections
        except Exception as err:  # shown on the page; the console keeps serving
            self.error = describe(err)
        finally:
            self.seconds = time.monotonic() - begun
            self.done = True

    def _run_apart(self, database_url: str, demo: DemoTenant, log_path: Path) -> None:
        """Build in ``python -m lib.demo_seed`` (its own process, gone with this one), following its lines."""
        begun = time.monotonic()
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                proc = subprocess.Popen([sys.executable, "-m", "lib.demo_seed"], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=fd)
            finally:
                os.close(fd)
            assert proc.stdin is not None and proc.stdout is not None
            order = {"demo": demo.emulator.as_line(), "database_url": database_url}
            proc.stdin.write(json.dumps(order).encode("utf-8") + b"\n")
            proc.stdin.flush()  # kept open: closing it (or this process ending) stops the build
            for raw in proc.stdout:
                said = json.loads(raw)
                if "fraction" in said:
                    self._progress(float(said["fraction"]), str(said["words"]))
                elif "error" in said:
                    self.error = str(said["error"])
                else:
                    self.built = bool(said.get("built"))
            status = proc.wait()
            proc.stdin.close()
            if status != 0 and not self.error:
                self.error = f"The history build stopped unexpectedly (exit status {status}); see {log_path.name}."
        except (OSError, ValueError) as err:
            self.error = describe(err)
        finally:
            self.seconds = time.monotonic() - begun
            self.done = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the build ends (tests, the CLI); whether it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


def history_build(store: Store, demo: DemoTenant, database_url: str | None = None,
                  log_path: Path | None = None) -> HistoryBuild:
    """The demo history for ``store``: already there (done at once), or being built in the background, started
    by the first caller; a failed build is started again by the next caller.

    With ``database_url`` (the app) the build runs in a process of its own (``lib.demo_seed``), which keeps the
    interpreter lock and the collector of the pages' process free; otherwise on a thread of this one."""
    key = demo.emulator.tenant_id
    with _lock:
        builds = _builds.setdefault(store, {})
        build = builds.get(key)
        if build is not None and not (build.done and build.error):
            return build
        build = HistoryBuild()
        if store.latest_snapshot(demo.emulator.tenant_id) is not None:
            build.fraction, build.words, build.done = 1.0, "Ready", True
        else:
            apart = database_url is not None and isinstance(demo.emulator, DemoLink)
            target, args = ((build._run_apart, (database_url, demo, log_path or _temporary_log()))
                            if apart else (build._run, (store, demo)))
            build._thread = threading.Thread(target=target, args=args, daemon=True, name="demo-history")
            build._thread.start()
        builds[key] = build
    return build


def _temporary_log() -> Path:
    """Where a build process writes what it says on stderr when no data folder is named: a private temporary file."""
    handle, name = tempfile.mkstemp(prefix="demo-history-", suffix=".log")
    os.close(handle)
    return Path(name)


def advance_demo_clock(demo: DemoTenant, days: float) -> dict:
    """Move the demo tenant's clock ``days`` past the console's "now" (people sign in and register); the
    caller refreshes after. Returns what happened, as counts.

    The console's demo time has run on in real time since the last advance; the tenant is first moved
    over that stretch too, so afterwards both read the same instant and nothing is stamped twice."""
    ahead = demo.clock.catch_up()
    answer = control(demo.emulator, "POST", "/clock/advance",
                     {"days": days, "minutes": ahead / timedelta(minutes=1)})
    if not isinstance(answer, dict) or "report" not in answer:
        raise DemoTenantError("The demo tenant did not say how its clock moved.")
    if isinstance(demo.clock, _DemoClock):
        demo.clock.moved()
    return answer["report"]

