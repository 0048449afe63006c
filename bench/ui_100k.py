"""Benchmark the console as a person uses it on a large demo tenant: the app under ``streamlit run``, in Chromium.

Starts ``python -m streamlit run app.py`` as ``scripts/run.sh`` does (and as tests/browser/conftest.py does:
a free loopback port, a fresh data folder unless ``--data`` names one, the demo tenant of ``--users`` users),
then drives it with Playwright in Debian's Chromium through the steps of a first visit, and samples the
server's resident memory (``/proc``) every half second throughout:

- ``first_start_s``: from starting the server to the sign-in page's "Sign in with Microsoft" link;
- ``history_ready_s``: from starting the server to the adoption overview showing its figures, signed in at
  once (the overview needs the 90-day history: the time until it is prepared);
- ``sign_in_to_overview_s``: in a new browser session, once the history is there, from pressing "Sign in"
  on the identity page to the overview's figures;
- ``plan_all_s``: on the Users page, "Select all N matching" then "Enforce…", until the preview's heading
  ("Preview: Enforce …") is shown (the console re-reads every selected user's state first);
- ``plus_one_day_s`` / ``plus_one_week_s``: on Registration progress (the page left open), "+1 day" and
  then "+1 week", until the page says "Moved the demo clock a day/a week" (a snapshot per simulated day);
- ``server_rss_peak_mb``: the Streamlit server process's peak RSS; ``children_rss_peak_mb`` the peak of its
  child processes together (a demo tenant served in a process of its own), ``total_rss_peak_mb`` both;
  ``server_rss_after_step_mb`` the server's RSS as each step ended (what stays from one step to the next).

It reads only what a person sees (texts, headings, buttons), so a change in how the demo starts or how a
plan runs does not break it. Each step waits up to ``--step-timeout`` seconds; a step that does not finish
is reported as null with the reason, and the steps after it still run when they can. Nothing is asserted:
the last line printed is one JSON object with the figures (progress lines before it go to stderr).

``python bench/ui_100k.py [--users 100000] [--seed 7] [--data DIR] [--port PORT] [--throttle-speedup X]
[--step-timeout 1800]``
(run it again with the same ``--data`` to measure a restart that reuses the stored tenant and history).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN = "MOD Administrator"
"""The demo's Global Administrator (may change MFA and move the demo clock)."""
STEPS = ("first_start_s", "history_ready_s", "sign_in_to_overview_s", "plan_all_s", "plus_one_day_s",
         "plus_one_week_s")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
EXTERNAL = re.compile(r"^(?:https?|wss?)://(?!(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/]|$))", re.IGNORECASE)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- memory ----------------------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children…), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


