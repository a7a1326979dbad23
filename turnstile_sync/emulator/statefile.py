"""The state file holds every widget's secret, so only its owner may read it.

SQLite creates its side files (``-journal``, ``-wal``, ``-shm``) with the database file's own
permissions, so a database file created 0600 keeps every copy of the secrets private. A file
left readable by an older version, or by hand, is tightened: it is the emulator's own state.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from turnstile_sync.tool_directory import ignore_in_git

log = logging.getLogger("turnstile_sync.emulator")

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


def prepare_private_state_file(path: Path) -> None:
    """Create ``path`` (and missing parent directories) owner-only, or tighten an existing one.

    Raises OSError when the file cannot be created; a file that exists but belongs to someone
    else, so cannot be tightened, is used as it is, with a warning.
    """
    _make_directories(path.parent)
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    os.close(descriptor)
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES)):
        _tighten(candidate)


def _make_directories(directory: Path) -> None:
    """Every directory created here is 0700; existing ones are left as their owner set them."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for created in reversed(missing):
        created.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        ignore_in_git(created)


def _tighten(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & ~FILE_MODE == 0:
        return
    try:
        path.chmod(mode & FILE_MODE)
    except OSError as error:
        log.warning(
            "the emulator's state file %s is readable by others (mode %o) and cannot be "
            "made private: %s",
            path,
            mode,
            error.strerror,
        )
