"""The Users page previews a large selection in the background (AppTest, the real demo tenant over HTTP).

The console here previews more than ``MFA_BACKGROUND_PLAN_ABOVE=40`` users in the background, so the
300-user demo tenant stands for a large one. The demo tenant's ``hold_requests`` freezes the re-read at its
door, so each test sees the page while the job runs, however fast this machine is: progress and a Cancel
button, page reruns that send nothing to Graph (the demo tenant's own counters), and then, released, the
same preview and confirmation as an inline one. A changed selection drops the job; Cancel plans nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import console, rollout
from lib.demo import app_gateway, demo_tenant
from lib.directory.refresh import refresh_snapshot
from lib.settings import Settings
from lib.store import open_store
from lib.ui.context import PLAN_OWNER_KEY
from tests.test_rollout_execute import wait_for
from tests.test_rollout_support import control
from tests.ui_fixtures import ADMIN, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/users.py"
CANCEL = "plan_job_cancel_users:selection"


@pytest.fixture(scope="module")
def big(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A console of its own whose pages preview more than 40 users in the background."""
    saved = os.environ.get("MFA_BACKGROUND_PLAN_ABOVE")
    os.environ["MFA_BACKGROUND_PLAN_ABOVE"] = "40"
    try:
        with console_data(tmp_path_factory.mktemp("users-background-data")) as settings:
            assert settings.background_plan_above == 40
            yield settings
    finally:
        if saved is None:
            os.environ.pop("MFA_BACKGROUND_PLAN_ABOVE", None)
        else:
            os.environ["MFA_BACKGROUND_PLAN_ABOVE"] = saved


@pytest.fixture
def on_big(big: Settings) -> Iterator[Settings]:
    os.environ["MFA_BACKGROUND_PLAN_ABOVE"] = "40"
    with console_data(big.data_dir):
        yield big


def _emulator(settings: Settings):
    return demo_tenant(settings).emulator


def _stats(settings: Settings) -> dict:
    return control(_emulator(settings), "GET", "/stats")


def _hold(settings: Settings, on: bool) -> None:
    control(_emulator(settings), "PATCH", "/config", {"hold_requests": on})


def _job(at: AppTest, settings: Settings) -> console.PlanJob | None:
    return console.preview_job(at.session_state[PLAN_OWNER_KEY], _emulator(settings).tenant_id)


