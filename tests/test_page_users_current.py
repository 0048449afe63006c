"""The Users page stays current after an operation ends: the rows it changed show the states the journal
observed (until the next snapshot shows them), and the selection resets. Runs on a console of its own,
against the real demo tenant, so the shared demo console stays as seeded."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib import rollout
from lib.charts import METHOD_LABELS
from lib.demo import app_gateway, demo_tenant
from lib.directory.refresh import refresh_snapshot
from lib.settings import Settings
from lib.store import open_store
from tests.test_rollout_support import control
from tests.ui_fixtures import ADMIN, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/users.py"


@pytest.fixture
def own(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with console_data(tmp_path_factory.mktemp("users-current-data")) as settings:
        yield settings


def _table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if {"upn", "state", "state_from"} <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_after_an_enforce_the_rows_show_the_observed_states_and_the_selection_resets(own: Settings) -> None:
    at = new_app(own, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value(["Legal"]).run()
    before = _table(at)
    assert set(before["state_from"]) == {"Snapshot"}
    rows = before.index[before["state"] == "Disabled"][:3].tolist()
    assert len(rows) == 3
    picked = before.loc[rows, "upn"].tolist()
    at.session_state["users_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    at.button(key="users_action_enforced").click().run()
    at.button(key="users_plan_confirm").click().run()
    at.button(key="users_confirm_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    operation_id = at.session_state["users_operation"]
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert not at.exception

    after = _table(at).set_index("upn")
    assert after.loc[picked, "state"].tolist() == ["Enforced"] * 3
    assert after.loc[picked, "state_from"].tolist() == [f"Operation {operation_id}"] * 3
    others = after.drop(index=picked)
    assert set(others["state_from"]) == {"Snapshot"}
    assert others["state"].tolist() == before.set_index("upn").drop(index=picked)["state"].tolist()
    assert at.session_state["users_table"]["selection"]["rows"] == []
    assert at.session_state["users_select_all"] is False
    assert any("3 users show the state operation" in c.value for c in at.caption)
    with app_gateway(demo_tenant(own).emulator) as gateway:  # what the tenant says: the rows tell the truth
        store = open_store(own.database_url)
        try:
            ids = rollout.operation_items_frame(store, operation_id)["user_id"].tolist()
            assert set(gateway.read_mfa_states(ids).values()) == {"enforced"}
            refresh_snapshot(store, gateway, mode="demo", clock=demo_tenant(own).now)
        finally:
            store.close()

    at.run()  # a snapshot that began after the operation shows its outcome itself
    fresh = _table(at).set_index("upn")
    assert set(fresh["state_from"]) == {"Snapshot"}
    assert fresh.loc[picked, "state"].tolist() == ["Enforced"] * 3
    assert not any("show the state operation" in c.value for c in at.caption)


def test_the_table_speaks_peoples_words(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    table = _table(at)
    assert set(table["state"]) <= {"Disabled", "Enabled", "Enforced", "Unknown"}
    methods = {m for cell in table["methods"].dropna() for m in cell.split(", ") if m}
    assert methods and methods <= set(METHOD_LABELS.values())  # never "microsoftAuthenticatorPush"
    assert "Microsoft Authenticator (push)" in methods
    signed_in = table["last_sign_in"]
    assert signed_in.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d|never").all()
    assert not table["country"].dropna().str.fullmatch(r"[A-Z]{2}").any()  # "Sweden", never "SE"
    options = at.multiselect(key="users_f_methods").options
    assert "Microsoft Authenticator (push)" in options and "microsoftAuthenticatorPush" not in options


def test_an_apply_says_starting_until_its_first_batch_returns(own: Settings) -> None:
    emulator = demo_tenant(own).emulator
    at = new_app(own, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value(["HR"]).run()
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    at.button(key="users_action_enabled").click().run()
    at.button(key="users_plan_confirm").click().run()
    if "users_confirm_count" in [t.key for t in at.text_input]:
        at.text_input(key="users_confirm_count").set_value(next(m.value for m in at.metric
                                                                if m.label == "Will change")).run()
    # Graph holds the writes at its door (reads pass: the roles are re-read as the admin confirms)
    control(emulator, "PATCH", "/config", {"hold_after_writes": 0})
    try:
        at.button(key="users_confirm_go").click().run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Done"] == "0" and metrics["Rate"] == "starting…" and metrics["ETA"] == "starting…"
        assert not any("0.0" in v for v in metrics.values())
    finally:
        control(emulator, "PATCH", "/config", {"hold_after_writes": None})
    assert rollout.wait_operation(at.session_state["users_operation"], 120)


def test_the_scope_panel_stays_open_while_it_is_edited(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    scope = next(e for e in at.expander if e.label.startswith("Scope: "))
    assert not scope.proto.expanded
    at.checkbox(key="users_scope_include_guests").uncheck().run()
    scope = next(e for e in at.expander if e.label.startswith("Scope: "))
    assert "guests excluded" in scope.label and scope.proto.expanded
    at.checkbox(key="users_scope_include_service").check().run()
    assert next(e for e in at.expander if e.label.startswith("Scope: ")).proto.expanded
