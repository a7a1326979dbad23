"""Defaults shared by the CLI and the library; kept import-free so start-up stays fast."""

from pathlib import Path

DEFAULT_SPEC = "widgets.yaml"
DEFAULT_EMULATOR_DB = Path(".turnstile-sync") / "emulator.sqlite3"
