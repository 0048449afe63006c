"""Are the protected (break-glass) accounts ready for mandatory MFA? Pure: a users frame and the list in.

Mandatory MFA for the admin portals applies to every account, break-glass accounts included
(docs/graph.md, "SMS and voice retirement"), so an emergency account needs a phishing-resistant method that
is not tied to one person's device: a FIDO2 security key or passkey, or certificate-based authentication
(issue 15 §7). Windows Hello for Business and macOS keys live on one device, so they do not count here.
Certificate-based authentication has no ``methodsRegistered`` name (docs/graph.md, "Method classes"): the
warning says so instead of guessing that a certificate is or is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.columns import split_methods
from lib.rollout.protected import as_protection

__all__ = ["BreakGlassWarning", "break_glass_warnings", "has_emergency_key"]

KEY_PREFIXES = ("fido2", "passkey")
"""methodsRegistered names of FIDO2 security keys and passkeys (any spelling Microsoft uses: fido2,
fido2SecurityKey, passKeyDeviceBound…, passKeySynced), compared case-insensitively."""


@dataclass(frozen=True)
class BreakGlassWarning:
    """One protected account without a phishing-resistant method it could use in an emergency."""

    upn: str
    display_name: str
    user_id: str
    methods: tuple[str, ...]
    message: str


def has_emergency_key(methods: Any) -> bool:
    """Whether a ``methods`` cell names a FIDO2 security key or a passkey."""
    return any(name.strip().lower().startswith(KEY_PREFIXES) for name in split_methods(methods))


def _message(methods: tuple[str, ...], certificates_enabled: bool) -> str:
    has = f"it has {', '.join(methods)}" if methods else "it has no method registered"
    text = (f"No FIDO2 security key or passkey registered ({has}): mandatory MFA applies to break-glass "
            "accounts too, so register a security key or passkey")
    if certificates_enabled:
        text += (", or make sure it has a certificate for certificate-based authentication (enabled in this "
                 "tenant; Graph does not list certificates per user)")
    return text + "."


def break_glass_warnings(frame: pd.DataFrame, protected: Any, *, certificates_enabled: bool = False,
                         ) -> list[BreakGlassWarning]:
    """A warning per protected account in ``frame`` without a FIDO2 key or passkey, sorted by UPN.

    ``protected`` is what ``lib.rollout.as_protection`` accepts (expired protections no longer count);
    accounts not in the snapshot are left out (the Protected page already says they were not found).
    ``certificates_enabled``: the methods policy enables certificate-based authentication.
    """
    protection = as_protection(protected)
    if frame.empty or not len(protection):
        return []
    out = []
    for uid, upn, name, methods in zip(frame["id"], frame["upn"], frame["display_name"], frame["methods"],
                                       strict=True):
        if protection.find(str(uid), upn if isinstance(upn, str) else None) is None or has_emergency_key(methods):
            continue
        names = tuple(split_methods(methods))
        out.append(BreakGlassWarning(str(upn), "" if pd.isna(name) else str(name), str(uid), names,
                                     _message(names, certificates_enabled)))
    return sorted(out, key=lambda w: w.upn.casefold())
