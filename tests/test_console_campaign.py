"""The registration campaign through the use-case layer, against the demo tenant over HTTP.

A writer (Authentication Policy Administrator, signed in through the demo tenant's sign-in page) switches
the campaign on for all users or a group: journaled before the PATCH, verified by reading back, undone to
exactly the campaign it replaced. The read-only role sees it and is refused server-side before anything is
sent; an undo after someone else changed the campaign is refused. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

from lib import console
from lib.auth import PermissionDenied
from lib.campaign import Campaign, CampaignInputError
from lib.emulator.generator import demo_public_app
from lib.emulator.server import RunningEmulator
from lib.store import open_store
from tests.auth_fixtures import AUTHPOLICY, READER
from tests.read_only_support import store_fingerprint
from tests.test_console_roles import READ_ONLY, Desk, desk_for  # noqa: F401  (desk_for is a fixture)
from tests.test_rollout_support import control

CAMPAIGN_PATH = "/policies/authenticationMethodsPolicy"
WRITE = "Policy.ReadWrite.AuthenticationMethod"


def tenant_campaign(emulator: RunningEmulator) -> tuple[str, int, list[str], list[str]]:
    """The campaign as the demo tenant holds it (its ground truth, not the console's view)."""
    c = emulator.state.tenant.protection.campaign
    return c.state, c.snooze_days, [t["id"] for t in c.include_targets], [t["id"] for t in c.exclude_targets]


def group_id(desk: Desk, name: str) -> str:
    found = [gid for gid, gname in console.campaign_groups(desk.workspace()) if gname == name]
    assert len(found) == 1, f"no single group named {name!r}"
    return found[0]


def test_the_campaign_and_methods_are_shown_in_words(desk_for) -> None:  # noqa: F811
    desk = desk_for(READER)
    view = console.registration_campaign(desk.workspace())
    assert view.campaign.state == "default"
    assert view.campaign.state_words == "Microsoft managed"
    assert view.targets_words == "All users"
    assert view.campaign.snooze_words == "users may postpone it for 1 day at a time"
    methods = {m.name: m.enabled for m in view.methods}
    assert methods["Passkeys (FIDO2)"] and methods["Microsoft Authenticator"] and methods["SMS"]
    assert methods["Voice call"] is False  # the demo tenant turns voice calls off (docs/graph.md)
    assert [m.name for m in view.methods][:3] == ["Passkeys (FIDO2)", "Microsoft Authenticator", "SMS"]
    assert not view.can_change and "Global Reader" in (view.read_only_reason or "")
    assert view.changes == ()


def test_a_writer_enables_it_for_all_users_verified_and_undone(desk_for) -> None:  # noqa: F811
    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    before = tenant_campaign(desk.emulator)
    change = console.enable_campaign(ws)
    assert tenant_campaign(desk.emulator) == ("enabled", 1, ["all_users"], [])
    assert change.status == "applied" and change.kind == "change"
    assert Campaign.from_json(change.before).state == "default"
    assert Campaign.from_json(change.after).same_as(Campaign.from_json(change.requested))
    assert change.actor.startswith("authpolicy.admin@")

    undone = console.undo_campaign_change(ws, change.id)
    assert tenant_campaign(desk.emulator) == before
    assert (undone.kind, undone.status, undone.undo_of) == ("undo", "applied", change.id)
    assert [c.id for c in console.campaign_changes(ws)] == [undone.id, change.id]


def test_a_group_target_keeps_exclusions_and_snooze_is_checked(desk_for) -> None:  # noqa: F811
    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    sales, emergency = group_id(desk, "All Sales"), group_id(desk, "Emergency access accounts")
    campaign = desk.emulator.state.tenant.protection.campaign
    campaign.exclude_targets = [{"id": emergency, "targetType": "group"}]  # set in the tenant, as in Entra
    change = console.enable_campaign(ws, sales, snooze_days=3)
    assert tenant_campaign(desk.emulator) == ("enabled", 3, [sales], [emergency])
    view = console.registration_campaign(ws)
    assert view.targets_words == "All Sales (group), except Emergency access accounts (group)"
    assert view.changes[0].id == change.id
    with pytest.raises(CampaignInputError, match="0 to 14"):
        console.enable_campaign(ws, sales, snooze_days=15)
    assert tenant_campaign(desk.emulator) == ("enabled", 3, [sales], [emergency])
    console.undo_campaign_change(ws, change.id)
    assert tenant_campaign(desk.emulator) == ("default", 1, ["all_users"], [emergency])


def test_enabling_what_is_already_so_sends_nothing(desk_for) -> None:  # noqa: F811
    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    console.enable_campaign(ws)
    revision = desk.emulator.state.tenant.revision
    again = console.enable_campaign(ws)
    assert again.status == "unchanged" and again.before == again.after
    assert desk.emulator.state.tenant.revision == revision  # no PATCH reached the tenant


def test_the_read_only_role_is_refused_before_anything_is_sent(desk_for) -> None:  # noqa: F811
    writer = desk_for(AUTHPOLICY)
    done = console.enable_campaign(writer.workspace())
    reader = desk_for(READER)
    before, store_before = tenant_campaign(reader.emulator), store_fingerprint(reader.store)
    requests = control(reader.emulator, "GET", "/stats")["requests"]
    for act in (lambda ws: console.enable_campaign(ws), lambda ws: console.undo_campaign_change(ws, done.id)):
        with pytest.raises(PermissionDenied) as err:
            act(reader.workspace())
        assert err.value.message == READ_ONLY
    assert control(reader.emulator, "GET", "/stats")["requests"] == requests
    assert tenant_campaign(reader.emulator) == before and store_fingerprint(reader.store) == store_before


def test_undo_after_someone_else_changed_it_is_refused(desk_for) -> None:  # noqa: F811
    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    change = console.enable_campaign(ws)
    desk.gateway.patch_json(CAMPAIGN_PATH, {"registrationEnforcement": {
        "authenticationMethodsRegistrationCampaign": {"state": "disabled"}}})  # in the admin center, say
    with pytest.raises(console.CampaignMovedOn, match="changed since change"):
        console.undo_campaign_change(ws, change.id)
    assert tenant_campaign(desk.emulator)[0] == "disabled"


def test_graph_refusing_the_patch_is_journaled_with_the_permission_it_needs(desk_for, database_url: str) -> None:  # noqa: F811
    first = desk_for(AUTHPOLICY)
    # the tenant consented to reading the methods policy only: the admin's role passes, Graph refuses the PATCH
    app = demo_public_app(first.emulator.state.tenant)
    app.permissions = (app.permissions - {WRITE}) | {"Policy.Read.AuthenticationMethod"}
    desk = desk_for(AUTHPOLICY)  # signs in again, with what the tenant now grants
    ws = desk.workspace()
    with pytest.raises(console.CampaignChangeFailed) as failed:
        console.enable_campaign(ws)
    assert failed.value.message.startswith(
        "Changing the registration campaign needs the Policy.ReadWrite.AuthenticationMethod permission and the "
        "Authentication Policy Administrator or Global Administrator role: Microsoft Graph refused")
    assert failed.value.message.endswith("Nothing was changed.")
    assert tenant_campaign(desk.emulator)[0] == "default"
    journaled = console.campaign_changes(ws)[0]
    assert journaled.status == "failed" and "Policy.ReadWrite.AuthenticationMethod" in (journaled.error or "")
    with open_store(database_url) as other, other.engine.connect() as conn:  # journaled in the database
        rows = conn.exec_driver_sql("SELECT status, before_value FROM setting_changes").all()
    assert rows[0][0] == "failed" and json.loads(rows[0][1])["state"] == "default"


def test_a_change_left_sending_is_settled_by_reading_back(desk_for) -> None:  # noqa: F811
    """The console stopped between the journal and the answer (kill -9): settling reads the campaign back."""
    from lib.campaign import enabled_for, patch_body
    from lib.console.campaign import CAMPAIGN_SETTING
    from lib.rollout.setting_changes import begin_setting_change

    desk = desk_for(AUTHPOLICY)
    ws = desk.workspace()
    current = Campaign.from_graph(desk.gateway.get_json(CAMPAIGN_PATH))
    wanted = enabled_for(current)
    change_id = begin_setting_change(desk.store, desk.tenant_id, CAMPAIGN_SETTING, before=current.to_json(),
                                     requested=wanted.to_json(), actor=desk.session.admin)
    desk.gateway.patch_json(CAMPAIGN_PATH, patch_body(wanted))  # sent; its answer never journaled
    assert console.campaign_changes(ws)[0].status == "sending"
    settled = console.settle_campaign_change(ws, change_id)
    assert settled.status == "applied" and Campaign.from_json(settled.after).same_as(wanted)
    revision = desk.emulator.state.tenant.revision
    assert console.settle_campaign_change(ws, change_id) == settled  # settling again: a no-op
    assert desk.emulator.state.tenant.revision == revision
