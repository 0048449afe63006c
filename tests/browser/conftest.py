"""Browser tests: the real console under ``streamlit run``, driven by Playwright in Debian's Chromium.

Fixtures
--------
``console_server`` (session)
    Starts ``python -m streamlit run app.py`` on a free loopback port with the demo tenant
    (300 users, seed 7, premium) in a fresh data folder, waits for ``/_stcore/health``, and yields
    the base URL without a trailing slash (``"http://127.0.0.1:PORT"``). Stopped at the end.
    One server (one demo tenant, one store) serves every browser test of the session: a test that
    moves the demo clock or changes MFA state changes it for the tests after it, so assert on what
    the test itself did (before/after), not on absolute figures.
``browser`` (session)
    One headless ``/usr/bin/chromium`` for the whole session. Every browser test is skipped, with
    the reason, when that binary is missing (CI installs it with apt, so there they run).
``page`` (function)
    A new browser context per test, so each test is a fresh Streamlit session with no cookies.
    Actions and ``expect`` assertions wait up to 30 s. On failure a screenshot is saved under the
    pytest temp folder (``browser-failures/``) and its path printed with the tail of the server log.
    After a passing test the page must show no Python exception (checked at teardown).
``new_page`` (function)
    A factory for more such tabs, each its own context and Streamlit session (e.g. two admins at once).
``console_errors`` (function)
    The ``page``'s JavaScript errors so far (uncaught exceptions and ``console.error`` lines).
    Requests to anything but loopback are refused, so the tests need no network (the refusals are
    not listed here).

Helpers (import them: ``from tests.browser.conftest import sign_in, ...``)
-------------------------------------------------------------------------
``open_console(page, base_url)``    open the app signed out; waits for the sign-in page.
``sign_in(page, base_url, name)``   the whole interactive sign-in as a person does it; returns the
                                    callback URL the identity page redirected to (used once).
``sign_out(page)``                  the sidebar's "Sign out", then waits for the sign-in page.
``go_to(page, title)``              click a page in the sidebar navigation and wait for it to render.
``wait_for_streamlit(page)``        wait until the app is connected and its script has finished.
``assert_no_exception(page)``       no Python exception box (``stException``) anywhere on the page.
``nav_titles(page)``               the page titles the sidebar navigation offers, in order.
``expect_on_page(page, title)``     the browser shows the page titled ``title`` (by its URL path).
``sidebar(page)`` / ``main(page)`` / ``nav_link(page, title)`` / ``nav_links(page)``   locators.

A new test for another page typically reads::

    import pytest
    from playwright.sync_api import expect
    from tests.browser.conftest import ADMIN, assert_no_exception, go_to, main, sign_in

    @pytest.mark.browser
    def test_users_page(page, console_server):
        sign_in(page, console_server, ADMIN)
        go_to(page, "Users")
        expect(main(page).get_by_role("heading", name="Users")).to_be_visible()
        assert_no_exception(page)

Navigating with ``page.goto(f"{console_server}/users")`` opens a *new* Streamlit session that finds the
browser context's sign-in (its session cookie) and opens that page; in a fresh context it shows the
sign-in page at that address. Move between pages with ``go_to`` as a person clicks the sidebar.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000  # generous: CI machines have 2 cores and are often loaded
STARTUP_TIMEOUT_S = 90.0
DEMO_USERS = "300"
_RUNNING: list[tuple[subprocess.Popen[bytes], Path]] = []
"""The session's server process and its log (for fail-fast checks and failure reports)."""
_EXTERNAL = re.compile(r"^(?:https?|wss?)://(?!(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/]|$))", re.IGNORECASE)

# The demo tenant's interactive identities (display names on the emulator's "Pick an account" page).
ADMIN = "MOD Administrator"
"""Global Administrator: may change MFA."""
AUTH_POLICY_ADMIN = "Auth Policy Admin"
"""Authentication Policy Administrator: may change MFA."""
READER = "Security Reader"
"""Global Reader: read-only."""

__all__ = [
    "ADMIN",
    "AUTH_POLICY_ADMIN",
    "READER",
    "assert_no_exception",
    "expect_on_page",
    "go_to",
    "main",
    "nav_link",
    "nav_links",
    "nav_titles",
    "open_console",
    "sidebar",
    "sign_in",
    "sign_out",
    "wait_for_streamlit",
]


