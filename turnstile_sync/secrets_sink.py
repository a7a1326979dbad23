"""The only place new widget secrets go: a JSON file readable by its owner alone.

The file is checked before anything is changed (a sink that cannot be written must not be
discovered after widgets were created), and rewritten atomically after every secret, so a
crash or Ctrl-C later in the run loses none of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from turnstile_sync.errors import ConfigError

FILE_MODE = 0o600


class SecretsSink:
    """``{name: {"sitekey": ..., "secret": ...}}``, merged with what the file already holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries = self._read_existing()
        self.written = 0
        if not self.path.parent.is_dir():
            raise ConfigError(
                f"--secrets-out {self.path}: directory {self.path.parent} does not exist"
            )
        if not os.access(self.path.parent, os.W_OK):
            raise ConfigError(
                f"--secrets-out {self.path}: directory {self.path.parent} is not writable"
            )

    def __repr__(self) -> str:
        return f"SecretsSink({str(self.path)!r}, {len(self._entries)} entries)"

    def _read_existing(self) -> dict[str, dict[str, str]]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise ConfigError(f"--secrets-out {self.path}: cannot read it: {error}") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigError(
                f"--secrets-out {self.path} exists but is not JSON; refusing to overwrite it"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"--secrets-out {self.path} exists but is not a JSON object")
        return data

    def record(self, name: str, sitekey: str, secret: SecretStr) -> None:
        self._entries[name] = {"sitekey": sitekey, "secret": secret.get_secret_value()}
        self._write()
        self.written += 1

    def _write(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(self._entries, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            temporary.chmod(FILE_MODE)
            temporary.replace(self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def github_mask_command(secret: SecretStr) -> str | None:
    """The workflow command that makes GitHub Actions mask ``secret`` in every later log line."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    return f"::add-mask::{secret.get_secret_value()}"
