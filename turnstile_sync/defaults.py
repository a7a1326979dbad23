"""Defaults shared by the CLI and the library; kept import-free so start-up stays fast."""

from pathlib import Path

DEFAULT_SPEC = "widgets.yaml"
DEFAULT_EMULATOR_DB = Path(".turnstile-sync") / "emulator.sqlite3"
DEFAULT_MAX_RETRY_TIME = 300.0
CLOUDFLARE_RATE_LIMIT = "1200/300"
"""Cloudflare's global API budget per user, as the CLI spells it."""
