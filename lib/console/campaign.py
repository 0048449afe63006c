"""The registration campaign: show it and the enabled methods; switch it on for all users or a group; undo.

A change follows the same rules as a per-user one: the role is re-checked as the admin acts
(:func:`lib.console.roles.acting_writer`), the campaign is read from Graph just before and journaled with
the request before the PATCH leaves (``lib.rollout.setting_changes``), and the outcome is what Graph
reports when the campaign is read back, not what the PATCH answered. Undo PATCHes the campaign the change
replaced, unless someone changed it since (then it refuses and says so). The PATCH needs
Policy.ReadWrite.AuthenticationMethod and, for a signed-in admin, Authentication Policy Administrator or
Global Administrator (docs/graph.md, "Authentication methods policy").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.campaign import (
    METHOD_NAMES,
    Campaign,
    CampaignInputError,
    MethodSetting,
    enabled_for,
    method_settings,
    patch_body,
)
from lib.console.protection_status import protection_status
from lib.console.roles import acting_writer
from lib.console.workspace import Workspace
from lib.errors import ConsoleError, describe
from lib.graph import GraphError
from lib.rollout import OperationNotFound
from lib.rollout.setting_changes import (
    SettingChange,
    begin_setting_change,
    finish_setting_change,
    get_setting_change,
    list_setting_changes,
)

__all__ = [
    "CAMPAIGN_SETTING",
    "CampaignChangeFailed",
    "CampaignMovedOn",
    "CampaignRecord",
    "CampaignView",
    "campaign_changes",
    "campaign_groups",
    "campaign_record",
    "enable_campaign",
    "registration_campaign",
    "settle_campaign_change",
    "undo_campaign_change",
]

CAMPAIGN_SETTING = "registration_campaign"
METHODS_POLICY = "/policies/authenticationMethodsPolicy"
NEEDS = ("Changing the registration campaign needs the Policy.ReadWrite.AuthenticationMethod permission and the "
         "Authentication Policy Administrator or Global Administrator role")


class CampaignChangeFailed(ConsoleError):
    """Graph refused the campaign change, or its outcome could not be read back (journaled either way)."""

    code = "campaign_change_failed"


class CampaignMovedOn(ConsoleError):
    """Undo refused: the campaign changed since the change being undone, and undo would overwrite that."""

    code = "campaign_moved_on"


@dataclass(frozen=True)
class CampaignView:
    """What the page shows: the campaign and methods now, in words, and whether this admin may change it."""

    campaign: Campaign
    methods: tuple[MethodSetting, ...]
    names: dict[str, str]
    """Group and user ids the campaign names → display names."""
    can_change: bool
    read_only_reason: str | None
    changes: tuple[SettingChange, ...]
    """This console's journal of campaign changes, newest first."""

    @property
    def targets_words(self) -> str:
        return self.campaign.targets_words(self.names)


@dataclass(frozen=True)
class CampaignRecord:
    """The campaign as last known without asking Graph: the latest snapshot's reading, or this console's own
    change if it came later (its read-back). ``campaign`` None: neither has read it yet."""

    campaign: Campaign | None
    methods: tuple[MethodSetting, ...]
    as_of: pd.Timestamp | None
    source: str
    """Where it comes from, in words ("the snapshot of …", "change 3, read back …")."""
    changes: tuple[SettingChange, ...]


def campaign_record(ws: Workspace, frame: pd.DataFrame | None = None) -> CampaignRecord:
    """What the page shows on load: the store only (the latest snapshot read the methods policy)."""
    status = protection_status(ws, frame)
    changes = tuple(list_setting_changes(ws.store, ws.tenant_id, CAMPAIGN_SETTING))
    campaign: Campaign | None = None
    as_of, source = status.read_at, ""
    if status.campaign is not None:
        try:
            campaign = Campaign.from_graph({
                "state": status.campaign.state, "snoozeDurationInDays": status.campaign.snooze_days or 0,
                "includeTargets": list(status.campaign.include_targets),
                "excludeTargets": list(status.campaign.exclude_targets)})
            source = f"the snapshot of {as_of:%Y-%m-%d %H:%M} UTC" if as_of is not None else "the latest snapshot"
        except CampaignInputError:
            campaign = None
    done = next((c for c in changes if c.after is not None and c.finished_at is not None), None)
    if done is not None and (as_of is None or done.finished_at > as_of):
        campaign, as_of = Campaign.from_json(done.after or {}), done.finished_at
        source = f"change {done.id}, read back {as_of:%Y-%m-%d %H:%M} UTC"
    methods = tuple(MethodSetting(key, METHOD_NAMES.get(key.lower(), key), str(state).lower() == "enabled", "")
                    for key, state in status.method_states.items())
    order = {k: i for i, k in enumerate(METHOD_NAMES)}
    methods = tuple(sorted(methods, key=lambda m: order.get(m.id.lower(), len(order))))
    return CampaignRecord(campaign, methods, as_of, source, changes)


def _read(ws: Workspace) -> tuple[Campaign, dict[str, Any]]:
    policy = ws.require_gateway().get_json(METHODS_POLICY)
    return Campaign.from_graph(policy), policy


def _names(ws: Workspace, ids: tuple[str, ...]) -> dict[str, str]:
    """Display names of the groups a campaign names (a deleted group keeps its id: the words say so)."""
    names: dict[str, str] = {}
    for group_id in dict.fromkeys(ids):
        try:
            group = ws.require_gateway().get_json(f"/groups/{group_id}", params={"$select": "id,displayName"})
        except GraphError:
            continue
        if isinstance(group, dict) and group.get("displayName"):
            names[group_id] = str(group["displayName"])
    return names


