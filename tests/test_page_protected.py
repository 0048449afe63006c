"""The Protected accounts page under AppTest: empty state and suggestions, one-click protect, add with
validation (unknown UPN warned, expiry in the past refused), expired protections shown as such, remove,
and every plan skipping what is protected.

Runs on a console of its own (new data folder, so its own demo tenant and store): it changes protections.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib import rollout
from lib.demo import demo_tenant
from lib.settings import Settings
from lib.store import Store, open_store
from lib.ui.rollout_widgets import md
from tests.ui_fixtures import ADMIN, console_data, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

PAGE = "pages/protected.py"
ADMIN_UPN = "admin@fabrikamconsulting.com"
BREAK_GLASS = "breakglass01@fabrikamconsulting.onmicrosoft.com"
EMERGENCY = "emergency-access02@fabrikamconsulting.onmicrosoft.com"


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if {"upn", "status", "owner"} <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


@pytest.fixture(scope="module")
def settings(demo_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with console_data(tmp_path_factory.mktemp("protected-page-data")) as settings:
        yield settings


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    new_app(settings, ADMIN, PAGE)  # the console seeds its demo tenant and history on first use
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


def _tenant(settings: Settings) -> str:
    return demo_tenant(settings).emulator.tenant_id


def _today(settings: Settings) -> date:
    return demo_tenant(settings).now().date()


def _add(at: AppTest, upn: str, reason: str, owner: str | None = None, expires: date | None = None) -> AppTest:
    at.text_input(key="protected_upn").set_value(upn)
    at.text_input(key="protected_reason").set_value(reason)
    if owner is not None:
        at.text_input(key="protected_owner").set_value(owner)
    at.date_input(key="protected_expires").set_value(expires)
    at.button(key="FormSubmitter:protected_add-Protect").click()
    return at.run()


def test_empty_list_suggests_the_healthy_break_glass_account_and_flags_the_other(settings: Settings,
                                                                                  store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    assert any(i.value.startswith("**No protected accounts yet.**") for i in at.info)
    suggested = [m.value for m in at.markdown if "`" in m.value]
    assert any(BREAK_GLASS in s for s in suggested)  # enabled, with a FIDO2 key
    assert not any(EMERGENCY in s for s in suggested)  # an admin with no method: not offered as an exemption
    risk = next(w.value for w in at.warning if "MFA fixed, not an exemption" in w.value).replace("\\", "")
    assert EMERGENCY in risk
    assert "an administrator with no second factor: require MFA for it rather than exempting it" in risk
    assert at.text_input(key="protected_owner").value == ADMIN_UPN


def test_one_click_protects_a_suggestion(settings: Settings, store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    users = store.load_users(_tenant(settings))
    user_id = users.loc[users["upn"] == BREAK_GLASS, "id"].iloc[0]
    at.button(key=f"protected_suggest_{user_id}").click().run()
    _no_exception(at)
    assert any("is protected" in s.value and "every plan skips it" in s.value for s in at.success)
    table = _table(at)
    row = table[table["upn"] == BREAK_GLASS].iloc[0]
    assert row["status"] == "Active" and row["owner"] == ADMIN_UPN and row["in_snapshot"]
    assert row["reason"] == "suggested: classified as a break-glass (emergency access) account"
    assert f"protected_suggest_{user_id}" not in [b.key for b in at.button]  # no longer suggested


def test_protected_accounts_without_a_security_key_or_passkey_are_warned(settings: Settings, store: Store) -> None:
    """Runs after the one-click protect: the break-glass account (it has a FIDO2 key) is protected."""
    tenant = _tenant(settings)
    users = store.load_users(tenant)
    keyless = users[(users["account_kind"] == "person") & users["registered"]
                    & ~users["methods"].str.contains("fido2|passKey", case=False)].iloc[0]
    rollout.protect_account(store, tenant, str(keyless["upn"]), reason="Board member", owner=ADMIN_UPN)
    try:
        at = new_app(settings, ADMIN, PAGE)
        _no_exception(at)
        warning = next(w.value for w in at.warning if "no phishing-resistant method" in w.value).replace("\\", "")
        assert warning.startswith("**1 protected account has no phishing-resistant method for emergencies**")
        assert str(keyless["upn"]) in warning and "register a security key or passkey" in warning
        assert BREAK_GLASS not in warning  # protected, with a FIDO2 key
    finally:
        rollout.unprotect_account(store, tenant, str(keyless["upn"]))


def test_add_with_validation(settings: Settings, store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    users = store.load_users(_tenant(settings))
    person = users.loc[(users["account_kind"] == "person") & ~users["is_admin"], "upn"].iloc[0]
    # an expiry in the past is refused, nothing is added
    _add(at, person, "Travelling without a phone", expires=_today(settings) - timedelta(days=1))
    assert not at.exception
    assert any("in the past" in e.value for e in at.error)
    assert person not in set(rollout.protected_frame(store, _tenant(settings))["upn"])
    # a future expiry is fine
    until = _today(settings) + timedelta(days=30)
    _add(at, person, "Travelling without a phone", owner="helpdesk@fabrikamconsulting.com", expires=until)
    _no_exception(at)
    row = _table(at).set_index("upn").loc[person]
    assert row["owner"] == "helpdesk@fabrikamconsulting.com" and row["status"] == "Active"
    assert pd.Timestamp(row["expires"]).date() == until
    # a UPN not in the tenant is refused; protected only when confirmed
    _add(at, "no.such.person@fabrikamconsulting.com", "Typo check")
    assert any("is not in the tenant's latest snapshot: check the spelling" in e.value for e in at.error)
    assert "no.such.person@fabrikamconsulting.com" not in set(rollout.protected_frame(store, _tenant(settings))["upn"])
    at.checkbox(key="protected_unknown").check()
    _add(at, "no.such.person@fabrikamconsulting.com", "Created this morning")
    assert any("as you confirmed" in w.value and "not in the latest snapshot" in w.value for w in at.warning)
    assert not _table(at).set_index("upn").loc["no.such.person@fabrikamconsulting.com", "in_snapshot"]
    # missing reason and a malformed UPN: the engine's own messages
    _add(at, person, "   ")
    assert any(e.value.startswith("Not protected: reason is required") for e in at.error)
    _add(at, "not a upn", "x")
    assert any("is not a user principal name" in e.value for e in at.error)


def test_every_plan_skips_protected_accounts_and_expired_ones_show_as_expired(settings: Settings,
                                                                            store: Store) -> None:
    tenant = _tenant(settings)
    rollout.protect_account(store, tenant, EMERGENCY, reason="Emergency access", owner=ADMIN_UPN,
                            expires_at=pd.Timestamp(_today(settings) - timedelta(days=3), tz="UTC"))
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    table = _table(at).set_index("upn")
    assert table.loc[EMERGENCY, "status"] == "Expired — no longer protects"
    assert any("expired (shown so nobody wonders" in c.value for c in at.caption)
    users = store.load_users(tenant)
    ids = users.loc[users["upn"].isin([BREAK_GLASS, EMERGENCY]), "id"].tolist()
    actor = rollout.AppActor("tests", frozenset({rollout.MFA_WRITE_PERMISSION}))
    the_plan = rollout.plan(users, "enforced", ids, protected=rollout.active_protection(store, tenant), actor=actor,
                            include_break_glass=True)
    reasons = dict(zip(the_plan.skipped["upn"], the_plan.skipped["code"], strict=True))
    assert reasons.get(BREAK_GLASS) == "protected"
    assert EMERGENCY not in reasons  # its protection expired


def test_remove_protection(settings: Settings, store: Store) -> None:
    at = new_app(settings, ADMIN, PAGE)
    at.multiselect(key="protected_remove_pick").set_value([BREAK_GLASS]).run()
    at.button(key="protected_remove").click().run()
    _no_exception(at)
    assert any(s.value.startswith("No longer protected: breakglass01") for s in at.success)
    assert BREAK_GLASS not in set(_table(at)["upn"])
    assert BREAK_GLASS not in rollout.active_protection(store, _tenant(settings))


def test_a_renamed_account_shows_its_current_upn_and_stays_protected(settings: Settings, store: Store) -> None:
    """Runs last: it stores a snapshot in which one ordinary account has been renamed."""
    tenant = _tenant(settings)
    users = store.load_users(tenant)
    person = users[(users["account_kind"] == "person") & ~users["is_guest"]].iloc[0]
    old, new = str(person["upn"]), "renamed." + str(person["upn"])
    rollout.protect_account(store, tenant, old, reason="Board member", owner=ADMIN_UPN)
    renamed = users.copy()
    renamed.loc[renamed["id"] == person["id"], "upn"] = new
    at_time = demo_tenant(settings).now()
    snapshot_id = store.begin_snapshot(tenant, "reports", started_at=at_time)
    store.complete_snapshot(snapshot_id, renamed, users_read_at=at_time, registration_read_at=at_time,
                            state_read_at=at_time, stats={"requests": 1}, finished_at=at_time)
    at = new_app(settings, ADMIN, PAGE)
    _no_exception(at)
    row = _table(at).set_index("upn").loc[new]
    assert (row["protected_as"], row["status"], bool(row["in_snapshot"])) == (old, "Active", True)
    assert old not in set(_table(at)["upn"])
    the_plan = rollout.plan(store.load_users(tenant), "enforced", [str(person["id"])],
                            protected=rollout.active_protection(store, tenant),
                            actor=rollout.AppActor("tests", frozenset({rollout.MFA_WRITE_PERMISSION})))
    assert the_plan.skip_counts() == {"protected": 1}
    at.multiselect(key="protected_remove_pick").set_value([new]).run()
    at.button(key="protected_remove").click().run()
    _no_exception(at)
    notices = [s.value for s in at.success]
    assert any(n.startswith(f"No longer protected: {md(new)}.") for n in notices), notices
