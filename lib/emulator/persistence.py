"""The demo tenant kept in a file: loaded at start, saved after changes, one server per file.

The server process owns the tenant, so it is the one that saves it: a fresh tenant is written at once (a
restart then reuses it instead of generating again), and afterwards whenever its revision moved. Two servers
on one file would overwrite each other's changes, so each holds an exclusive lock on ``<file>.lock``.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from lib.emulator.model import SyntheticTenant
from lib.emulator.tenant_file import tenant_from_json, tenant_to_json

__all__ = ["TenantFileBusy", "keep_saved", "load_tenant", "lock_tenant_file", "save_tenant"]

FILE_MODE = 0o600


class TenantFileBusy(RuntimeError):
    """Another demo tenant server already serves this file."""


def load_tenant(path: Path) -> SyntheticTenant | None:
    """The tenant as last saved, or None when there is no file or it is damaged, foreign or of another version
    (``tenant_file`` builds only the model's own records: a replaced file gives a fresh tenant, never code run)."""
    try:
        return tenant_from_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def save_tenant(tenant: SyntheticTenant, path: Path) -> None:
    """Write the tenant ``0600`` and atomically (a temporary file, then a rename): a crash never leaves half a file."""
    data = tenant_to_json(tenant)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def keep_saved(tenant: SyntheticTenant, path: Path, stop: threading.Event, every: float = 5.0,
               saved: int | None = None, *, quiet: Callable[[float], bool] = lambda _seconds: True,
               longest: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
    """Save ``tenant`` whenever its revision moved since ``saved`` (None: save once first), until ``stop``;
    a last save on the way out keeps what changed in the final seconds.

    A save waits while the server is busy (``quiet(every)`` false: a request in flight or answered in the last
    ``every`` seconds), but at most ``longest`` seconds after the change: encoding a 100k-user tenant takes about ten
    seconds of the server's CPU, which would otherwise slow the very reads (a snapshot after a clock move)
    that follow the change."""
    if saved is None:
        saved = tenant.revision
        save_tenant(tenant, path)
    changed_at = None
    while True:
        stopping = stop.wait(every)
        if tenant.revision != saved:
            changed_at = clock() if changed_at is None else changed_at
            if stopping or quiet(every) or clock() - changed_at >= longest:
                saved, changed_at = tenant.revision, None
                save_tenant(tenant, path)
        if stopping:
            return


def lock_tenant_file(path: Path) -> IO[bytes]:
    """Hold ``<path>.lock`` exclusively for as long as the returned file stays open (the process's life);
    :class:`TenantFileBusy` when another server holds it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = open(os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE), "r+b")  # noqa: SIM115
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise TenantFileBusy(f"another demo tenant server already serves {path.name}") from None
    return lock
