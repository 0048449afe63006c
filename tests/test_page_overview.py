"""The adoption overview page (AppTest) and its glue in lib.overview, on the real demo tenant and store.

Every expected number is computed here from the users frame the store holds for the same snapshot
(with lib.scope and lib.kpis, and for a few tiles with plain pandas), never copied from the page.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.charts import CHART_TITLES
from lib.demo import demo_tenant
from lib.jobs import current_job
from lib.kpis import compute_kpis, kpi_tiles, previous_week_row
from lib.overview import (
    CHART_ORDER,
    ChartImageError,
    admins_without_method_preset,
    build_overview,
    chart_png,
    chromium_binary,
    clear_cache,
    data_status,
    figures_zip,
    kpi_table,
    protection_now,
    report_html,
    tile_views,
    wait_for_baselines,
)
from lib.palette import plain
from lib.protection import PROTECTED
from lib.protection_tiles import TILE_LABELS, protection_tiles
from lib.rollout.waves import list_waves
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope
from lib.settings import Settings, load_settings
from lib.sign_in_tiles import SIGN_IN_TILE_LABELS
from lib.store import open_store
from lib.ui.context import AUTH_KEY
from lib.ui.handoff import USERS_FILTER_KEY
from lib.ui.scope_controls import SCOPE_KEY, scope_summary
from lib.users_filters import UsersFilterPreset
from tests.ui_fixtures import ADMIN, READER, ROOT, new_app, signed_in_session
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/overview.py"
USERS_PAGE_FILE = ROOT / "pages" / "users.py"


# --- helpers -----------------------------------------------------------------------------------


def tenant_of(at: AppTest) -> str:
    return at.session_state[AUTH_KEY].admin.tenant_id


def expected_kpis(settings: Settings, tenant: str, scope: Scope = DEFAULT_SCOPE):
    """lib.kpis on the store's users frame of the latest snapshot, scoped, with the week-ago snapshot."""
    with open_store(settings.database_url) as store:
        snapshot = store.latest_snapshot(tenant)
        users = store.load_users(tenant, snapshot.id)
        row = previous_week_row(store.daily_aggregates(tenant))
        previous = None if row is None else apply_scope(store.load_users(tenant, int(row["snapshot_id"])), scope)
    return compute_kpis(apply_scope(users, scope), previous), users, snapshot


def adoption_metrics(at: AppTest) -> list:
    """The adoption tiles (the protection tiles above them are tested in test_page_overview_protection.py, the
    sign-in tiles in test_page_overview_sign_ins.py)."""
    return [m for m in at.metric if m.label not in TILE_LABELS and m.label not in SIGN_IN_TILE_LABELS]


def shown_metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in adoption_metrics(at)}


def expected_metrics(kpis) -> dict[str, tuple[str, str]]:
    out = {}
    for tile in kpi_tiles(kpis):
        if tile.key == "unknown" and kpis.unknown == 0 and (kpis.change is None or kpis.change.unknown == 0):
            continue
        delta = "" if tile.delta is None else ("0" if tile.delta.startswith("±") else tile.delta)
        out[tile.label] = (tile.value, delta)
    return out


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_headings(at: AppTest) -> list[str]:
    return [m.value.removeprefix("#### ") for m in at.markdown if m.value.startswith("#### ")]


def current_page(at: AppTest) -> str:
    info = at._registered_pages.get(at._finished_page_script_hash) or {}
    return Path(str(info.get("script_path", ""))).name


def settled(at: AppTest) -> AppTest:
    """Run again once the week-ago snapshot the page reads in the background is in (the deltas show)."""
    wait_for_baselines()
    return at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def overview_app(demo_settings: Settings) -> AppTest:
    at = settled(new_app(demo_settings, ADMIN, page=PAGE))
    no_errors(at)
    return at


# --- a small demo tenant -----------------------------------------------------------------------


