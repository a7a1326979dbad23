"""The route table, and the one place where errors become Cloudflare's error envelope."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from turnstile_sync.emulator import control, handlers, siteverify
from turnstile_sync.emulator.backend import Backend
from turnstile_sync.emulator.errors import (
    CODE_METHOD_NOT_ALLOWED,
    CODE_NO_ROUTE,
    EmulatorError,
)

API_PREFIX = "/client/v4"
_WIDGETS = API_PREFIX + "/accounts/{account_id}/challenges/widgets"
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_SITEKEY_MAX_LENGTH = 32

Handler = Callable[[Request], Awaitable[Response]]


def _checked(handler: Handler) -> Handler:
    """Refuse malformed identifiers in the path the way Cloudflare does (400, code 7003)."""

    async def wrapper(request: Request) -> Response:
        account_id = request.path_params["account_id"]
        sitekey = request.path_params.get("sitekey", "")
        if not _ACCOUNT_ID.match(account_id) or len(sitekey) > _SITEKEY_MAX_LENGTH:
            raise EmulatorError(
                400,
                CODE_NO_ROUTE,
                f"Could not route to {request.url.path}, perhaps your object identifier is "
                "invalid?",
            )
        return await handler(request)

    return wrapper


ROUTES = [
    Route(_WIDGETS, _checked(handlers.list_widgets), methods=["GET"]),
    Route(_WIDGETS, _checked(handlers.create_widget), methods=["POST"]),
    Route(_WIDGETS + "/{sitekey}", _checked(handlers.get_widget), methods=["GET"]),
    Route(_WIDGETS + "/{sitekey}", _checked(handlers.update_widget), methods=["PUT"]),
    Route(_WIDGETS + "/{sitekey}", _checked(handlers.delete_widget), methods=["DELETE"]),
    Route(
        _WIDGETS + "/{sitekey}/rotate_secret",
        _checked(handlers.rotate_secret),
        methods=["POST"],
    ),
    # challenges.cloudflare.com's siteverify, and the emulator's own test endpoints; any
    # method reaches them, so each answers a wrong one in its own shape.
    Route(
        siteverify.SITEVERIFY_PATH,
        siteverify.siteverify,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
    Route(control.TOKENS_PATH, control.mint_token, methods=["POST"]),
    Route(control.CLOCK_PATH, control.clock, methods=["GET", "POST"]),
]


async def _emulator_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, EmulatorError)
    return handlers.failure(error.status, error.errors)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        return handlers.failure(405, [(CODE_METHOD_NOT_ALLOWED, "Method not allowed")])
    if error.status_code == 404:
        return handlers.failure(404, [(CODE_NO_ROUTE, "No route for that URI")])
    return handlers.failure(error.status_code, [(CODE_NO_ROUTE, str(error.detail))])


async def _unexpected_error(request: Request, error: Exception) -> Response:
    """The error's own text stays in the emulator's log (the middleware logs the traceback):
    an exception message can carry SQL, paths or stored values a client must not see."""
    return JSONResponse(
        {
            "success": False,
            "errors": [{"code": 10001, "message": "emulator internal error"}],
            "messages": [],
            "result": None,
        },
        status_code=500,
    )


def create_app(backend: Backend) -> Starlette:
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            EmulatorError: _emulator_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.backend = backend
    return app
