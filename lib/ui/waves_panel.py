"""The rollout waves on the Operations page: their members' states, and promoting a wave to Enforced."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_wave_enforcement
from lib.errors import describe
from lib.ui.context import Console, latest_snapshot, users_frame, workspace
from lib.ui.operation_detail import PREFIX, select_started
from lib.ui.plan_job import ask_preview, follow_preview
from lib.ui.rollout_widgets import (
    PlanEntry,
    can_apply,
    render_plan,
)
from lib.ui.wave_readiness import headline, readiness_of

PLACE = "ops:promotion"
INCLUDE_KEY = "ops_promote_all"
REPLAN_KEY = "ops_promote_replan"


def _replan() -> None:
    st.session_state[REPLAN_KEY] = True  # the promotion shown answered the other question: plan it again


def waves(app: Console, tenant: str) -> None:
    snapshot = latest_snapshot(app)
    waves = rollout.list_waves(app.store, tenant)
    if not waves:
        st.info("No rollout waves yet. Name an **Enable** as a wave in its preview on the Users page; the wave then "
                "appears here and on the Registration progress page.", icon=":material/waves:")
        return
    if snapshot is None:
        st.info("No snapshot of this tenant yet: refresh the data in the sidebar to see the waves' progress.")
        return
    frame = users_frame(app, snapshot)
    progress = rollout.wave_progress(app.store, tenant, frame)
    view = progress.assign(source=[
        "imported" if w.source == "imported" else f"operation {w.operation_id}" for w in waves])
    st.dataframe(view.drop(columns=["wave_id"]), hide_index=True, key="ops_waves", placeholder="—", column_config={
        "name": "Wave", "source": "Source", "launched_at": st.column_config.DatetimeColumn("Launched",
                                                                                            format="YYYY-MM-DD"),
        "members": "Members", "disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced",
        "unknown": "Unknown", "registered": "Registered",
        "promotable": st.column_config.NumberColumn("Registered, still Enabled",
                                                    help="The members Promote to Enforced is about"),
        "enforced_share": st.column_config.ProgressColumn("Enforced share", min_value=0.0, max_value=1.0,
                                                          format="percent"),
    })
    st.caption(f"Members by their state in the latest snapshot ({pd.Timestamp(snapshot.started_at):%Y-%m-%d %H:%M} "
               "UTC). The Registration progress page follows each wave over time.")
    by_id = {int(r.wave_id): r for r in progress.itertuples(index=False)}
    ids = [w.id for w in reversed(waves)]
    if st.session_state.get("ops_wave") not in ids:  # first the newest wave with members ready to enforce
        st.session_state["ops_wave"] = next((i for i in ids if by_id[i].promotable), ids[0])
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    wave_id = left.selectbox("Wave", ids, key="ops_wave", format_func=lambda i: f"{by_id[i].name} · "
                             f"{int(by_id[i].promotable):,} registered and still Enabled")
    writer, reason = can_apply()
    ready = int(by_id[wave_id].promotable)
    found = readiness_of(app, tenant, frame, wave_id)
    st.caption(f"{headline(found)} (members not Enforced yet); the Registration progress page lists who is not "
               "ready and why." + (f" {found.message}" if found.message else ""))
    include = st.checkbox("Include members who are not ready", key=INCLUDE_KEY, on_change=_replan,
                          help="By default the promotion proposes the members ready to enforce (no legacy-client "
                          "and no single-factor sign-in in the last 14 days) and lists the others with the reason; "
                          "tick to propose them too.")
    entry = st.session_state.get(f"{PREFIX}_plan")
    replan = st.session_state.pop(REPLAN_KEY, False) and isinstance(entry, PlanEntry) \
        and entry.plan.source == "wave_promotion"
    if right.button("Promote to Enforced…", key="ops_promote", icon=":material/lock:", width="stretch",
                    disabled=not writer or ready == 0,
                    help=reason if not writer else "Preview setting the wave's registered members who are still "
                    "Enabled to Enforced, those ready to enforce first.") or (replan and writer and ready):
        wave = next(w for w in waves if w.id == wave_id)
        ws = workspace(app)

        def build(progress: Any, cancel: Any) -> rollout.Plan:
            return preview_wave_enforcement(ws, frame, wave.id, include_not_ready=include, on_progress=progress,
                                            cancel=cancel)

        try:
            with st.spinner(f"Reading the current state of the {int(by_id[wave_id].members):,} members…"):
                ask_preview(app, PREFIX, place=PLACE, selection=(wave.id, snapshot.id, include),
                            size=int(by_id[wave_id].members), build=build, title=f"promote {wave.name} to Enforced",
                            label=f"Promote wave {wave.name} to Enforced"[:300], wave_allowed=False)
        except Exception as err:
            st.error(f"The promotion could not be planned: {describe(err)}", icon=":material/error:")
    follow_preview(app, PREFIX, place=PLACE, selection=(wave_id, snapshot.id, include))
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")
    entry = st.session_state.get(f"{PREFIX}_plan")
    if isinstance(entry, PlanEntry) and entry.plan.source == "wave_promotion":
        render_plan(app, PREFIX, after_start=select_started)


