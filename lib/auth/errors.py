"""Every error lib.auth raises, in one place. Each message is safe to show on the page as is.

::

    AuthError                    sign-in or token trouble; ``message`` says what happened and what to do
    ├── SignInCancelled          the person pressed Cancel (or declined the device code)
    ├── FlowExpired              the sign-in link or device code expired, or was already used
    ├── SessionExpired           no token can be had silently any more: sign in again
    │                            (also a lib.graph CredentialError, so it crosses the gateway unchanged)
    ├── TokenRefreshFailed       a signed-in session's token could not be refreshed (network, Entra): try again
    │                            (also a lib.graph CredentialError)
    ├── PermissionDenied         the signed-in admin's role may not do this (the server-side check)
    └── ConfigurationError       the app registration / tenant settings are wrong: the fix is named

``AuthError`` is a :class:`lib.errors.ConsoleError`. Its ``code`` defaults to the class's own
(``sign_in_failed``, ``session_expired``…); an instance keeps the OAuth error (``invalid_grant``…),
the AADSTS number or the console's own reason (``unreachable``, ``signed_out``…) when one is known.
As lib.graph errors, ``SessionExpired`` and ``TokenRefreshFailed`` have the reason ``unauthorized``
and are not retryable: a rollout journals them as ``unauthorized`` and does not try them again.

No message ever contains a token, a code or a secret: MSAL's error descriptions pass through
``lib.graph.redact`` and are cut before Entra's trace trailer.
"""

from __future__ import annotations

import re
from typing import ClassVar

from lib.errors import ConsoleError
from lib.graph.errors import CredentialError

__all__ = [
    "AuthError",
    "ConfigurationError",
    "FlowExpired",
    "PermissionDenied",
    "SessionExpired",
    "SignInCancelled",
    "TokenRefreshFailed",
    "is_known_sign_in_code",
    "sign_in_error",
]


class AuthError(ConsoleError):
    """Sign-in or token acquisition failed; ``message`` is the text for the page.

    ``code`` is the OAuth error (``invalid_grant``…) or AADSTS number when one is known, else the class's.
    """

    code = "sign_in_failed"
    area: ClassVar[str] = ""
    default_message: ClassVar[str] = "Sign-in failed. Sign in again."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message or self.default_message)
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class SignInCancelled(AuthError):
    code = "sign_in_cancelled"
    default_message = "Sign-in was cancelled."


class FlowExpired(AuthError):
    code = "flow_expired"
    default_message = "This sign-in link has expired or was already used. Sign in again."


class SessionExpired(AuthError, CredentialError):
    """Silent refresh failed (refresh token expired or revoked, or the session signed out)."""

    code = "session_expired"
    default_message = "Your session has expired. Sign in again."


class TokenRefreshFailed(AuthError, CredentialError):
    """The session's token could not be refreshed for another reason (the sign-in service is unreachable…)."""

    code = "token_refresh_failed"
    default_message = "The sign-in token could not be refreshed. Try again."


class PermissionDenied(AuthError):
    code = "permission_denied"
    default_message = (
        "Your directory role cannot change MFA: changing MFA needs Global Administrator or "
        "Authentication Policy Administrator."
    )


class ConfigurationError(AuthError):
    code = "configuration"
    default_message = "The sign-in configuration is not valid."


_SAFE_CODE = re.compile(r"^(?:AADSTS\d{1,9}|[A-Za-z][A-Za-z0-9_]{0,63})$")
"""What a shown error code may look like: an AADSTS number or an OAuth / console reason word."""

