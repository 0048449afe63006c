"""Every error lib.auth raises, in one place. Each message is safe to show on the page as is.

::

    AuthError                    sign-in or token trouble; ``message`` says what happened and what to do
    ├── SignInCancelled          the person pressed Cancel (or declined the device code)
    ├── FlowExpired              the sign-in link or device code expired, or was already used
    ├── SessionExpired           no token can be had silently any more: sign in again
    │                            (also a lib.graph CredentialError, so it crosses the gateway unchanged)
    ├── PermissionDenied         the signed-in admin's role may not do this (the server-side check)
    └── ConfigurationError       the app registration / tenant settings are wrong: the fix is named

No message ever contains a token, a code or a secret: MSAL's error descriptions pass through
``lib.graph.redact`` and are cut before Entra's trace trailer.
"""

from __future__ import annotations

from lib.graph.errors import CredentialError

__all__ = [
    "AuthError",
    "ConfigurationError",
    "FlowExpired",
    "PermissionDenied",
    "SessionExpired",
    "SignInCancelled",
]


class AuthError(Exception):
    """Sign-in or token acquisition failed; ``message`` is the text for the page.

    ``code`` is the OAuth error (``invalid_grant``…) or AADSTS number when one is known, else ``""``.
    """

    default_message = "Sign-in failed. Sign in again."

    def __init__(self, message: str | None = None, *, code: str = "") -> None:
        text = message or self.default_message
        super().__init__(text)
        self.message = text
        self.code = code

    def __str__(self) -> str:
        return self.message


class SignInCancelled(AuthError):
    default_message = "Sign-in was cancelled."


class FlowExpired(AuthError):
    default_message = "This sign-in link has expired or was already used. Sign in again."


class SessionExpired(AuthError, CredentialError):
    """Silent refresh failed (refresh token expired or revoked, or the session signed out)."""

    default_message = "Your session has expired. Sign in again."


class PermissionDenied(AuthError):
    default_message = (
        "Your directory role cannot change MFA: changing MFA needs Global Administrator or "
        "Authentication Policy Administrator."
    )


class ConfigurationError(AuthError):
    default_message = "The sign-in configuration is not valid."
