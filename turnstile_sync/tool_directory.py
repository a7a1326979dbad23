"""The tool's own working directory, ``.turnstile-sync/``, kept out of version control.

It holds the emulator's state file, and with it every emulator widget's secret. People run
`plan --emulator` inside their repository, so the directory lands in a git work tree; a
``.gitignore`` holding ``*`` inside it keeps all of it (itself included) out of ``git add -A``
without touching the repository's own ``.gitignore``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TOOL_DIRECTORY_NAME = ".turnstile-sync"
GITIGNORE_TEXT = "# Created by turnstile-sync: its local state (secrets included) is not code.\n*\n"


def ignore_in_git(directory: Path) -> None:
    """Write ``directory/.gitignore`` if the directory is the tool's own and has none.

    An existing file is never replaced (a user's choice wins), and a failure to write it is
    not an error: the ignore file is a courtesy, the state file is what the command needs.
    """
    if directory.name != TOOL_DIRECTORY_NAME:
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with contextlib.suppress(OSError):  # FileExistsError included: never overwrite
        descriptor = os.open(directory / ".gitignore", flags, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(GITIGNORE_TEXT)
