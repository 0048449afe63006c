"""The data folder is private: created ``0700``, every file in it ``0600``.

It holds the console's database, the demo tenant (with its app's client secret), the demo's TLS key and
the snapshot cache; none of it is for other local users. Files are written through :func:`write_private`
(created ``0600`` and swapped in atomically, so a crash never leaves half a file), folders through
:func:`private_dir`, and :func:`secure_data_folder` tightens a folder an earlier version left open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "create_private_file", "private_dir", "secure_data_folder", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder: a new one is created ``0700`` (parents too); an existing one is left as it is
    (it may be a shared folder the admin chose for the database)."""
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and ``0600`` unless it exists (e.g. before SQLite opens a new database)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (``0600``) atomically: a temporary file beside it, then a rename."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a left-over temporary file keeps its old mode otherwise
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def secure_data_folder(path: Path) -> Path:
    """Create the data folder ``0700``, or tighten it and everything in it that this user owns (folders
    ``0700``, files ``0600``): what an earlier version, or a loose umask, left readable by others."""
    private_dir(path)
    me = os.getuid()
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, d) for d in dirs), *(os.path.join(folder, f) for f in files)]:
            try:
                info = os.lstat(name)
            except FileNotFoundError:  # removed meanwhile (a temporary file)
                continue
            if info.st_uid != me or stat.S_ISLNK(info.st_mode):
                continue
            wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
            if stat.S_IMODE(info.st_mode) != wanted:
                os.chmod(name, wanted)
    return path
