"""The Users page's filter panel: the filters' widgets and their session state, presets handed over by other
pages (with a banner naming the page), and the pasted or uploaded UPN list."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.charts import METHOD_LABELS
from lib.signins.columns import EVIDENCE_FILTERS
from lib.ui.rollout_widgets import (
    md,
)
from lib.users_filters import (
    ACCOUNT_KIND_LABELS,
    CONFLICT_OPTIONS,
    COVERAGE_OPTIONS,
    DEADLINE_OPTIONS,
    METHOD_CLASS_OPTIONS,
    NONE,
    PROTECTION_LABELS,
    SIGN_IN_OPTIONS,
    STATE_FILTER_OPTIONS,
    STATE_LABELS,
    PreparedUsers,
    UpnList,
    UserFilters,
    UsersFilterPreset,
    merge_upn_lists,
    parse_upn_list,
)

PRESET_LABEL_KEY = "users_preset"
TRI = ["any", "yes", "no"]  # not None/True/False: a selectbox shows None as "Choose an option"
TRI_LABELS = {"any": "Any", "yes": "Yes", "no": "No"}
TRI_VALUES: dict[str, bool | None] = {"any": None, "yes": True, "no": False}
FILTER_DEFAULTS: dict[str, Any] = {
    "users_f_text": "", "users_f_states": [], "users_f_sign_in": "any", "users_f_registered": "any",
    "users_f_capable": "any", "users_f_admin": "any", "users_f_guest": "any", "users_f_enabled": "any",
    "users_f_departments": [], "users_f_countries": [], "users_f_methods": [], "users_f_kinds": [],
    "users_f_upn_text": "", "users_f_covered_by": [], "users_f_policies": [], "users_f_conflicts": [],
    "users_f_method_classes": [], "users_f_deadlines": [], "users_f_evidence": [],
}
PRESET_LISTS = {"covered_by": "users_f_covered_by", "conflicts": "users_f_conflicts",
                "method_classes": "users_f_method_classes", "sms_voice_deadlines": "users_f_deadlines",
                "sign_in_evidence": "users_f_evidence"}
"""A preset's protection and sign-in evidence filters → the widgets' session keys."""

@st.cache_data(show_spinner=False, max_entries=8)
def _parse_list(data: str | bytes) -> UpnList:
    return parse_upn_list(data)


# --- filters -------------------------------------------------------------------------------------


def reset_filters() -> None:
    for key, value in FILTER_DEFAULTS.items():
        st.session_state[key] = list(value) if isinstance(value, list) else value
    st.session_state.pop(PRESET_LABEL_KEY, None)
    st.session_state["users_f_upn_file_nonce"] = st.session_state.get("users_f_upn_file_nonce", 0) + 1


def apply_preset(preset: UsersFilterPreset) -> None:
    """Filters handed over by another page: reset the filters, then apply the preset's."""
    reset_filters()
    for name, key in (("admin", "users_f_admin"), ("registered", "users_f_registered"),
                      ("guest", "users_f_guest"), ("capable", "users_f_capable")):
        value = getattr(preset, name)
        if isinstance(value, bool):
            st.session_state[key] = "yes" if value else "no"
    for name, key in PRESET_LISTS.items():
        st.session_state[key] = list(getattr(preset, name))
    st.session_state[PRESET_LABEL_KEY] = preset


def _sanitise(key: str, options: list[Any]) -> None:
    """Drop chosen values a new snapshot no longer offers (a multiselect refuses unknown defaults)."""
    chosen = st.session_state.get(key)
    if isinstance(chosen, list):
        kept = [v for v in chosen if v in options]
        if kept != chosen:
            st.session_state[key] = kept