def test_kpis_match_lib_kpis_on_the_stored_users(overview_app: AppTest, demo_settings: Settings) -> None:
    at = overview_app
    kpis, users, snapshot = expected_kpis(demo_settings, tenant_of(at))
    assert kpis.change is not None and kpis.change.basis == "scope"  # the seeded history reaches a week back
    assert shown_metrics(at) == expected_metrics(kpis)

    # the same tiles counted with plain pandas, independently of lib.scope / lib.kpis
    people = users[users["account_enabled"] & ~users["account_kind"].isin(["service", "shared", "break_glass"])]
    shown = shown_metrics(at)
    assert shown["Users in scope"][0] == f"{len(people):,}"
    assert shown["Registered for MFA"][0] == f"{100 * people['registered'].sum() / len(people):.1f}%"
    assert shown["Disabled"][0] == f"{(people['state'] == 'disabled').sum():,}"
    assert shown["Enforced"][0] == f"{(people['state'] == 'enforced').sum():,}"
    assert shown["Guests"][0] == f"{people['is_guest'].sum():,}"
    adoption = adoption_metrics(at)
    assert [m.proto.delta_description for m in adoption] == [f"since {kpis.change.since:%d %b}"] * len(adoption)

    status = data_status(snapshot, demo_tenant(demo_settings).now())
    line = next(m.value for m in at.markdown if "Data as of" in m.value)
    assert f"Data as of {status.read_at:%Y-%m-%d %H:%M} UTC" in line
    assert line.endswith("registration from the reports API (Entra ID P1)")
    assert not any("Entra ID P1" in i.value for i in at.info)  # the no-P1 explanation is not shown


def test_the_page_does_not_wait_for_last_weeks_snapshot(demo_settings: Settings) -> None:
    clear_cache()  # a fresh process: no snapshot in memory
    at = new_app(demo_settings, ADMIN, page=PAGE)
    no_errors(at)
    kpis, _, _ = expected_kpis(demo_settings, tenant_of(at))
    shown = shown_metrics(at)
    if any("Reading last week's snapshot" in c.value for c in at.caption):  # drawn before it was read
        assert {label: value for label, (value, _) in shown.items()} == \
            {label: value for label, (value, _) in expected_metrics(kpis).items()}
        assert {delta for _, delta in shown.values()} == {""}
    settled(at)
    no_errors(at)
    assert shown_metrics(at) == expected_metrics(kpis)
    assert not any("Reading last week's snapshot" in c.value for c in at.caption)


def test_every_chart_renders_from_the_same_scope(overview_app: AppTest, demo_settings: Settings) -> None:
    at = overview_app
    kpis, _, _ = expected_kpis(demo_settings, tenant_of(at))
    coverage, protection_trend, *specs = chart_specs(at)  # the protection charts lead
    assert len(specs) == len(CHART_ORDER) == 8
    assert sum(sum(t["x"]) for t in coverage["data"]) == kpis.users
    # the trend replays the stored versions; the store's own users frame of each day's snapshot agrees
    with open_store(demo_settings.database_url) as store:
        expected = []
        for snapshot_id in store.daily_aggregates(tenant_of(at))["snapshot_id"]:
            day = store.load_users(tenant_of(at), int(snapshot_id))
            covered = day["covered_by"].astype("string")
            expected.append(None if covered.isna().all() else
                            100 * covered.isin([str(c) for c in PROTECTED]).sum() / len(day))
    assert protection_trend["data"][0]["y"] == pytest.approx(expected) and len(expected) == 91
    headings = chart_headings(at)
    assert headings[:2] == ["Protected by", "Effectively protected over time"]
    assert headings[2:] == [CHART_TITLES[k] for k in (
        "state_distribution", "rollout_funnel", "adoption_trend", "methods", "method_strength",
        "by_department", "by_country", "by_user_type")]
    state = specs[0]
    assert [t["name"] for t in state["data"]] == ["Disabled", "Enabled", "Enforced", "Unknown"]
    assert [t["y"][0] for t in state["data"]] == [kpis.disabled, kpis.enabled, kpis.enforced, kpis.unknown]
    assert [t["marker"]["color"] for t in state["data"]] == ["#D55E00", "#E69F00", "#009E73", "#999999"]
    funnel = specs[1]["data"][0]
    assert funnel["x"][0] == kpis.users
    assert funnel["x"][3] == kpis.enforced
    trend = specs[2]
    assert [t["name"] for t in trend["data"]][:2] == ["% registered", "% enforced"]
    assert len(trend["data"][0]["x"]) == 91  # 90 seeded days and today's snapshot
    # the tenant's rollout waves (lib.rollout; the demo imports its two earlier ones) are marked on the trend
    with open_store(demo_settings.database_url) as store:
        waves = [plain(w.name) for w in list_waves(store, tenant_of(at))]
    assert len(waves) == 2
    assert [a["text"] for a in trend["layout"]["annotations"]] == ["1", "2"]  # tags above the plot
    assert [t["name"] for t in trend["data"]][2:] == [f"1 · {waves[0]}", f"2 · {waves[1]}"]  # named in the legend
    assert len(trend["layout"]["shapes"]) == 2
    members, guests = specs[7]["data"][0]["y"]  # "Member (1,234)", "Guest (56)"
    assert members.startswith("Member (") and guests == f"Guest ({kpis.guests:,})"
    assert int(members[8:-1].replace(",", "")) + kpis.guests == kpis.users


