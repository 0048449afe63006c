"""Every hand-over between pages, typed: one module owns the session-state keys they travel under.

A page sends with ``send_…`` (which also opens the receiving page) and the receiving page takes it
once with ``take_…``; anything else in those keys (an old session, a hand-edited value) is ignored.
"""

from __future__ import annotations

import streamlit as st

from lib.ui.navigation import USERS
from lib.users_filters import UsersFilterPreset

USERS_FILTER_KEY = "handoff_users_filter"


def send_users_filter(preset: UsersFilterPreset) -> None:
    """Open the Users page filtered by ``preset``."""
    st.session_state[USERS_FILTER_KEY] = preset
    st.switch_page(USERS.path)


def take_users_filter() -> UsersFilterPreset | None:
    """The filters handed to the Users page, once."""
    preset = st.session_state.pop(USERS_FILTER_KEY, None)
    return preset if isinstance(preset, UsersFilterPreset) else None
