"""A preview being made in the background, on the page that asked for it: progress, cancel, then the preview.

Every page that plans a change asks through :func:`ask_preview` (``lib.console.start_preview``: a small
selection is planned at once, a large one in the background) and calls :func:`follow_preview` on each run
at the place it asked from, with what is selected there now::

    ask_preview(app, "users", place="users:selection", selection=key, size=len(ids), build=…, title=…)
    follow_preview(app, "users", place="users:selection", selection=key)   # progress, or the preview once made

While the job runs, a fragment polls its counters once a second (it reads the job in memory, never Graph
or the store) and the rest of the page stays usable; it is drawn only while a job runs, so nothing polls
otherwise. When the job ends the page is drawn once more and the preview appears through the same widget
as an inline one (``lib.ui.rollout_widgets``). A job whose selection is no longer the one shown is
discarded, so a preview never answers a question nobody is asking any more.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Hashable

import streamlit as st

from lib.console import PlanJob, discard_preview, preview_job, start_preview
from lib.console.plan_jobs import PlanBuilder
from lib.ui.context import PLAN_OWNER_KEY, Console, tenant_id
from lib.ui.rollout_widgets import PlanEntry, set_plan

__all__ = ["ask_preview", "drop_preview", "follow_preview", "preview_owner", "selection_digest"]

POLL_S = 1.0


def preview_owner() -> str:
    """This session's key to its background preview (made once per session)."""
    owner = st.session_state.get(PLAN_OWNER_KEY)
    if not isinstance(owner, str) or not owner:
        owner = st.session_state[PLAN_OWNER_KEY] = secrets.token_urlsafe(16)
    return owner


def selection_digest(ids: list[str]) -> tuple[int, str]:
    """A selection of user ids as a small value to compare (100k ids hash in milliseconds)."""
    return len(ids), hashlib.blake2b("\n".join(ids).encode(), digest_size=16).hexdigest()


def drop_preview(place: str) -> None:
    """Cancel and forget a preview asked for at ``place`` (its question is gone, e.g. the file was removed)."""
    owner = st.session_state.get(PLAN_OWNER_KEY)
    job = preview_job(owner, tenant_id()) if isinstance(owner, str) and owner else None
    if job is not None and job.place == place:
        discard_preview(owner, tenant_id(), job)


def _notice_key(place: str) -> str:
    return f"plan_job_notice_{place}"


def ask_preview(app: Console, prefix: str, *, place: str, selection: Hashable, size: int, build: PlanBuilder,
                title: str, label: str | None = None, wave_allowed: bool = True,
                on_plan: Callable[[], None] | None = None) -> PlanJob:
    """Make the preview ``build`` makes, of ``size`` users: at once when small (the preview is on the page when
    this returns), else in the background (:func:`follow_preview` shows its progress). Any earlier preview
    of this page is dropped now: it answered another question. ``on_plan`` runs when the preview is shown."""
    set_plan(prefix, None)
    st.session_state.pop(_notice_key(place), None)
    job = start_preview(preview_owner(), tenant_id(), build, place=place, selection=selection, size=size,
                        meta={"title": title, "label": label, "wave_allowed": wave_allowed, "on_plan": on_plan},
                        background_above=app.settings.background_plan_above)
    if job.finished:
        _collect(prefix, place, job)
    return job


def _collect(prefix: str, place: str, job: PlanJob) -> None:
    """Show what a finished job made: its preview, or why there is none."""
    if job.plan is not None:
        meta = job.meta
        set_plan(prefix, PlanEntry(job.plan, title=meta["title"], label=meta.get("label"),
                                   wave_allowed=bool(meta.get("wave_allowed", True))))
        if meta.get("on_plan") is not None:
            meta["on_plan"]()
    elif job.cancelled:
        st.session_state[_notice_key(place)] = ("info", "The preview was cancelled before it was made: nothing was "
                                                "planned and nothing was sent.")
    else:
        st.session_state[_notice_key(place)] = ("error", f"The plan could not be made: {job.error}")


def follow_preview(app: Console, prefix: str, *, place: str, selection: Hashable) -> PlanJob | None:
    """At ``place``: the background preview's progress while it runs, the preview once it is made, or why
    there is none. A job asked for another selection than ``selection`` is cancelled and said so."""
    owner = preview_owner()
    tenant = tenant_id()
    job = preview_job(owner, tenant)
    if job is not None and job.place == place:
        if not job.is_for(place, selection):
            discard_preview(owner, tenant, job)
            st.session_state[_notice_key(place)] = (
                "info", "The selection changed while its preview was being prepared, so that preview was dropped. "
                "Press the button again to preview the users selected now.")
        elif job.finished:
            discard_preview(owner, tenant, job)
            _collect(prefix, place, job)
        else:
            with st.container(border=True, key=f"{prefix}_plan_job_box"):
                st.markdown(f"**Preparing the preview: {job.meta.get('title', 'the change')}**")
                _live(owner, tenant, place)
            return job
    notice = st.session_state.pop(_notice_key(place), None)  # said once
    if notice is not None:
        kind, text = notice
        (st.error if kind == "error" else st.info)(text, icon=":material/error:" if kind == "error"
                                                    else ":material/info:")
    return None


@st.fragment(run_every=POLL_S)
def _live(owner: str, tenant: str, place: str) -> None:
    """Counters of the running job, from memory; once it ended, the whole page once (it shows the outcome)."""
    job = preview_job(owner, tenant)
    if job is None or job.finished or job.place != place:
        st.rerun(scope="app")
        return
    st.progress(job.fraction, text=job.label)
    st.caption("You can keep working on this page meanwhile; the preview appears here once every state is read. "
               "Nothing is sent before you confirm it.")
    if st.button("Cancel the preview", key=f"plan_job_cancel_{place}", icon=":material/stop:"):
        job.cancel()
        st.rerun(scope="app")

