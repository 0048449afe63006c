"""The things a person does with the console, one function each: pages and the CLI both call these.

::

    from lib import console

    ws = console.Workspace(store, gateway, tenant_id, actor)      # where, through which Graph, as whom
    preview = console.preview_change(ws, frame, selected_ids, "enforced")
    preview = console.preview_csv(ws, frame, imported)
    preview = console.preview_wave_enforcement(ws, frame, wave_id)                # the registered, still Enabled:
    #   the members ready to enforce proposed, the rest skipped as not_ready (include_not_ready=True: all)
    ready = console.wave_readiness(ws, frame, wave_id)  # "Ready to enforce: N of M", who is not and why
    preview = console.preview_wave_enforcement(ws, frame, wave_id, member_ids=ids)  # chosen members (stragglers)
    preview = console.preview_undo(ws, frame, operation_id)
    job = console.start_preview(owner, tenant_id, lambda progress, cancel: console.preview_change(
        ws, frame, ids, "enforced", on_progress=progress, cancel=cancel), place="users:selection",
        selection=key, size=len(ids))                      # a large one in the background, with progress
    job = console.preview_job(owner, tenant_id); job.cancel(); console.discard_preview(owner, tenant_id)
    cover = console.preview_move_off_per_user(ws, frame)         # covered by CA / security defaults → Disabled
    cover = console.preview_close_gap(ws, frame, "enforced")     # covered by nothing; cover.plan is the plan
    view = console.registration_campaign(ws)                     # the campaign and methods, in words
    change = console.enable_campaign(ws, group_id=None)          # journaled, read back; undo_campaign_change
    op_id = console.start_change(ws, preview, wave="Wave 3", label="…")
    console.resume(ws, op_id); console.cancel(ws, op_id)
    console.protect(ws, upn, reason="break-glass", owner="…"); console.unprotect(ws, [upn])
    console.advance_demo_clock(ws, demo, days=7)
    timeline = console.user_timeline(ws, user_id, waves=…)
    result = console.take_snapshot(ws, mode="demo")
    status = console.protection_status(ws)                   # CA availability, policies, campaign, summary

Each one checks what it must, re-reads what a stale snapshot could get wrong, and raises a ``lib`` error
whose message is safe to show. Every one that changes something checks the role at the moment of acting
(``lib.console.roles``): a signed-in admin's directory roles are re-read from Graph, before anything is
journaled or sent.
"""

from lib.console.campaign import (
    CampaignChangeFailed,
    CampaignMovedOn,
    CampaignRecord,
    CampaignView,
    campaign_changes,
    campaign_groups,
    campaign_record,
    enable_campaign,
    registration_campaign,
    settle_campaign_change,
    undo_campaign_change,
)
from lib.console.changes import (
    preview_change,
    preview_csv,
    preview_undo,
    preview_wave_enforcement,
)
from lib.console.coverage_plans import CoveragePreview, preview_close_gap, preview_move_off_per_user
from lib.console.demo_clock import DemoClockError, advance_demo_clock
from lib.console.operations import cancel, resume, start_change
from lib.console.plan_jobs import BACKGROUND_ABOVE, PlanJob, discard_preview, preview_job, start_preview
from lib.console.protection import protect, unprotect
from lib.console.protection_status import ProtectionStatus, protection_status
from lib.console.roles import RoleLost, RolesUnreadable, acting_writer
from lib.console.snapshots import take_snapshot
from lib.console.timeline import user_timeline
from lib.console.wave_readiness import WaveReadiness, wave_readiness
from lib.console.workspace import NoGraphConnection, Workspace

__all__ = [
    "BACKGROUND_ABOVE",
    "CampaignChangeFailed",
    "CampaignMovedOn",
    "CampaignRecord",
    "CampaignView",
    "CoveragePreview",
    "DemoClockError",
    "NoGraphConnection",
    "PlanJob",
    "ProtectionStatus",
    "RoleLost",
    "RolesUnreadable",
    "WaveReadiness",
    "Workspace",
    "acting_writer",
    "advance_demo_clock",
    "campaign_changes",
    "campaign_groups",
    "campaign_record",
    "cancel",
    "discard_preview",
    "enable_campaign",
    "preview_change",
    "preview_close_gap",
    "preview_csv",
    "preview_job",
    "preview_move_off_per_user",
    "preview_undo",
    "preview_wave_enforcement",
    "protect",
    "protection_status",
    "registration_campaign",
    "resume",
    "settle_campaign_change",
    "start_change",
    "start_preview",
    "take_snapshot",
    "undo_campaign_change",
    "unprotect",
    "user_timeline",
    "wave_readiness",
]
