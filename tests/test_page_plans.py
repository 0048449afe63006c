"""The Plans page under AppTest: a protection plan previewed, applied and undone (on the Operations page, as
every change); the registration campaign switched on and undone; the read-only role sees both, changes
neither. Runs on a console of its own (new data folder, so its own demo tenant and store): it changes MFA.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import rollout
from lib.demo import app_gateway, demo_tenant
from lib.settings import Settings
from lib.store import Store, open_store
from tests.ui_fixtures import ADMIN, READER, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/plans.py"


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _confirm(at: AppTest, prefix: str) -> None:
    at.button(key=f"{prefix}_plan_confirm").click().run()
    if f"{prefix}_confirm_count" in [t.key for t in at.text_input]:
        at.text_input(key=f"{prefix}_confirm_count").set_value(_metrics(at)["Will change"]).run()
    at.button(key=f"{prefix}_confirm_go").click().run()
    _no_exception(at)


@pytest.fixture(scope="module")
def settings(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with console_data(tmp_path_factory.mktemp("plans-page-data")) as settings:
        yield settings


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    new_app(settings, ADMIN, PAGE)  # the console seeds its demo tenant and history on first use
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


def _campaign(settings: Settings) -> tuple[str, list[str]]:
    """The campaign as the demo tenant's Graph reports it (its process is not this one)."""
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        policy = gateway.get_json("/policies/authenticationMethodsPolicy")
    c = policy["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]
    return c["state"], [t["id"] for t in c["includeTargets"]]


def test_move_off_previews_applies_and_is_undone(settings: Settings, store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    headline = next(m.value for m in at.markdown if "can move off per-user MFA" in m.value)
    count = int(headline.split("**")[1].split()[0].replace(",", ""))
    assert count > 0
    at.button(key="plans_move_off").click().run()
    _no_exception(at)
    assert any(s.value.startswith("Preview: ") for s in at.subheader)
    assert _metrics(at)["Will change"] == f"{count:,}"
    kept = int(_metrics(at)["Skipped"].replace(",", ""))
    assert kept > 0  # partial, report-only, excluded and unregistered users keep per-user MFA, listed
    covered = next(d.value for d in at.dataframe if "Covered by" in d.value.columns)
    assert len(covered) == count
    assert all(text.startswith("Conditional Access: all cloud apps (Require MFA for") for text in covered["Covered by"])
    _confirm(at, "plans")
    operation_id = at.session_state["plans_operation"]
    assert rollout.wait_operation(operation_id, 120)
    at.run()
    assert f"Operation {operation_id} complete: {count} applied, 0 failed, {kept} skipped." in \
        [s.value for s in at.success]
    items = rollout.operation_items_frame(store, operation_id)
    items = items.loc[items["status"] == "applied"]
    ids = items["user_id"].tolist()
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        assert set(gateway.read_mfa_states(ids).values()) == {"disabled"}
    assert rollout.get_operation(store, operation_id).source == "move_off_per_user"

    ops = new_app(settings, ADMIN, "pages/operations.py")
    ops.selectbox(key="ops_selected").set_value(operation_id).run()
    ops.button(key=f"ops_undo_{operation_id}").click().run()
    _confirm(ops, "ops")
    undo_id = max(o.id for o in rollout.list_operations(store, demo_tenant(settings).emulator.tenant_id))
    assert undo_id != operation_id and rollout.wait_operation(undo_id, 120)
    with app_gateway(demo_tenant(settings).emulator) as gateway:
        restored = gateway.read_mfa_states(ids)
    assert restored == dict(zip(ids, items["before_state"], strict=True))


def test_the_campaign_is_switched_on_and_undone(settings: Settings, store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    assert _metrics(at)["Campaign"] == "Microsoft managed"
    assert "**Targets:** All users" in [m.value for m in at.markdown]
    at.number_input(key="plans_campaign_snooze").set_value(3).run()
    at.button(key="plans_campaign_enable").click().run()
    _no_exception(at)
    assert _campaign(settings) == ("enabled", ["all_users"])
    assert any("applied, read back" in s.value for s in at.success), [s.value for s in at.success]
    assert _metrics(at)["Campaign"] == "On" and _metrics(at)["Snooze"] == "3 days"
    at.button(key="plans_campaign_undo").click().run()
    _no_exception(at)
    assert _campaign(settings) == ("default", ["all_users"])
    assert _metrics(at)["Campaign"] == "Microsoft managed"


def test_the_read_only_role_sees_the_plans_and_the_campaign_but_cannot_change(settings: Settings,
                                                                            store: Store) -> None:
    at = new_app(settings, READER, PAGE)
    _no_exception(at)
    assert "plans_campaign_enable" not in [b.key for b in at.button]
    assert any("Read-only" in c.value for c in at.caption)
    assert _metrics(at)["Campaign"]
    at.button(key="plans_gap_enforced").click().run()  # a preview is allowed…
    _no_exception(at)
    assert any(s.value.startswith("Preview: ") for s in at.subheader)
    assert at.button(key="plans_plan_confirm").disabled  # …confirming is not

