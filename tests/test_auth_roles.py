"""lib.auth.roles: roles from Graph's directoryRole list, who may change MFA, and why not."""

from __future__ import annotations

import pytest

from lib.auth import (
    GLOBAL_READER_REASON,
    NO_ROLE_REASON,
    PermissionDenied,
    SignedInAdmin,
    admin_from_graph,
    require_writer,
)
from lib.graph.roles import ROLE_TEMPLATE_IDS

GA = ROLE_TEMPLATE_IDS["Global Administrator"]
APA = ROLE_TEMPLATE_IDS["Authentication Policy Administrator"]
PAA = ROLE_TEMPLATE_IDS["Privileged Authentication Administrator"]
AA = ROLE_TEMPLATE_IDS["Authentication Administrator"]
GR = ROLE_TEMPLATE_IDS["Global Reader"]
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
ME = {"id": "u-1", "displayName": "Ada Admin", "userPrincipalName": "ada@contoso.example"}
TENANT = "t-1"


def role(template_id: str, name: str = "") -> dict[str, str]:
    return {"id": f"dr-{template_id[:4]}", "displayName": name or template_id, "roleTemplateId": template_id}


def admin(*template_ids: str) -> SignedInAdmin:
    return admin_from_graph(ME, [role(t) for t in template_ids], TENANT)


def test_admin_from_graph_exact() -> None:
    got = admin_from_graph(ME, [role(GR, "Global Reader"), role(GA, "Company Administrator")], TENANT)
    assert got == SignedInAdmin(name="Ada Admin", upn="ada@contoso.example", user_id="u-1", tenant_id=TENANT,
                                roles=frozenset({GA, GR}), role_names=("Global Administrator", "Global Reader"))
    assert (got.can_change_mfa, got.read_only_reason, got.role_label) == (True, None, "Global Administrator")


def test_writer_roles_come_first_then_known_then_unknown_by_display_name() -> None:
    got = admin_from_graph(ME, [role(HELPDESK, "Helpdesk Administrator"), role(GR), role(AA), role(APA)], TENANT)
    assert got.role_names == ("Authentication Policy Administrator", "Authentication Administrator", "Global Reader",
                              "Helpdesk Administrator")


def test_template_ids_are_compared_case_insensitively_and_blank_ones_skipped() -> None:
    got = admin_from_graph(ME, [role(GA.upper()), {"displayName": "No template"}, role(GA)], TENANT)
    assert (got.roles, got.role_names) == (frozenset({GA}), ("Global Administrator",))


@pytest.mark.parametrize(("roles", "writer", "reason"), [
    ((GA,), True, None),
    ((APA,), True, None),
    ((GR,), False, GLOBAL_READER_REASON),
    ((GR, AA), False, GLOBAL_READER_REASON),
    ((), False, NO_ROLE_REASON),
    ((PAA,), False, "Privileged Authentication Administrator is a read-only role here: changing MFA needs Global "
                    "Administrator or Authentication Policy Administrator."),
    ((AA, HELPDESK), False, f"Authentication Administrator and {HELPDESK} are read-only roles here: changing MFA "
                            "needs Global Administrator or Authentication Policy Administrator."),
])
def test_who_may_change_mfa_and_why_not(roles: tuple[str, ...], writer: bool, reason: str | None) -> None:
    got = admin(*roles)
    assert (got.can_change_mfa, got.read_only_reason) == (writer, reason)
    if writer:
        assert require_writer(got) is got
    else:
        with pytest.raises(PermissionDenied) as caught:
            require_writer(got)
        assert caught.value.message == reason


def test_reason_texts() -> None:
    assert GLOBAL_READER_REASON == ("Global Reader is a read-only role: changing MFA needs Global Administrator or "
                                    "Authentication Policy Administrator.")
    assert NO_ROLE_REASON == ("You have no directory role: changing MFA needs Global Administrator or "
                              "Authentication Policy Administrator.")
    assert admin().role_label == "No directory role"


def test_nobody_signed_in_may_not_write() -> None:
    with pytest.raises(PermissionDenied) as caught:
        require_writer(None)
    assert caught.value.message == "Sign in first: changing MFA needs a signed-in administrator."


def test_me_without_id_is_an_error_and_names_fall_back() -> None:
    with pytest.raises(ValueError, match="/me returned no id"):
        admin_from_graph({}, [], TENANT)
    assert admin_from_graph({"id": "u-2", "userPrincipalName": "x@y"}, [], TENANT).name == "x@y"
