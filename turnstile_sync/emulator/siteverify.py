"""``POST /turnstile/v0/siteverify``, answered as challenges.cloudflare.com answers it.

Sources: developers.cloudflare.com/turnstile/get-started/server-side-validation/ (fields, the
answer's shape, the error codes, single use, 300 s, idempotency) and
/turnstile/troubleshooting/testing/ (test secrets and the dummy token). Every verdict is HTTP
200 with ``success`` in the body (third-party observation: laravel-cloudflare-turnstile issue
#72); a wrong method (405) and an oversized body (413) are the emulator's guesses.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from turnstile_sync.emulator.backend import Backend
from turnstile_sync.emulator.siteverify_body import MAX_BODY_BYTES, BadRequest, read_fields
from turnstile_sync.emulator.tokens import MAX_TOKEN_LENGTH, Token

SITEVERIFY_PATH = "/turnstile/v0/siteverify"
PASSES = "1x0000000000000000000000000000000AA"
FAILS = "2x0000000000000000000000000000000AA"
SPENT = "3x0000000000000000000000000000000AA"
TEST_SECRETS = {
    PASSES: None,
    FAILS: "invalid-input-response",
    SPENT: "timeout-or-duplicate",
}
"""Cloudflare's published test secrets and the error each answers any token with."""
DUMMY_HOSTNAME = "example.com"
"""The hostname a dummy token validates for: a guess (the docs' example shows 'localhost')."""
_MAX_SECRET_LENGTH = 256
SITEVERIFY_INTERNAL_ERROR = json.dumps(
    {"success": False, "error-codes": ["internal-error"]}
).encode()


def challenge_timestamp(moment: datetime) -> str:
    """The docs' format: milliseconds and a Z, e.g. 2022-02-28T15:14:30.096Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def failure(*codes: str) -> dict[str, Any]:
    return {"success": False, "error-codes": list(codes)}


def _passed(token: Token, widget: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "success": True,
        "challenge_ts": challenge_timestamp(token.issued_on),
        "hostname": token.hostname,
        "error-codes": [],
        "action": token.action,
        "cdata": token.cdata,
    }
    if widget["ephemeral_id"] and token.ephemeral_id:
        answer["metadata"] = {"ephemeral_id": token.ephemeral_id}
    return answer


def _test_secret(secret: str, now: datetime) -> dict[str, Any]:
    """A test secret answers the same for every token, the dummy one or any other: "Dummy
    secret keys ... will accept any response token as valid" (testing docs). The error-codes
    table of the server-side validation docs (as SDKs quote it) describes invalid-input-secret
    as also "a testing secret key with a non-testing response"; the testing page is followed,
    and 2x/3x keep their one answer ("Always fails", "token already spent") for any token. A
    real token is neither read nor spent."""
    code = TEST_SECRETS[secret]
    if code is not None:
        return failure(code)
    return {
        "success": True,
        "challenge_ts": challenge_timestamp(now),
        "hostname": DUMMY_HOSTNAME,
        "error-codes": [],
        "action": "",
        "cdata": "",
    }


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) <= 64


def verdict(fields: dict[str, str], backend: Backend) -> dict[str, Any]:
    """The answer to one siteverify request; spends the token when it validates."""
    secret, response = fields.get("secret", ""), fields.get("response", "")
    missing = [
        code
        for code, value in (("missing-input-secret", secret), ("missing-input-response", response))
        if not value
    ]
    if missing:
        return failure(*missing)
    idempotency_key = fields.get("idempotency_key")
    if idempotency_key is not None and not _is_uuid(idempotency_key):
        # The docs ask for "a UUID"; whether Cloudflare refuses anything else is a guess.
        return failure("bad-request")
    if secret in TEST_SECRETS:
        return _test_secret(secret, backend.now())
    widget = backend.find_by_secret(secret) if len(secret) <= _MAX_SECRET_LENGTH else None
    if widget is None:
        return failure("invalid-input-secret")
    token = backend.tokens.find(response) if len(response) <= MAX_TOKEN_LENGTH else None
    if token is None or token.sitekey != widget["sitekey"]:
        # Production secrets reject the dummy token too (testing docs).
        return failure("invalid-input-response")
    return _redeem(token, widget, idempotency_key, backend)


def _redeem(
    token: Token, widget: dict[str, Any], idempotency_key: str | None, backend: Backend
) -> dict[str, Any]:
    """One validation per token, within 300 s; a retry with the first call's idempotency key
    gets the first answer again."""
    if token.answer is not None:
        if idempotency_key is not None and idempotency_key == token.idempotency_key:
            return token.answer
        return failure("timeout-or-duplicate")
    if token.expired(backend.now()):
        return failure("timeout-or-duplicate")
    answer = _passed(token, widget)
    if not backend.tokens.spend(token.value, idempotency_key, answer):
        return failure("timeout-or-duplicate")
    return answer


def _answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    headers = {"allow": "POST"} if status == 405 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def siteverify(request: Request) -> JSONResponse:
    """Never raises for anything a client sends: every problem is an answer in siteverify's
    shape, which is all an application's code knows how to read."""
    if request.method != "POST":
        return _answer(failure("bad-request"), 405)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _answer(failure("bad-request"), 413)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _answer(failure("bad-request"), 413)
    try:
        fields = read_fields(request.headers.get("content-type", ""), bytes(raw))
    except BadRequest:
        return _answer(failure("bad-request"))
    backend: Backend = request.app.state.backend
    try:
        return _answer(verdict(fields, backend))
    except sqlite3.Error:
        # The state file is locked or gone: Cloudflare's retryable "internal-error".
        return _answer(failure("internal-error"))
