"""The Registration progress page under AppTest: per-wave and per-user views, empty and populated,
read-only and writer, and the demo clock moving a wave forward."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib import console, rollout
from lib.auth import GLOBAL_READER_REASON
from lib.demo import app_gateway, demo_tenant
from lib.demo_process import control
from lib.directory.refresh import refresh_snapshot
from lib.jobs import current_job
from lib.progress import STUCK_FLAGS, WaveSummary, days_text, spacing_text, user_progress, wave_summary
from lib.settings import Settings, load_settings
from lib.store import open_store
from tests.ui_fixtures import ADMIN, READER, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/progress.py"
ADMIN_UPN = "admin@fabrikamconsulting.com"


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _table(at: AppTest, *columns: str):
    """The one dataframe on the page with these columns (a display-only table carries no key in AppTest)."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _waves(settings: Settings) -> list[rollout.Wave]:
    store = open_store(settings.database_url)
    try:
        return rollout.list_waves(store, demo_tenant(settings).emulator.tenant_id)
    finally:
        store.close()


@pytest.fixture
def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Iterator[Settings]:
    """A console of its own (new data folder, so its own demo tenant): changes here touch no other test."""
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    yield load_settings({}, os.environ)


def _user_id(settings: Settings, upn: str) -> str:
    """The id behind a UPN (the detail picker's options are labelled by name and UPN, valued by id)."""
    store = open_store(settings.database_url)
    try:
        users = store.load_users(demo_tenant(settings).emulator.tenant_id)
    finally:
        store.close()
    return str(users.loc[users["upn"] == upn, "id"].iloc[0])


def _expected_summary(settings: Settings, wave: rollout.Wave) -> WaveSummary:
    """lib.progress on the store's own data for the latest snapshot: what the page must show."""
    tenant = demo_tenant(settings).emulator.tenant_id
    store = open_store(settings.database_url)
    try:
        snapshot = store.latest_snapshot(tenant)
        users = store.load_users(tenant, snapshot.id)
        ids = rollout.wave_member_ids(store, wave.id)
        versions = store.versions_for_users(tenant, ids)
        times = [s.started_at for s in store.list_snapshots(tenant) if s.status == "complete"]
    finally:
        store.close()
    as_of = snapshot.state_read_at or snapshot.started_at
    progress = user_progress(users, versions, ids, as_of, sign_ins_known=bool(users["last_sign_in"].notna().any()))
    return wave_summary(versions, ids, wave.launched_at, as_of, progress, snapshot_times=times)


# --- populated ---------------------------------------------------------------------------------


