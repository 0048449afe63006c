"""The registration campaign on the Plans page: what it is (from the store), and a writer's switch and undo.

On load it shows what the latest snapshot read, or this console's own later change (its read-back): no Graph
call. Turning it on, and undo, go through ``lib.console`` (role re-checked, journaled before the PATCH, read
back). The tenant's groups are read from Graph only when the admin asks to target a group.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import console
from lib.campaign import MAX_SNOOZE_DAYS
from lib.errors import describe
from lib.ui.context import Console, workspace
from lib.ui.rollout_widgets import can_apply, md

GROUPS_KEY = "plans_campaign_groups"
NOTICE_KEY = "plans_campaign_notice"
STATUS_WORDS = {"applied": "applied, read back", "differs": "read back different from the request",
                "failed": "failed", "unchanged": "already so: nothing sent", "sending": "outcome not known yet"}


def _names() -> dict[str, str]:
    groups = st.session_state.get(GROUPS_KEY) or []
    return dict(groups)


def _show(record: console.CampaignRecord) -> None:
    campaign = record.campaign
    if campaign is None:
        st.info("The registration campaign has not been read yet: refresh the data (sidebar) to read the tenant's "
                "authentication methods policy.", icon=":material/photo_camera:")
        return
    cols = st.columns(2)
    cols[0].metric("Campaign", campaign.state_words)
    cols[1].metric("Snooze", f"{campaign.snooze_days} days" if campaign.snooze_days != 1 else "1 day")
    st.markdown(f"**Targets:** {md(campaign.targets_words(_names()))}")
    st.caption(f"Nudges users to set up Microsoft Authenticator at sign-in; {campaign.snooze_words}. "
               f"As of {md(record.source)}. *Microsoft managed*: Graph's reference calls it off, Entra's guide says "
               "Microsoft turns it on for users with SMS or voice only.")
    if record.methods:
        on = [m.name for m in record.methods if m.enabled]
        off = [m.name for m in record.methods if not m.enabled]
        off_line = f"  \n**Off:** {', '.join(off)}" if off else ""
        st.markdown(f"**Methods enabled:** {', '.join(on) or 'none'}{off_line}")


def _enable_form(app: Console, record: console.CampaignRecord) -> None:
    writer, reason = can_apply()
    if not writer:
        st.caption(f":material/lock: Read-only: {reason} Changing the campaign needs Authentication Policy "
                   "Administrator or Global Administrator.")
        return
    current = record.campaign
    with st.container(border=True, key="plans_campaign_form"):
        st.markdown("**Turn the campaign on**")
        who = st.radio("For", ["All users", "One group"], horizontal=True, key="plans_campaign_who")
        group_id = None
        if who == "One group":
            if st.session_state.get(GROUPS_KEY) is None:
                if st.button("Load the tenant's groups", key="plans_campaign_load_groups", icon=":material/groups:"):
                    try:
                        st.session_state[GROUPS_KEY] = console.campaign_groups(workspace(app))
                    except Exception as err:
                        st.error(f"The groups could not be read: {describe(err)}", icon=":material/error:")
                    st.rerun()
                return
            groups = st.session_state[GROUPS_KEY]
            if not groups:
                st.info("The tenant has no groups: target all users.", icon=":material/group_off:")
                return
            group_id = st.selectbox("Group", [g for g, _n in groups], format_func=dict(groups).get,
                                    key="plans_campaign_group")
        snooze = st.number_input("Days a user may postpone it", min_value=0, max_value=MAX_SNOOZE_DAYS, step=1,
                                 value=current.snooze_days if current is not None else 1, key="plans_campaign_snooze")
        kept = f" Exclusions are kept ({md(current.targets_words(_names()).split('except ')[1])})." if (
            current is not None and current.exclude) else ""
        st.caption("Journaled before it is sent, read back afterwards, and undoable." + kept)
        if st.button("Turn the campaign on", key="plans_campaign_enable", type="primary", icon=":material/campaign:"):
            try:
                with st.spinner("Changing the registration campaign in Microsoft Graph…"):
                    change = console.enable_campaign(workspace(app), group_id, snooze_days=int(snooze))
                st.session_state[NOTICE_KEY] = ("success", f"Change {change.id}: {STATUS_WORDS[change.status]}.")
            except Exception as err:  # role, permission, Graph: the journal keeps what happened
                st.session_state[NOTICE_KEY] = ("error", describe(err))
            st.rerun()


def _undo_last(app: Console, record: console.CampaignRecord) -> None:
    """The latest change that changed the campaign, with its Undo (writers only)."""
    last = next((c for c in record.changes if c.status in ("applied", "differs")), None)
    writer, _reason = can_apply()
    if last is None or not writer or last.kind == "undo":
        return
    cols = st.columns([3, 1], vertical_alignment="center")
    cols[0].caption(f"Change {last.id} by {md(last.actor)}: {STATUS_WORDS[last.status]}. Undo puts back the campaign "
                    "it replaced (refused if someone changed it since).")
    if cols[1].button(f"Undo change {last.id}", key="plans_campaign_undo", icon=":material/undo:", width="stretch"):
        try:
            with st.spinner("Restoring the previous campaign…"):
                undone = console.undo_campaign_change(workspace(app), last.id)
            st.session_state[NOTICE_KEY] = ("success", f"Change {undone.id} restored the campaign change "
                                                       f"{last.id} replaced: {STATUS_WORDS[undone.status]}.")
        except Exception as err:
            st.session_state[NOTICE_KEY] = ("error", describe(err))
        st.rerun()


def _journal(record: console.CampaignRecord) -> None:
    if not record.changes:
        st.caption("No campaign change made from this console yet.")
        return
    rows = pd.DataFrame([{
        "Change": c.id, "What": f"Undo of {c.undo_of}" if c.undo_of else "Turn on",
        "Outcome": STATUS_WORDS.get(c.status, c.status), "By": c.actor,
        "When (UTC)": f"{c.finished_at or c.created_at:%Y-%m-%d %H:%M}",
    } for c in record.changes])
    st.dataframe(rows, hide_index=True, width="stretch")


def campaign_panel(app: Console, frame: pd.DataFrame | None) -> None:
    st.subheader("Registration campaign")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        (st.success if kind == "success" else st.error)(md(text))
    try:
        record = console.campaign_record(workspace(app), frame)
    except Exception as err:
        st.error(f"The campaign could not be shown: {describe(err)}", icon=":material/error:")
        return
    _show(record)
    _undo_last(app, record)
    _enable_form(app, record)
    with st.expander("Campaign changes made here"):
        _journal(record)
