"""Reading files a user names (specs, plan files) without trusting what they turn out to be.

A path may name a FIFO that never delivers a byte, a device such as /dev/zero that never ends,
a directory, or a file gigabytes large or still growing. Each is refused at once, with a
message naming the file, instead of blocking or filling memory: the file is opened with
O_NONBLOCK (so opening a FIFO cannot wait for a writer), checked to be a regular file on the
open descriptor (so it cannot be swapped between the check and the read), and read with the
size cap enforced while reading, not only from the size the file claimed when it was opened.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from turnstile_sync.errors import TurnstileSyncError

MIB = 1024 * 1024
_CHUNK = 1 * MIB
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class UserFileError(TurnstileSyncError):
    """A user-named file cannot be used. ``reason`` completes a sentence that starts with the
    file's name ("is not a regular file ..."), so each caller can phrase its own message."""

    def __init__(self, path: str, reason: str, *, missing: bool = False) -> None:
        self.path = path
        self.reason = reason
        self.missing = missing
        super().__init__(f"{path} {reason}")


@dataclass(frozen=True)
class SizeCap:
    """How large a kind of file may be, and what to call that kind in messages."""

    limit: int
    noun: str
    """Plural, as in "specs larger than 10 MB are refused"."""

    def describe(self) -> str:
        if self.limit % MIB:
            return f"{self.limit:,} bytes"
        return f"{self.limit // MIB} MB ({self.limit:,} bytes)"


SPEC_SIZE_CAP = SizeCap(2 * MIB, "specs")
"""Specs are read whole and every value keeps its line for messages: a 2 MB spec (about
24,000 plain widgets, far more than any account holds) validates in about three seconds of
CPU and 160 MB; 10 MB would take fifteen seconds and well over a gigabyte. Larger files are
refused before parsing."""
PLAN_SIZE_CAP = SizeCap(32 * MIB, "plan files")
"""Room for the plan of the largest spec: every widget of a 2 MB spec created is a 21.9 MB plan
file (about 900 bytes an action, with body, changes and expectations)."""


def read_bytes(path: str | Path, cap: SizeCap) -> bytes:
    """The whole content of ``path`` if it is a regular file of at most ``cap.limit`` bytes."""
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise UserFileError(name, "was not found", missing=True) from None
    except OSError as error:
        raise UserFileError(name, f"cannot be read: {error.strerror or error}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
            raise UserFileError(name, f"is {kind}, not a regular file; only regular files are read")
        if info.st_size > cap.limit:
            raise UserFileError(name, _too_large(f"is {info.st_size:,} bytes", cap))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(descriptor, min(_CHUNK, cap.limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap.limit:
                raise UserFileError(name, _too_large("grew past the limit while being read", cap))
            chunks.append(chunk)
    except OSError as error:
        raise UserFileError(name, f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(descriptor)


def read_text(path: str | Path, cap: SizeCap) -> str:
    """Like ``read_bytes``, decoded as UTF-8."""
    return decode(read_bytes(path, cap), str(path))


def decode(data: bytes, name: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or a UserFileError saying where not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserFileError(
            name,
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start:,})",
        ) from None


def _too_large(what: str, cap: SizeCap) -> str:
    return f"{what}; {cap.noun} larger than {cap.describe()} are refused"
