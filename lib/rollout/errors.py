"""Every error the bulk-change engine raises, in one place. Each message is safe to show as is.

::

    RolloutError                 the engine could not do what was asked
    ├── OperationConflict        another operation is still working on some of these users (names it)
    ├── OperationNotFound        no such operation (for this tenant)
    ├── OperationStateError      the operation cannot do that now (resume a complete one, undo a running one…)
    ├── WaveError                a wave name is taken, unknown, or the wave cannot be promoted
    └── CsvImportError           the uploaded file as a whole is unusable (empty, wrong delimiter, encoding…)

``PermissionDenied`` is ``lib.auth.PermissionDenied`` (re-exported here): the server-side role check.
Storage trouble surfaces as ``lib.store.StoreError``, Graph trouble as ``lib.graph.GraphError``.
"""

from __future__ import annotations

from lib.auth.errors import PermissionDenied

__all__ = [
    "CsvImportError",
    "OperationConflict",
    "OperationNotFound",
    "OperationStateError",
    "PermissionDenied",
    "RolloutError",
    "WaveError",
]


class RolloutError(Exception):
    """Base class; ``message`` is the text for the page or the CLI's one stderr line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OperationConflict(RolloutError):
    """Refused: ``operation_id`` (still running or interrupted) covers some of the same users."""

    def __init__(self, message: str, *, operation_id: int, overlap: int) -> None:
        super().__init__(message)
        self.operation_id = operation_id
        self.overlap = overlap


class OperationNotFound(RolloutError, LookupError):
    """The operation id names no operation (of this tenant)."""


class OperationStateError(RolloutError):
    """The operation is in a status that does not allow the request."""


class WaveError(RolloutError):
    """A wave name is already taken, a wave is unknown, or a wave cannot be made from this plan."""


class CsvImportError(RolloutError, ValueError):
    """The file as a whole cannot be read; ``code`` is stable (``empty``, ``delimiter``, ``encoding``…)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