def test_scope_filters_are_remembered_for_the_session(overview_app: AppTest, demo_settings: Settings) -> None:
    at = overview_app
    assert at.expander[0].label == f"Scope: {scope_summary(DEFAULT_SCOPE)}"
    at.checkbox(key="overview_scope_include_protected").check().run()
    at.checkbox(key="overview_scope_include_guests").uncheck().run()
    no_errors(at)
    wanted = Scope(include_protected=True, include_guests=False)
    assert at.session_state[SCOPE_KEY] == wanted
    kpis, _, _ = expected_kpis(demo_settings, tenant_of(at), wanted)
    assert shown_metrics(at) == expected_metrics(kpis)
    assert shown_metrics(at)["Guests"][0] == "0"
    assert at.expander[0].label == ("Scope: Enabled accounts only · guests excluded · protected accounts included"
                                    " · service and shared accounts excluded")
    at.run()  # a plain rerun keeps it
    assert at.checkbox(key="overview_scope_include_protected").value is True
    assert shown_metrics(at) == expected_metrics(kpis)
    at.button(key="overview_scope_reset").click().run()
    assert at.session_state[SCOPE_KEY] == DEFAULT_SCOPE
    assert at.checkbox(key="overview_scope_include_protected").value is False


def test_admins_without_a_method_link_opens_the_users_page(overview_app: AppTest, demo_settings: Settings) -> None:
    at = overview_app
    with open_store(demo_settings.database_url) as store:
        users = store.load_users(tenant_of(at))
    # by default one admin in scope lacks a method: the demo's Global Reader (break-glass accounts are protected)
    default = apply_scope(users, DEFAULT_SCOPE)
    default = default[default["is_admin"] & ~default["registered"]]
    assert default["upn"].str.startswith("security.reader@").tolist() == [True]
    assert at.button(key="show_admins_without_method").label == "Show this admin"

    at.checkbox(key="overview_scope_include_protected").check().run()
    scope = Scope(include_protected=True)
    admins = apply_scope(users, scope)
    admins = admins[admins["is_admin"] & ~admins["registered"]]
    assert len(admins) == 2  # and the break-glass account without a method
    kpis, _, _ = expected_kpis(demo_settings, tenant_of(at), scope)
    assert shown_metrics(at)["Admins without a registered method"][0] == "2"
    button = at.button(key="show_admins_without_method")
    assert button.label == "Show these admins"

    expected = UsersFilterPreset(label="Admins without a registered method", came_from="Overview", admin=True,
                                 registered=False, user_ids=tuple(admins["id"].tolist()))
    assert admins_without_method_preset(kpis) == expected
    button.click().run()
    assert current_page(at) == "users.py"
    if USERS_FILTER_KEY in at.session_state:  # else the Users page has taken it (once)
        assert at.session_state[USERS_FILTER_KEY] == expected


# --- exports -----------------------------------------------------------------------------------


