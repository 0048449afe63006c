"""The Users page under AppTest: filters and counts, the Overview's preset, the UPN list, CSV import errors,
the plan preview and confirmation, read-only roles, and changes that really run against the demo tenant.

AppTest cannot click dataframe rows: a test selects rows by writing the table's selection state
(``at.session_state["users_table"] = {"selection": {"rows": [...]}}``, positions in the rows shown),
or narrows with filters and turns on "Select all matching". Tests that change the tenant run on a
console of their own (``own_settings``), so the shared demo console stays as seeded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib import rollout
from lib.auth import GLOBAL_READER_REASON
from lib.demo import app_gateway, demo_tenant
from lib.rollout import journal
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope
from lib.settings import Settings
from lib.store import open_store
from lib.ui.handoff import USERS_FILTER_KEY
from lib.users_filters import UsersFilterPreset
from tests.ui_fixtures import ADMIN, READER, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/users.py"
ADMIN_UPN = "admin@fabrikamconsulting.com"


# --- helpers -------------------------------------------------------------------------------------


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _users(settings: Settings) -> pd.DataFrame:
    store = open_store(settings.database_url)
    try:
        return store.load_users(demo_tenant(settings).emulator.tenant_id)
    finally:
        store.close()


def _heading(at: AppTest) -> str:
    found = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(found) == 1, [m.value for m in at.markdown]
    return found[0]


def _table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if {"display_name", "upn", "state", "last_sign_in"} <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _operations(settings: Settings) -> list[rollout.Operation]:
    store = open_store(settings.database_url)
    try:
        return rollout.list_operations(store, demo_tenant(settings).emulator.tenant_id)
    finally:
        store.close()


def _select_rows(at: AppTest, rows: list[int]) -> AppTest:
    at.session_state["users_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


@pytest.fixture(scope="module")
def own_settings(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A console of its own (new data folder, so its own demo tenant) for the tests that change the tenant."""
    with console_data(tmp_path_factory.mktemp("users-page-data")) as settings:
        yield settings


@pytest.fixture
def on_own(own_settings: Settings) -> Iterator[Settings]:
    """Point the console at ``own_settings`` for one test (the module fixture restores the shared one after)."""
    with console_data(own_settings.data_dir):
        yield own_settings


# --- render, counts, filters ---------------------------------------------------------------------


