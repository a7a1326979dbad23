"""The only place new widget secrets go: a JSON file readable by its owner alone.

The file is checked before anything is changed (a sink that cannot be written must not be
discovered after widgets were created), and rewritten atomically and durably after every
secret (see private_file: random exclusive temporary name, 0600 from creation, fsync, rename),
so a crash or Ctrl-C later in the run loses none of them. Its journal of pending deliveries
(delivery_journal) covers the moment between a create and the save of its secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from turnstile_sync.delivery_journal import DeliveryJournal
from turnstile_sync.errors import ConfigError
from turnstile_sync.private_file import FILE_MODE, lock_private, read_private, write_private

__all__ = ["FILE_MODE", "LOCK_SUFFIX", "SecretsSink", "github_mask_command"]

LOCK_SUFFIX = ".lock"


class SecretsSink:
    """``{name: {"sitekey": ..., "secret": ...}}``, merged with what the file already holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(
                f"--secrets-out {self.path}: directory {self.path.parent} does not exist"
            )
        if not os.access(self.path.parent, os.W_OK):
            raise ConfigError(
                f"--secrets-out {self.path}: directory {self.path.parent} is not writable"
            )
        self._lock = self._take_lock()
        self._entries = self._read_existing()
        self.journal = DeliveryJournal(self.path)
        self.written = 0

    def __repr__(self) -> str:
        return f"SecretsSink({str(self.path)!r}, {len(self._entries)} entries)"

    def close(self) -> None:
        """Let the next run use the file: the lock is held from here until closed."""
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def _take_lock(self) -> int:
        """One run at a time per secrets file: each rewrites the whole file from what it read,
        so two overlapping runs would lose each other's secrets."""
        lock = self.path.with_name(self.path.name + LOCK_SUFFIX)
        try:
            return lock_private(lock)
        except BlockingIOError:
            raise ConfigError(
                f"--secrets-out {self.path} is in use by another turnstile-sync run (it holds "
                f"{lock}). Runs that share a secrets file must not overlap: serialise applies "
                "(e.g. a GitHub Actions concurrency group) and re-run when the other has "
                "finished. Nothing was changed."
            ) from None
        except OSError as error:
            raise ConfigError(f"--secrets-out {self.path}: cannot lock {lock}: {error}") from None

    def _read_existing(self) -> dict[str, dict[str, str]]:
        try:
            raw = read_private(self.path)
        except OSError as error:
            raise ConfigError(f"--secrets-out {self.path}: cannot read it: {error}") from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"--secrets-out {self.path} exists but is not UTF-8 text; refusing to overwrite it"
            ) from None
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ConfigError(
                f"--secrets-out {self.path} exists but is not JSON; refusing to overwrite it"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"--secrets-out {self.path} exists but is not a JSON object")
        return data

    def saved_sitekeys(self) -> dict[str, str]:
        """Name -> the sitekey whose secret the file holds."""
        return {
            name: entry["sitekey"]
            for name, entry in self._entries.items()
            if isinstance(entry, dict) and isinstance(entry.get("sitekey"), str)
        }

    def record(self, name: str, sitekey: str, secret: SecretStr) -> None:
        self._entries[name] = {"sitekey": sitekey, "secret": secret.get_secret_value()}
        self._write()
        self.written += 1

    def _write(self) -> None:
        text = json.dumps(self._entries, indent=2, sort_keys=True) + "\n"
        write_private(self.path, text)


def github_mask_command(secret: SecretStr) -> str | None:
    """The workflow command that makes GitHub Actions mask ``secret`` in every later log line."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    return f"::add-mask::{secret.get_secret_value()}"
