"""The Operations page under AppTest: the empty state, the history of operations started through
lib.rollout, each operation's users filtered by outcome, resume, undo with its own preview (users who
moved on are shown, not reverted), wave promotion, and read-only roles.

Everything runs on a console of its own (new data folder, so its own demo tenant): these tests change it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib import console, rollout
from lib.auth import GLOBAL_READER_REASON
from lib.demo import app_gateway, demo_tenant
from lib.directory.refresh import refresh_snapshot
from lib.rollout import journal
from lib.settings import Settings
from lib.store import Store, open_store
from tests.ui_fixtures import ADMIN, READER, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/operations.py"
ADMIN_UPN = "admin@fabrikamconsulting.com"
WRITER = rollout.AppActor("tests", frozenset({rollout.MFA_WRITE_PERMISSION}))


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _frame_with(at: AppTest, *columns: str, without: str = "") -> pd.DataFrame:
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns) and without not in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def settings(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with console_data(tmp_path_factory.mktemp("operations-page-data")) as settings:
        yield settings


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    new_app(settings, ADMIN, PAGE)  # the console seeds its demo tenant and history on first use
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


def _tenant(settings: Settings) -> str:
    return demo_tenant(settings).emulator.tenant_id


def _run(settings: Settings, store: Store, state: str, ids: list[str], **kw) -> int:
    """An operation started through lib.rollout (as the CLI does), waited for."""
    users = store.load_users(_tenant(settings))
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        fresh = rollout.with_current_states(gateway, users, ids)
        the_plan = rollout.plan(fresh, state, ids, actor=WRITER)
        operation_id = rollout.start_operation(store, gateway, the_plan, tenant_id=_tenant(settings), actor=WRITER,
                                               **kw)
        assert rollout.wait_operation(operation_id, 120)
    return operation_id


def _disabled_in(store: Store, settings: Settings, department: str, count: int) -> list[str]:
    users = store.load_users(_tenant(settings))
    ids = users.loc[(users["department"] == department) & (users["state"] == "disabled")
                    & users["account_enabled"], "id"].head(count).tolist()
    assert len(ids) == count
    return ids


# --- empty ---------------------------------------------------------------------------------------


def test_without_operations_the_page_says_how_to_make_one(settings: Settings, store: Store) -> None:
    assert rollout.list_operations(store, _tenant(settings)) == []
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    said = " ".join(m.value for m in at.markdown)
    assert "### No operations yet" in said and "open the Users page" in said
    assert not [d for d in at.dataframe if "applied" in d.value.columns]


# --- history and items ---------------------------------------------------------------------------


def test_an_operation_started_through_lib_rollout_is_listed_with_its_users(settings: Settings, store: Store) -> None:
    ids = _disabled_in(store, settings, "Engineering", 6)
    operation_id = _run(settings, store, "enforced", ids, label="From the test")
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    history = _frame_with(at, "id", "status", "applied")
    row = history[history["id"] == operation_id].iloc[0]
    assert row["status"] == "Complete" and row["what"] == "Enforce" and row["label"] == "From the test"
    picker = at.selectbox(key="ops_selected").options
    assert f"{operation_id} · Enforce · Complete · 6 planned · From the test" in picker
    assert (row["planned"], row["applied"], row["failed"], row["unfinished"]) == (6, 6, 0, 0)
    assert row["actor"] == "tests"
    assert at.selectbox(key="ops_selected").value == operation_id  # the newest is shown in detail
    assert f"Operation {operation_id} complete: 6 applied, 0 failed, 0 skipped." in [s.value for s in at.success]
    assert any("every applied user is in the state the preview expected" in c.value for c in at.caption)
    assert _metrics(at)["Applied"] == "6"
    items = _frame_with(at, "outcome", "reason")
    assert len(items) == 6 and set(items["outcome"]) == {"Applied"}
    assert set(items["after"]) == {"Enforced"} and set(items["preview"]) == {"as previewed"}
    # filter the users by outcome: none failed
    at.multiselect(key=f"ops_items_outcome_{operation_id}").set_value(["applied"]).run()
    assert len(_frame_with(at, "outcome", "reason")) == 6
    at.text_input(key=f"ops_items_search_{operation_id}").set_value("zzz-nobody").run()
    assert len(_frame_with(at, "outcome", "reason")) == 0
    assert at.download_button(key=f"ops_report_{operation_id}")
    report = json.loads(at.json[0].value)
    assert (report["operation_id"], report["status"], report["planned"], report["applied"]) == \
        (operation_id, "complete", 6, 6)
    assert report["failed"] == [] and report["skipped"] == []


def test_an_interrupted_operation_is_flagged_and_resumes_to_the_end(settings: Settings, store: Store) -> None:
    ids = _disabled_in(store, settings, "Operations", 5)
    users = store.load_users(_tenant(settings))
    # journaled as running by a worker that is gone (e.g. the server restarted): interrupted
    operation_id = journal.create_operation(store, rollout.plan(users, "enabled", ids, actor=WRITER),
                                            tenant_id=_tenant(settings), actor=WRITER, label="Cut short")
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    assert any(f"operation {operation_id}" in w.value and "Resume" in w.value for w in at.warning)
    at.selectbox(key="ops_selected").set_value(operation_id).run()
    resume = at.button(key=f"ops_resume_{operation_id}")
    assert not resume.disabled
    assert at.button(key=f"ops_undo_{operation_id}").disabled  # it changed nobody yet
    resume.click().run()
    _no_exception(at)
    assert f"Operation {operation_id} resumed" in " ".join(s.value for s in at.success)
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert f"Operation {operation_id} complete: 5 applied, 0 failed, 0 skipped." in [s.value for s in at.success]
    assert at.button(key=f"ops_resume_{operation_id}").disabled


def test_undo_previews_restores_and_leaves_users_who_moved_on(settings: Settings, store: Store) -> None:
    ids = _disabled_in(store, settings, "HR", 4)
    operation_id = _run(settings, store, "enforced", ids)
    with app_gateway(demo_tenant(settings).emulator) as gateway:  # someone moves one user on since
        moved = ids[0]
        gateway.write_mfa_states({moved: "enabled"})
    at = new_app(settings, ADMIN, PAGE)
    at.selectbox(key="ops_selected").set_value(operation_id).run()
    at.button(key=f"ops_undo_{operation_id}").click().run()
    _no_exception(at)
    assert any(s.value == f"Preview: Undo operation {operation_id}: restore 3 users · 1 skipped" for s in at.subheader)
    assert _metrics(at)["Will change"] == "3" and _metrics(at)["Skipped"] == "1"
    assert "- Enforced → Disabled: **3**" in " ".join(m.value for m in at.markdown)
    assert any("**1** user has moved on since the operation" in i.value for i in at.info)
    skipped = _frame_with(at, "reason", without="outcome")
    assert skipped["reason"].tolist() == ["moved on since the operation: it left Enforced, now Enabled; not reverted"]
    assert "users_wave" not in [t.key for t in at.text_input] and "ops_wave" not in [t.key for t in at.text_input]
    at.button(key="ops_plan_confirm").click().run()
    assert f"Put **3** users back to the state they had before operation {operation_id}." in \
        [m.value for m in at.markdown]
    at.button(key="ops_confirm_go").click().run()
    _no_exception(at)
    undo_id = max(o.id for o in rollout.list_operations(store, _tenant(settings)))
    assert rollout.wait_operation(undo_id, 120)
    at.run()
    assert at.selectbox(key="ops_selected").value == undo_id  # the page follows the undo it started
    history = _frame_with(at, "id", "status", "applied")
    assert history.loc[history["id"] == undo_id, "what"].iloc[0] == f"Undo of {operation_id}"
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        states = gateway.read_mfa_states(ids)
    assert states[moved] == "enabled"  # shown, not reverted
    assert {states[i] for i in ids[1:]} == {"disabled"}


def test_a_wave_ready_to_enforce_is_promoted_after_a_preview(settings: Settings, store: Store) -> None:
    users = store.load_users(_tenant(settings))
    candidates = users.loc[users["registered"] & users["account_enabled"] & (users["account_kind"] == "person")
                           & ~users["department"].isin(["Engineering", "Operations", "HR"]), "id"].tolist()
    with app_gateway(demo_tenant(settings).emulator) as gateway:  # other tests changed some since the snapshot
        current = gateway.read_mfa_states(candidates)
    registered = [uid for uid in candidates if current[uid] == "disabled"][:3]
    assert len(registered) == 3
    # An Enable named as a wave. Entra makes registered users Enforced at once; an admin who disables them and
    # enables them again leaves them Enabled (they must re-register): the members a promotion is for.
    operation_id = _run(settings, store, "enabled", registered, wave="Wave T")
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        gateway.write_mfa_states(dict.fromkeys(registered, "disabled"))
        gateway.write_mfa_states(dict.fromkeys(registered, "enabled"))
        refresh_snapshot(store, gateway, mode="demo", clock=demo_tenant(settings).now)
    now = store.load_users(_tenant(settings)).set_index("id").loc[registered]
    ready = int((now["registered"] & (now["state"] == "enabled")).sum())
    assert ready >= 1
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    waves = _frame_with(at, "name", "promotable")
    row = waves[waves["name"] == "Wave T"].iloc[0]
    assert row["source"] == f"operation {operation_id}" and row["members"] == 3 and row["promotable"] == ready
    at.selectbox(key="ops_wave").set_value(next(w.id for w in rollout.list_waves(store, _tenant(settings))
                                                 if w.name == "Wave T")).run()
    at.button(key="ops_promote").click().run()
    _no_exception(at)
    # The ready members are proposed; the others (one-factor sign-ins while they were Disabled) are listed.
    with open_store(settings.database_url, clock=demo_tenant(settings).now) as reading:
        found = console.wave_readiness(console.Workspace(reading, None, _tenant(settings), None),
                                       reading.load_users(_tenant(settings)),
                                       next(w.id for w in rollout.list_waves(reading, _tenant(settings))
                                            if w.name == "Wave T"))
    held = found.not_ready.set_index("user_id")
    assert any(c.value.startswith(f"Ready to enforce: {found.ready} of {found.to_enforce} (members not Enforced yet)")
               for c in at.caption)
    headings = [s.value for s in at.subheader]
    proposed = ready - len(held)
    head = f"Preview: Enforce {proposed} {'user' if proposed == 1 else 'users'}"
    assert head + (f" · {len(held)} skipped" if len(held) else "") in headings, headings
    if len(held):
        skipped = _frame_with(at, "before", "reason", without="outcome")
        assert sorted(skipped["reason"]) == sorted(f"not ready to enforce: {r}" for r in held["reasons"])
    at.checkbox(key="ops_promote_all").check().run()  # re-plans with everyone
    _no_exception(at)
    headings = [s.value for s in at.subheader]
    assert any(h.startswith(f"Preview: Enforce {ready} user") for h in headings), headings
    assert any(c.value.startswith("Asked for: promote Wave T to Enforced.") for c in at.caption)
    assert f"- Enabled → Enforced: **{ready}**" in " ".join(m.value for m in at.markdown)
    at.button(key="ops_plan_confirm").click().run()
    at.button(key="ops_confirm_go").click().run()
    _no_exception(at)
    promoted = max(o.id for o in rollout.list_operations(store, _tenant(settings)))
    assert rollout.wait_operation(promoted, 120)
    assert rollout.get_operation(store, promoted).label == "Promote wave Wave T to Enforced"


def test_a_reader_sees_the_history_but_cannot_act(settings: Settings, store: Store) -> None:
    at = new_app(settings, READER, PAGE)
    _no_exception(at)
    operation_id = at.selectbox(key="ops_selected").value
    for key in (f"ops_resume_{operation_id}", f"ops_undo_{operation_id}", "ops_promote"):
        button = at.button(key=key)
        assert button.disabled and button.help == GLOBAL_READER_REASON
    assert f":material/lock: Read-only: {GLOBAL_READER_REASON}" in [c.value for c in at.caption]