def test_the_newest_wave_shows_its_kpis_funnel_stragglers_and_members(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    _no_exception(at)
    assert at.title[0].value == "Registration progress"
    waves = _waves(demo_settings)
    assert [w.name for w in waves] == ["Pilot: IT and Finance", "Wave 2: Sales, Marketing and Support"]
    wave_box = at.selectbox(key="progress_wave")
    assert wave_box.value == waves[-1].id  # the newest wave first
    assert len(wave_box.options) == 2
    metrics = _metrics(at)
    expected = _expected_summary(demo_settings, waves[-1])
    assert metrics["Members"] == f"{expected.members:,}"
    assert metrics["Days since launch"] == f"{expected.days_since_launch:,}"
    assert metrics["Registered"] == f"{expected.pct_registered:.1f}%"
    assert metrics["Enforced"] == f"{expected.pct_enforced:.1f}%"
    # Daily snapshots date each registration to within a day: the median is said in whole days, with that.
    assert expected.snapshot_spacing is not None and expected.snapshot_spacing[1] == pytest.approx(1.0, abs=1e-3)
    assert metrics["Median time to register"] == days_text(float(round(expected.median_days_to_register)))
    resolution = {m.label: m.delta for m in at.metric}["Median time to register"]
    assert resolution == spacing_text(expected.snapshot_spacing) and resolution.endswith(" 1 day apart")
    assert metrics["Pace"] == f"{expected.projection.pace_per_day:.1f} / day"
    assert metrics["Projected completion"] == (f"{expected.projection.at:%Y-%m-%d}" if expected.projection.at
                                               else "Complete" if expected.projection.remaining == 0 else "—")
    assert metrics["Stragglers"] == f"{expected.stragglers:,}"
    assert {m.label: m.delta for m in at.metric}["Registered"] == f"{expected.registered:,} of {expected.members:,}"
    assert [s.value for s in at.subheader] == ["Ready to enforce", "Funnel over time", "Stragglers", "Members",
                                              "User detail"]
    stragglers = int(metrics["Stragglers"].replace(",", ""))
    assert stragglers > 0
    assert at.button(key="progress_plan_enforce").disabled is False
    assert any(c.value.startswith("Launched 2026-") or c.value.startswith("Launched ") for c in at.caption)
    # The members table follows the chosen wave; the caption counts its rows.
    assert f"{waves[-1].members:,} of " in " ".join(c.value for c in at.caption)

    compare = _table(at, "pct_registered", "stragglers")
    assert compare["wave"].tolist() == [waves[-1].name, waves[0].name]
    assert compare["stragglers"].iloc[0] == expected.stragglers

    wave_box.set_value(waves[0].id).run()
    _no_exception(at)
    assert _metrics(at)["Members"] == f"{waves[0].members:,}"
    assert at.multiselect(key="progress_filter_waves").value == [waves[0].name]


def _expected_readiness(settings: Settings, wave: rollout.Wave) -> console.WaveReadiness:
    """The use case on the store's latest snapshot: what the readiness panel must show."""
    tenant = demo_tenant(settings).emulator.tenant_id
    store = open_store(settings.database_url, clock=demo_tenant(settings).now)
    try:
        users = store.load_users(tenant)
        return console.wave_readiness(console.Workspace(store, None, tenant, None), users, wave.id)
    finally:
        store.close()


@pytest.mark.parametrize("who", [ADMIN, READER], ids=["admin", "reader"])
def test_each_wave_says_how_many_members_are_ready_to_enforce_and_why_the_others_are_not(
        demo_settings: Settings, who: object) -> None:
    at = new_app(demo_settings, who, PAGE)
    _no_exception(at)
    for wave in reversed(_waves(demo_settings)):
        at.selectbox(key="progress_wave").set_value(wave.id).run()
        _no_exception(at)
        expected = _expected_readiness(demo_settings, wave)
        assert f"**Ready to enforce: {expected.ready:,} of {expected.to_enforce:,}**" in [m.value for m in at.markdown]
        tables = [d.value for d in at.dataframe if "reasons" in d.value.columns]
        if expected.not_ready.empty:
            assert tables == []
            continue
        (shown,) = tables
        assert shown["upn"].tolist() == expected.not_ready["upn"].tolist()
        assert shown["reasons"].tolist() == expected.not_ready["reasons"].tolist()
        assert set(shown["state"]) <= {"Disabled", "Enabled"}  # Enforced members are done, not listed
    assert expected.to_enforce > 0


def test_the_members_table_filters_by_stuck_flag_state_and_wave(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    stragglers = int(_metrics(at)["Stragglers"].replace(",", ""))
    at.multiselect(key="progress_filter_flags").set_value(["any"]).run()
    _no_exception(at)
    captions = " ".join(c.value for c in at.caption)
    assert f"{stragglers:,} of " in captions
    at.multiselect(key="progress_filter_flags").set_value(["reenabled_unregistered"])
    at.multiselect(key="progress_filter_waves").set_value([]).run()  # all waves
    _no_exception(at)
    table = _table(at, "wave", "flags")
    assert len(table) >= 1
    assert set(table["state"]) == {"Enabled"}
    assert all(STUCK_FLAGS["reenabled_unregistered"] in f for f in table["flags"])
    at.multiselect(key="progress_filter_flags").set_value([])
    at.multiselect(key="progress_filter_states").set_value(["enforced"]).run()
    assert set(_table(at, "wave", "flags")["state"]) == {"Enforced"}
    assert at.get("download_button")  # the CSV export and the reminder list


def test_choosing_a_member_shows_their_timeline(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    at.multiselect(key="progress_filter_flags").set_value(["enabled_unregistered"]).run()
    box = at.selectbox(key="progress_detail_user")
    assert box.value is None and box.options
    box.set_value(_user_id(demo_settings, box.options[0].rsplit(" — ", 1)[-1])).run()
    _no_exception(at)
    timeline = at.table[0].value
    assert list(timeline.columns) == ["When (UTC)", "From", "What", "By"]
    texts = timeline["What"].tolist()
    assert any(t.startswith('Wave "Wave 2: Sales, Marketing and Support" launched by admin@') for t in texts)
    assert any(t.startswith("State Disabled → Enabled between ") for t in texts)
    assert set(timeline["From"]) >= {"Wave", "Snapshots"}
    name = box.options[0].split(" — ")[0]
    assert any(m.value.startswith(f"**{name}** · ") for m in at.markdown), [m.value for m in at.markdown]


# --- actions -------------------------------------------------------------------------------------


def test_a_writer_plans_enforce_for_the_stragglers_and_sees_who_changes(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    stragglers = int(_metrics(at)["Stragglers"].replace(",", ""))
    at.button(key="progress_plan_enforce").click().run()
    _no_exception(at)
    assert any(h.value.startswith("Preview: Enforce ") for h in at.subheader), \
        [h.value for h in at.subheader]
    assert _metrics(at)["Selected"] == f"{stragglers:,}"
    changes = _table(at, "expected")
    assert len(changes) >= 1 and set(changes["before"]) == {"Enabled"} and set(changes["expected"]) == {"Enforced"}
    # Disabled accounts among the stragglers are skipped with the reason.
    skipped = _table(at, "reason")
    assert "account disabled: it cannot sign in to register" in set(skipped["reason"])
    assert len(changes) + len(skipped) == stragglers
    confirm = at.button(key="progress_plan_confirm")
    assert confirm.label == "Confirm…" and not confirm.disabled
    at.button(key="progress_plan_discard").click().run()
    assert not [h for h in at.subheader if h.value.startswith("Preview:")]


def test_a_read_only_admin_sees_why_enforce_is_disabled(demo_settings: Settings) -> None:
    at = new_app(demo_settings, READER, PAGE)
    _no_exception(at)
    button = at.button(key="progress_plan_enforce")
    assert button.disabled
    assert button.help == GLOBAL_READER_REASON
    assert f":material/lock: Read-only: {GLOBAL_READER_REASON}" in [c.value for c in at.caption]
    # Reminders stay available to everyone.
    assert at.text_input(key="progress_mail_subject").value.startswith("Action needed")


def test_the_reminder_offers_a_bcc_mailto_link_for_a_short_list(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, PAGE)
    links = at.get("link_button")
    infos = [i.value for i in at.info]
    assert links or any("No e-mail link" in i for i in infos)
    if links:
        url = links[0].proto.url
        assert url.startswith("mailto:?bcc=") and "&subject=Action%20needed" in url and len(url) <= 2000


# --- empty ---------------------------------------------------------------------------------------


def test_without_waves_the_page_explains_how_to_create_one(fresh_settings: Settings) -> None:
    demo = demo_tenant(fresh_settings)
    store = open_store(fresh_settings.database_url)
    try:  # this tenant's first snapshot, taken without importing its past waves
        with app_gateway(demo.emulator) as gateway:
            org = gateway.organization()
            domain = control(demo.emulator, "GET", "/truth/history")["tenant"]["domain"]
            store.upsert_tenant(demo.emulator.tenant_id, org.get("displayName", ""), domain, "demo")
            refresh_snapshot(store, gateway, mode="demo", clock=demo.now)
        assert rollout.list_waves(store, demo.emulator.tenant_id) == []
    finally:
        store.close()
    at = new_app(fresh_settings, ADMIN, PAGE)
    _no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "### No rollout waves yet" in text
    assert "open the **Users** page" in text and "**Name this Enable as a rollout wave**" in text
    assert not at.metric and not at.get("plotly_chart")
    assert at.button(key="clock_week")  # the demo clock is there all the same


# --- the demo clock ------------------------------------------------------------------------------


def test_a_week_on_the_demo_clock_moves_the_wave_forward(fresh_settings: Settings) -> None:
    at = new_app(fresh_settings, ADMIN, PAGE)
    _no_exception(at)
    wave = _waves(fresh_settings)[-1]
    before = _metrics(at)
    tenant = demo_tenant(fresh_settings).emulator.tenant_id
    clock_before = demo_tenant(fresh_settings).now()
    with open_store(fresh_settings.database_url) as store:
        taken_before = {s.id for s in store.list_snapshots(tenant) if s.status == "complete"}

    at.button(key="clock_week").click().run()
    _no_exception(at)
    job = current_job(tenant)
    assert job is not None
    assert job.wait(300), "the snapshots after the clock moved did not finish"
    assert not job.error, job.error
    assert (job.steps, len(job.reports)) == (7, 7)
    assert (demo_tenant(fresh_settings).now() - clock_before).days == 7
    with open_store(fresh_settings.database_url) as store:  # one snapshot at the end of each simulated day
        new = [s for s in store.list_snapshots(tenant) if s.status == "complete" and s.id not in taken_before]
    starts = sorted(s.started_at for s in new)
    assert len(starts) == 7
    gaps = [(later - earlier).total_seconds() / 86400 for earlier, later in itertools.pairwise(starts)]
    assert all(0.99 < gap < 1.01 for gap in gaps), gaps
    assert starts[0] - clock_before >= pd.Timedelta(days=1).to_pytimedelta()

    at.run()
    _no_exception(at)
    notes = [c.value for c in at.caption if c.value.startswith("Moved the demo clock a week:")]
    assert notes and "a snapshot at the end of each of the 7 days" in notes[0], [c.value for c in at.caption]
    at.run()
    _no_exception(at)
    after = _metrics(at)
    assert at.selectbox(key="progress_wave").value == wave.id
    assert int(after["Days since launch"]) == int(before["Days since launch"]) + 7
    assert float(after["Registered"].rstrip("%")) > float(before["Registered"].rstrip("%"))
    assert int(after["Stragglers"].replace(",", "")) >= 1


# --- enforce, end to end -------------------------------------------------------------------------


def _stragglers(at: AppTest) -> int:
    return int(_metrics(at)["Stragglers"].replace(",", ""))


def test_the_plan_is_confirmed_here_and_a_refresh_shows_it(fresh_settings: Settings) -> None:
    at = new_app(fresh_settings, ADMIN, PAGE)
    before = _stragglers(at)
    enforced_before = _expected_summary(fresh_settings, _waves(fresh_settings)[-1]).enforced
    at.button(key="progress_plan_enforce").click().run()
    changes = _table(at, "expected")
    count = len(changes)
    assert count >= 1

    # The same preview, confirmation and progress as every other change, on this page.
    at.button(key="progress_plan_confirm").click().run()
    _no_exception(at)
    said = " ".join(m.value for m in at.markdown)
    assert f"Set **{count}** users to **Enforced**." in said
    assert "progress_confirm_count" not in [t.key for t in at.text_input]  # 50 or fewer: no typed count
    at.button(key="progress_confirm_go").click().run()
    _no_exception(at)
    operation_id = at.session_state["progress_operation"]
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert any(s.value.startswith(f"Operation {operation_id} complete: {count} applied, 0 failed")
               for s in at.success), [s.value for s in at.success]
    with open_store(fresh_settings.database_url) as store:
        operation = rollout.get_operation(store, operation_id)
    assert (operation.requested_state, operation.source) == ("enforced", "wave_stragglers")
    assert operation.label == "Enforce stragglers of Wave 2: Sales, Marketing and Support"

    demo = demo_tenant(fresh_settings)  # a refresh, as the sidebar's button takes it
    with open_store(fresh_settings.database_url) as store, app_gateway(demo.emulator) as gateway:
        refresh_snapshot(store, gateway, mode="demo", clock=demo.now)
    at.switch_page(PAGE).run()
    _no_exception(at)
    # No longer "Enabled > 14 days"; one who never signed in stays flagged (still not registered).
    expected = _expected_summary(fresh_settings, _waves(fresh_settings)[-1])
    assert expected.enforced == enforced_before + count
    assert _metrics(at)["Enforced"] == f"{expected.pct_enforced:.1f}%"
    assert _stragglers(at) == expected.stragglers < before

    # The journal now tells who enforced a member, in their timeline.
    enforced_upn = changes["upn"].iloc[0]
    at.multiselect(key="progress_filter_states").set_value(["enforced"]).run()
    at.selectbox(key="progress_detail_user").set_value(_user_id(fresh_settings, enforced_upn)).run()
    texts = at.table[0].value["What"].tolist()
    assert any(t.startswith(f"Set to Enforced by {ADMIN_UPN} (operation {operation_id})") for t in texts), texts


def test_more_than_fifty_changes_need_the_count_typed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> None:
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MFA_DEMO_USERS", "2000")  # enough stragglers for a plan of more than 50
    settings = load_settings({}, os.environ)
    at = new_app(settings, ADMIN, PAGE)
    at.button(key="progress_plan_enforce").click().run()
    count = len(_table(at, "expected"))
    assert count > 50
    at.button(key="progress_plan_confirm").click().run()
    go = at.button(key="progress_confirm_go")
    assert go.disabled and go.label == f"Enforce {count:,} users"
    at.text_input(key="progress_confirm_count").input(str(count - 1)).run()
    assert at.button(key="progress_confirm_go").disabled
    at.text_input(key="progress_confirm_count").input(f"{count:,}").run()
    _no_exception(at)
    assert not at.button(key="progress_confirm_go").disabled
    # Discarding instead of confirming changes nothing: no operation was started.
    at.button(key="progress_plan_discard").click().run()
    assert "progress_operation" not in at.session_state
    assert not [b for b in at.button if b.key == "progress_confirm_go"]
