"""Sign-in evidence on the Overview and the Users page (AppTest, the real demo tenant and store).

Each console here is its own (a data folder of its own, so its own demo tenant), because reading the sign-in
log takes a snapshot and the shared demo console must stay as seeded. Expected figures come from the stored
evidence and the store's users frame through plain Python (never from the page); the legacy tile's link must
land on the Users page showing exactly the users the tile counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.console.sign_in_evidence import NOT_READ_YET
from lib.console.users_export import export_users
from lib.demo import app_gateway, demo_tenant
from lib.directory.refresh import refresh_snapshot
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope
from lib.settings import Settings
from lib.signins.reader import NEEDS_P1
from lib.signins.saved import load_evidence
from lib.store import open_store
from lib.ui.scope_controls import SCOPE_KEY
from tests.test_page_overview import PAGE, current_page, no_errors
from tests.test_page_overview_protection import matching_rows
from tests.ui_fixtures import ADMIN, READER, console_data, new_app

USERS_PAGE = "pages/users.py"
EVERYONE = Scope(include_disabled_accounts=True, include_guests=True, include_service=True, include_shared=True,
                 include_protected=True)


@pytest.fixture(scope="module")
def read_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A console of its own whose latest snapshot read the last 30 days of the sign-in log."""
    with console_data(tmp_path_factory.mktemp("sign-in-evidence-data")) as settings:
        demo = demo_tenant(settings)
        with open_store(settings.database_url, clock=demo.now) as store, app_gateway(demo.emulator) as gateway:
            result = refresh_snapshot(store, gateway, mode="demo", clock=demo.now, sign_in_pages=None)
            assert result.sign_ins is not None
        yield settings


@pytest.fixture
def on_read(read_console: Settings) -> Iterator[Settings]:
    with console_data(read_console.data_dir):
        yield read_console


def _stored(settings: Settings) -> tuple[pd.DataFrame, object]:
    with open_store(settings.database_url) as store:
        tenant = demo_tenant(settings).emulator.tenant_id
        return store.load_users(tenant), load_evidence(store, tenant)


def _window(evidence: object) -> tuple[datetime, datetime]:
    as_of = evidence.read_until
    first = (as_of - timedelta(days=29)).date()
    return as_of, datetime(first.year, first.month, first.day, tzinfo=UTC)


def _expected(settings: Settings) -> dict:
    """The figures over the default scope, counted from the stored evidence with plain Python."""
    users, evidence = _stored(settings)
    in_scope = apply_scope(users, DEFAULT_SCOPE)
    as_of, since = _window(evidence)
    single = total = judged = mfa = 0
    legacy: list[str] = []
    for user_id in in_scope["id"].astype(str):
        ev = evidence.users.get(user_id)
        if ev is None:
            continue
        for day, c in ev.days.items():
            if day >= since.date():
                single += c.total - c.mfa - c.unknown
                total += c.total
                judged += c.total - c.unknown
                mfa += c.mfa
        if any(at >= since for at in ev.legacy_clients.values()):
            legacy.append(user_id)
    upns = in_scope.set_index(in_scope["id"].astype(str))["upn"]
    return {"single": single, "total": total, "judged": judged, "mfa": mfa, "legacy_ids": legacy,
            "legacy_upns": sorted(upns[legacy]), "users": len(in_scope), "tenant_users": len(users),
            "as_of": as_of, "evidence": evidence, "frame": users}


def _metrics(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.proto.delta or None) for m in at.metric}


