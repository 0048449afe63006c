"""The shell under AppTest: anonymous visitors get only the sign-in page; navigation follows the role."""

from __future__ import annotations

import pytest

from lib.settings import Settings
from tests.ui_fixtures import ADMIN, AUTHPOLICY, READER, demo_settings, new_app

__all__ = ["demo_settings"]


def test_an_anonymous_visitor_sees_only_the_sign_in_page(demo_settings: Settings) -> None:
    at = new_app(demo_settings, None)
    assert not at.exception
    assert [t.value for t in at.title] == ["MFA Rollout Console"]
    link = next(m.value for m in at.markdown if 'id="sign-in-link"' in m.value)
    # The console's own sign-in request (lib.ui.sign_in_routes) begins the flow, bound to the browser.
    assert 'href="/auth/sign-in?next=%2F"' in link
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/overview.py")


@pytest.mark.parametrize(("identity", "role", "writer"), [
    (ADMIN, "Global Administrator", True),
    (AUTHPOLICY, "Authentication Policy Administrator", True),
    (READER, "Global Reader", False),
])
def test_navigation_and_sidebar_follow_the_role(demo_settings: Settings, identity: str, role: str,
                                                writer: bool) -> None:
    at = new_app(demo_settings, identity)
    assert not at.exception
    assert [t.value for t in at.title] == ["Adoption overview"]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert f"*{role}*" in sidebar
    read_only = [c.value for c in at.sidebar.caption if c.value.startswith("Read-only")]
    assert bool(read_only) is not writer
    if writer:
        at.switch_page("pages/protected.py").run()
        assert [t.value for t in at.title] == ["Protected accounts"]
    else:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page("pages/protected.py")
    for page in ("pages/users.py", "pages/operations.py", "pages/progress.py", "pages/connection.py"):
        at.switch_page(page).run()
        assert not at.exception, page
