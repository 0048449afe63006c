"""The scope filter the overview and the users page share: which kinds of account every number counts.

One ``lib.scope.Scope`` per browser session, in ``st.session_state[SCOPE_KEY]``: change it on one page
and the other counts the same users for the rest of the session. Only the include flags are kept
there; ``protected_upns`` come from the store on every run (``lib.overview.protected_upns``), so a
newly protected account drops out at once. Pages call::

    scope = scope_controls("users", protected_upns(app.store, tenant, app.now()))   # widgets + the scope
    scope = current_scope(protected)                                                 # the scope, no widgets

Each page passes its own ``key`` so its widgets have their own keys; the value they show is always the
session's scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import streamlit as st

from lib.scope import DEFAULT_SCOPE, Scope

__all__ = ["FLAGS", "SCOPE_KEY", "current_scope", "scope_controls", "scope_summary", "set_scope"]

SCOPE_KEY = "scope"
"""``st.session_state`` key of the session's ``Scope`` (flags only, ``protected_upns`` empty)."""

FLAGS: tuple[tuple[str, str, str], ...] = (
    ("include_disabled_accounts", "Disabled accounts", "Accounts that cannot sign in (accountEnabled false)."),
    ("include_guests", "Guests", "B2B guest accounts (userType Guest)."),
    ("include_service", "Service accounts", "Accounts that look like service or application accounts."),
    ("include_shared", "Shared mailboxes", "Accounts that look like shared mailboxes."),
    ("include_protected", "Protected accounts",
     "Break-glass accounts and every account on the Protected accounts list."),
)
"""(Scope field, checkbox label, help) in display order."""


def current_scope(protected_upns: Iterable[str] = ()) -> Scope:
    """The session's scope (the default until changed) with today's protected UPNs filled in."""
    stored = st.session_state.get(SCOPE_KEY)
    if not isinstance(stored, Scope):
        stored = DEFAULT_SCOPE
    return replace(stored, protected_upns=frozenset(protected_upns))


def set_scope(scope: Scope) -> None:
    """Remember ``scope`` for the session (its flags; protected UPNs are read fresh each run)."""
    st.session_state[SCOPE_KEY] = replace(scope, protected_upns=frozenset())


def scope_summary(scope: Scope) -> str:
    """``'Enabled accounts only · guests included · service, shared and protected accounts excluded'``."""
    first = "All accounts, disabled included" if scope.include_disabled_accounts else "Enabled accounts only"
    parts = [first, f"guests {'included' if scope.include_guests else 'excluded'}"]
    kinds = {"service": scope.include_service, "shared": scope.include_shared,
             "protected": scope.include_protected}
    for wanted, word in ((True, "included"), (False, "excluded")):
        names = [name for name, included in kinds.items() if included is wanted]
        if names:
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            parts.append(f"{listed} accounts {word}")
    return " · ".join(parts)


def _widget_key(key: str, flag: str) -> str:
    return f"{key}_scope_{flag}"


def _open_key(key: str) -> str:
    return f"{key}_scope_open"


def _changed(key: str) -> None:
    flags = {flag: bool(st.session_state.get(_widget_key(key, flag), False)) for flag, _, _ in FLAGS}
    set_scope(replace(current_scope(), **flags))
    st.session_state[_open_key(key)] = True  # its title changes with the scope: keep it open while edited


def _reset(key: str) -> None:
    set_scope(DEFAULT_SCOPE)
    st.session_state[_open_key(key)] = True
    for flag, _, _ in FLAGS:
        st.session_state[_widget_key(key, flag)] = getattr(DEFAULT_SCOPE, flag)


def scope_controls(key: str, protected_upns: Iterable[str] = (), *, expanded: bool = False) -> Scope:
    """The scope checkboxes in an expander whose title states the scope; returns the session's scope.

    ``key`` tells the pages' widgets apart (e.g. ``"overview"``, ``"users"``).
    """
    protected = frozenset(protected_upns)
    scope = current_scope(protected)
    opened = expanded or bool(st.session_state.get(_open_key(key)))
    with st.expander(f"Scope: {scope_summary(scope)}", expanded=opened, icon=":material/filter_alt:"):
        st.caption("Which accounts are counted. Remembered for this session and shared with the Users page."
                   + (f" {len(protected):,} accounts are on the Protected accounts list." if protected else ""))
        row = st.container(horizontal=True, gap="medium")  # wraps on a narrow screen, never truncates a label
        for flag, label, help_text in FLAGS:
            widget = _widget_key(key, flag)
            st.session_state[widget] = getattr(scope, flag)  # always show the session's scope
            row.checkbox(label, key=widget, help=help_text, on_change=_changed, args=(key,))
        if replace(scope, protected_upns=frozenset()) != DEFAULT_SCOPE:
            st.button("Reset to the default scope", key=f"{key}_scope_reset", on_click=_reset, args=(key,),
                      icon=":material/restart_alt:")
    return scope