def _progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def _previews(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader if s.value.startswith("Preview:")]


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _start_held(settings: Settings, department: str = "Engineering") -> tuple[AppTest, int]:
    """The page with all users of ``department`` selected and an Enforce preview asked for, its re-read held."""
    at = new_app(settings, ADMIN, PAGE)
    at.multiselect(key="users_f_departments").set_value([department]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    selected = int(next(m.value for m in at.markdown if m.value.startswith("**All ")).split()[1].replace(",", ""))
    assert selected > 40
    _hold(settings, True)
    at.button(key="users_action_enforced").click().run()
    wait_for(lambda: _stats(settings)["held"] >= 1)
    return at, selected


def test_a_large_selection_shows_progress_then_the_same_preview(on_big: Settings) -> None:
    try:
        at, selected = _start_held(on_big)
        _no_exception(at)
        job = _job(at, on_big)
        assert job is not None and job.background and not job.finished and job.total == selected
        assert _progress_texts(at) == [f"Reading the current MFA state: 0 of {selected:,} users"]
        assert any(m.value.startswith("**Preparing the preview: Enforce all") for m in at.markdown)
        assert at.button(key=CANCEL) and not _previews(at)
        # The page stays usable while the job reads: its reruns read memory and the store, never Graph.
        before = _stats(on_big)
        at.run()
        at.multiselect(key="users_f_states").set_value([]).run()  # a widget that leaves the selection as it was
        at.run()
        after = _stats(on_big)
        assert (after["requests"], after["batch_items"]) == (before["requests"], before["batch_items"])
        assert _job(at, on_big) is job and not job.finished
        assert _progress_texts(at) == [f"Reading the current MFA state: 0 of {selected:,} users"]
    finally:
        _hold(on_big, False)
    assert job.wait(120)
    at.run()
    _no_exception(at)
    assert _job(at, on_big) is None and not _progress_texts(at)  # collected: nothing polls any more
    assert len(_previews(at)) == 1 and _previews(at)[0].startswith("Preview: Enforce ")
    assert {m.label: m.value for m in at.metric}["Selected"] == f"{selected:,}"
    assert any(c.value.startswith(f"Asked for: Enforce all {selected:,} matching users.") for c in at.caption)
    plan = at.session_state["users_plan"].plan
    assert plan.selected == selected and plan.requested_state == "enforced"
    assert plan.changes["before"].isin(["disabled", "enabled"]).all()  # states as Graph gave them just now
    at.button(key="users_plan_discard").click().run()
    assert not _previews(at)


def test_changing_the_selection_drops_the_preview_being_made(on_big: Settings) -> None:
    try:
        at, _selected = _start_held(on_big)
        job = _job(at, on_big)
        at.multiselect(key="users_f_departments").set_value(["Engineering", "Sales"]).run()
        _no_exception(at)
        assert job.finished and job.cancelled and job.plan is None
        assert _job(at, on_big) is None and not _progress_texts(at) and not _previews(at)
        assert any(i.value.startswith("The selection changed while its preview was being prepared") for i in at.info)
    finally:
        _hold(on_big, False)


def _operations(settings: Settings) -> int:
    store = open_store(settings.database_url)
    try:
        return len(rollout.list_operations(store, _emulator(settings).tenant_id))
    finally:
        store.close()


def test_cancel_plans_nothing_and_the_page_says_so(on_big: Settings) -> None:
    journaled = _operations(on_big)
    try:
        at, _selected = _start_held(on_big, "Sales")
        job = _job(at, on_big)
        at.button(key=CANCEL).click().run()
        _no_exception(at)
        assert job.finished and job.cancelled and job.plan is None
        assert not _progress_texts(at) and not _previews(at)
        assert any(i.value.startswith("The preview was cancelled before it was made") for i in at.info)
    finally:
        _hold(on_big, False)
    assert job.join(60)  # the held batches came back to a job that had ended: what they read is dropped
    at.run()
    assert not _previews(at) and job.plan is None
    assert _operations(on_big) == journaled  # nothing journaled, so nothing to resume or undo


def test_a_background_preview_confirms_like_any_other(on_big: Settings) -> None:
    at = new_app(on_big, ADMIN, PAGE)
    at.multiselect(key="users_f_states").set_value(["disabled"]).run()
    at.toggle(key="users_select_all").set_value(True).run()
    assert int(next(m.value for m in at.markdown if m.value.startswith("**All ")).split()[1].replace(",", "")) > 40
    _hold(on_big, True)
    try:
        at.button(key="users_action_enforced").click().run()
        job = _job(at, on_big)
    finally:
        _hold(on_big, False)
    assert job is not None and job.background and job.wait(120)
    at.run()
    count = int(at.session_state["users_plan"].plan.changes.shape[0])
    assert count > 0
    at.button(key="users_plan_confirm").click().run()
    if "users_confirm_count" in [t.key for t in at.text_input]:
        at.text_input(key="users_confirm_count").set_value(str(count)).run()
    at.button(key="users_confirm_go").click().run()
    _no_exception(at)
    operation_id = at.session_state["users_operation"]
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert f"Operation {operation_id} complete: {count} applied, 0 failed, 0 skipped." in [s.value for s in at.success]
    assert any(c.value.endswith("every applied user is in the state the preview expected.") for c in at.caption)


def test_a_large_csv_import_is_previewed_in_the_background_too(on_big: Settings) -> None:
    at = new_app(on_big, ADMIN, PAGE)  # the console seeds its store on first use
    store = open_store(on_big.database_url)
    try:
        users = store.load_users(_emulator(on_big).tenant_id)
    finally:
        store.close()
    upns = users.loc[users["account_kind"] == "person", "upn"].head(60).tolist()
    assert len(upns) == 60
    data = ("UserPrincipalName,State\r\n" + "".join(f"{u},enforced\r\n" for u in upns)).encode()
    at.file_uploader(key="users_csv_file").set_value(("users.csv", data, "text/csv")).run()
    _hold(on_big, True)
    try:
        at.button(key="users_csv_plan").click().run()
        _no_exception(at)
        job = _job(at, on_big)
        assert job is not None and job.background and job.place == "users:csv"
        assert _progress_texts(at) == ["Reading the current MFA state: 0 of 60 users"]
    finally:
        _hold(on_big, False)
    assert job.wait(120)
    at.run()
    _no_exception(at)
    assert not _progress_texts(at) and len(_previews(at)) == 1
    assert any(c.value.startswith("Asked for: Enforce 60 users from users\\.csv.") for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Selected"] == "60"


def test_a_large_wave_promotion_is_previewed_in_the_background_on_the_operations_page(on_big: Settings) -> None:
    at = new_app(on_big, ADMIN, "pages/operations.py")
    store = open_store(on_big.database_url)
    try:
        waves = rollout.list_waves(store, _emulator(on_big).tenant_id)
        sizes = {w.id: len(rollout.wave_member_ids(store, w.id)) for w in waves}
        wave_id = max(sizes, key=sizes.get)
        assert sizes[wave_id] > 40  # the demo's seeded waves: one is large enough for the background here
        users = store.load_users(_emulator(on_big).tenant_id).set_index("id")
        members = rollout.wave_member_ids(store, wave_id)
        registered = [m for m in members if users.loc[m, "registered"] and users.loc[m, "account_enabled"]][:3]
        with app_gateway(_emulator(on_big)) as gateway:  # disabled and enabled again: Enabled, ready to enforce
            gateway.write_mfa_states(dict.fromkeys(registered, "disabled"))
            gateway.write_mfa_states(dict.fromkeys(registered, "enabled"))
            refresh_snapshot(store, gateway, mode="demo", clock=demo_tenant(on_big).now)
    finally:
        store.close()
    at.run()
    at.selectbox(key="ops_wave").set_value(wave_id).run()
    assert not at.button(key="ops_promote").disabled  # it has members ready to enforce
    _hold(on_big, True)
    try:
        at.button(key="ops_promote").click().run()
        _no_exception(at)
        job = _job(at, on_big)
        assert job is not None and job.background and job.place == "ops:promotion"
        assert _progress_texts(at) == [f"Reading the current MFA state: 0 of {sizes[wave_id]:,} users"]
    finally:
        _hold(on_big, False)
    assert job.wait(120)
    at.run()
    _no_exception(at)
    assert not _progress_texts(at) and len(_previews(at)) == 1
    assert any(c.value.startswith("Asked for: promote ") for c in at.caption)