def test_the_page_lists_the_users_in_scope_with_counts(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    _no_exception(at)
    users = _users(demo_settings)
    in_scope = apply_scope(users, DEFAULT_SCOPE)
    assert _heading(at) == f"#### {len(in_scope)} matching of {len(in_scope)} users in scope ({len(users)} in the " \
                           "snapshot)"
    states = in_scope["state"].value_counts()
    assert (f"Disabled {states.get('disabled', 0)} · Enabled {states.get('enabled', 0)} · "
            f"Enforced {states.get('enforced', 0)}") in [c.value for c in at.caption]
    table = _table(at)
    assert len(table) == len(in_scope)
    assert table["display_name"].tolist() == sorted(table["display_name"].tolist(), key=str.casefold)
    assert set(table["state"]) <= {"Disabled", "Enabled", "Enforced", "Unknown"}
    # nothing selected yet: the actions are there, disabled until something is selected
    for state in ("enabled", "enforced", "disabled"):
        assert at.button(key=f"users_action_{state}").disabled
    assert at.download_button(key="users_export_csv") and at.download_button(key="users_export_xlsx")


def test_filters_narrow_the_users_and_the_counts_follow(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    users = apply_scope(_users(demo_settings), DEFAULT_SCOPE)
    at.multiselect(key="users_f_departments").set_value(["Sales", "Legal"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.selectbox(key="users_f_registered").set_value("no").run()
    _no_exception(at)
    expected = users[users["department"].isin(["Sales", "Legal"]) & (users["state"] == "disabled")
                     & ~users["registered"]]
    assert _heading(at).startswith(f"#### {len(expected)} matching of {len(users)} users in scope")
    assert sorted(_table(at)["upn"]) == sorted(expected["upn"])
    caption = next(c.value for c in at.caption if c.value.startswith("Filters: ")).replace("\\", "")
    assert caption == "Filters: state: Disabled · registered: no · department: Sales, Legal"

    at.text_input(key="users_f_text").set_value("zzz-nobody").run()
    assert _heading(at).startswith(f"#### 0 matching of {len(users)}")
    assert any("No user matches these filters" in i.value for i in at.info)
    at.button(key="users_reset_filters").click().run()
    assert _heading(at).startswith(f"#### {len(users)} matching of {len(users)}")
    assert at.multiselect(key="users_f_departments").value == []


def test_a_pasted_list_of_upns_keeps_those_users_and_accounts_for_every_entry(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    everyone = _users(demo_settings)
    users = apply_scope(everyone, DEFAULT_SCOPE)
    picked = users["upn"].head(3).tolist()
    disabled = everyone.loc[~everyone["account_enabled"] & (everyone["account_kind"] == "person")
                            & ~everyone["is_guest"], "upn"].iloc[0]
    pasted = (f"{picked[0].upper()}\n{picked[1]}; {picked[2]}, nobody.here@fabrikamconsulting.com\nnot@@a-upn\n"
              f"{disabled}\n{picked[1]}")
    at.text_area(key="users_f_upn_text").set_value(pasted).run()
    _no_exception(at)
    assert sorted(_table(at)["upn"]) == sorted(picked)
    note = next(m.value for m in at.markdown if "on the list:" in m.value)
    assert note == ("**7** entries on the list: **3 shown** · 1 outside the scope (1 disabled account) · "
                    "1 not in the snapshot · 1 not a UPN · 1 listed twice")
    details = next(m.value for m in at.markdown if "Outside the scope" in m.value)
    assert "nobody\\.here@fabrikamconsulting\\.com" in details and "Disabled accounts" in details
    assert "**Listed twice**: 1 repeat" in details

    # the scope's Disabled accounts ticked: that user is shown, the counts still add up
    at.checkbox(key="users_scope_include_disabled_accounts").check().run()
    note = next(m.value for m in at.markdown if "on the list:" in m.value)
    assert note.startswith("**7** entries on the list: **4 shown** · 1 not in the snapshot")
    assert disabled in _table(at)["upn"].tolist()


def test_the_overview_link_presets_admins_without_a_registered_method(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, "pages/overview.py")
    at.checkbox(key="overview_scope_include_protected").check().run()  # the break-glass admins count
    users = apply_scope(_users(demo_settings), Scope(include_protected=True))
    expected = users[users["is_admin"] & ~users["registered"]]
    assert len(expected) >= 1
    at.button(key="show_admins_without_method").click().run()
    _no_exception(at)
    assert at.selectbox(key="users_f_admin").value == "yes"
    assert at.selectbox(key="users_f_registered").value == "no"
    assert _heading(at).startswith(f"#### {len(expected)} matching of {len(users)} users in scope")
    assert sorted(_table(at)["upn"]) == sorted(expected["upn"])
    assert any("**Admins without a registered method** (from the Overview)" in i.value for i in at.info)
    assert USERS_FILTER_KEY not in at.session_state  # used once
    at.switch_page(PAGE)  # AppTest's next runs stay on the page the script switched to
    at.button(key="users_preset_clear").click().run()
    assert at.selectbox(key="users_f_admin").value == "any"
    assert not any("from the Overview" in i.value for i in at.info)


def test_a_handed_over_preset_applies_and_anything_else_is_ignored(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    at.session_state[USERS_FILTER_KEY] = {"admin": True, "registered": True}  # not a preset: ignored
    at.run()
    _no_exception(at)
    assert at.selectbox(key="users_f_admin").value == "any"
    at.session_state[USERS_FILTER_KEY] = UsersFilterPreset(label="Registered admins", came_from="Overview",
                                                           admin=True, registered=True, user_ids=())
    at.run()
    _no_exception(at)
    users = apply_scope(_users(demo_settings), DEFAULT_SCOPE)
    expected = users[users["is_admin"] & users["registered"]]
    assert sorted(_table(at)["upn"]) == sorted(expected["upn"])
    assert any("The Overview counted 0" in i.value for i in at.info)


# --- read-only -----------------------------------------------------------------------------------


def test_a_reader_sees_the_actions_disabled_with_the_reason(demo_settings: Settings) -> None:
    at = new_app(demo_settings, READER, PAGE)
    _no_exception(at)
    at.toggle(key="users_select_all").set_value(True).run()
    assert any(m.value.startswith("**All ") for m in at.markdown)
    for state in ("enabled", "enforced", "disabled"):
        button = at.button(key=f"users_action_{state}")
        assert button.disabled
        assert button.help == GLOBAL_READER_REASON
    assert f":material/lock: Read-only: {GLOBAL_READER_REASON}" in [c.value for c in at.caption]


class _Actor:
    def __init__(self, upn: str, writer: bool) -> None:
        self.upn, self.can_change_mfa = upn, writer


# --- plan preview and confirmation ---------------------------------------------------------------


def test_selected_rows_become_a_plan_preview_with_skips_and_reasons(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    at.text_input(key="users_f_text").set_value("fabrikamconsulting.com").run()
    shown = _table(at)
    enforced = [i for i, s in enumerate(shown["state"]) if s == "Enforced"][:2]
    disabled = [i for i, s in enumerate(shown["state"]) if s == "Disabled"][:3]
    _select_rows(at, enforced + disabled)
    assert any(m.value == "**5 selected**." for m in at.markdown)
    before = len(_operations(demo_settings))
    at.button(key="users_action_enforced").click().run()
    _no_exception(at)
    assert any(s.value == "Preview: Enforce 3 users · 2 skipped" for s in at.subheader)  # what will change
    assert any(c.value.startswith("Asked for: Enforce 5 selected users.") for c in at.caption)
    assert _metrics(at)["Will change"] == "3" and _metrics(at)["Skipped"] == "2" and _metrics(at)["Selected"] == "5"
    said = " ".join(m.value for m in at.markdown)
    assert "- Disabled → Enforced: **3**" in said
    assert "- already in that state: **2**" in said
    skipped = _frame_with(at, "reason")
    assert sorted(skipped["upn"]) == sorted(shown["upn"].iloc[enforced])
    assert set(skipped["reason"]) == {"already Enforced"}
    changes = _frame_with(at, "expected")
    assert sorted(changes["upn"]) == sorted(shown["upn"].iloc[disabled])
    assert set(changes["expected"]) == {"Enforced"}
    assert any("legacy clients" in w.value for w in at.warning)
    # the dry run is a download of the plan: nothing is sent, nothing journaled
    assert at.download_button(key="users_plan_csv").label == "Dry run: download the plan (CSV)"
    assert len(_operations(demo_settings)) == before
    at.button(key="users_plan_discard").click().run()
    assert not [s for s in at.subheader if s.value.startswith("Preview")]


def test_above_fifty_the_count_must_be_typed(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enabled").click().run()
    count = int(_metrics(at)["Will change"].replace(",", ""))
    assert count > 50
    assert at.text_input(key="users_wave")  # an Enable can be named as a wave
    at.button(key="users_plan_confirm").click().run()
    _no_exception(at)
    assert f"Set **{count:,}** users to **Enabled**." in [m.value for m in at.markdown]
    go = at.button(key="users_confirm_go")
    assert go.disabled and go.label == f"Enable {count:,} users"
    at.text_input(key="users_confirm_count").set_value(str(count - 1)).run()
    assert at.button(key="users_confirm_go").disabled
    assert f"That is not {count}." in [c.value for c in at.caption]
    at.text_input(key="users_confirm_count").set_value(f"{count:,}").run()
    assert not at.button(key="users_confirm_go").disabled
    at.button(key="users_plan_discard").click().run()  # leave the shared tenant as it is


# --- CSV import ----------------------------------------------------------------------------------


def test_csv_import_lists_each_rejected_row_and_plans_the_valid_ones(demo_settings: Settings) -> None:
    users = _users(demo_settings)
    people = users[users["account_kind"] == "person"]
    a, b, c = people["upn"].iloc[0], people["upn"].iloc[1], people["upn"].iloc[2]
    data = (f"UserPrincipalName,State\r\n{a},enforced\r\n{b},paused\r\n{a},enabled\r\nghost@fabrikamconsulting.com,"
            f"enabled\r\nnot-a-upn,enabled\r\n{c},\r\n").encode("utf-8-sig")
    at = new_app(demo_settings, ADMIN, PAGE)
    at.file_uploader(key="users_csv_file").set_value(("users.csv", data, "text/csv")).run()
    _no_exception(at)
    assert "**users\\.csv**: 6 rows read · **1 valid** · **5 rejected**" in [m.value for m in at.markdown]
    errors = _frame_with(at, "line", "code", "message")
    assert errors["line"].tolist() == [3, 4, 5, 6, 7]
    assert errors["code"].tolist() == ["bad_state", "duplicate", "unknown_user", "bad_upn", "missing_state"]
    assert errors["message"].iloc[1] == f"{a} is listed again (first on line 2); each user once"
    # a default state turns the row without one into a valid row
    at.selectbox(key="users_csv_default").set_value("enabled").run()
    assert "**users\\.csv**: 6 rows read · **2 valid** · **4 rejected**" in [m.value for m in at.markdown]
    at.button(key="users_csv_plan").click().run()
    _no_exception(at)
    # titled with what will change (one of the two is already in that state), not with what was asked
    assert [s.value for s in at.subheader] == ["Preview: Change 1 user · 1 skipped"]
    assert any(c.value.startswith("Asked for: Change 2 users from users\\.csv.") for c in at.caption)
    assert _metrics(at)["Selected"] == "2"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b"PK\x03\x04rest-of-a-workbook", "this is an Excel workbook (.xlsx), not a CSV file"),
    ("UserPrincipalName\r\nåsa@b.com\r\n".encode("cp1252"), "the file is not UTF-8"),
])
def test_csv_import_says_why_a_file_cannot_be_used(demo_settings: Settings, data: bytes, message: str) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    at.file_uploader(key="users_csv_file").set_value(("bad.csv", data, "text/csv")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**bad\\.csv** cannot be used: ") and message in errors[0]
    assert "users_csv_plan" not in [b.key for b in at.button]  # nothing to plan


def test_csv_import_uses_the_separator_it_detects(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    upn = _users(demo_settings).query("account_kind == 'person'")["upn"].iloc[0]
    data = f"UserPrincipalName;State\r\n{upn};enabled\r\n".encode()
    at.file_uploader(key="users_csv_file").set_value(("excel-de.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "**excel\\-de\\.csv**: 1 row read · **1 valid** · **0 rejected**" in [m.value for m in at.markdown]
    assert "Separated by semicolon (;), as detected in the file." in [c.value for c in at.caption]
    at.selectbox(key="users_csv_delimiter").set_value(",").run()  # a separator chosen by hand is kept to
    assert any("separated by semicolons (;), not commas (,)" in e.value for e in at.error)


# --- changes that run ----------------------------------------------------------------------------


def test_confirming_runs_the_operation_and_shows_its_outcome(on_own: Settings) -> None:
    at = new_app(on_own, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value(["Legal"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enforced").click().run()
    count = int(_metrics(at)["Will change"])
    assert 0 < count <= 50
    at.button(key="users_plan_confirm").click().run()
    assert "users_confirm_count" not in [t.key for t in at.text_input]  # no typed count at 50 or fewer
    at.button(key="users_confirm_go").click().run()
    _no_exception(at)
    operation_id = at.session_state["users_operation"]
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert f"Operation {operation_id} complete: {count} applied, 0 failed, 0 skipped." in [s.value for s in at.success]
    operation = _operations(on_own)[0]
    assert operation.id == operation_id and operation.requested_state == "enforced"
    assert operation.label == "Enforce from the Users page (state: Disabled; department: Legal)"
    store = open_store(on_own.database_url)
    try:
        items = rollout.operation_items_frame(store, operation_id)
    finally:
        store.close()
    assert items["status"].tolist() == ["applied"] * count
    with app_gateway(demo_tenant(on_own).emulator) as gateway:  # what the tenant says now
        states = gateway.read_mfa_states(items["user_id"].tolist())
    assert set(states.values()) == {"enforced"}
    at.button(key="users_after_dismiss").click().run()
    assert not at.success


def test_an_enable_named_as_a_wave_creates_the_wave(on_own: Settings) -> None:
    at = new_app(on_own, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value(["HR"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enabled").click().run()
    count = int(_metrics(at)["Will change"])
    at.text_input(key="users_wave").set_value("Wave 3: HR").run()
    at.button(key="users_plan_confirm").click().run()
    assert f"Set **{count}** users to **Enabled** as the rollout wave **Wave 3\\: HR**." in \
        [m.value for m in at.markdown]
    at.button(key="users_confirm_go").click().run()
    _no_exception(at)
    assert rollout.wait_operation(at.session_state["users_operation"], 120)
    store = open_store(on_own.database_url)
    try:
        waves = rollout.list_waves(store, demo_tenant(on_own).emulator.tenant_id)
    finally:
        store.close()
    wave = next(w for w in waves if w.name == "Wave 3: HR")
    assert wave.source == "operation" and wave.operation_id == at.session_state["users_operation"]
    assert wave.members == count


def test_an_overlapping_operation_is_refused_naming_the_first(on_own: Settings) -> None:
    users = _users(on_own)
    tenant = demo_tenant(on_own).emulator.tenant_id
    held = users.loc[(users["department"] == "Operations") & (users["state"] == "disabled"), "id"].head(2).tolist()
    assert len(held) == 2
    store = open_store(on_own.database_url)
    try:  # an operation journaled as running whose worker is gone: interrupted, it still holds its users
        first = journal.create_operation(store, rollout.plan(users, "enabled", held, actor=_Actor(ADMIN_UPN, True)),
                                         tenant_id=tenant, actor=_Actor(ADMIN_UPN, True))
    finally:
        store.close()
    at = new_app(on_own, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value(["Operations"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enforced").click().run()
    at.button(key="users_plan_confirm").click().run()
    if "users_confirm_count" in [t.key for t in at.text_input]:
        at.text_input(key="users_confirm_count").set_value(_metrics(at)["Will change"]).run()
    at.button(key="users_confirm_go").click().run()
    assert not at.exception
    refusals = [e.value for e in at.error]
    assert len(refusals) == 1
    assert refusals[0].startswith(f"refused: operation {first} (apply to enabled by {ADMIN_UPN}")
    assert "interrupted" in refusals[0] and "resume it or cancel it first" in refusals[0]
    assert "users_operation" not in at.session_state
    store = open_store(on_own.database_url)
    try:
        rollout.cancel_operation(store, first, actor=_Actor(ADMIN_UPN, True))  # release the users for the other tests
    finally:
        store.close()


# --- no snapshot yet -----------------------------------------------------------------------------


def test_without_a_snapshot_the_page_says_to_refresh(demo_settings: Settings, tmp_path, monkeypatch) -> None:
    """A tenant-mode console (the demo's emulator as the tenant) whose store has no snapshot yet."""
    from urllib.parse import urlparse

    from lib.ui.context import AUTH_KEY
    from tests.ui_fixtures import signed_in_session

    emulator = demo_tenant(demo_settings).emulator
    authority = urlparse(emulator.authority)
    for key, value in {"MFA_CONSOLE_DATA": str(tmp_path), "MFA_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db",
                       "MFA_TENANT_ID": emulator.tenant_id,
                       "MFA_CLIENT_ID": emulator.public_client_id,
                       "MFA_AUTHORITY_HOST": f"{authority.scheme}://{authority.netloc}",
                       "MFA_GRAPH_URL": emulator.graph_url}.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state[AUTH_KEY] = signed_in_session(demo_settings, ADMIN)
    at.run()
    at.switch_page(PAGE).run()
    _no_exception(at)
    assert any(i.value.startswith("**No snapshot of this tenant yet.**")
               and "**Refresh data** in the sidebar" in i.value for i in at.info)
    assert at.button(key="users_first_refresh")
    assert not at.dataframe
