"""The two ways to run the emulator: in-process through httpx, or served over HTTP by uvicorn.

Both wrap the same Starlette app, so what a test proves in-process holds for curl, Cloudflare's
SDKs and Terraform pointed at ``emulator serve``.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from turnstile_sync.emulator.backend import FREE, AccountPlan, Backend
from turnstile_sync.emulator.routes import API_PREFIX, create_app

IN_PROCESS_BASE_URL = "http://emulator.turnstile-sync.invalid" + API_PREFIX


class EmulatorTransport(httpx.ASGITransport):
    """An httpx transport that answers from the emulator in this process; no socket is opened."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(app=create_app(backend))
        self.backend = backend

    async def aclose(self) -> None:
        self.backend.close()


def emulator_transport(
    db_path: str | Path = ":memory:", *, account_plan: AccountPlan = FREE
) -> EmulatorTransport:
    """A transport for ``TurnstileClient(..., base_url=IN_PROCESS_BASE_URL, transport=...)``."""
    return EmulatorTransport(Backend(db_path, account_plan=account_plan))


def serve(host: str, port: int, db_path: str | Path, *, account_plan: AccountPlan = FREE) -> None:
    """Serve the emulator over HTTP until interrupted."""
    import uvicorn  # deferred: only `emulator serve` needs a web server

    backend = Backend(db_path, account_plan=account_plan)
    try:
        uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")
    finally:
        backend.close()