# ---------------------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _server_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment minus any tenant configuration: the server always runs the demo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({
        "MFA_CONSOLE_DATA": str(data_dir),
        "MFA_DEMO_USERS": DEMO_USERS,
        "MFA_DEMO_SEED": "7",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def _start_server(tmp: Path, attempt: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log_path = tmp / f"streamlit-{attempt}.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        # A developer's own .streamlit/secrets.toml must not point the tests at a real tenant.
        "--secrets.files", str(tmp / "no-secrets.toml"),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=_server_env(tmp / "data"), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}", log_path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on a free port (demo tenant, fresh data folder); yields its base URL."""
    tmp = tmp_path_factory.mktemp("console-server")
    for attempt in range(3):  # another process may take the free port between the probe and the bind
        proc, url, log_path = _start_server(tmp, attempt)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline and not _healthy(url):
            time.sleep(0.2)
        if proc.poll() is None and _healthy(url):
            break
        exited = proc.poll() is not None
        _stop(proc)
        if exited and "already in use" in _tail(log_path) and attempt < 2:
            continue
        what = (f"exited with status {proc.returncode} before {url}/_stcore/health answered" if exited else
                f"did not answer {url}/_stcore/health with 'ok' within {STARTUP_TIMEOUT_S:.0f} s")
        pytest.fail(f"streamlit run app.py {what}. Server log tail:\n{_tail(log_path)}", pytrace=False)
    _RUNNING.append((proc, log_path))
    try:
        yield url
    finally:
        _RUNNING.remove((proc, log_path))
        _stop(proc)


# ---------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the session (Playwright cannot download its own here)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; "
                    "scripts/test.sh does this) to run the browser tests")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open_tab(browser: Browser) -> Page:
    """A tab in a new browser context: no cookies, no storage, so a fresh Streamlit session."""
    context: BrowserContext = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US",
                                                  timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    # Hermetic: the app and the emulator are on loopback. Anything else (Streamlit fetches the
    # Material-icon favicon from fonts.gstatic.com) is refused at once instead of waiting on DNS.
    context.route(_EXTERNAL, lambda route: route.abort("blockedbyclient"))
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    tab.on("console", lambda msg: errors.append(f"console.error: {msg.text}")
           if msg.type == "error" and "ERR_BLOCKED_BY_CLIENT" not in msg.text else None)
    tab.console_errors = errors  # type: ignore[attr-defined]
    return tab


def _close_tab(tab: Page, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               label: str) -> None:
    """Report a failed test's page (screenshot, server log, browser errors); check a passed one; close."""
    report = getattr(request.node, "rep_call", None)
    errors: list[str] = tab.console_errors  # type: ignore[attr-defined]
    if report is not None and report.failed and not tab.is_closed():
        shots = tmp_path_factory.getbasetemp() / "browser-failures"
        shots.mkdir(exist_ok=True)
        shot = shots / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}{label}.png"
        try:
            tab.screenshot(path=str(shot))
            print(f"\nscreenshot of the failed page: {shot}  (url {tab.url})")
        except Exception as exc:  # the page may be gone; the report matters more
            print(f"\nno screenshot: {exc}")
        for _, log_path in _RUNNING:
            print(f"server log tail:\n{_tail(log_path)}")
        if errors:
            print("browser errors:\n" + "\n".join(errors))
    try:
        if report is not None and report.passed and not tab.is_closed():
            assert_no_exception(tab)
    finally:
        tab.context.close()


def _server_alive() -> None:
    for proc, log_path in _RUNNING:
        if proc.poll() is not None:
            pytest.fail(f"the console server exited (status {proc.returncode}). Log tail:\n{_tail(log_path)}",
                        pytrace=False)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A fresh browser context (a fresh Streamlit session) and one tab in it.

    After a passing test the page must not show a Python exception (else an error at teardown).
    """
    _server_alive()
    tab = _open_tab(browser)
    try:
        yield tab
    finally:
        _close_tab(tab, request, tmp_path_factory, "")


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Page]]:
    """Factory for more independent tabs (each its own context and Streamlit session), e.g. two admins."""
    tabs: list[Page] = []

    def make() -> Page:
        _server_alive()
        tabs.append(_open_tab(browser))
        return tabs[-1]

    try:
        yield make
    finally:
        for n, tab in enumerate(tabs, start=1):
            _close_tab(tab, request, tmp_path_factory, f"-extra{n}")


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """JavaScript errors the page has logged so far (a live list; refused external requests left out)."""
    return page.console_errors  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item so the ``page`` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# ---------------------------------------------------------------------------------------- helpers


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def main(page: Page) -> Locator:
    """The main area (not the sidebar)."""
    return page.get_by_test_id("stMain")


def nav_links(page: Page) -> Locator:
    """The sidebar's page links (``lib.ui.navigation``); their accessible names are the page titles."""
    return page.locator(".st-key-console_nav").get_by_test_id("stPageLink-NavLink")


def nav_link(page: Page, title: str) -> Locator:
    """The sidebar link to the page titled ``title`` (zero matches when the role does not offer it)."""
    return page.locator(".st-key-console_nav").get_by_role("link", name=title, exact=True)


def nav_titles(page: Page) -> list[str]:
    """The titles of the pages offered in the sidebar navigation, in order (without the icon ligatures)."""
    expect(nav_links(page).first).to_be_visible()
    return [t.strip() for t in nav_links(page).get_by_test_id("stMarkdownContainer").all_inner_texts()]


