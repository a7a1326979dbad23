"""Files only their owner may read (the secrets file and its journal), read and written safely.

The directory they live in may be shared, so nothing here trusts a name in it: a file is read
only through a descriptor that refused to follow a symbolic link and proved to be a regular
file, and it is written under a random temporary name created exclusively (``O_EXCL |
O_NOFOLLOW``, mode 0600 from the first instant), flushed to disk, and renamed over the real
name in one step. A symlink planted at any name therefore never receives a byte, and a crash
at any moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from pathlib import Path

FILE_MODE = 0o600
MAX_SIZE = 64 * 1024 * 1024
"""Far above any real secrets file (a thousand widgets take ~150 KB); a bound, not a budget."""
_CREATE_ATTEMPTS = 16


class PrivateFileError(OSError):
    """A private file that cannot be used as it is: a symlink, not a regular file, too large."""


def read_private(path: Path) -> str | None:
    """The text of ``path``, or None if it does not exist. Never follows a symbolic link at
    ``path`` and never blocks on a FIFO or device planted there."""
    try:
        descriptor = _open_unfollowed(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise PrivateFileError(f"{path} is not a regular file")
        _refuse_foreign(path, status)
        data = handle.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise PrivateFileError(f"{path} is larger than {MAX_SIZE // (1024 * 1024)} MB")
    return data.decode("utf-8")


def _open_unfollowed(path: Path, flags: int) -> int:
    """Open ``path`` without following a symlink at it or blocking on a FIFO planted there."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise PrivateFileError(
                f"{path} is a symbolic link; refusing to follow it (pass the real path)"
            ) from None
        raise


def _refuse_foreign(path: Path, status: os.stat_result) -> None:
    """A file someone else owns, or may write, in a directory that may be shared is not ours
    to trust: a planted journal could steer which widget's secret is saved under a name."""
    if status.st_uid != os.geteuid():
        raise PrivateFileError(
            f"{path} belongs to another user (uid {status.st_uid}); refusing to trust it"
        )
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PrivateFileError(
            f"{path} may be written by other users (mode {stat.S_IMODE(status.st_mode):o}); "
            "refusing to trust it"
        )


def lock_private(path: Path) -> int:
    """Hold an exclusive lock on ``path`` (created 0600, never through a symlink) until the
    process ends; the descriptor is returned so the lock lives as long as its holder keeps it.

    Two runs that read the secrets file, add to it and rewrite it must not overlap: the last
    writer would silently drop the other's secrets. POSIX record locks belong to the process,
    so one process may take the lock again; another process is refused at once
    (BlockingIOError), before it has read or changed anything."""
    descriptor = _open_unfollowed(path, os.O_RDWR | os.O_CREAT)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise PrivateFileError(f"{path} is not a regular file")
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably, readable by its owner alone.

    The content goes to a temporary file with an unpredictable name in the same directory,
    created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 (so it is never readable by
    anyone else, whatever the umask), fsynced, then renamed over ``path``; the directory is
    fsynced too, so the rename survives a power loss. The rename replaces whatever entry
    ``path`` is, a symlink included, rather than writing through it.
    """
    descriptor, temporary = _create_exclusive(path)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)  # a umask can only have removed bits
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_directory(path.parent)


def remove_private(path: Path) -> None:
    """Delete ``path`` if it exists (the entry itself, never a link's target), durably."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _sync_directory(path.parent)


def _create_exclusive(path: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_CREATE_ATTEMPTS):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(temporary, flags, FILE_MODE), temporary
        except FileExistsError:
            continue  # someone holds that name (or planted a link there): draw another
    raise PrivateFileError(
        f"could not create a temporary file next to {path}: {_CREATE_ATTEMPTS} random names "
        "were all taken"
    )


def _sync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # some filesystems cannot open a directory; the rename itself is still atomic
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