def _upn_list(container: Any) -> tuple[frozenset[str] | None, UpnList | None, list[str]]:
    """The pasted and uploaded UPN lists (merged): the keys to filter by, the parse, and any problems."""
    problems: list[str] = []
    text = st.session_state.get("users_f_upn_text") or ""
    nonce = st.session_state.get("users_f_upn_file_nonce", 0)
    with container:
        left, right = st.columns(2)
        left.text_area("Paste UPNs", key="users_f_upn_text", height=110,
                       placeholder="one per line, or separated by commas or semicolons",
                       help="Users whose UPN or e-mail address is on the list. Every entry is accounted for "
                            "below: shown, outside the scope, hidden by a filter, not in the snapshot, not a UPN "
                            "or listed twice.")
        upload = right.file_uploader("…or upload a list (.txt or .csv)", type=["txt", "csv"],
                                     key=f"users_f_upn_file_{nonce}",
                                     help="Any text file with one UPN per line; a CSV's UPN column is found by the @.")
    sources: list[str | bytes] = []
    if text.strip():
        sources.append(text)
    if upload is not None:
        sources.append(upload.getvalue())
    if not sources:
        return None, None, problems
    lists: list[UpnList] = []
    for source in sources:
        try:
            lists.append(_parse_list(source))
        except ValueError as err:
            problems.append(str(err))
    merged = merge_upn_lists(lists)
    if not merged.upns:
        problems.append("No UPN found in the list (a UPN looks like name@domain): the list filter is off.")
        return None, merged, problems
    return merged.keys, merged, problems


def filter_panel(prepared: PreparedUsers) -> tuple[UserFilters, UpnList | None, list[str]]:
    options = prepared.options
    for key, values in (("users_f_departments", list(options.departments)),
                        ("users_f_countries", list(options.countries)),
                        ("users_f_methods", list(options.methods)),
                        ("users_f_policies", list(options.policies))):
        _sanitise(key, values)
    for key, value in FILTER_DEFAULTS.items():
        st.session_state.setdefault(key, list(value) if isinstance(value, list) else value)
    with st.container(border=True, key="users_filters"):
        top = st.columns([3, 2, 2], vertical_alignment="bottom")
        top[0].text_input("Search name or UPN", key="users_f_text", placeholder="e.g. anna, or @contoso.com",
                          help="Every word must appear in the display name or the UPN (case-insensitive).")
        top[1].multiselect("MFA state", list(STATE_FILTER_OPTIONS), key="users_f_states",
                           format_func=STATE_LABELS.get, placeholder="Any state")
        top[2].selectbox("Last sign-in", list(SIGN_IN_OPTIONS), key="users_f_sign_in",
                         format_func=lambda c: SIGN_IN_OPTIONS[c][0], disabled=not options.sign_ins_known,
                         help=None if options.sign_ins_known else
                         "Sign-in activity is not available for this tenant (it needs Entra ID P1).")
        flags = st.columns(5)
        for col, (key, label, help_text) in zip(flags, (
            ("users_f_registered", "Registered", "Has registered a second factor"),
            ("users_f_capable", "MFA capable", "Registered a method strong enough for MFA, and can sign in"),
            ("users_f_admin", "Admin", "Holds an administrator role"),
            ("users_f_guest", "Guest", "B2B guest account"),
            ("users_f_enabled", "Account enabled", "The account can sign in (accountEnabled)"),
        ), strict=True):
            col.selectbox(label, TRI, key=key, format_func=TRI_LABELS.get, help=help_text)
        more = st.columns(4)
        more[0].multiselect("Department", list(options.departments), key="users_f_departments",
                            placeholder="Any department")
        more[1].multiselect("Country", list(options.countries), key="users_f_countries", placeholder="Any country")
        more[2].multiselect("Registered method", list(options.methods), key="users_f_methods",
                            format_func=lambda m: "No method" if m == NONE else METHOD_LABELS.get(m, m),
                            placeholder="Any method", help="Users with at least one of these methods")
        more[3].multiselect("Account kind", list(ACCOUNT_KIND_LABELS), key="users_f_kinds",
                            format_func=ACCOUNT_KIND_LABELS.get, placeholder="Any kind")
        _protection_filters(options)
        evidence = _evidence_filter(prepared)
        listed = bool((st.session_state.get("users_f_upn_text") or "").strip())
        upns, parsed, problems = _upn_list(st.expander("Only users on a list (paste or upload UPNs)",
                                                       expanded=listed, icon=":material/list:"))
    state = st.session_state
    filters = UserFilters(
        text=state["users_f_text"] or "", states=tuple(state["users_f_states"]),
        registered=TRI_VALUES.get(state["users_f_registered"]), capable=TRI_VALUES.get(state["users_f_capable"]),
        admin=TRI_VALUES.get(state["users_f_admin"]), guest=TRI_VALUES.get(state["users_f_guest"]),
        account_enabled=TRI_VALUES.get(state["users_f_enabled"]),
        departments=tuple(state["users_f_departments"]), countries=tuple(state["users_f_countries"]),
        methods=tuple(state["users_f_methods"]), account_kinds=tuple(state["users_f_kinds"]),
        last_sign_in=state["users_f_sign_in"] if options.sign_ins_known else "any", upns=upns,
        covered_by=tuple(state["users_f_covered_by"]), policies=tuple(state["users_f_policies"]),
        conflicts=tuple(state["users_f_conflicts"]), method_classes=tuple(state["users_f_method_classes"]),
        sms_voice_deadlines=tuple(state["users_f_deadlines"]), sign_in_evidence=evidence,
    )
    return filters, parsed, problems


