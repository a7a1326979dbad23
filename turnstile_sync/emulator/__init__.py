"""An embedded emulator of Cloudflare's Turnstile widget API, for trying specs and pipelines.

Laid out like moto: routes → handlers → backend (SQLite), with errors turned into Cloudflare's
envelope in one place.
"""

from turnstile_sync.emulator.backend import ENTERPRISE, FREE, AccountPlan, Backend
from turnstile_sync.emulator.options import (
    CLOUDFLARE_RATE_LIMIT,
    EmulatorOptions,
    Faults,
    RateLimit,
)
from turnstile_sync.emulator.server import (
    IN_PROCESS_BASE_URL,
    EmulatorTransport,
    emulator_transport,
    serve,
)
from turnstile_sync.emulator.stats import Stats

__all__ = [
    "CLOUDFLARE_RATE_LIMIT",
    "ENTERPRISE",
    "FREE",
    "IN_PROCESS_BASE_URL",
    "AccountPlan",
    "Backend",
    "EmulatorOptions",
    "EmulatorTransport",
    "Faults",
    "RateLimit",
    "Stats",
    "emulator_transport",
    "serve",
]
