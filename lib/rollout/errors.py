"""Every error the bulk-change engine raises, in one place. Each message is safe to show as is.

::

    RolloutError                 the engine could not do what was asked
    ├── OperationConflict        another operation is still working on some of these users (names it)
    ├── OperationNotFound        no such operation (for this tenant)
    ├── OperationStateError      the operation cannot do that now (resume a complete one, undo a running one…)
    ├── WaveError                a wave name is taken, unknown, or the wave cannot be promoted
    ├── ProtectionError          a protection cannot be recorded: no UPN or not one, no reason or owner…
    └── CsvImportError           the uploaded file as a whole is unusable (empty, wrong delimiter, encoding…)

``RolloutError`` is a :class:`lib.errors.ConsoleError`; ``ProtectionError`` and ``CsvImportError`` are
also ``ValueError`` (bad input), ``OperationNotFound`` a ``LookupError``.
``PermissionDenied`` is ``lib.auth.PermissionDenied`` (re-exported here): the server-side role check.
Storage trouble surfaces as ``lib.store.StoreError``, Graph trouble as ``lib.graph.GraphError``.
"""

from __future__ import annotations

from typing import ClassVar

from lib.auth.errors import PermissionDenied
from lib.errors import ConsoleError

__all__ = [
    "CsvImportError",
    "OperationConflict",
    "OperationNotFound",
    "OperationStateError",
    "PermissionDenied",
    "ProtectionError",
    "RolloutError",
    "WaveError",
]


class RolloutError(ConsoleError):
    """Base class; ``message`` is the text for the page or the CLI's one stderr line."""

    code = "rollout_error"
    area: ClassVar[str] = ""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class OperationConflict(RolloutError):
    """Refused: ``operation_id`` (still running or interrupted) covers some of the same users."""

    code = "operation_conflict"

    def __init__(self, message: str, *, operation_id: int, overlap: int) -> None:
        super().__init__(message)
        self.operation_id = operation_id
        self.overlap = overlap


class OperationNotFound(RolloutError, LookupError):
    """The operation id names no operation (of this tenant)."""

    code = "operation_not_found"


class OperationStateError(RolloutError):
    """The operation is in a status that does not allow the request."""

    code = "operation_state"


class WaveError(RolloutError):
    """A wave name is already taken, a wave is unknown, or a wave cannot be made from this plan."""

    code = "wave"


class ProtectionError(RolloutError, ValueError):
    """A protected account cannot be recorded as given: the UPN is missing or not one, the reason or the
    owner is empty, the expiry is in the past."""

    code = "protection"


class CsvImportError(RolloutError, ValueError):
    """The file as a whole cannot be read; ``code`` is stable (``empty``, ``delimiter``, ``encoding``…)."""

    code = "csv_import"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
