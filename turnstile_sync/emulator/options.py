"""How an emulator instance behaves: account plan, auth, rate limit and injected faults.

One frozen value shared by the in-process transport and ``emulator serve``, so a failure a
user rehearses on the command line is the same one a test injects in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from turnstile_sync.emulator.backend import FREE, AccountPlan
from turnstile_sync.emulator.ratelimit import CLOUDFLARE_RATE_LIMIT, RateLimit
from turnstile_sync.errors import ConfigError

__all__ = ["CLOUDFLARE_RATE_LIMIT", "MAX_BODY_BYTES", "EmulatorOptions", "Faults", "RateLimit"]

MAX_BODY_BYTES = 1024 * 1024
"""1 MB: far above any real widget body (254-character name, 200 hostnames)."""


@dataclass(frozen=True)
class Faults:
    """Probabilities (0..1) of each injected failure, drawn per request."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    seed: int | None = None
    per_page_cap: int | None = None
    """Serve at most this many widgets per list page, whatever ``per_page`` asks, and echo the
    cap in ``result_info.per_page``: whether Cloudflare silently caps page sizes is not
    documented, so a client must page by what it is served, not by what it asked for."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.latency_ms < 0:
            raise ConfigError(f"latency-ms must not be negative, got {self.latency_ms}")
        if self.per_page_cap is not None and self.per_page_cap < 1:
            raise ConfigError(f"per-page-cap must be at least 1, got {self.per_page_cap}")

    @property
    def any(self) -> bool:
        return bool(self.error_rate or self.drop_rate or self.throttle_rate)


@dataclass(frozen=True)
class EmulatorOptions:
    account_plan: AccountPlan = FREE
    china_network: bool = True
    """The account holds the China Network entitlement (creating region 'china' needs it).
    True here so the in-process emulator, which has no plan option, runs specs with
    ``region: china`` such as examples/widgets.yaml; ``emulator serve`` derives it from
    ``--plan`` (free: refused, as Cloudflare refuses) unless ``--[no-]china-network`` says."""
    require_auth: bool = False
    """Served emulators check credentials like Cloudflare; the in-process one needs none."""
    token: str | None = None
    """When set, only ``Authorization: Bearer <token>`` is accepted."""
    rate_limit: RateLimit | None = CLOUDFLARE_RATE_LIMIT
    faults: Faults = field(default_factory=Faults)
    request_log: Path | None = None
    """Append every exchange (secrets redacted, no headers) to this JSON-lines file."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Larger request bodies get 413 and are never read whole (a widget body is < 10 kB)."""
