"""Protected accounts: the users no bulk change, CSV import or undo may touch (break-glass accounts and the like).

Renders only: the list and the suggestions come from ``lib.rollout`` (``protected_frame``,
``suggest_protected``), the break-glass check from ``lib.console.protection_status``; every change goes
through the use cases ``lib.console.protect`` / ``unprotect``;
every plan skips these accounts, visibly, and the execution worker checks the list again before sending.
Only an admin who may change MFA reaches this page (``app.py``); the use cases check the role again, from
Graph, before each change.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from lib import console as usecases
from lib import rollout
from lib.errors import describe
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.rollout_widgets import can_apply, md

NOTICE_KEY = "protected_notice"
SUGGESTIONS_SHOWN = 15


def _notice(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


def _show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        {"error": st.error, "warning": st.warning}.get(kind, st.success)(text)


def _expiry(day: date | None) -> pd.Timestamp | None:
    """A protection that expires on ``day`` lasts through that day (UTC): it ends at the next midnight."""
    if day is None:
        return None
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def _known_upns(frame: pd.DataFrame | None) -> set[str] | None:
    """The snapshot's UPNs, case-folded; None without a snapshot (nothing to check a UPN against)."""
    if frame is None:
        return None
    return set(frame["upn"].dropna().astype(str).str.strip().str.casefold())


def _protect(app: Console, upn: str, reason: str, owner: str, expires: pd.Timestamp | None,
             known: set[str] | None, today: date, *, confirm_unknown: bool = False) -> None:
    try:
        if expires is not None and expires.date() <= today:
            raise rollout.ProtectionError(f"the expiry date {(expires - pd.Timedelta(days=1)):%Y-%m-%d} is in the "
                                          "past: choose today or a later day, or no expiry")
        # the use case checks the role, re-read from Graph, whatever the page showed
        record = usecases.protect(workspace(app), upn, reason=reason, owner=owner, expires_at=expires,
                                  known_upns=known, confirm_unknown=confirm_unknown)
    except Exception as err:
        _notice("error", f"Not protected: {describe(err)}")
        return
    until = f" until {record.expires_at - pd.Timedelta(days=1):%Y-%m-%d}" if record.expires_at is not None else ""
    if known is None or upn.strip().casefold() not in known:
        _notice("warning", f"**{md(record.upn)}** is protected{until}, as you confirmed, though it is **not in the "
                           "latest snapshot** of the tenant: refresh the data to check it exists.")
    else:
        _notice("success", f"**{md(record.upn)}** is protected{until}: every plan skips it from now on.")


def _current_upns(frame: pd.DataFrame) -> pd.Series:
    """Each account's UPN in the latest snapshot, else the UPN it was protected as."""
    return frame["current_upn"].fillna(frame["upn"]).astype(str)


def _table(frame: pd.DataFrame, known: set[str] | None) -> None:
    current = _current_upns(frame)
    renamed = current.str.casefold() != frame["upn"].astype(str).str.strip().str.casefold()
    view = pd.DataFrame({
        "upn": current,
        "protected_as": frame["upn"].where(renamed, None),
        "status": frame["status"].map({"active": "Active", "expired": "Expired — no longer protects"}),
        "reason": frame["reason"], "owner": frame["owner"],
        "expires": (frame["expires_at"] - pd.Timedelta(days=1)),
        "in_snapshot": frame["current_upn"].notna() | current.str.strip().str.casefold().isin(known or set()),
        "created_by": frame["created_by"], "updated_at": frame["updated_at"],
    })
    if not renamed.any():
        view = view.drop(columns="protected_as")
    st.dataframe(view, hide_index=True, key="protected_table", placeholder="—", column_config={
        "upn": st.column_config.TextColumn("UPN", help="The account's UPN in the latest snapshot"),
        "protected_as": st.column_config.TextColumn(
            "Protected as", help="Renamed since it was protected: it stays protected, matched by its object id"),
        "status": "Status", "reason": "Reason", "owner": "Owner",
        "expires": st.column_config.DateColumn("Protected through", format="YYYY-MM-DD",
                                               help="Empty: until removed"),
        "in_snapshot": st.column_config.CheckboxColumn("In the tenant",
                                                       help="Found in the latest snapshot (else check the spelling)"),
        "created_by": "Added by", "updated_at": st.column_config.DatetimeColumn("Changed (UTC)",
                                                                               format="YYYY-MM-DD HH:mm"),
    })
    expired = int((frame["status"] == "expired").sum())
    active = len(frame) - expired
    st.caption(f"{active:,} active" + (f", {expired:,} expired (shown so nobody wonders where they went; "
                                       "protect them again or remove them)" if expired else "") + ".")


def _risks(app: Console, frame: pd.DataFrame | None) -> None:
    """Accounts to fix, not to exempt: shown as risks, never offered for protection."""
    if frame is None:
        return
    try:
        risks = rollout.protection_risks(frame, rollout.active_protection(app.store, signed_in_admin().tenant_id))
    except Exception as err:
        st.error(f"The risks could not be listed: {describe(err)}")
        return
    if risks.empty:
        return
    lines = [f"- **{md(r.display_name)}** · {md(r.upn)}: {md(r.why)}"
             + (" **It is on the protected list.**" if r.protected else "")
             for r in risks.head(SUGGESTIONS_SHOWN).itertuples(index=False)]
    more = f"\n\n…and {len(risks) - SUGGESTIONS_SHOWN:,} more." if len(risks) > SUGGESTIONS_SHOWN else ""
    st.warning(f"**{len(risks):,} {'account needs' if len(risks) == 1 else 'accounts need'} MFA fixed, not an "
               "exemption**\n\n" + "\n".join(lines) + more, icon=":material/gpp_maybe:")


