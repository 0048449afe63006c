"""The very first visit to a new console: while the demo tenant is being built, no page list shows.

Until a script calls ``st.navigation``, Streamlit lists the ``pages/`` folder's file names in the
sidebar. A watcher installed before the app loads records whether that list ever appeared, even
for a moment, between the first byte and the sign-in button.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import STARTUP_TIMEOUT_S, _open_tab, _start_server, _stop, assert_no_exception

WATCH_NAVIGATION = """
window.__navigationSeen = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-testid="stSidebarNav"], [data-testid="stSidebarNavLink"]')) {
    window.__navigationSeen.push(el.innerText);
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture
def fresh_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A console server of this test's own, with an empty data folder (the demo is built on first visit)."""
    proc, url, _log = _start_server(tmp_path_factory.mktemp("first-visit"), 0)
    try:
        yield url
    finally:
        _stop(proc)


@pytest.mark.browser
def test_no_file_name_navigation_while_the_demo_tenant_is_prepared(browser: Browser, fresh_console: str) -> None:
    page: Page = _open_tab(browser)
    try:
        page.add_init_script(WATCH_NAVIGATION)
        # The server may still be starting: retry the first load until it answers.
        for _ in range(int(STARTUP_TIMEOUT_S)):
            try:
                page.goto(fresh_console)
                break
            except Exception:
                page.wait_for_timeout(1000)
        expect(page.locator("#sign-in-link")).to_be_visible(timeout=STARTUP_TIMEOUT_S * 1000)
        assert page.evaluate("window.__navigationSeen") == []
        assert_no_exception(page)
    finally:
        page.context.close()
