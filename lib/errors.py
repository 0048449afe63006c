"""The one error hierarchy: every error the console raises is a :class:`ConsoleError`.

Each module keeps its own errors (``lib/graph/errors.py``, ``lib/auth/errors.py``…); they all derive
from :class:`ConsoleError`, so a caller that only wants "say what went wrong" catches one class and
shows :func:`describe`. Classes that were also ``ValueError``, ``LookupError`` or ``RuntimeError`` still
are, so older ``except`` clauses keep working. The whole tree (``code`` in brackets)::

    ConsoleError [console_error]                 message (for a person, never a token), code, retryable
    │
    ├── SettingsError, ValueError [settings]            lib.settings: a setting is missing or malformed
    ├── CliError [cli]                                  lib.cli: ends a command with one line and ``status``
    ├── ChartImageError, RuntimeError [chart_image]     lib.overview: a chart could not be drawn as a PNG
    ├── NoGraphConnection [no_graph_connection]         lib.console: a use case needs Graph and has none
    ├── DemoClockError [demo_clock]                     lib.console: the demo clock cannot move as asked
    ├── CampaignChangeFailed [campaign_change_failed]  lib.console: Graph refused the campaign change, or no read-back
    ├── CampaignMovedOn [campaign_moved_on]             lib.console: the campaign changed since: undo refused
    ├── CampaignInputError, ValueError [campaign_input]  lib.campaign: no campaign in Graph's answer, bad snooze
    ├── ProtectionInputError, ValueError [protection_input]  lib.protection: a policy or membership fact is missing
    ├── DemoTenantError, RuntimeError [demo_tenant]     lib.demo_process: the demo tenant's process failed
    │
    ├── GraphError [graph_error, retryable]             lib.graph.errors: Graph did not do what was asked
    │   ├── BadRequest [bad_request]                    400 and other final 4xx
    │   ├── Unauthorized [unauthorized]                 401: sign in again
    │   ├── Forbidden [forbidden]                       403: ``missing`` names the permission or role
    │   │   └── NoPremiumLicense [forbidden]            403: the tenant has no Entra ID P1/P2
    │   ├── NotFound [not_found]                        404
    │   ├── Throttled [throttled, retryable]            429 after every retry
    │   ├── GraphServerError [server_error, retryable]  5xx after every retry
    │   ├── GraphUnavailable [unavailable, retryable]   no HTTP answer (DNS, refused, TLS, timeout)
    │   ├── MalformedResponse [malformed_response, retryable]  not the JSON Graph documents
    │   ├── IncompleteRead [incomplete_read, retryable]  (lib.directory) some MFA states unreadable: no snapshot
    │   ├── CredentialError [unauthorized]              no access token could be had
    │   │   ├── SessionExpired [session_expired]        (also an AuthError) sign in again
    │   │   └── TokenRefreshFailed [token_refresh_failed]  (also an AuthError) refresh failed: try again
    │   └── OperationCancelled [cancelled]              the caller cancelled
    │
    ├── AuthError [sign_in_failed]                      lib.auth.errors: sign-in or token trouble
    │   ├── SignInCancelled [sign_in_cancelled]         the person pressed Cancel
    │   ├── FlowExpired [flow_expired]                  the sign-in link or device code expired
    │   ├── SessionExpired                              (see above: both an AuthError and a CredentialError)
    │   ├── TokenRefreshFailed                          (see above)
    │   ├── PermissionDenied [permission_denied]        the signed-in admin's role may not do this
    │   │   ├── RoleLost [role_lost]                    (lib.console) Graph says the role is gone since sign-in
    │   │   └── RolesUnreadable [roles_unreadable]      (lib.console) the roles could not be re-read: refused
    │   └── ConfigurationError [configuration]          the app registration or tenant settings are wrong
    │
    ├── RolloutError [rollout_error]                    lib.rollout.errors: the bulk-change engine refused
    │   ├── OperationConflict [operation_conflict]      another operation covers some of these users
    │   ├── OperationNotFound, LookupError [operation_not_found]
    │   ├── OperationStateError [operation_state]       the operation cannot do that now
    │   ├── WaveError [wave]                            a wave name is taken or unknown
    │   ├── ProtectionError, ValueError [protection]    a protection lacks a UPN, reason or owner
    │   ├── CsvImportError, ValueError [csv_import]     the uploaded file as a whole is unusable; ``code``
    │   │                                               says why: empty, delimiter, encoding, not_text…
    │   └── CoverageUnknown, ValueError [coverage_unknown]  (coverage_plans) the snapshot has no coverage yet
    │
    └── StoreError [store_error]                        lib.store.errors: the history database failed
        ├── SchemaTooNewError [schema_too_new]          migrated by a newer console: upgrade
        ├── MigrationError [migration_failed]           a schema migration failed
        ├── StoreLockedError [store_locked, retryable]  another process held the lock too long
        ├── NotFoundError, LookupError [not_found]      no such tenant or snapshot
        └── SnapshotStateError [snapshot_state]         the snapshot cannot move to that status

``code`` is stable and snake_case: a class attribute, which an instance may refine (``AuthError``
keeps the OAuth error or AADSTS number it got, ``CsvImportError`` says which check failed). The
demo tenant's own server (``lib.emulator``) is not the console and keeps its own errors.

Graph errors: ``code`` and ``retryable`` come from the class alone, and ``reason`` is the failure
reason the rollout journal records (``SessionExpired`` is ``session_expired`` but its reason is
``unauthorized``, as for every ``CredentialError``); the code in Graph's own error body
(``Authorization_RequestDenied``…) is ``graph_code``.

This module imports nothing from the rest of ``lib`` but ``lib.redaction`` (which imports nothing): every
error module imports it. :func:`describe` passes its line through ``lib.redaction.redact_secrets`` as a
last guard, so no secret reaches a page, a job's status or the CLI's stderr even from an unexpected error.
"""

from __future__ import annotations

import sys
from typing import ClassVar

from lib.redaction import redact_secrets

__all__ = ["ConsoleError", "describe"]


class ConsoleError(Exception):
    """Base class of every error the console raises.

    ``message`` is the text for a person, safe to show as is (no token, no secret); ``code`` is a
    stable snake_case name for the kind of failure; ``retryable`` says whether the same request may
    succeed later without anyone changing anything.
    """

    code: str = "console_error"
    retryable: ClassVar[bool] = False
    area: ClassVar[str] = ""
    """The short prefix :func:`describe` puts before the message ("database", "Microsoft Graph"…)."""
    default_message: ClassVar[str] = "The console could not do what was asked."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def describe(error: BaseException) -> str:
    """The one line a person sees for ``error``: on a page, in a background job, on the CLI's stderr.

    A :class:`ConsoleError` gives its text after its area (``Microsoft Graph: …``, ``database: …``,
    ``sign-in (app token): …``, ``configuration: …``; nothing for rollout and sign-in errors, whose
    message already says it all); an httpx error is ``network: …``; anything else was not expected
    and says so, with its type: ``internal error: KeyError: 'id'``.
    """
    text = redact_secrets(_one_line(error))
    if isinstance(error, ConsoleError):
        return f"{error.area}: {text}" if error.area else text
    httpx = sys.modules.get("httpx")  # not imported: the error cannot be one of its
    if httpx is not None and isinstance(error, httpx.HTTPError):
        return f"network: {text}"
    return f"internal error: {type(error).__name__}: {text}"
