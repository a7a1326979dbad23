"""How an emulator instance behaves: account plan, auth, rate limit and injected faults.

One frozen value shared by the in-process transport and ``emulator serve``, so a failure a
user rehearses on the command line is the same one a test injects in-process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from turnstile_sync.emulator.backend import FREE, AccountPlan
from turnstile_sync.errors import ConfigError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per sliding window of ``seconds``, per credential."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``1200/300``; ``off`` or ``0`` disables the limit."""
        if text.strip().lower() in {"off", "none", "0"}:
            return None
        match = _RATE.match(text)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise ConfigError(f"rate limit {text!r} is not N/SECONDS (e.g. 1200/300) or 'off'")
        return cls(int(match.group(1)), float(match.group(2)))

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


CLOUDFLARE_RATE_LIMIT = RateLimit(1200, 300)
"""Cloudflare's global API limit: 1,200 requests per five minutes per user."""


@dataclass(frozen=True)
class Faults:
    """Probabilities (0..1) of each injected failure, drawn per request."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.latency_ms < 0:
            raise ConfigError(f"latency-ms must not be negative, got {self.latency_ms}")

    @property
    def any(self) -> bool:
        return bool(self.error_rate or self.drop_rate or self.throttle_rate)


@dataclass(frozen=True)
class EmulatorOptions:
    account_plan: AccountPlan = FREE
    require_auth: bool = False
    """Served emulators check credentials like Cloudflare; the in-process one needs none."""
    token: str | None = None
    """When set, only ``Authorization: Bearer <token>`` is accepted."""
    rate_limit: RateLimit | None = CLOUDFLARE_RATE_LIMIT
    faults: Faults = field(default_factory=Faults)
    request_log: Path | None = None
    """Append every exchange (secrets redacted, no headers) to this JSON-lines file."""
