"""The two ways to run the emulator: in-process through httpx, or served over HTTP by uvicorn.

Both wrap the same Starlette app in the same middleware, so what a test proves in-process
holds for curl, Cloudflare's SDKs and Terraform pointed at ``emulator serve``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.types import ASGIApp

from turnstile_sync.emulator.backend import Backend
from turnstile_sync.emulator.middleware import DroppedConnection, EmulatorMiddleware
from turnstile_sync.emulator.options import EmulatorOptions
from turnstile_sync.emulator.routes import API_PREFIX, create_app
from turnstile_sync.emulator.stats import Stats

IN_PROCESS_BASE_URL = "http://emulator.turnstile-sync.invalid" + API_PREFIX


def build_app(backend: Backend, options: EmulatorOptions, stats: Stats) -> ASGIApp:
    app = create_app(backend)
    app.state.options = options  # handlers read the faults they apply themselves (page cap)
    return EmulatorMiddleware(app, options, stats)


def open_backend(db_path: str | Path, options: EmulatorOptions) -> Backend:
    return Backend(
        db_path,
        account_plan=options.account_plan,
        china_network=options.china_network,
        seed=options.faults.seed,
    )


class EmulatorTransport(httpx.ASGITransport):
    """An httpx transport that answers from the emulator in this process; no socket is opened."""

    def __init__(self, backend: Backend, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.stats = Stats()
        self.backend = backend
        super().__init__(app=build_app(backend, self.options, self.stats))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except DroppedConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        self.backend.close()


def emulator_transport(
    db_path: str | Path = ":memory:", options: EmulatorOptions | None = None
) -> EmulatorTransport:
    """A transport for ``TurnstileClient(..., base_url=IN_PROCESS_BASE_URL, transport=...)``."""
    options = options or EmulatorOptions()
    return EmulatorTransport(open_backend(db_path, options), options)


def serve(host: str, port: int, db_path: str | Path, options: EmulatorOptions) -> None:
    """Serve the emulator over HTTP until interrupted."""
    import uvicorn  # deferred: only `emulator serve` needs a web server

    backend = open_backend(db_path, options)
    try:
        uvicorn.run(build_app(backend, options, Stats()), host=host, port=port, log_level="warning")
    finally:
        backend.close()
