"""What sits in front of the API routes: auth, rate limit, fault injection, stats, request log.

Everything here happens before (or, for a dropped connection, after) the route runs, the way
Cloudflare's edge sits in front of its API. It is pure ASGI, so the same code wraps the app
in-process and under uvicorn.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import re
from pathlib import Path

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from turnstile_sync.emulator.control import CONTROL_PATHS
from turnstile_sync.emulator.errors import (
    CODE_AUTH,
    CODE_RATE_LIMITED,
    CODE_UNAVAILABLE,
    body_too_large,
)
from turnstile_sync.emulator.options import EmulatorOptions
from turnstile_sync.emulator.ratelimit import SlidingWindowLimiter
from turnstile_sync.emulator.requestlog import append_exchange
from turnstile_sync.emulator.siteverify import SITEVERIFY_INTERNAL_ERROR, SITEVERIFY_PATH
from turnstile_sync.emulator.stats import Stats, operation_of
from turnstile_sync.errors import TurnstileSyncError

log = logging.getLogger("turnstile_sync.emulator")

STATS_PATH = "/__emulator/stats"
REQUEST_LOG_ENV = "TURNSTILE_SYNC_EMULATOR_LOG"
"""Every emulator in a process (and its served children) logs exchanges here when set."""
THROTTLE_RETRY_AFTER = 1


class DroppedConnection(TurnstileSyncError):
    """Signals the in-process transport to fail the request as a dropped connection."""


def _envelope(status: int, code: int, message: str) -> tuple[int, bytes]:
    body = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return status, json.dumps(body).encode()


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _credential_key(headers: dict[str, str], options: EmulatorOptions) -> str | None:
    """Who is calling, for auth and the per-user rate limit; None when refused.

    Only a digest of a token is kept, so nothing in memory or in stats can reveal it.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        accepted = (
            scheme.lower() == "bearer"
            and bool(token)
            and (options.token is None or _same_secret(token, options.token))
        )
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16] if accepted else None
    if options.token is not None:
        return None  # a token means that token, whatever else the request carries
    email, key = headers.get("x-auth-email"), headers.get("x-auth-key")
    if email and key:
        # A digest, like a token's: a caller choosing a new 60 KB e-mail per request must not
        # grow the limiter's memory by 60 KB each time.
        return "email:" + hashlib.sha256(email.lower().encode("utf-8", "replace")).hexdigest()[:16]
    return None if options.require_auth else "anonymous"


_GLOBAL_API_KEY = re.compile(r"\A[0-9a-f]{37}\Z")
"""The shape of a Global API Key (37 hex digits): an API token sent as X-Auth-Key is refused
with 6103 (cloudflare-typescript issue #161); the exact format check is a guess."""