def _break_glass(app: Console, frame: pd.DataFrame | None) -> None:
    """Protected accounts without a FIDO2 key or passkey: mandatory MFA reaches break-glass accounts too."""
    if frame is None:
        return
    try:
        warnings = usecases.protection_status(workspace(app), frame).break_glass
    except Exception as err:
        st.error(f"The break-glass check could not run: {describe(err)}")
        return
    if not warnings:
        return
    lines = [f"- **{md(w.display_name or w.upn)}** · {md(w.upn)}: {md(w.message)}" for w in warnings]
    st.warning(f"**{len(warnings):,} protected {'account has' if len(warnings) == 1 else 'accounts have'} no "
               "phishing-resistant method for emergencies**\n\n" + "\n".join(lines),
               icon=":material/key_off:")


def _suggestions(app: Console, frame: pd.DataFrame | None, known: set[str] | None, writer: bool) -> None:
    st.subheader("Suggestions")
    if frame is None:
        st.caption("No snapshot yet: suggestions appear once the data has been refreshed.")
        return
    try:
        suggested = rollout.suggest_protected(frame, rollout.active_protection(app.store, signed_in_admin().tenant_id))
    except Exception as err:
        st.error(f"No suggestions: {describe(err)}")
        return
    if suggested.empty:
        st.caption("No unprotected, healthy account looks like a break-glass account.")
        return
    st.caption("Accounts that look like break-glass (emergency access) accounts, can sign in and have a second "
               "factor registered, and are not protected yet. One click protects one, with the reason shown and "
               "you as the owner.")
    admin = signed_in_admin()
    for row in suggested.head(SUGGESTIONS_SHOWN).itertuples(index=False):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(f"**{md(row.display_name)}** · `{row.upn}`  \n{md(row.why)}")
        if right.button("Protect", key=f"protected_suggest_{row.user_id}", icon=":material/shield:",
                        disabled=not writer, width="stretch"):
            _protect(app, str(row.upn), f"suggested: {row.why}", admin.upn, None, known, app.now().date())
            st.rerun()
    if len(suggested) > SUGGESTIONS_SHOWN:
        st.caption(f"…and {len(suggested) - SUGGESTIONS_SHOWN:,} more.")


def _add_form(app: Console, known: set[str] | None, today: date, writer: bool) -> None:
    admin = signed_in_admin()
    st.subheader("Protect an account")
    with st.form("protected_add", clear_on_submit=False, border=True):
        upn = st.text_input("User principal name", key="protected_upn", placeholder="breakglass@contoso.com")
        left, right = st.columns(2)
        reason = left.text_input("Reason", key="protected_reason", placeholder="Emergency access account")
        owner = right.text_input("Owner", key="protected_owner", value=admin.upn if admin else "",
                                 help="Who answers for this exception")
        expires = st.date_input("Protected through (optional)", value=None, key="protected_expires",
                                min_value=None, format="YYYY-MM-DD",
                                help="Leave empty to protect until removed. A date in the past is refused.")
        unknown = st.checkbox("Protect it even if it is not in the latest snapshot", key="protected_unknown",
                              help="For an account created since the last refresh. Otherwise a UPN the tenant "
                                   "does not have is refused: a typo protects nobody.")
        submitted = st.form_submit_button("Protect", type="primary", icon=":material/shield:", disabled=not writer)
    if submitted:
        _protect(app, upn or "", reason or "", owner or "", _expiry(expires), known, today,
                 confirm_unknown=unknown)
        st.rerun()


def _remove(app: Console, frame: pd.DataFrame, writer: bool) -> None:
    st.subheader("Remove protection")
    # by the current UPN: it names one account, which the use case finds by UPN or object id
    chosen = st.multiselect("Accounts", list(dict.fromkeys(_current_upns(frame))), key="protected_remove_pick",
                            placeholder="Choose accounts to stop protecting")
    if st.button("Remove protection", key="protected_remove", icon=":material/remove_moderator:",
                 disabled=not writer or not chosen):
        try:
            removed = usecases.unprotect(workspace(app), chosen)
        except Exception as err:
            _notice("error", f"Not removed: {describe(err)}")
        else:
            _notice("success", f"No longer protected: {md(', '.join(removed))}. "
                               "The record is kept in the store."
                    if removed else "Nothing was removed (already not protected).")
        st.session_state.pop("protected_remove_pick", None)
        st.rerun()


def render() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    tenant = admin.tenant_id
    st.title("Protected accounts")
    st.caption("Accounts no bulk change, CSV import or undo may touch — break-glass (emergency access) accounts, "
               "accounts that cannot answer MFA. Every plan lists them as skipped, with the reason.")
    writer, reason = can_apply()
    if not writer:
        st.warning(f"Read-only: {reason}", icon=":material/lock:")
    _show_notice()
    snapshot = latest_snapshot(app)
    users = users_frame(app, snapshot) if snapshot is not None else None
    known = _known_upns(users)
    now: datetime = app.now()
    today = now.date()
    frame = rollout.protected_frame(app.store, tenant, now=now)
    if frame.empty:
        st.info("**No protected accounts yet.** Add your break-glass accounts (two cloud-only Global Administrators "
                "kept out of MFA for emergencies) below: the suggestions list accounts that look like them.",
                icon=":material/shield:")
    else:
        _table(frame, known)
    _risks(app, users)
    _break_glass(app, users)
    _suggestions(app, users, known, writer)
    _add_form(app, known, today, writer)
    if not frame.empty:
        _remove(app, frame, writer)
    st.caption(f"Dates are UTC; today is {today:%Y-%m-%d}" + (" on the demo clock." if app.is_demo else ".")
               + " An expiry lets a temporary exception lapse by itself.")


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**Protected accounts could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, check the Connection page.")
