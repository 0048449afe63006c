"""The break-glass check (issue 15 §7): a protected account needs a FIDO2 key or passkey for emergencies."""

from __future__ import annotations

import pandas as pd

from lib.rollout import ProtectedAccount
from lib.rollout.break_glass import break_glass_warnings, has_emergency_key
from tests.test_rollout_support import T0, user, users

FRAME = users(
    user(1, upn="bg1@contoso.example", display_name="Break glass 1", methods="fido2,mobilePhone"),
    user(2, upn="bg2@contoso.example", display_name="Break glass 2", methods="passKeyDeviceBound"),
    user(3, upn="bg3@contoso.example", display_name="Break glass 3", methods="windowsHelloForBusiness"),
    user(4, upn="bg4@contoso.example", display_name="Break glass 4", methods=""),
    user(5, upn="renamed@contoso.example", display_name="Renamed", methods="microsoftAuthenticatorPush"),
    user(6, upn="person@contoso.example", display_name="Person", methods=""),
)


def test_keys_and_passkeys_count_device_bound_windows_hello_does_not() -> None:
    assert has_emergency_key("fido2") and has_emergency_key("FIDO2SecurityKey") and has_emergency_key("passKeySynced")
    assert not has_emergency_key("windowsHelloForBusiness,mobilePhone")
    assert not has_emergency_key("") and not has_emergency_key(pd.NA)


def test_a_warning_per_protected_account_without_a_key_and_none_for_the_rest() -> None:
    protected = [ProtectedAccount(f"bg{n}@contoso.example", "Emergency access", "owner") for n in range(1, 5)]
    protected.append(ProtectedAccount("old-name@contoso.example", "Emergency access", "owner", user_id="u005"))
    protected.append(ProtectedAccount("gone@contoso.example", "Emergency access", "owner"))  # not in the snapshot
    warnings = break_glass_warnings(FRAME, protected)
    assert [w.upn for w in warnings] == ["bg3@contoso.example", "bg4@contoso.example", "renamed@contoso.example"]
    by_upn = {w.upn: w for w in warnings}
    assert "it has windowsHelloForBusiness" in by_upn["bg3@contoso.example"].message
    assert "it has no method registered" in by_upn["bg4@contoso.example"].message
    assert all("mandatory MFA applies to break-glass accounts too" in w.message for w in warnings)
    assert all("certificate" not in w.message for w in warnings)


def test_expired_protections_no_longer_count_and_certificates_are_mentioned_when_enabled() -> None:
    expired = ProtectedAccount("bg4@contoso.example", "Emergency access", "owner", expires_at=T0)
    assert break_glass_warnings(FRAME, [expired]) == []  # ``as_protection`` drops it: expired by now
    warnings = break_glass_warnings(FRAME, ["bg3@contoso.example"], certificates_enabled=True)
    assert len(warnings) == 1 and "certificate-based authentication" in warnings[0].message
    assert break_glass_warnings(FRAME.iloc[0:0], ["bg3@contoso.example"]) == []
    assert break_glass_warnings(FRAME, []) == []
