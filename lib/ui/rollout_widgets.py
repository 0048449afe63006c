"""The bulk-change widgets the Users and Operations pages share: plan preview, confirmation, live progress.

A page keeps at most one plan awaiting confirmation and one operation it watches, in
``st.session_state`` under its own ``prefix`` (``"users"``, ``"ops"``)::

    st.session_state[f"{prefix}_plan"] = PlanEntry(plan, title="Enforce 12 selected users", label=…)
    render_plan(app, prefix)          # preview, dry-run CSV, Confirm… → dialog → lib.console.start_change
    watch_operation(app, prefix)      # the started operation: live progress (a 1 s fragment), cancel, outcome

Nothing here decides anything: the plan comes from ``lib.rollout.plan``, the role check is the
engine's (``start_operation`` refuses a read-only actor even if a disabled button were bypassed), and
every error is shown as its one line (``lib.errors.describe``), never as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import cancel, start_change
from lib.errors import describe
from lib.ui.context import Console, console, signed_in_admin, workspace

__all__ = [
    "PREVIEW_ROWS",
    "TYPED_CONFIRMATION_ABOVE",
    "VERBS",
    "PlanEntry",
    "can_apply",
    "confirm_sentence",
    "duration",
    "follow_running",
    "md",
    "operation_status",
    "operation_summary",
    "plan_headline",
    "read_progress",
    "render_plan",
    "scroll_into_view",
    "set_plan",
    "state_label",
    "watch_operation",
]

TYPED_CONFIRMATION_ABOVE = 50
"""A change of more users than this asks for the count to be typed in the confirmation dialog."""
PREVIEW_ROWS = 2_000
LEGACY_TABLE_ROWS = 25
"""Up to this many legacy-client warnings are shown as a text table, more as a scrolling grid."""
"""Rows of a plan's tables shown on the page (the dry-run CSV has every row)."""

STATE_LABELS = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced"}
VERBS = {"disabled": "Disable", "enabled": "Enable", "enforced": "Enforce"}


def md(text: object) -> str:
    """Tenant data inside markdown, its markdown characters shown as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", str(text))


def state_label(state: Any) -> str:
    return STATE_LABELS.get(state, "unknown") if isinstance(state, str) else "unknown"


def duration(seconds: float | None) -> str:
    """``'1 min 05 s'``, ``'42 s'``, ``'2 h 03 min'``; an em dash when unknown."""
    if seconds is None or seconds != seconds:
        return "—"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def can_apply() -> tuple[bool, str | None]:
    """Whether the signed-in admin may change MFA, and why not."""
    admin = signed_in_admin()
    if admin is None:
        return False, "You are not signed in."
    return admin.can_change_mfa, admin.read_only_reason


# -- the plan awaiting confirmation ---------------------------------------------------------------

@dataclass(frozen=True)
class PlanEntry:
    """A plan on a page: what it is called, and what the operation will be journaled with."""

    plan: rollout.Plan
    title: str
    """What the preview is headed with, e.g. ``Enforce 12 selected users``."""
    label: str | None = None
    """The operation's label in the journal (the Operations page shows it)."""
    wave_allowed: bool = True
    """Offer naming the change as a wave (only an Enable can be one)."""

    @property
    def is_enable(self) -> bool:
        return self.plan.kind == "apply" and self.plan.requested_state == "enabled"