def page_path(title: str) -> str:
    """The URL path of the page titled ``title`` ("/" for the default page), as Streamlit derives it."""
    from lib.ui.navigation import SECTIONS

    specs = [spec for section in SECTIONS.values() for spec in section]
    spec = next(s for s in specs if s.title == title)
    return "/" if spec is specs[0] else "/" + Path(spec.path).stem


def expect_on_page(page: Page, title: str) -> None:
    """The browser is on the page titled ``title`` (its URL path) and the app has finished rendering."""
    expect(page).to_have_url(re.compile(rf"^[^?#]*://[^/]+{re.escape(page_path(title))}(?:[?#].*)?$"))
    wait_for_streamlit(page)


def wait_for_streamlit(page: Page) -> None:
    """Wait until the app is connected and the script run has finished (no "Running…" status).

    After an action that triggers a rerun, prefer waiting for the content it should produce: the
    rerun may not have started yet when this is called. The sidebar's refresh fragment reruns every
    second, so this waits for a moment between two runs, which the polling catches.
    """
    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED")
    expect(app).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0)


def assert_no_exception(page: Page) -> None:
    """No Python exception (``st.exception`` box / uncaught error with traceback) is shown."""
    boxes = page.get_by_test_id("stException")
    if boxes.count():
        pytest.fail(f"the page at {page.url} shows a Python exception:\n{boxes.first.inner_text()}", pytrace=False)
    traceback = page.get_by_text("Traceback (most recent call last)")
    if traceback.count():
        pytest.fail(f"the page at {page.url} shows a traceback:\n{traceback.first.inner_text()}", pytrace=False)


def _explained(page: Page, action: str, wait: Callable[[], None]) -> None:
    """Run ``wait``; if it timed out because the app's frontend crashed, fail saying so instead."""
    try:
        wait()
        return
    except AssertionError:
        crashed = [e for e in getattr(page, "console_errors", []) if e.startswith("uncaught:")]
        if not crashed:
            raise
    # Outside the except clause, so the report is the crash, not the timeout it caused.
    pytest.fail(f"the app crashed in the browser {action} (blank page): " + " | ".join(crashed), pytrace=False)


def _signed_out_page(page: Page, timeout_s: float = STARTUP_TIMEOUT_S) -> Locator:
    link = page.locator("#sign-in-link")
    # The session's first page load builds the demo tenant and its history: allow it the startup time.
    expect(link).to_be_visible(timeout=timeout_s * 1000)
    return link


def open_console(page: Page, base_url: str) -> None:
    """Open the console signed out and wait for the sign-in page (the first load may build the demo tenant)."""
    page.goto(base_url)
    _signed_out_page(page)


def sign_in(page: Page, base_url: str, name: str) -> str:
    """Sign in as the demo identity ``name`` the way a person does; return the callback URL used.

    Opens the app, clicks "Sign in with Microsoft", picks ``name`` on the emulator's "Pick an
    account" page, presses "Sign in", and waits until the signed-in shell's sidebar shows ``name``.
    """
    open_console(page, base_url)
    link = page.locator("#sign-in-link")
    expect(link).to_have_text("Sign in with Microsoft")
    link.click()
    account = page.get_by_role("radio", name=re.compile(rf"^\s*{re.escape(name)}\b"))
    account.check()
    base = base_url.rstrip("/")
    with page.expect_request(lambda r: r.url.startswith(base) and "code=" in r.url) as callback:
        page.locator("#signin").click()
    # The callback run renders nothing before its rerun: the next thing shown is the signed-in shell,
    # or the sign-in page again with the reason sign-in failed (then fail now, with that reason).
    signed_in = sidebar(page).get_by_role("button", name="Sign out")
    refused = page.locator("#sign-in-link")
    _explained(page, f"after signing in as {name!r}", lambda: expect(signed_in.or_(refused).first).to_be_visible())
    if refused.count() and not signed_in.count():
        alerts = " | ".join(t.strip() for t in main(page).get_by_test_id("stAlert").all_inner_texts())
        pytest.fail(f"sign-in as {name!r} came back to the sign-in page: {alerts or '(no message)'}", pytrace=False)
    expect(sidebar(page).get_by_text(name).first).to_be_visible()
    return callback.value.url


def sign_out(page: Page) -> None:
    """Press the sidebar's "Sign out" and wait for the sign-in page."""
    sidebar(page).get_by_role("button", name="Sign out").click()
    _explained(page, "after Sign out", lambda: _signed_out_page(page, TIMEOUT_MS / 1000))
    # Streamlit keeps the (now empty) sidebar panel for the rest of the browser session: check what is in it.
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(nav_links(page)).to_have_count(0)


def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar navigation, as a person would, and wait for it to finish rendering."""
    link = nav_link(page, title)
    link.click()

    _explained(page, f"after opening {title!r}", lambda: expect_on_page(page, title))
