"""The console's pages and who may open them: one list, for ``st.navigation`` and the sidebar's links.

Streamlit lists the ``pages/`` folder's file names in the sidebar until a script calls
``st.navigation``, which on a first visit comes only after the demo tenant is built. So the
automatic navigation is switched off (``client.showSidebarNavigation = false`` in
``.streamlit/config.toml``) and the sidebar draws its own links from the same pages. Deliberately
light (Streamlit only), so ``app.py`` can route before it imports anything slow.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

AUTH_KEY = "auth_session"
"""Where this browser session keeps its sign-in (an ``AuthSession``): see ``lib.ui.context``."""


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    writers_only: bool = False
    """Only an admin who may change MFA is offered the page (and may open it)."""

    def page(self, *, default: bool = False) -> Any:
        return st.Page(self.path, title=self.title, icon=self.icon, default=default)


SIGN_IN = PageSpec("pages/sign_in.py", "Sign in", ":material/login:")
OVERVIEW = PageSpec("pages/overview.py", "Overview", ":material/monitoring:")
PROGRESS = PageSpec("pages/progress.py", "Registration progress", ":material/trending_up:")
USERS = PageSpec("pages/users.py", "Users", ":material/group:")
OPERATIONS = PageSpec("pages/operations.py", "Operations", ":material/history:")
PLANS = PageSpec("pages/plans.py", "MFA plans", ":material/checklist:")
# Only an admin who may change MFA may change which accounts are protected from changes.
PROTECTED = PageSpec("pages/protected.py", "Protected accounts", ":material/verified_user:", writers_only=True)
CONNECTION = PageSpec("pages/connection.py", "Connection", ":material/cable:")

SECTIONS: dict[str, tuple[PageSpec, ...]] = {
    "Adoption": (OVERVIEW, PROGRESS),
    "Rollout": (USERS, PLANS, OPERATIONS),
    "Setup": (PROTECTED, CONNECTION),
}
"""The signed-in navigation, in order; the first page is the default."""


def page_url_path(spec: PageSpec) -> str:
    """The URL path Streamlit gives ``spec``'s page ("" for the default page, else the file's stem)."""
    return "" if spec is SECTIONS["Adoption"][0] else PurePosixPath(spec.path).stem


def requested_page(url: str | None) -> str:
    """The signed-in page a browser's URL asks for (``"users"`` for ``…/users?x``), or "" for none / unknown."""
    path = urlsplit(url or "").path.strip("/")
    known = {page_url_path(spec) for specs in SECTIONS.values() for spec in specs}
    return path if path in known else ""


def sign_in_pages(requested: str) -> list[Any]:
    """``st.navigation``'s pages for a signed-out visitor: the sign-in page, also at the page asked for.

    A deep link (``/users``) then shows the sign-in page at that address instead of "page not found",
    and the sign-in comes back to it.
    """
    pages = [SIGN_IN.page(default=True)]
    if requested:
        pages.append(st.Page(SIGN_IN.path, title=SIGN_IN.title, icon=SIGN_IN.icon, url_path=requested))
    return pages


def signed_in(session_state: MutableMapping[str, Any]) -> bool:
    """Whether this browser session has a signed-in admin (without importing the auth machinery)."""
    session = session_state.get(AUTH_KEY)
    return bool(session is not None and getattr(session, "signed_in", False))


def signed_in_pages(can_change_mfa: bool) -> dict[str, list[Any]]:
    """``st.navigation``'s sections for an admin: pages for writers only are left out for readers."""
    default = SECTIONS["Adoption"][0]
    return {
        section: [spec.page(default=spec is default) for spec in specs if can_change_mfa or not spec.writers_only]
        for section, specs in SECTIONS.items()
    }


def render_links(sections: dict[str, list[Any]]) -> None:
    """The sidebar's page links, section by section (the automatic navigation is switched off)."""
    with st.sidebar, st.container(key="console_nav"):
        for section, pages in sections.items():
            st.caption(section.upper())
            for page in pages:
                st.page_link(page)
