"""A wave's readiness to be Enforced: "Ready to enforce: N of M", and who is not ready, with why."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import console, rollout
from lib.exports import to_csv_bytes
from lib.signins.readiness import READY_WINDOW_DAYS
from lib.ui.context import Console
from lib.ui.rollout_widgets import state_label

HELP = (f"Members not Enforced yet who are registered for MFA, with no legacy-client sign-in (IMAP, POP, SMTP AUTH, "
        f"ActiveSync, old Office) and MFA at every sign-in of the last {READY_WINDOW_DAYS} days: Enforced breaks "
        "nothing they use.")


def readiness_of(app: Console, tenant: str, users: pd.DataFrame, wave_id: int) -> console.WaveReadiness:
    """The wave's readiness from the stored evidence (no Graph call: the snapshot read the sign-ins)."""
    return console.wave_readiness(console.Workspace(app.store, None, tenant, None), users, wave_id)


def headline(found: console.WaveReadiness) -> str:
    return f"Ready to enforce: {found.ready:,} of {found.to_enforce:,}"


def readiness_section(app: Console, tenant: str, wave: rollout.Wave, users: pd.DataFrame) -> None:
    """The Registration progress page's readiness panel for ``wave``."""
    st.subheader("Ready to enforce")
    found = readiness_of(app, tenant, users, wave.id)
    st.markdown(f"**{headline(found)}**", help=HELP)
    st.caption(f"Of the {found.to_enforce:,} {'member' if found.to_enforce == 1 else 'members'} not Enforced yet. "
               "Promote to Enforced (Operations page) proposes the ready ones first.")
    if found.message:
        st.info(found.message, icon=":material/info:")
    if found.not_ready.empty:
        if found.to_enforce:
            st.success("Every member still to enforce is ready.", icon=":material/check_circle:")
        return
    held = found.not_ready
    view = pd.DataFrame({"display_name": held["display_name"], "reasons": held["reasons"],
                         "state": held["state"].map(state_label), "upn": held["upn"]})  # why first: narrow screens
    st.dataframe(view, hide_index=True, key=f"progress_not_ready_{wave.id}", placeholder="—",
                 height=min(35 * (len(view) + 1) + 3, 400), column_config={
                     "display_name": "Name", "upn": "UPN", "state": "Now",
                     "reasons": st.column_config.TextColumn("Why not ready", width="large")})
    listed = pd.DataFrame({"upn": held["upn"], "display_name": held["display_name"], "state": view["state"],
                           "why_not_ready": held["reasons"]})
    st.download_button("Download who is not ready (CSV)", to_csv_bytes(listed), mime="text/csv",
                       file_name=f"not-ready-wave-{wave.id}.csv", key=f"progress_not_ready_csv_{wave.id}",
                       icon=":material/download:", on_click="ignore")