def test_exports_are_offered_and_the_png_is_made_on_click(overview_app: AppTest) -> None:
    at = overview_app
    assert [d.proto.label for d in at.get("download_button")] == ["Download report", "Download figures"]
    if chromium_binary() is None:
        assert any("PNG export is unavailable here" in c.value for c in at.caption)
        return
    at.selectbox(key="png_chart").select("rollout_funnel").run()
    at.button(key="make_png").click().run()
    no_errors(at)
    assert [d.proto.label for d in at.get("download_button")] == ["Download report", "Download figures",
                                                                  "Download PNG"]
    (_, png), = [at.session_state["overview_png"]]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_and_figures_zip_hold_the_overview(demo_settings: Settings) -> None:
    settings = demo_settings
    tenant = demo_tenant(settings).emulator.tenant_id
    with open_store(settings.database_url) as store:
        snapshot = store.latest_snapshot(tenant)
        ov = build_overview(store, snapshot, DEFAULT_SCOPE, tenant_name="Fabrikam <Consulting>")
    status = data_status(snapshot, snapshot.state_read_at + pd.Timedelta(hours=3, minutes=5))
    assert status.age == "3 h 5 min"

    page = report_html(ov, status, (snapshot.state_read_at + pd.Timedelta(hours=3, minutes=5)).to_pydatetime())
    assert "<title>MFA adoption overview — Fabrikam &lt;Consulting&gt;</title>" in page
    assert "registration from the reports API (Entra ID P1)</b> · read " in page
    assert "(3 h 5 min before this report)" in page
    protection = ["coverage", "protection_trend"] if ov.protection.protection_read else []  # they lead
    assert page.count("<section class=\"chart\">") == 8 + len(protection)
    assert page.count("Plotly.newPlot") == 8 + len(protection)
    assert page.count("* plotly.js v") == 1  # inlined once
    for tile in kpi_tiles(ov.kpis):
        assert f'data-kpi="{tile.key}"><div class="label">{tile.label}</div><div class="value">{tile.value}</div>' \
            in page
    lead = protection_tiles(protection_now(ov, snapshot.state_read_at + pd.Timedelta(hours=3, minutes=5)))
    assert [t.key for t in lead][:4] == ["protected", "sms_voice", "phishing_resistant", "conflicts"]
    for tile in lead:  # the protection tiles lead the report, as on the page
        assert f'data-kpi="{tile.key}"><div class="label">{plain(tile.label)}</div><div class="value">{tile.value}' \
            in page
    assert page.index("<h2>Protection</h2>") < page.index("<h2>Key figures</h2>")

    archive = zipfile.ZipFile(io.BytesIO(figures_zip(ov, status)))
    assert archive.namelist() == ["README.txt", "kpis.csv", *(f"{k}.csv" for k in protection),
                                  "state_distribution.csv", "rollout_funnel.csv",
                                  "methods.csv", "method_strength.csv", "by_department.csv", "by_country.csv",
                                  "by_user_type.csv", "adoption_trend.csv", "waves.csv"]
    kpis_csv = pd.read_csv(io.BytesIO(archive.read("kpis.csv")), encoding="utf-8-sig")
    keys = [t.key for t in kpi_tiles(ov.kpis)]
    assert kpis_csv.columns.tolist() == ["kpi", "label", "value", "unit", "change_since_last_week", "change_unit",
                                         "since"]
    assert kpis_csv["kpi"].tolist() == keys
    assert kpis_csv["value"].tolist() == [float(getattr(ov.kpis, k)) for k in keys]
    assert kpis_csv["change_since_last_week"].tolist() == [float(getattr(ov.kpis.change, k)) for k in keys]
    assert kpis_csv["unit"].tolist() == ["users", "%", "%", "users", "users", "users", "users", "users", "users"]
    assert set(kpis_csv["since"]) == {f"{ov.kpis.change.since:%Y-%m-%d}"}
    assert kpi_table(ov.kpis).shape == (9, 7)
    state = pd.read_csv(io.BytesIO(archive.read("state_distribution.csv")), encoding="utf-8-sig")
    assert state["users"].tolist() == [ov.kpis.disabled, ov.kpis.enabled, ov.kpis.enforced, ov.kpis.unknown]
    readme = archive.read("README.txt").decode()
    assert "Tenant: Fabrikam <Consulting>" in readme and status.line() in readme


def test_tile_views_colour_deltas_by_what_is_good(demo_settings: Settings) -> None:
    tenant = demo_tenant(demo_settings).emulator.tenant_id
    kpis, _, _ = expected_kpis(demo_settings, tenant)
    views = {v.key: v for v in tile_views(kpis)}
    assert [k for k in views] == ["users", "pct_registered", "pct_capable", "disabled", "enabled", "enforced",
                                  "admins_unregistered", "guests"]
    assert {k: v.delta_color for k, v in views.items()} == {
        "users": "off", "pct_registered": "normal", "pct_capable": "normal", "disabled": "inverse",
        "enabled": "off", "enforced": "normal", "admins_unregistered": "inverse", "guests": "off"}
    assert {k: v.colour for k, v in views.items() if v.colour} == {
        "disabled": "#D55E00", "enabled": "#E69F00", "enforced": "#009E73"}