def test_the_overview_shows_the_stored_sign_in_figures(on_read: Settings) -> None:
    at = new_app(on_read, ADMIN, PAGE)
    no_errors(at)
    want = _expected(on_read)
    assert want["single"] > 0 and len(want["legacy_ids"]) > 0  # the demo tenant has both to show
    metrics = _metrics(at)
    assert metrics["Single-factor sign-ins (30 days)"][0] == f"{want['single']:,}"
    delta = metrics["Single-factor sign-ins (30 days)"][1]
    assert delta is not None and ("on the week before" in delta or "either of the last two weeks" in delta)
    assert metrics["Sign-ins with MFA"][0] == f"{100 * want['mfa'] / want['judged']:.1f}%"
    assert metrics["Users on legacy clients (30 days)"][0] == f"{len(want['legacy_ids']):,}"
    captions = [c.value for c in at.caption]
    assert f"of {want['total']:,} successful sign-ins" in captions
    read = next(c for c in captions if c.startswith("Sign-ins by "))
    assert read.startswith(f"Sign-ins by the {want['users']:,} users in scope ({want['tenant_users']:,} in the "
                           "snapshot")
    assert f"in the 30 days up to {want['as_of']:%-d %b}. Sign-in log read " in read and read.endswith(" UTC.")
    assert len(at.get("plotly_chart")) > 0


def test_in_the_whole_tenants_scope_the_figures_and_the_users_page_count_everyone(on_read: Settings) -> None:
    at = new_app(on_read, ADMIN, PAGE)
    at.session_state[SCOPE_KEY] = EVERYONE
    at.run()
    no_errors(at)
    users, evidence = _stored(on_read)
    _, since = _window(evidence)
    legacy = [i for i in users["id"].astype(str)
              if i in evidence.users and any(t >= since for t in evidence.users[i].legacy_clients.values())]
    caption = next(c.value for c in at.caption if c.value.startswith("Sign-ins by "))
    assert caption.startswith(f"Sign-ins by all {len(users):,} users of the snapshot, in the 30 days up to ")
    assert _metrics(at)["Users on legacy clients (30 days)"][0] == f"{len(legacy):,}"
    at.button(key="show_signin_legacy").click().run()
    if current_page(at) != "users.py":
        at.run()
    no_errors(at)
    assert matching_rows(at) == len(legacy)


def test_the_legacy_tile_lists_exactly_its_users_on_the_users_page(on_read: Settings) -> None:
    at = new_app(on_read, ADMIN, PAGE)
    want = _expected(on_read)
    count = len(want["legacy_ids"])
    at.button(key="show_signin_legacy").click().run()
    if current_page(at) != "users.py":  # the switch happens on this run; the Users page draws on the next
        at.run()
    assert current_page(at) == "users.py"
    no_errors(at)
    assert at.multiselect(key="users_f_evidence").value == ["legacy_30"]
    assert matching_rows(at) == count
    table = next(d.value for d in at.dataframe if "legacy_clients" in d.value.columns)
    assert sorted(table["upn"]) == want["legacy_upns"]
    assert (table["legacy_clients"].str.len() > 0).all()
    banner = [i.value for i in at.info if "(from the Overview)" in i.value]
    assert banner == [r"**Signed in with a legacy client \(30 days\)** (from the Overview)"]  # markdown-escaped