def _malformed_credentials(headers: dict[str, str]) -> bytes | None:
    """Cloudflare's 400 for credential headers it cannot even parse, or None.

    Its answer (cloudflare-typescript issue #161; many DDNS clients' logs) is code 6003
    "Invalid request headers" with the header named in ``error_chain``: 6111 for
    Authorization, 6103 for X-Auth-Key. Well-formed but wrong credentials stay 403.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if (
            scheme.lower() == "bearer"
            and token.strip()
            and not any(c.isspace() for c in token.strip())
        ):
            return None
        chain = (6111, "Invalid format for Authorization header")
    elif "x-auth-key" in headers and not _GLOBAL_API_KEY.match(headers["x-auth-key"].strip()):
        chain = (6103, "Invalid format for X-Auth-Key header")
    else:
        return None
    body = {
        "success": False,
        "errors": [
            {
                "code": 6003,
                "message": "Invalid request headers",
                "error_chain": [{"code": chain[0], "message": chain[1]}],
            }
        ],
        "messages": [],
        "result": None,
    }
    return json.dumps(body).encode()


def _same_secret(given: str, expected: str) -> bool:
    """Constant-time, so response timing does not reveal how much of a guess was right."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _first_header(scope: Scope, name: bytes) -> str:
    """The first value of a header, as Starlette's ``request.headers.get`` (and so siteverify)
    reads it: with the header given twice, the log must read the body as siteverify did."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _declared_length(headers: dict[str, str]) -> int | None:
    """The Content-Length a client announced; None when absent (chunked) or unreadable."""
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def _client_host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _request_line(scope: Scope) -> str:
    """``METHOD /path`` for a log line, with control characters escaped so one stays one."""
    path = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in scope["path"])
    return f"{scope['method']} {path}"


def _abort_server_connection(send: Send) -> bool:
    """Close the client's TCP connection without a response, when served by uvicorn.

    ASGI has no "drop this connection" message. uvicorn's ``send`` is a bound method of the
    request cycle that owns the transport, so the transport is reachable there. Other servers
    fall back to an exception (the in-process transport turns it into a dropped connection).
    """
    cycle = getattr(send, "__self__", None)
    if cycle is None:
        return False
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True
    return True


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, options: EmulatorOptions, stats: Stats) -> None:
        self.app = app
        self.options = options
        self.stats = stats
        from_env = os.environ.get(REQUEST_LOG_ENV, "").strip()
        self.request_log = options.request_log or (Path(from_env) if from_env else None)
        self._random = random.Random(options.faults.seed)  # noqa: S311 - faults, not crypto
        self._limiter = (
            SlidingWindowLimiter(options.rate_limit) if options.rate_limit is not None else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/") == STATS_PATH:
            await self._stats_endpoint(scope, send)
            return
        exchange = _Exchange(scope, receive, send, self.options.max_body_bytes)
        try:
            if scope["path"].rstrip("/") in (SITEVERIFY_PATH, *CONTROL_PATHS):
                await self._challenges(scope, exchange)
            else:
                await self._handle(scope, exchange)
        except asyncio.CancelledError:
            # The caller gave up (a cancelled task, a server shutting down): worth a line, and
            # the cancellation must go on.
            log.warning("request cancelled before it was answered: %s", _request_line(scope))
            exchange.status = "cancelled"
            raise
        finally:
            self.stats.record(exchange.operation, exchange.status)
            if self.request_log is not None:
                exchange.log(self.request_log)

    async def _handle(self, scope: Scope, exchange: _Exchange) -> None:
        faults = self.options.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if await self._refused_at_the_edge(scope, exchange):
            return
        if await self._injected_failure(exchange):
            return
        drop = bool(faults.drop_rate) and self._random.random() < faults.drop_rate
        try:
            await self.app(
                scope, exchange.receive, exchange.send_to_client if not drop else exchange.swallow
            )
        except ClientDisconnect:
            # Hanging up mid-request is the client's choice, not the emulator's failure.
            log.warning("client disconnected before the request was read: %s", _request_line(scope))
            exchange.status = "disconnected"
            return
        except Exception:
            # Starlette has already answered 500 with the error envelope, then re-raised; the
            # in-process transport must see that answer, not the exception.
            log.exception("emulator internal error on %s", _request_line(scope))
            if exchange.status == 500 and not exchange.response_body:
                await exchange.reply(*_envelope(500, 10001, "emulator internal error"))
        if drop:
            self.stats.fault("drop")
            exchange.status = "dropped"
            if not _abort_server_connection(exchange.client_send):
                raise DroppedConnection("connection dropped after the request was performed")

    async def _refused_at_the_edge(self, scope: Scope, exchange: _Exchange) -> bool:
        """Rate limit, credentials and body size, as Cloudflare's edge checks them before
        the API runs; True when the request was answered here."""
        key = _credential_key(exchange.headers, self.options)
        if self._limiter is not None:
            # Every answer carries the limit, errors included (fundamentals/api/reference/
            # limits); a caller without valid credentials is counted by address.
            decision = self._limiter.check(key or f"address:{_client_host(scope)}")
            exchange.extra_headers += [
                (
                    b"ratelimit",
                    f'"default";r={decision.remaining};t={decision.reset_seconds}'.encode(),
                ),
                (b"ratelimit-policy", self._limiter.policy_header().encode()),
            ]
            if not decision.allowed:
                self.stats.fault("rate_limited")
                await exchange.reply(
                    *_envelope(
                        429,
                        CODE_RATE_LIMITED,
                        "Please wait and consider throttling your request speed",
                    ),
                    retry_after=decision.reset_seconds,
                )
                return True
        malformed = _malformed_credentials(exchange.headers)
        if malformed is not None:
            self.stats.fault("auth_refused")
            await exchange.reply(400, malformed)
            return True
        if key is None:
            self.stats.fault("auth_refused")
            await exchange.reply(*_envelope(403, CODE_AUTH, "Authentication error"))
            return True
        declared = _declared_length(exchange.headers)
        if declared is not None and declared > self.options.max_body_bytes:
            # Answered before a byte of the body is read; a chunked body is counted as it
            # streams in (``_Exchange.receive``).
            exchange.oversized = True
            error = body_too_large(self.options.max_body_bytes)
            await exchange.reply(*_envelope(error.status, *error.errors[0]))
            return True
        return False

    async def _injected_failure(self, exchange: _Exchange) -> bool:
        """A 503 or a spurious 429 drawn from the fault options; True when one was sent."""
        faults = self.options.faults
        if faults.error_rate and self._random.random() < faults.error_rate:
            self.stats.fault("error")
            await exchange.reply(
                *_envelope(
                    503, CODE_UNAVAILABLE, "Service temporarily unavailable (injected fault)"
                )
            )
            return True
        if faults.throttle_rate and self._random.random() < faults.throttle_rate:
            self.stats.fault("throttle")
            await exchange.reply(
                *_envelope(
                    429, CODE_RATE_LIMITED, "Please wait and consider throttling your request speed"
                ),
                retry_after=THROTTLE_RETRY_AFTER,
            )
            return True
        return False

    async def _challenges(self, scope: Scope, exchange: _Exchange) -> None:
        """siteverify lives on challenges.cloudflare.com, not the API: no API credentials or
        rate limit; the latency applies, and --error-rate answers siteverify's own
        ``internal-error`` ("the request can be retried"). The emulator's own endpoints
        (minting tokens, the clock) sit behind --token when it is set, like the stats."""
        faults = self.options.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        control = scope["path"].rstrip("/") in CONTROL_PATHS
        if (
            control
            and self.options.token is not None
            and _credential_key(exchange.headers, self.options) is None
        ):
            self.stats.fault("auth_refused")
            await exchange.reply(*_envelope(403, CODE_AUTH, "Authentication error"))
            return
        if not control and faults.error_rate and self._random.random() < faults.error_rate:
            self.stats.fault("error")
            await exchange.reply(200, SITEVERIFY_INTERNAL_ERROR)
            return
        try:
            await self.app(scope, exchange.receive, exchange.send_to_client)
        except ClientDisconnect:
            exchange.status = "disconnected"
        except Exception:
            log.exception("emulator internal error on %s", _request_line(scope))
            if exchange.status == 500 and not exchange.response_body:
                await exchange.reply(*_envelope(500, 10001, "emulator internal error"))

    async def _stats_endpoint(self, scope: Scope, send: Send) -> None:
        """Read (GET) or reset (DELETE) the counters; behind the token like every route."""
        if (
            self.options.token is not None
            and _credential_key(_headers(scope), self.options) is None
        ):
            await _respond(send, *_envelope(403, CODE_AUTH, "Authentication error"))
            return
        method = scope["method"]
        if method == "DELETE":
            self.stats.reset()
        elif method != "GET":
            await _respond(send, *_envelope(405, 10405, "use GET to read or DELETE to reset"))
            return
        await _respond(send, 200, json.dumps(self.stats.snapshot()).encode())


class _Exchange:
    """One request passing through: captures what the log and stats need."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_body_bytes: int) -> None:
        self.scope = scope
        self.client_send = send
        self._receive = receive
        self._max_body_bytes = max_body_bytes
        self.headers = _headers(scope)
        self.operation = operation_of(scope["method"], scope["path"])
        self.status: int | str = 500
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.request_body = bytearray()
        self.oversized = False
        """Over the cap: refused with 413, and its body is never logged."""
        self.response_body = b""

    async def receive(self) -> Message:
        """The app's view of the body, cut off with 413 as soon as it exceeds the cap."""
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if len(self.request_body) + len(chunk) > self._max_body_bytes:
                self.oversized = True
                self.request_body = bytearray()
                raise body_too_large(self._max_body_bytes)  # the routes answer it with 413
            self.request_body += chunk
        return message

    async def send_to_client(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message = {**message, "headers": [*message.get("headers", []), *self.extra_headers]}
        elif message["type"] == "http.response.body":
            self.response_body += message.get("body", b"")
        await self.client_send(message)

    async def swallow(self, message: Message) -> None:
        """The route ran, but its answer never reaches the client (a dropped connection)."""
        if message["type"] == "http.response.body":
            self.response_body += message.get("body", b"")

    async def reply(self, status: int, body: bytes, *, retry_after: int | None = None) -> None:
        headers = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
        await _respond(self.send_to_client, status, body, headers)

    def log(self, path: Path) -> None:
        append_exchange(
            path,
            operation=self.operation,
            method=self.scope["method"],
            url_path=self.scope["path"],
            query=self.scope.get("query_string", b"").decode("latin-1"),
            user_agent=self.headers.get("user-agent", ""),
            content_type=_first_header(self.scope, b"content-type"),
            request_body=b"" if self.oversized else bytes(self.request_body),
            status=self.status,
            response_body=self.response_body,
        )