def registration_campaign(ws: Workspace) -> CampaignView:
    """The campaign and the methods policy as Graph reports them now, with this console's journal."""
    campaign, policy = _read(ws)
    targets = tuple(str(t.get("id")) for c in policy.get("authenticationMethodConfigurations") or ()
                    if isinstance(c, dict) for t in c.get("includeTargets") or ()
                    if isinstance(t, dict) and t.get("id") != "all_users")
    names = _names(ws, (*campaign.group_ids(), *targets))
    actor = ws.actor
    return CampaignView(campaign, method_settings(policy, names), names, bool(getattr(actor, "can_change_mfa", False)),
                        getattr(actor, "read_only_reason", None),
                        tuple(list_setting_changes(ws.store, ws.tenant_id, CAMPAIGN_SETTING)))


def campaign_groups(ws: Workspace) -> list[tuple[str, str]]:
    """The tenant's groups, (id, name) sorted by name: what a campaign may target."""
    rows = ws.require_gateway().list_json("/groups", params={"$select": "id,displayName"})
    return sorted(((str(g["id"]), str(g.get("displayName") or g["id"])) for g in rows if g.get("id")),
                  key=lambda pair: pair[1].casefold())


def campaign_changes(ws: Workspace) -> list[SettingChange]:
    return list_setting_changes(ws.store, ws.tenant_id, CAMPAIGN_SETTING)


def _refused(err: GraphError) -> str:
    if err.status in (401, 403):
        return f"{NEEDS}: Microsoft Graph refused ({describe(err)}). Nothing was changed."
    return f"Microsoft Graph did not change the registration campaign: {describe(err)}"


def _settle(ws: Workspace, change_id: int, requested: Campaign, before: Campaign,
            error: GraphError | None) -> SettingChange:
    """Read the campaign back and journal what Graph reports as the outcome."""
    try:
        after, _policy = _read(ws)
    except ConsoleError as read_error:
        if error is not None and error.status is not None and 400 <= error.status < 500:
            finish_setting_change(ws.store, change_id, "failed", after=None, error=_refused(error))
            raise CampaignChangeFailed(_refused(error)) from error
        raise CampaignChangeFailed(
            f"The registration campaign could not be read back, so whether change {change_id} took effect is not "
            f"known yet: {describe(read_error)}. Open it again later: it is checked then.") from read_error
    if after.same_as(requested):
        return finish_setting_change(ws.store, change_id, "applied", after=after.to_json())
    if error is not None:
        finish_setting_change(ws.store, change_id, "failed", after=after.to_json(), error=_refused(error))
        raise CampaignChangeFailed(_refused(error)) from error
    status = "failed" if after.same_as(before) else "differs"
    return finish_setting_change(ws.store, change_id, status, after=after.to_json(),
                                 error="Graph reports the campaign unchanged" if status == "failed" else None)


def _set(ws: Workspace, actor: Any, requested: Campaign, undo_of: int | None = None) -> SettingChange:
    before, _policy = _read(ws)
    if before.same_as(requested):
        change_id = begin_setting_change(ws.store, ws.tenant_id, CAMPAIGN_SETTING, before=before.to_json(),
                                         requested=requested.to_json(), actor=actor, undo_of=undo_of, unchanged=True)
        return get_setting_change(ws.store, change_id)
    change_id = begin_setting_change(ws.store, ws.tenant_id, CAMPAIGN_SETTING, before=before.to_json(),
                                     requested=requested.to_json(), actor=actor, undo_of=undo_of)
    error: GraphError | None = None
    try:
        ws.require_gateway().patch_json(METHODS_POLICY, patch_body(requested))
    except GraphError as err:
        error = err
    return _settle(ws, change_id, requested, before, error)


def enable_campaign(ws: Workspace, group_id: str | None = None, *, snooze_days: int | None = None) -> SettingChange:
    """Switch the campaign on for every user (``group_id`` None) or one group, keeping its exclusions."""
    actor = acting_writer(ws)
    current, _policy = _read(ws)
    return _set(ws, actor, enabled_for(current, group_id, snooze_days=snooze_days))


def _of_tenant(ws: Workspace, change_id: int) -> SettingChange:
    change = get_setting_change(ws.store, change_id)
    if change.tenant_id != ws.tenant_id or change.setting != CAMPAIGN_SETTING:
        raise OperationNotFound(f"There is no registration campaign change {change_id} in this tenant.")
    return change


def undo_campaign_change(ws: Workspace, change_id: int) -> SettingChange:
    """Put back the campaign ``change_id`` replaced; refused if the campaign changed since."""
    actor = acting_writer(ws)
    change = _of_tenant(ws, change_id)
    if change.status not in ("applied", "differs"):
        raise CampaignMovedOn(f"Change {change_id} did not change the campaign ({change.status}): there is nothing "
                              "to undo.")
    current, _policy = _read(ws)
    left = Campaign.from_json(change.after or change.requested)
    restore = Campaign.from_json(change.before)
    if not current.same_as(left) and not current.same_as(restore):
        raise CampaignMovedOn(f"The registration campaign changed since change {change_id} (it is now "
                              f"{current.state_words}): undo would overwrite that. Nothing was changed.")
    return _set(ws, actor, restore, undo_of=change_id)


def settle_campaign_change(ws: Workspace, change_id: int) -> SettingChange:
    """Finish a change whose outcome is unknown (left ``sending``) by reading the campaign back; a finished
    change is returned as it is (a no-op)."""
    change = _of_tenant(ws, change_id)
    if change.status != "sending":
        return change
    acting_writer(ws)
    return _settle(ws, change_id, Campaign.from_json(change.requested), Campaign.from_json(change.before), None)
