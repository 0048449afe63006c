"""The strongest class of method a user has registered, from ``userRegistrationDetails.methodsRegistered``.

Microsoft never lists every ``methodsRegistered`` value, so the table (docs/graph.md, "Method classes") is
matched case-insensitively, with prefixes for the families other Microsoft enums spell out (``fido2…``,
``passKeySynced…``, ``appPassword…``). A name the table does not know is not counted as a second factor,
and the result names it, so an unknown method never makes a user look stronger than they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lib.protection.categories import MethodClass

__all__ = ["MethodStrength", "method_strength"]

_EXACT: dict[str, MethodClass | None] = {
    "passkeydevicebound": MethodClass.PHISHING_RESISTANT,
    "passkeydeviceboundauthenticator": MethodClass.PHISHING_RESISTANT,
    "passkeydeviceboundwindowshello": MethodClass.PHISHING_RESISTANT,
    "windowshelloforbusiness": MethodClass.PHISHING_RESISTANT,
    "macossecureenclavekey": MethodClass.PHISHING_RESISTANT,
    "microsoftauthenticatorpasswordless": MethodClass.PASSWORDLESS,
    "microsoftauthenticatorpush": MethodClass.MFA,
    "softwareonetimepasscode": MethodClass.MFA,
    "hardwareonetimepasscode": MethodClass.MFA,
    "mobilephone": MethodClass.SMS_VOICE_ONLY,
    "alternatemobilephone": MethodClass.SMS_VOICE_ONLY,
    "officephone": MethodClass.SMS_VOICE_ONLY,
    "email": None,
    "securityquestion": None,
}
"""Lower-cased name → class; None = registered, but not a second factor (password reset only)."""

_PREFIXES: tuple[tuple[str, MethodClass | None], ...] = (
    ("fido2", MethodClass.PHISHING_RESISTANT),
    ("passkeysynced", MethodClass.PHISHING_RESISTANT),
    ("apppassword", None),
)

TEMPORARY_ACCESS_PASS = "temporaryaccesspass"
"""MFA, but it expires: it never sets a user's lasting class (a user with SMS and a pass relies on SMS)."""

_RANK = (MethodClass.PHISHING_RESISTANT, MethodClass.PASSWORDLESS, MethodClass.MFA, MethodClass.SMS_VOICE_ONLY,
         MethodClass.NONE)


@dataclass(frozen=True, slots=True)
class MethodStrength:
    """A user's strongest lasting method class, and what the class leaves out."""

    method_class: MethodClass
    temporary_access_pass: bool = False
    unknown_methods: tuple[str, ...] = ()
    """Names the table does not know, as Graph spelled them: treated as no second factor."""


def _classify(name: str) -> MethodClass | str | None:
    key = name.strip().lower()
    if key in _EXACT:
        return _EXACT[key]
    for prefix, found in _PREFIXES:
        if key.startswith(prefix):
            return found
    return "unknown"


def method_strength(methods_registered: Iterable[str]) -> MethodStrength:
    """The strongest lasting class among ``methods_registered`` (``none`` when there is no second factor)."""
    best = MethodClass.NONE
    temporary = False
    unknown: list[str] = []
    for name in methods_registered:
        if name.strip().lower() == TEMPORARY_ACCESS_PASS:
            temporary = True
            continue
        found = _classify(name)
        if found == "unknown":
            unknown.append(name)
        elif isinstance(found, MethodClass) and _RANK.index(found) < _RANK.index(best):
            best = found
    return MethodStrength(best, temporary, tuple(unknown))