def test_the_users_page_shows_the_evidence_columns_and_filters(on_read: Settings) -> None:
    at = new_app(on_read, ADMIN, USERS_PAGE)
    no_errors(at)
    want = _expected(on_read)
    evidence, as_of = want["evidence"], want["as_of"]
    table = next(d.value for d in at.dataframe if "legacy_clients" in d.value.columns)
    assert {"last_mfa_sign_in", "last_single_factor_sign_in", "mfa_share"} <= set(table.columns)
    user_id = want["legacy_ids"][0]
    frame = want["frame"].set_index(want["frame"]["id"].astype(str))
    row = table[table["upn"] == frame.loc[user_id, "upn"]].iloc[0]
    ev = evidence.users[user_id]
    _, since = _window(evidence)
    recent = sorted(((at_, c) for c, at_ in ev.legacy_clients.items() if at_ >= since), reverse=True)
    assert row["legacy_clients"] == ", ".join(f"{c} ({at_:%-d %b})" for at_, c in recent)
    last_mfa = ev.last_mfa_sign_in
    assert (row["last_mfa_sign_in"] if pd.notna(row["last_mfa_sign_in"]) else None) == (
        None if last_mfa is None else f"{last_mfa:%Y-%m-%d %H:%M}")

    at.multiselect(key="users_f_evidence").set_value(["single_factor_14"]).run()
    no_errors(at)
    first = (as_of - timedelta(days=13)).date()
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    in_scope = apply_scope(want["frame"], DEFAULT_SCOPE)
    single = sorted(u for i, u in zip(in_scope["id"].astype(str), in_scope["upn"], strict=True)
                    if i in evidence.users and evidence.users[i].last_single_factor_sign_in is not None
                    and evidence.users[i].last_single_factor_sign_in >= start)
    assert matching_rows(at) == len(single) > 0
    assert sorted(next(d.value for d in at.dataframe if "legacy_clients" in d.value.columns)["upn"]) == single
    caption = next(c.value for c in at.caption if c.value.startswith("Filters: ")).replace("\\", "")
    assert caption == "Filters: signed in with one factor (last 14 days)"

    at.multiselect(key="users_f_evidence").set_value(["no_sign_in_30"]).run()
    silent = [i for i in in_scope["id"].astype(str)
              if i not in evidence.users or not any(d >= since.date() for d in evidence.users[i].days)]
    assert matching_rows(at) == len(silent)


def test_the_users_export_carries_the_evidence_columns(on_read: Settings) -> None:
    want = _expected(on_read)
    with open_store(on_read.database_url) as store:
        body = export_users(store, demo_tenant(on_read).emulator.tenant_id, "json")
    users = {u["id"]: u for u in json.loads(body)["users"]}
    user_id = want["legacy_ids"][0]
    assert users[user_id]["legacy_clients"]
    assert users[user_id]["last_legacy_sign_in"] is not None
    days = want["evidence"].users[user_id].days
    _, since = _window(want["evidence"])
    assert users[user_id]["sign_ins_30d"] == sum(c.total for d, c in days.items() if d >= since.date())


def test_before_the_log_is_read_both_pages_say_so(tmp_path_factory: pytest.TempPathFactory) -> None:
    with console_data(tmp_path_factory.mktemp("sign-ins-unread-data")) as settings:
        at = new_app(settings, READER, PAGE)
        no_errors(at)
        assert NOT_READ_YET in [i.value for i in at.info]
        assert "Single-factor sign-ins (30 days)" not in [m.label for m in at.metric]
        users = new_app(settings, READER, USERS_PAGE)
        no_errors(users)
        assert [i.value for i in users.info].count(NOT_READ_YET) == 1
        assert "users_f_evidence" not in [m.key for m in users.multiselect]


def test_without_p1_both_pages_say_the_evidence_needs_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    saved = os.environ.get("MFA_DEMO_PREMIUM")
    os.environ["MFA_DEMO_PREMIUM"] = "false"
    try:
        with console_data(tmp_path_factory.mktemp("sign-ins-no-p1-data")) as settings:
            assert not settings.demo_premium
            at = new_app(settings, ADMIN, PAGE)
            no_errors(at)
            needs = [i.value for i in at.info if i.value.startswith(NEEDS_P1)]
            assert len(needs) == 1 and "Single-factor sign-ins (30 days)" not in [m.label for m in at.metric]
            users = new_app(settings, ADMIN, USERS_PAGE)
            no_errors(users)
            assert len([i.value for i in users.info if i.value.startswith(NEEDS_P1)]) == 1
            assert "users_f_evidence" not in [m.key for m in users.multiselect]
            table = next(d.value for d in users.dataframe if "last_sign_in" in d.value.columns)
            assert "legacy_clients" not in table.columns
    finally:
        if saved is None:
            os.environ.pop("MFA_DEMO_PREMIUM", None)
        else:
            os.environ["MFA_DEMO_PREMIUM"] = saved