def _key(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


def set_plan(prefix: str, entry: PlanEntry | None) -> None:
    """Show ``entry`` as the page's plan (None: drop it); any open confirmation closes."""
    for name in ("confirm_open", "confirm_count"):
        st.session_state.pop(_key(prefix, name), None)
    if entry is None:
        st.session_state.pop(_key(prefix, "plan"), None)
    else:
        st.session_state[_key(prefix, "plan")] = entry
        st.session_state[_key(prefix, "plan_scroll")] = st.session_state.get(_key(prefix, "plan_nonce"), 0) + 1
        st.session_state[_key(prefix, "plan_nonce")] = st.session_state[_key(prefix, "plan_scroll")]


def current_plan(prefix: str) -> PlanEntry | None:
    entry = st.session_state.get(_key(prefix, "plan"))
    return entry if isinstance(entry, PlanEntry) else None


def _what(the_plan: rollout.Plan) -> str:
    if the_plan.kind == "undo":
        return f"back to the state they had before operation {the_plan.undo_of}"
    if the_plan.requested_state is None:
        return "to the state the file gives each of them"
    return f"to **{state_label(the_plan.requested_state)}**"


def confirm_sentence(the_plan: rollout.Plan, wave: str | None = None) -> str:
    """``Set **120** users to **Enforced** as the rollout wave **Wave 3**.`` (markdown)."""
    count = len(the_plan.changes)
    people = "user" if count == 1 else "users"
    head = "Put" if the_plan.kind == "undo" else "Set"
    sentence = f"{head} **{count:,}** {people} {_what(the_plan)}"
    if wave:
        sentence += f" as the rollout wave **{md(wave)}**"
    return sentence + "."


def _button_label(the_plan: rollout.Plan) -> str:
    count = len(the_plan.changes)
    people = "user" if count == 1 else "users"
    if the_plan.kind == "undo":
        return f"Undo: restore {count:,} {people}"
    verb = VERBS.get(the_plan.requested_state or "", "Change")
    return f"{verb} {count:,} {people}"


def plan_headline(the_plan: rollout.Plan) -> str:
    """What will change, counted from the plan itself: ``Enforce 499 users · 203 skipped``."""
    if the_plan.kind == "undo":
        count = len(the_plan.changes)
        head = f"Undo operation {the_plan.undo_of}: restore {count:,} {'user' if count == 1 else 'users'}"
    else:
        head = _button_label(the_plan)
    skipped = len(the_plan.skipped)
    return head + (f" · {skipped:,} skipped" if skipped else "")


_SCROLL = """<script>(function () {{
  var tries = 0;
  function go() {{
    var box = document.querySelector(".st-key-{key}");
    if (!box) {{ if (tries++ < 60) setTimeout(go, 50); return; }}
    box.scrollIntoView({{block: "start", behavior: "smooth"}});
    var target = box.querySelector("h3") || box;
    target.setAttribute("tabindex", "-1");
    target.focus({{preventScroll: true}});
  }}
  go();
}})();</script><span data-scroll-nonce="{nonce}"></span>"""


def scroll_into_view(key: str, nonce: int) -> None:
    """Bring the container ``key`` (a fixed widget key, never tenant data) to the top of the window and move
    the keyboard focus to its heading: a preview made by a button above it otherwise opens below the fold."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        raise ValueError(f"not a container key: {key!r}")
    st.html(_SCROLL.format(key=key, nonce=int(nonce)), unsafe_allow_javascript=True)


def _transition_lines(the_plan: rollout.Plan) -> list[str]:
    lines = []
    for row in the_plan.transitions().itertuples(index=False):
        lines.append(f"- {state_label(row.before)} → {state_label(row.expected)}: **{row.users:,}**")
    return lines


def _limited(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if len(frame) > PREVIEW_ROWS:
        st.caption(f"Showing the first {PREVIEW_ROWS:,} of {len(frame):,} {what}; the dry-run CSV lists every one.")
        return frame.head(PREVIEW_ROWS)
    return frame


def _table_height(rows: int, most: int = 400) -> int:
    return min(35 * (rows + 1) + 3, most)


def _changes_table(the_plan: rollout.Plan, prefix: str) -> None:
    changes = the_plan.changes
    shown = _limited(changes, "changes")
    view = pd.DataFrame({
        "display_name": shown["display_name"], "upn": shown["upn"],
        "before": shown["before"].map(state_label), "expected": shown["expected"].map(state_label),
        "registered": shown["registered"], "is_admin": shown["is_admin"],
    })
    st.dataframe(view, hide_index=True, key=_key(prefix, "plan_changes"), height=_table_height(len(view)),
                 placeholder="—", column_config={
                     "display_name": "Name", "upn": "UPN", "before": "Now", "expected": "Will be",
                     "registered": st.column_config.CheckboxColumn("Registered"),
                     "is_admin": st.column_config.CheckboxColumn("Admin"),
                 })


def _legacy_table(the_plan: rollout.Plan, prefix: str) -> None:
    """User · Client · Last used · What happens: the legacy clients the plan's Enforced changes break."""
    notes = the_plan.notes
    users = notes["user_id"].nunique()
    st.markdown(f"**Legacy clients in use: {users:,} {'user' if users == 1 else 'users'}** (sign-ins of the "
                "last 30 days)")
    shown = _limited(notes, "legacy-client warnings")
    if len(shown) <= LEGACY_TABLE_ROWS:  # a short list as text: it wraps on a narrow screen and reads aloud
        st.table(pd.DataFrame({
            "User": shown["display_name"].fillna(shown["upn"]).astype(str), "Client": shown["client"],
            "Last used": [f"{t.day} {t:%b %Y}" for t in shown["last_used"]],
            "What happens": shown["effect"]}).set_index("User"))
        return
    view = pd.DataFrame({"user": shown["display_name"].fillna(shown["upn"]), "upn": shown["upn"],
                         "client": shown["client"], "last_used": shown["last_used"], "effect": shown["effect"]})
    st.dataframe(view, hide_index=True, key=_key(prefix, "plan_legacy"), height=_table_height(len(view), 300),
                 placeholder="—", column_config={
                     "user": "User", "upn": "UPN", "client": "Client",
                     "last_used": st.column_config.DatetimeColumn("Last used", format="D MMM YYYY, HH:mm"),
                     "effect": st.column_config.TextColumn("What happens", width="large"),
                 })


def _skipped_tables(the_plan: rollout.Plan, prefix: str) -> None:
    skipped = the_plan.skipped
    counts = the_plan.skip_counts()
    st.markdown(f"**Skipped: {len(skipped):,}**, and why")
    st.markdown("\n".join(f"- {rollout.SKIP_CODES.get(code, code)}: **{n:,}**" for code, n in counts.items()))
    moved = skipped[skipped["code"] == "moved_on"]
    if the_plan.kind == "undo" and len(moved):
        st.info(f"**{len(moved):,}** {'user has' if len(moved) == 1 else 'users have'} moved on since the "
                "operation (for example registered and became Enforced, or someone changed them): they are shown "
                "here and left as they are, not reverted.", icon=":material/trending_flat:")
    shown = _limited(skipped, "skipped users")
    view = pd.DataFrame({"display_name": shown["display_name"], "upn": shown["upn"],
                         "before": shown["before"].map(state_label, na_action="ignore"), "reason": shown["reason"]})
    st.dataframe(view, hide_index=True, key=_key(prefix, "plan_skipped"), height=_table_height(len(view), 300),
                 placeholder="—",
                 column_config={"display_name": "Name", "upn": "UPN", "before": "Now", "reason": "Why skipped"})


def _plan_file_name(the_plan: rollout.Plan) -> str:
    stamp = the_plan.created_at.strftime("%Y%m%d-%H%M%S")
    what = f"undo-{the_plan.undo_of}" if the_plan.kind == "undo" else (the_plan.requested_state or "states")
    return f"mfa-plan-{what}-{stamp}.csv"


def render_plan(app: Console, prefix: str, *, after_start: Callable[[int], None] | None = None) -> bool:
    """The page's plan, if any: preview, dry-run download, Confirm… and the confirmation dialog.

    Returns True when a plan was shown. ``after_start(operation_id)`` runs once the operation started.
    """
    entry = current_plan(prefix)
    if entry is None:
        return False
    the_plan = entry.plan
    writer, reason = can_apply()
    with st.container(border=True, key=_key(prefix, "plan_box")):
        st.subheader(f"Preview: {plan_headline(the_plan)}")
        st.caption(f"Asked for: {md(entry.title)}. Nothing has been sent yet. Each user's state was read from "
                   "Microsoft Graph just now; the worker re-reads it again right before sending, so a user who "
                   "changes meanwhile is not changed twice.")
        scroll = st.session_state.pop(_key(prefix, "plan_scroll"), None)
        if scroll:  # a new preview: bring it into view once, not on every rerun
            scroll_into_view(_key(prefix, "plan_box"), scroll)
        count = len(the_plan.changes)
        cols = st.columns(3)
        cols[0].metric("Will change", f"{count:,}", border=True)
        cols[1].metric("Skipped", f"{len(the_plan.skipped):,}", border=True)
        cols[2].metric("Selected", f"{the_plan.selected:,}", border=True)
        if count:
            st.markdown("**Who changes from what to what**\n\n" + "\n".join(_transition_lines(the_plan)))
            expected_enforced = the_plan.expected_counts().get("enforced", 0)
            if the_plan.requested_state == "enabled" and expected_enforced:
                st.caption(f"{expected_enforced:,} of them have already registered a method: Entra makes them "
                           "Enforced at once.")
        for warning in the_plan.warnings:
            st.warning(warning.message, icon=":material/warning:")
        if len(the_plan.notes):
            _legacy_table(the_plan, prefix)
        if count:
            _changes_table(the_plan, prefix)
        if len(the_plan.skipped):
            _skipped_tables(the_plan, prefix)
        if not count:
            st.info("Nobody would change: every selected user is skipped for the reason shown.",
                    icon=":material/info:")
        if entry.is_enable and entry.wave_allowed and count:
            st.text_input("Name this Enable as a rollout wave (optional)", key=_key(prefix, "wave"),
                          placeholder="e.g. Wave 3: Engineering", max_chars=120,
                          help="A wave groups the users you enable together; the Registration progress page follows "
                               "each wave until everyone has registered.")
        go, dry, drop = st.columns([2, 2, 1])
        if go.button("Confirm…", key=_key(prefix, "plan_confirm"), type="primary", icon=":material/check:",
                     disabled=not writer or count == 0, width="stretch",
                     help=reason if not writer else None):
            st.session_state[_key(prefix, "confirm_open")] = True
        dry.download_button("Dry run: download the plan (CSV)", the_plan.to_csv, file_name=_plan_file_name(the_plan),
                            mime="text/csv", key=_key(prefix, "plan_csv"), icon=":material/download:",
                            width="stretch", on_click="ignore",
                            help="Every selected user, changed or skipped with the reason. Nothing is sent.")
        if drop.button("Discard", key=_key(prefix, "plan_discard"), width="stretch"):
            set_plan(prefix, None)
            st.rerun()
        if not writer:
            st.caption(f":material/lock: Read-only: {reason}")
    if st.session_state.get(_key(prefix, "confirm_open")) and writer and count:
        _dialog(prefix)(app, prefix, after_start)
    return True


_DIALOGS: dict[str, Callable[..., None]] = {}


def _dialog(prefix: str) -> Callable[..., None]:
    """The confirmation dialog of ``prefix`` (one per page: its dismissal closes that page's flag)."""
    if prefix not in _DIALOGS:
        def dismissed() -> None:
            st.session_state.pop(_key(prefix, "confirm_open"), None)
        _DIALOGS[prefix] = st.dialog("Confirm the change", width="large", on_dismiss=dismissed)(_confirm_body)
    return _DIALOGS[prefix]


def _confirm_body(app: Console, prefix: str, after_start: Callable[[int], None] | None) -> None:
    entry = current_plan(prefix)
    admin = signed_in_admin()
    if entry is None or admin is None:
        st.session_state.pop(_key(prefix, "confirm_open"), None)
        st.info("There is nothing to confirm any more.")
        return
    the_plan = entry.plan
    count = len(the_plan.changes)
    wave = (st.session_state.get(_key(prefix, "wave")) or "").strip() if entry.is_enable else ""
    st.markdown(confirm_sentence(the_plan, wave or None))
    if the_plan.requested_state == "enforced" or the_plan.expected_counts().get("enforced"):
        st.markdown("An Enforced user must answer MFA at every sign-in; legacy clients then need app passwords.")
    st.caption(f"{len(the_plan.skipped):,} skipped, each with the reason shown in the preview. Every change is "
               "journaled: follow it here, and undo it from the Operations page.")
    for warning in the_plan.warnings:
        st.warning(warning.message, icon=":material/warning:")
    ready = True
    if the_plan.needs_typed_confirmation(TYPED_CONFIRMATION_ABOVE):
        typed = st.text_input(f"Type {count} to confirm", key=_key(prefix, "confirm_count"))
        ready = typed.strip().replace(",", "").replace(" ", "") == str(count)
        if typed.strip() and not ready:
            st.caption(f"That is not {count}.")
    if st.button(_button_label(the_plan), type="primary", disabled=not ready, key=_key(prefix, "confirm_go"),
                 icon=":material/play_arrow:"):
        try:
            operation_id = start_change(workspace(app), the_plan, wave=wave or None, label=entry.label)
        except Exception as err:  # refused (role, conflict, wave name) or the journal is unwritable: say why
            st.error(describe(err), icon=":material/block:")
            return
        set_plan(prefix, None)
        st.session_state.pop(_key(prefix, "wave"), None)
        st.session_state[_key(prefix, "operation")] = operation_id
        if after_start is not None:
            after_start(operation_id)
        st.rerun()


# -- the operation being watched ------------------------------------------------------------------

def operation_summary(progress: rollout.OperationProgress) -> str:
    """One sentence for a finished (or interrupted) operation."""
    skipped = progress.skipped + progress.plan_skipped
    parts = [f"{progress.applied:,} applied", f"{progress.failed:,} failed", f"{skipped:,} skipped"]
    if progress.cancelled:
        parts.append(f"{progress.cancelled:,} cancelled")
    if progress.remaining:
        parts.append(f"{progress.remaining:,} not finished")
    text = f"Operation {progress.operation_id} {progress.status}: " + ", ".join(parts) + "."
    if progress.differs_from_preview:
        n = progress.differs_from_preview
        text += (f" {n:,} {'user is' if n == 1 else 'users are'} not in the state the preview expected, "
                 "as Graph reported it afterwards: see the users below.")
    if progress.unobserved:
        n = progress.unobserved
        text += (f" {n:,} applied {'user' if n == 1 else 'users'} could not be read back: Resume reads "
                 f"{'it' if n == 1 else 'them'} again.")
    return text


def read_progress(store: Any, operation_id: int) -> rollout.OperationProgress:
    """``rollout.operation_progress``, read again when it says *interrupted*: the journal row is read before
    the worker's liveness, so a worker finishing in between looks interrupted for one read (its final
    status is written before it deregisters, so the second read sees it)."""
    progress = rollout.operation_progress(store, operation_id)
    if progress.status == "interrupted":
        progress = rollout.operation_progress(store, operation_id)
    return progress


def _progress_body(store: Any, operation_id: int, key: str) -> bool:
    """The live view; returns False once the operation no longer runs."""
    try:
        progress = read_progress(store, operation_id)
    except Exception as err:
        st.error(f"Operation {operation_id}: {describe(err)}")
        return False
    if progress.status != "running":
        return False
    starting = progress.done == 0  # no batch has come back yet: no rate or ETA to speak of
    st.progress(progress.fraction, text=f"Operation {operation_id}: starting… {progress.planned:,} to do" if starting
                else f"Operation {operation_id}: {progress.done:,} of {progress.planned:,} done")
    cols = st.columns(5)
    cols[0].metric("Done", f"{progress.done:,}", help="Applied, failed, skipped when re-checked, or cancelled")
    cols[1].metric("Failed", f"{progress.failed:,}")
    cols[2].metric("Remaining", f"{progress.remaining:,}")
    cols[3].metric("Rate", "starting…" if starting else f"{progress.rate_per_s:,.1f} / s",
                   help="Users finished per second, last 20 s")
    cols[4].metric("ETA", "starting…" if starting else duration(progress.eta_s))
    writer, reason = can_apply()
    asked = st.session_state.get(f"{key}_cancel_asked") == operation_id
    if st.button("Cancelling…" if asked else "Cancel", key=f"{key}_cancel_{operation_id}", icon=":material/stop:",
                 disabled=asked or not writer, help=reason if not writer else
                 "Stop sending: users already sent finish, the rest stay unchanged (resume it later)."):
        try:
            cancel(workspace(console()), operation_id)
        except Exception as err:
            st.error(describe(err))
        else:
            st.session_state[f"{key}_cancel_asked"] = operation_id
            st.caption("Cancel requested: the worker stops at its next step.")
    return True


@st.fragment(run_every=1.0)
def _live(store: Any, operation_id: int, key: str) -> None:
    if not _progress_body(store, operation_id, key):
        st.rerun(scope="app")  # finished: redraw the page once, with the outcome and no more polling


@st.fragment(run_every=1.0)
def _follow(store: Any, operation_ids: tuple[int, ...]) -> None:
    for operation_id in operation_ids:
        try:
            status = rollout.get_operation(store, operation_id).display_status
        except Exception:  # gone or unreadable: the page's next full run says so
            status = None
        if status != "running":
            st.rerun(scope="app")


def follow_running(store: Any, operation_ids: Iterable[int]) -> None:
    """Redraw the whole page once any of these running operations ends, so every status on it (a picker, a
    history table, a banner) is current without a reload. Polls the journal each second, draws nothing."""
    ids = tuple(int(i) for i in operation_ids)
    if ids:
        _follow(store, ids)


def operation_status(store: Any, operation_id: int, key: str) -> rollout.OperationProgress | None:
    """Live progress while the operation runs (a fragment polling the journal every second), else its outcome.

    Returns the progress read (None when it could not be read: the error is shown)."""
    try:
        progress = read_progress(store, operation_id)
    except Exception as err:
        st.error(f"Operation {operation_id}: {describe(err)}")
        return None
    if progress.status == "running":
        _live(store, operation_id, key)
        return progress
    text = operation_summary(progress)
    if progress.status == "complete" and not progress.differs_from_preview:
        st.success(text, icon=":material/check_circle:")
        if progress.applied and not progress.unobserved:
            st.caption(":material/fact_check: Read back from Graph: every applied user is in the state the "
                       "preview expected.")
    elif progress.status == "complete":
        st.warning(text, icon=":material/difference:")
    elif progress.status == "failed":
        st.error(text + (f" {progress.error}" if progress.error else ""), icon=":material/error:")
    else:
        hint = " Resume it from the Operations page." if progress.status in ("partial", "interrupted") else ""
        st.warning(text + (f" {progress.error}" if progress.error else "") + hint, icon=":material/warning:")
    return progress


def watch_operation(app: Console, prefix: str, *, actions: Callable[[rollout.OperationProgress], None] | None = None
                    ) -> int | None:
    """The operation this page started (if any): progress while it runs, then its outcome with ``actions``."""
    operation_id = st.session_state.get(_key(prefix, "operation"))
    if operation_id is None:
        return None
    with st.container(border=True, key=_key(prefix, "operation_box")):
        progress = operation_status(app.store, operation_id, _key(prefix, "op"))
        if progress is not None and progress.status != "running" and actions is not None:
            actions(progress)
    if progress is not None and progress.status != "running" \
            and st.session_state.get(_key(prefix, "operation_final")) != operation_id:
        # It may have ended while this run drew the page above it (a small change ends in milliseconds):
        # one more run draws every part of the page from the finished journal.
        st.session_state[_key(prefix, "operation_final")] = operation_id
        st.rerun(scope="app")
    return operation_id
