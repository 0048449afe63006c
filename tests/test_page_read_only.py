"""Every page action that changes something, done by an admin who holds only the read-only role when they act.

An admin signs in with a role that may change MFA (the page offers every control), then the demo tenant
takes the role away (Global Reader is all that is left, as after a demotion or an expired PIM
activation) and the admin presses the button. Each test asserts the refusal the page shows, that no
table of the store and no user of the demo tenant changed, and that the session is read-only from then
on. A page whose role check (or the use case's) is deleted fails here. A Global Reader who signs in as
one is shown no demo clock control to press at all.

Runs on a console of its own (new data folder, so its own demo tenant and store).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import rollout
from lib.auth import GLOBAL_READER_REASON
from lib.demo import demo_tenant
from lib.rollout import journal
from lib.settings import Settings
from lib.store import Store, open_store
from lib.ui.context import AUTH_KEY
from tests.read_only_support import role_lost, store_fingerprint, tenant_fingerprint
from tests.ui_fixtures import AUTHPOLICY, READER, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

LOST = ("Your directory roles changed since you signed in: Global Reader is a read-only role: changing MFA "
        "needs Global Administrator or Authentication Policy Administrator. Nothing was changed.")
WRITER = rollout.AppActor("tests", frozenset({rollout.MFA_WRITE_PERMISSION}))
BREAK_GLASS = "breakglass01@fabrikamconsulting.onmicrosoft.com"
EMERGENCY = "emergency-access02@fabrikamconsulting.onmicrosoft.com"


@pytest.fixture(scope="module")
def settings(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with console_data(tmp_path_factory.mktemp("read-only-pages-data")) as settings:
        yield settings


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    new_app(settings, AUTHPOLICY)  # the console seeds its demo tenant and history on first use
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


class Unchanged:
    """Fingerprints of the store and the demo tenant, taken on entry and compared on exit."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.store, self.emulator = store, demo_tenant(settings).emulator

    def __enter__(self) -> Unchanged:
        self.before = store_fingerprint(self.store), tenant_fingerprint(self.emulator)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert (store_fingerprint(self.store), tenant_fingerprint(self.emulator)) == self.before


def _refused_as_reader(settings: Settings, store: Store, at: AppTest, press, shown: str) -> None:
    """``press`` (a click and rerun) while the admin holds only Global Reader: ``shown`` is on the page, the
    store and the tenant are as they were, and the session has turned read-only."""
    with role_lost(demo_tenant(settings).emulator, AUTHPOLICY), Unchanged(settings, store):
        press()
        assert not at.exception, [e.value for e in at.exception]
        assert shown in [e.value for e in at.error]
        admin = at.session_state[AUTH_KEY].admin
        assert (admin.can_change_mfa, admin.role_names) == (False, ("Global Reader",))
        at.run()  # and the page says so
        assert not at.exception, [e.value for e in at.exception]
        assert any(GLOBAL_READER_REASON in t for t in [c.value for c in at.caption] + [w.value for w in at.warning])


def _tenant(settings: Settings) -> str:
    return demo_tenant(settings).emulator.tenant_id


def _disabled(store: Store, settings: Settings, count: int) -> list[str]:
    users = store.load_users(_tenant(settings))
    ids = users.loc[(users["state"] == "disabled") & users["account_enabled"]
                    & (users["account_kind"] == "person"), "id"].tail(count).tolist()
    assert len(ids) == count
    return ids


# --- Users ---------------------------------------------------------------------------------------