class MemorySampler:
    """Peak RSS of the server process and of its children, sampled every ``every`` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.server_peak = self.children_peak = self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        server = _rss_bytes(self.pid)
        children = sum(_rss_bytes(child) for child in _descendants(self.pid))
        self.server_peak = max(self.server_peak, server)
        self.children_peak = max(self.children_peak, children)
        self.total_peak = max(self.total_peak, server + children)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(5)
        self.sample()
        mb = 1024 * 1024
        return {"server_rss_peak_mb": round(self.server_peak / mb, 1),
                "children_rss_peak_mb": round(self.children_peak / mb, 1),
                "total_rss_peak_mb": round(self.total_peak / mb, 1)}


# --- the server ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data: Path, users: int, seed: int, port: int, log_path: Path,
                 throttle_speedup: float | None = None) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on the demo tenant, as scripts/run.sh runs it (no secrets file: always the demo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({"MFA_CONSOLE_DATA": str(data), "MFA_DEMO_USERS": str(users), "MFA_DEMO_SEED": str(seed),
                "PYTHONUNBUFFERED": "1"})
    if throttle_speedup is not None:
        env["MFA_DEMO_THROTTLE_SPEEDUP"] = str(throttle_speedup)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--secrets.files", str(data.parent / "no-secrets.toml")]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- the browser -----------------------------------------------------------------------------------


class Run:
    """The steps, each timed; a failed step is recorded (null and its reason) and the run goes on."""

    def __init__(self, browser: Any, base_url: str, t0: float, step_timeout_s: float, server_pid: int) -> None:
        self.browser, self.base_url, self.t0, self.server_pid = browser, base_url, t0, server_pid
        self.rss_after: dict[str, float] = {}
        """The server's RSS (MB) as each step ended: memory that stays, step after step."""
        self.timeout_ms = step_timeout_s * 1000
        self.figures: dict[str, float | None] = dict.fromkeys(STEPS)
        """Every step's figure; None until measured (a step after a failed one may not run at all)."""
        self.failures: dict[str, str] = {}

    def tab(self) -> Any:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US",
                                           timezone_id="UTC")
        context.set_default_timeout(self.timeout_ms)
        context.route(EXTERNAL, lambda route: route.abort("blockedbyclient"))  # loopback only
        return context.new_page()

    def step(self, name: str, action: Callable[[], float]) -> bool:
        """Run ``action`` (it returns its figure in seconds); False when it failed."""
        log(f"{name}…")
        try:
            self.figures[name] = round(action(), 2)
        except Exception as err:  # a benchmark reports what it could not measure and why
            self.figures[name] = None
            self.failures[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
            log(f"{name} failed: {self.failures[name]}")
            return False
        self.rss_after[name] = round(_rss_bytes(self.server_pid) / (1024 * 1024), 1)
        log(f"{name} = {self.figures[name]} s (server RSS now {self.rss_after[name]} MB)")
        return True


def _main(page: Any) -> Any:
    return page.get_by_test_id("stMain")


def _sidebar(page: Any) -> Any:
    return page.get_by_test_id("stSidebar")


def _settled(page: Any, expect: Any) -> None:
    """The app is connected and its script has finished (a polling section may start another run after)."""
    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED")
    expect(app).to_have_attribute("data-test-script-state", "notRunning")


def _open_sign_in(page: Any, base_url: str, expect: Any) -> Any:
    while True:  # the server may still be binding its port
        try:
            page.goto(base_url)
            break
        except Exception:
            time.sleep(0.2)
    link = page.locator("#sign-in-link")
    expect(link).to_be_visible()
    return link


def _sign_in(page: Any, link: Any, expect: Any) -> float:
    """Pick the admin on the identity page and press Sign in; returns the moment it was pressed."""
    link.click()
    page.get_by_role("radio", name=re.compile(rf"^\s*{re.escape(ADMIN)}\b")).check()
    pressed = time.monotonic()
    page.locator("#signin").click()
    expect(_sidebar(page).get_by_role("button", name="Sign out")).to_be_visible()
    return pressed


def _overview_ready(page: Any, expect: Any) -> None:
    """The adoption overview shows its figures (its KPI tiles are drawn from the history's snapshots)."""
    area = _main(page)
    expect(area.get_by_role("heading", name="Adoption overview")).to_be_visible()
    expect(area.get_by_test_id("stMetric").first).to_be_visible()


def _go_to(page: Any, title: str, expect: Any) -> None:
    page.locator(".st-key-console_nav").get_by_role("link", name=title, exact=True).click()
    expect(_main(page).get_by_role("heading", name=title, exact=True)).to_be_visible()
    _settled(page, expect)


def drive(run: Run, expect: Any) -> None:
    page = run.tab()
    link: list[Any] = []

    def first_start() -> float:
        link.append(_open_sign_in(page, run.base_url, expect))
        return time.monotonic() - run.t0

    if not run.step("first_start_s", first_start):
        return

    def history() -> float:
        _sign_in(page, link[0], expect)
        _overview_ready(page, expect)
        return time.monotonic() - run.t0

    if not run.step("history_ready_s", history):
        return

    def sign_in_again() -> float:
        fresh = run.tab()
        try:
            pressed = _sign_in(fresh, _open_sign_in(fresh, run.base_url, expect), expect)
            _overview_ready(fresh, expect)
            return time.monotonic() - pressed
        finally:
            fresh.context.close()

    run.step("sign_in_to_overview_s", sign_in_again)

    def plan_all() -> float:
        _go_to(page, "Users", expect)
        area = _main(page)
        expect(area.get_by_role("heading", name=re.compile(r"^[\d,]+ matching of [\d,]+ users"))).to_be_visible()
        area.get_by_text(re.compile(r"^Select all [\d,]+ matching$")).click()
        expect(area.get_by_text(re.compile(r"All [\d,]+ matching users"))).to_be_visible()
        _settled(page, expect)
        started = time.monotonic()
        area.get_by_role("button", name="Enforce…").click()
        expect(area.get_by_role("heading", name=re.compile(r"^Preview: Enforce [\d,]+ users"))).to_be_visible()
        took = time.monotonic() - started
        discard = area.get_by_role("button", name="Discard")
        if discard.count():
            discard.first.click()
        return took

    run.step("plan_all_s", plan_all)

    def clock(button: str, said: str) -> Callable[[], float]:
        def move() -> float:
            area = _main(page)
            if not area.get_by_role("heading", name="Registration progress", exact=True).count():
                _go_to(page, "Registration progress", expect)
            _settled(page, expect)
            go = area.get_by_role("button", name=button)
            expect(go).to_be_enabled()
            started = time.monotonic()
            go.click()
            expect(area.get_by_text(said)).to_be_visible()
            return time.monotonic() - started
        return move

    run.step("plus_one_day_s", clock("+1 day", "Moved the demo clock a day:"))
    run.step("plus_one_week_s", clock("+1 week", "Moved the demo clock a week:"))
    page.context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="the data folder (kept); default a fresh temporary one")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--throttle-speedup", type=float, help="MFA_DEMO_THROTTLE_SPEEDUP (default: the console's)")
    parser.add_argument("--step-timeout", type=float, default=1800.0, help="seconds each step may take")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(json.dumps({"error": f"{CHROMIUM} is missing (apt-get install chromium)"}))
        return 1
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory(prefix="ui-bench-") as scratch:
        data = args.data.resolve() if args.data else Path(scratch) / "data"
        data.mkdir(parents=True, exist_ok=True)
        restart = any(data.iterdir())
        server_log = Path(scratch) / "streamlit.log"
        t0 = time.monotonic()
        proc, base_url = start_server(data, args.users, args.seed, args.port or _free_port(), server_log,
                                      args.throttle_speedup)
        sampler = MemorySampler(proc.pid).start()
        log(f"server pid {proc.pid} at {base_url}, {args.users:,} demo users, data {data}"
            f"{' (a restart: reusing it)' if restart else ''}")
        run: Run | None = None
        try:
            deadline = time.monotonic() + args.step_timeout
            while proc.poll() is None and not _healthy(base_url) and time.monotonic() < deadline:
                time.sleep(0.2)
            expect.set_options(timeout=args.step_timeout * 1000)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                     args=CHROMIUM_ARGS)
                try:
                    run = Run(browser, base_url, t0, args.step_timeout, proc.pid)
                    drive(run, expect)
                finally:
                    browser.close()
        finally:
            memory = sampler.stop()
            stop_server(proc)
        figures: dict[str, Any] = {"users": args.users, "restart": restart, "throttle_speedup": args.throttle_speedup,
                                   **(run.figures if run else {}), **memory,
                                   "server_rss_after_step_mb": run.rss_after if run else {}}
        if run and run.failures:
            figures["failures"] = run.failures
            figures["server_log_tail"] = server_log.read_text(errors="replace").splitlines()[-15:]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
