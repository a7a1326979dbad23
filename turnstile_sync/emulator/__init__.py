"""An embedded emulator of Cloudflare's Turnstile widget API, for trying specs and pipelines.

Laid out like moto: routes → handlers → backend (SQLite), with errors turned into Cloudflare's
envelope in one place.
"""

from turnstile_sync.emulator.backend import ENTERPRISE, FREE, AccountPlan, Backend
from turnstile_sync.emulator.server import (
    IN_PROCESS_BASE_URL,
    EmulatorTransport,
    emulator_transport,
    serve,
)

__all__ = [
    "ENTERPRISE",
    "FREE",
    "IN_PROCESS_BASE_URL",
    "AccountPlan",
    "Backend",
    "EmulatorTransport",
    "emulator_transport",
    "serve",
]