_CONFIG_FIXES: dict[str, str] = {
    "AADSTS700016": "The app registration {client} was not found in this tenant (AADSTS700016). Check MFA_CLIENT_ID "
                    "and MFA_TENANT_ID.",
    "AADSTS7000215": "The app registration {client} rejected the client credentials (AADSTS7000215): "
                     "MFA_CLIENT_SECRET must be the secret's Value (not its ID) and must not have expired.",
    "AADSTS7000222": "The app registration {client} rejected the client credentials (AADSTS7000222): "
                     "MFA_CLIENT_SECRET must be the secret's Value (not its ID) and must not have expired.",
    "AADSTS7000218": "The app registration {client} rejected the client credentials (AADSTS7000218): set "
                     "MFA_CLIENT_SECRET, or turn on 'Allow public client flows' in the app registration's "
                     "Authentication page.",
    "AADSTS65001": "Admin consent is missing for the app registration {client} (AADSTS65001): grant admin consent "
                   "for its Microsoft Graph permissions (API permissions page), then sign in again.",
    "AADSTS65004": "Admin consent is missing for the app registration {client} (AADSTS65004): grant admin consent "
                   "for its Microsoft Graph permissions (API permissions page), then sign in again.",
    "AADSTS50011": "The redirect URI {redirect} is not registered for the app {client} (AADSTS50011): add it under "
                   "Authentication in the app registration (or fix MFA_REDIRECT_URI).",
    "AADSTS500112": "The redirect URI {redirect} is not registered for the app {client} (AADSTS500112): add it "
                    "under Authentication in the app registration (or fix MFA_REDIRECT_URI).",
    "AADSTS500113": "The redirect URI {redirect} is not registered for the app {client} (AADSTS500113): add it "
                    "under Authentication in the app registration (or fix MFA_REDIRECT_URI).",
    "AADSTS90002": "The tenant was not found (AADSTS90002). Check MFA_TENANT_ID.",
    "configuration": "Sign-in cannot start with this configuration: check MFA_TENANT_ID, MFA_CLIENT_ID and "
                     "MFA_AUTHORITY_HOST ({authority}).",
}
_OTHER_TEXT: dict[str, tuple[type[AuthError], str]] = {
    "AADSTS50148": (AuthError, "The sign-in response did not match this sign-in request (PKCE check failed). "
                               "Sign in again."),
    "AADSTS501481": (AuthError, "The sign-in response did not match this sign-in request (PKCE check failed). "
                                "Sign in again."),
    "AADSTS50057": (AuthError, "This account cannot sign in (AADSTS50057). Sign in with another account."),
    "AADSTS50034": (AuthError, "This account cannot sign in (AADSTS50034). Sign in with another account."),
    "nonce_mismatch": (AuthError, "The sign-in response did not match this sign-in request. Sign in again."),
    "unreachable": (AuthError, "Cannot reach the sign-in service at {authority}. Try again."),
    "no_account": (AuthError, "Sign-in returned no account (was the openid scope refused?). Sign in again."),
    "session_expired": (SessionExpired, SessionExpired.default_message),
    "signed_out": (SessionExpired, "You were signed out (in another tab of this browser, or the sign-in expired). "
                                   "Sign in again."),
    "roles_unreadable": (AuthError, "You signed in, but your directory roles could not be read. Try again, and "
                                    "check the app's RoleManagement.Read.Directory permission on the Connection "
                                    "page."),
}
_EXPIRED_CODES = frozenset({"flow_expired", "AADSTS54005", "AADSTS70008"})
_CANCELLED_CODES = frozenset({"sign_in_cancelled", "access_denied", "authorization_declined"})


def is_known_sign_in_code(code: str) -> bool:
    """Whether :func:`sign_in_error` has text of its own for ``code`` (else it says only that sign-in failed)."""
    return code in _CONFIG_FIXES or code in _OTHER_TEXT or code in _EXPIRED_CODES or code in _CANCELLED_CODES


def sign_in_error(code: str, *, client_id: str = "", redirect_uri: str = "", authority: str = "") -> AuthError:
    """The error to show for a sign-in that failed with ``code``: fixed text per code, with the fix.

    The text is the console's own, filled only with the console's configuration: never words from the
    provider or from a URL (an ``error_description`` anyone can craft). An unknown code gets the
    generic message, naming the code only when it looks like one (an AADSTS number or a plain word).
    """
    code = str(code or "")
    values = {"client": client_id or "(not set)", "redirect": redirect_uri or "(not set)",
              "authority": authority or "the configured authority"}
    if code in _CANCELLED_CODES:
        return SignInCancelled(code=code)
    if code in _EXPIRED_CODES:
        return FlowExpired(code=code)
    if code in _CONFIG_FIXES:
        return ConfigurationError(_CONFIG_FIXES[code].format(**values), code=code)
    if code in _OTHER_TEXT:
        cls, text = _OTHER_TEXT[code]
        return cls(text.format(**values), code=code)
    if _SAFE_CODE.match(code) and code != AuthError.code:
        return AuthError(f"Sign-in failed ({code}). Sign in again.", code=code)
    return AuthError()