def build_figure_stub():
    import plotly.graph_objects as go

    return go.Figure(go.Bar(x=["a"], y=[1]), layout={"height": 400})


def test_chromium_is_found_only_where_it_exists(tmp_path: Path) -> None:
    assert chromium_binary([], {}) is None
    assert chromium_binary([str(tmp_path / "nowhere")], {}) is None
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    assert chromium_binary([str(tmp_path / "nowhere"), str(fake)], {}) == str(fake)
    assert chromium_binary([], {"MFA_CHROMIUM": str(fake)}) == str(fake)
    with pytest.raises(ChartImageError, match=r"^Chromium could not draw the chart: exit code 3$"):
        chart_png(build_figure_stub(), "A chart", chromium=str(fake))


@pytest.mark.skipif(chromium_binary() is None, reason="needs Chromium")
def test_chart_png_draws_the_figure_with_chromium() -> None:
    png = chart_png(build_figure_stub(), "A chart", width=800, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (800 + 48, 400 + 70 + 32)


# --- other tenants and roles -------------------------------------------------------------------


def test_read_only_role_sees_everything(demo_settings: Settings) -> None:
    at = settled(new_app(demo_settings, READER, page=PAGE))
    no_errors(at)
    assert at.session_state[AUTH_KEY].admin.can_change_mfa is False
    kpis, _, _ = expected_kpis(demo_settings, tenant_of(at))
    assert shown_metrics(at) == expected_metrics(kpis)
    assert len(at.get("plotly_chart")) == 2 + 8  # protection, then adoption
    assert [d.proto.label for d in at.get("download_button")] == ["Download report", "Download figures"]


@pytest.fixture
def no_p1_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Settings:
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path))
    monkeypatch.setenv("MFA_DEMO_PREMIUM", "false")
    return load_settings({}, os.environ)


def test_tenant_without_p1_explains_where_registration_came_from(no_p1_settings: Settings) -> None:
    at = settled(new_app(no_p1_settings, ADMIN, page=PAGE))
    no_errors(at)
    line = next(m.value for m in at.markdown if "Data as of" in m.value)
    assert line.endswith("registration from per-user authentication methods (no Entra ID P1)")
    (info,) = [i.value for i in at.info if "without Entra ID P1" in i.value]
    assert "no Microsoft Entra ID P1 licence" in info
    assert "/users/{id}/authentication/methods" in info
    kpis, _, snapshot = expected_kpis(no_p1_settings, tenant_of(at))
    assert snapshot.registration_source == "methods"
    assert shown_metrics(at) == expected_metrics(kpis)


@pytest.fixture
def empty_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Settings:
    """A configured tenant (the demo emulator, addressed as a real tenant) with nothing in its store yet."""
    emulator = demo_tenant(demo_settings).emulator
    authority = urlparse(emulator.authority)
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path))
    monkeypatch.setenv("MFA_TENANT_ID", emulator.tenant_id)
    monkeypatch.setenv("MFA_CLIENT_ID", emulator.public_client_id)
    monkeypatch.setenv("MFA_AUTHORITY_HOST", f"{authority.scheme}://{authority.netloc}")
    monkeypatch.setenv("MFA_GRAPH_URL", emulator.graph_url)
    settings = load_settings({}, os.environ)
    assert settings.mode == "tenant"
    return settings


def test_empty_tenant_offers_the_first_snapshot(empty_tenant: Settings, demo_settings: Settings) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[AUTH_KEY] = signed_in_session(demo_settings, READER)  # refreshing is allowed to readers
    at.run()
    at.switch_page(PAGE).run()
    no_errors(at)
    assert "No snapshot of this tenant yet" in [m.value.removeprefix("### ") for m in at.markdown]
    assert not at.metric and not at.get("plotly_chart")
    button = at.button(key="first_snapshot")
    assert button.label == "Take the first snapshot" and not button.disabled

    button.click().run()
    job = current_job(tenant_of(at))
    assert job is not None and job.wait(120) and not job.error, job and job.error
    at.run()
    no_errors(at)
    kpis, _, snapshot = expected_kpis(empty_tenant, tenant_of(at))
    assert snapshot.stats.get("seeded") is None  # the snapshot the button took
    assert kpis.change is None  # a single snapshot: no week-ago baseline
    assert shown_metrics(at) == expected_metrics(kpis)
    assert "No change since last week yet: the stored history does not reach a week back." in \
        [c.value for c in at.caption]
