"""The one error the protection model raises: its inputs cannot be evaluated as given."""

from __future__ import annotations

from lib.errors import ConsoleError

__all__ = ["ProtectionInputError"]


class ProtectionInputError(ConsoleError, ValueError):
    """A policy, membership or user fact the model cannot evaluate; the message says which and why.

    Raised rather than guessed: a coverage answer built on a missing group would be wrong for everyone in it.
    """

    code = "protection_input"
    default_message = "The protection facts could not be evaluated."
