"""The campaign's values and words (pure): Graph's shapes in, the PATCH body and sentences out."""

from __future__ import annotations

import pytest

from lib.campaign import Campaign, CampaignInputError, CampaignTarget, enabled_for, method_settings, patch_body

POLICY = {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
    "state": "default", "snoozeDurationInDays": 1,
    "includeTargets": [{"id": "all_users", "targetType": "group",
                        "targetedAuthenticationMethod": "microsoftAuthenticator"}],
    "excludeTargets": [{"id": "g-bg", "targetType": "group"}]}},
    "authenticationMethodConfigurations": [
        {"id": "Voice", "state": "disabled", "includeTargets": [{"id": "all_users", "targetType": "group"}]},
        {"id": "Fido2", "state": "enabled", "includeTargets": [{"id": "g-sales", "targetType": "group"}]},
        {"id": "CustomThing", "state": "enabled", "includeTargets": []}]}


def test_enabling_for_a_group_keeps_exclusions_and_round_trips() -> None:
    current = Campaign.from_graph(POLICY)
    wanted = enabled_for(current, "g-sales", snooze_days=0)
    assert patch_body(wanted) == {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
        "state": "enabled", "snoozeDurationInDays": 0,
        "includeTargets": [{"id": "g-sales", "targetType": "group",
                            "targetedAuthenticationMethod": "microsoftAuthenticator"}],
        "excludeTargets": [{"id": "g-bg", "targetType": "group"}]}}}
    assert Campaign.from_json(wanted.to_json()).same_as(wanted)
    assert not wanted.same_as(current)
    assert wanted.snooze_words == "no snoozing: users must set it up at the next sign-in"
    assert wanted.targets_words({"g-sales": "Sales"}) == (
        "Sales (group), except a group no longer in the directory (g-bg)")
    assert enabled_for(current).include == (CampaignTarget("all_users"),)


@pytest.mark.parametrize("bad", [{}, {"registrationEnforcement": {}},
                                 {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                                     "state": "on"}}}])
def test_an_answer_without_a_documented_campaign_is_refused(bad: dict) -> None:
    with pytest.raises(CampaignInputError, match="documented shape"):
        Campaign.from_graph(bad)


@pytest.mark.parametrize("snooze", [-1, 15, True, 2.5])
def test_a_snooze_out_of_range_is_refused(snooze: object) -> None:
    with pytest.raises(CampaignInputError, match="0 to 14"):
        enabled_for(Campaign.from_graph(POLICY), snooze_days=snooze)  # type: ignore[arg-type]


def test_methods_are_named_as_the_admin_center_does_in_its_order() -> None:
    methods = method_settings(POLICY, {"g-sales": "Sales"})
    assert [(m.name, m.enabled, m.targets) for m in methods] == [
        ("Passkeys (FIDO2)", True, "Sales (group)"), ("Voice call", False, "All users"),
        ("CustomThing", True, "nobody")]
