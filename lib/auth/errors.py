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