def _evidence_filter(prepared: PreparedUsers) -> tuple[str, ...]:
    """The sign-in evidence filters, offered only when the frame carries the evidence of a sign-in log read."""
    if prepared.evidence_as_of is None:
        return ()
    _sanitise("users_f_evidence", list(EVIDENCE_FILTERS))
    st.multiselect("Sign-in evidence", list(EVIDENCE_FILTERS), key="users_f_evidence",
                   format_func=EVIDENCE_FILTERS.get, placeholder="Any sign-ins",
                   help=f"From the sign-in log, for the 30 days up to its last read "
                        f"({prepared.evidence_as_of:%-d %b %H:%M} UTC). Several chosen: users matching every one.")
    return tuple(st.session_state["users_f_evidence"])


def _protection_filters(options: Any) -> None:
    """Coverage (with the Conditional Access policies' names), conflict, method strength and SMS/voice deadline."""
    help_unread = None if options.protection_read else ("This snapshot was taken before the console read "
                                                        "protection: refresh the data to fill these in.")
    row = st.columns([3, 3, 2, 2, 2])
    row[0].multiselect("Protected by", list(COVERAGE_OPTIONS), key="users_f_covered_by",
                       format_func=PROTECTION_LABELS.get, placeholder="Any coverage",
                       help=help_unread or "What asks the user for MFA (Conditional Access, security defaults, "
                                           "per-user MFA), or why nothing does")
    row[1].multiselect("Conditional Access policy", list(options.policies), key="users_f_policies",
                       placeholder="Any policy" if options.policies else "No policy covers anyone",
                       disabled=not options.policies,
                       help="Users whose coverage comes from any of these policies")
    row[2].multiselect("Conflict", list(CONFLICT_OPTIONS), key="users_f_conflicts",
                       format_func=PROTECTION_LABELS.get, placeholder="Any",
                       help=help_unread or "Per-user MFA on while Conditional Access or security defaults cover "
                                           "the user (Microsoft advises Disabled)")
    row[3].multiselect("Method strength", list(METHOD_CLASS_OPTIONS), key="users_f_method_classes",
                       format_func=PROTECTION_LABELS.get, placeholder="Any strength",
                       help=help_unread or "The strongest second factor the user registered")
    row[4].multiselect("SMS/voice deadline", list(DEADLINE_OPTIONS), key="users_f_deadlines",
                       format_func=PROTECTION_LABELS.get, placeholder="Any",
                       help="Users relying on SMS or voice alone, by the day Microsoft-provided SMS and voice end "
                            "for them")


def preset_banner(filters: UserFilters, matching: int) -> None:
    preset = st.session_state.get(PRESET_LABEL_KEY)
    if not isinstance(preset, UsersFilterPreset):
        return
    moved = any(getattr(filters, name) != tuple(getattr(preset, name)) for name in PRESET_LISTS)
    if filters.admin != preset.admin or filters.registered != preset.registered or moved:
        st.session_state.pop(PRESET_LABEL_KEY, None)  # the filters moved on: the label no longer says what is shown
        return
    text = f"**{md(preset.label)}** (from the {md(preset.came_from)})"
    counted = preset.count
    if counted is not None and counted != matching:
        text += (f". The {md(preset.came_from)} counted {counted:,}; {matching:,} match here with the other filters "
                 "and scope.")
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(text, icon=":material/filter_alt:")
    right.button("Clear filters", key="users_preset_clear", on_click=reset_filters, width="stretch")