def test_users_a_confirmed_change_is_refused(settings: Settings, store: Store) -> None:
    at = new_app(settings, AUTHPOLICY, "pages/users.py")
    at.multiselect(key="users_f_departments").set_value(["Operations"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enforced").click().run()
    at.button(key="users_plan_confirm").click().run()
    if "users_confirm_count" in [t.key for t in at.text_input]:
        count = {m.label: m.value for m in at.metric}["Will change"]
        at.text_input(key="users_confirm_count").set_value(count).run()
    _refused_as_reader(settings, store, at, lambda: at.button(key="users_confirm_go").click().run(), LOST)
    assert "users_operation" not in at.session_state


# --- Operations ----------------------------------------------------------------------------------


def test_operations_resume_is_refused(settings: Settings, store: Store) -> None:
    users = store.load_users(_tenant(settings))
    # journaled as running by a worker that is gone: interrupted, resumable
    operation_id = journal.create_operation(store, rollout.plan(users, "enabled", _disabled(store, settings, 3),
                                                                actor=WRITER),
                                            tenant_id=_tenant(settings), actor=WRITER, label="Cut short")
    at = new_app(settings, AUTHPOLICY, "pages/operations.py")
    at.selectbox(key="ops_selected").set_value(operation_id).run()
    assert not at.button(key=f"ops_resume_{operation_id}").disabled
    _refused_as_reader(settings, store, at, lambda: at.button(key=f"ops_resume_{operation_id}").click().run(), LOST)
    rollout.cancel_operation(store, operation_id, actor=WRITER)  # release its users for the other tests


def test_operations_an_undo_is_refused(settings: Settings, store: Store) -> None:
    from lib.demo import app_gateway

    ids = _disabled(store, settings, 6)[3:]
    users = store.load_users(_tenant(settings))
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        operation_id = rollout.start_operation(store, gateway, rollout.plan(users, "enforced", ids, actor=WRITER),
                                               tenant_id=_tenant(settings), actor=WRITER)
        assert rollout.wait_operation(operation_id, 120)
    at = new_app(settings, AUTHPOLICY, "pages/operations.py")
    at.selectbox(key="ops_selected").set_value(operation_id).run()
    at.button(key=f"ops_undo_{operation_id}").click().run()
    at.button(key="ops_plan_confirm").click().run()
    _refused_as_reader(settings, store, at, lambda: at.button(key="ops_confirm_go").click().run(), LOST)


# --- Protected accounts --------------------------------------------------------------------------


def test_protected_the_form_protect_is_refused(settings: Settings, store: Store) -> None:
    at = new_app(settings, AUTHPOLICY, "pages/protected.py")

    def press() -> None:
        at.text_input(key="protected_upn").set_value(BREAK_GLASS)
        at.text_input(key="protected_reason").set_value("Emergency access account")
        at.button(key="FormSubmitter:protected_add-Protect").click().run()

    _refused_as_reader(settings, store, at, press, f"Not protected: {LOST}")


def test_protected_a_suggestion_protect_is_refused(settings: Settings, store: Store) -> None:
    at = new_app(settings, AUTHPOLICY, "pages/protected.py")
    suggested = [b.key for b in at.button if b.key and b.key.startswith("protected_suggest_")]
    assert suggested
    _refused_as_reader(settings, store, at, lambda: at.button(key=suggested[0]).click().run(),
                       f"Not protected: {LOST}")


def test_protected_remove_is_refused(settings: Settings, store: Store) -> None:
    rollout.protect_account(store, _tenant(settings), EMERGENCY, reason="break-glass", owner="owner@example.com")
    at = new_app(settings, AUTHPOLICY, "pages/protected.py")
    at.multiselect(key="protected_remove_pick").set_value([EMERGENCY]).run()
    _refused_as_reader(settings, store, at, lambda: at.button(key="protected_remove").click().run(),
                       f"Not removed: {LOST}")
    assert EMERGENCY in rollout.active_protection(store, _tenant(settings))


# --- Registration progress: the demo clock -------------------------------------------------------


def test_progress_the_demo_clock_is_refused(settings: Settings, store: Store) -> None:
    at = new_app(settings, AUTHPOLICY, "pages/progress.py")
    _refused_as_reader(settings, store, at, lambda: at.button(key="clock_week").click().run(),
                       f"The clock could not move: {LOST}")


def test_a_global_reader_sees_no_demo_clock_controls(settings: Settings, store: Store) -> None:
    at = new_app(settings, READER, "pages/progress.py")
    assert not at.exception
    keys = [b.key for b in at.button]
    assert "clock_day" not in keys and "clock_week" not in keys
    assert f"Only an admin who may change MFA moves the demo clock. {GLOBAL_READER_REASON}" in \
        [c.value for c in at.caption]


# --- Registration progress: enforcing a wave's stragglers ----------------------------------------


def test_progress_enforcing_the_stragglers_is_refused(settings: Settings, store: Store) -> None:
    at = new_app(settings, AUTHPOLICY, "pages/progress.py")
    at.button(key="progress_plan_enforce").click().run()
    at.button(key="progress_plan_confirm").click().run()
    if "progress_confirm_count" in [t.key for t in at.text_input]:
        count = {m.label: m.value for m in at.metric}["Will change"]
        at.text_input(key="progress_confirm_count").set_value(count).run()
    _refused_as_reader(settings, store, at, lambda: at.button(key="progress_confirm_go").click().run(), LOST)
    assert "progress_operation" not in at.session_state

