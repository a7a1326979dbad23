"""An optional JSON-lines journal of every exchange: what a client really sent and got back.

Useful for debugging a pipeline against the emulator, and how the test suite checks every
request and response against Cloudflare's OpenAPI schema. Headers are never written (they
carry credentials) and every ``secret`` value is redacted. A siteverify body is logged as the
fields siteverify parsed from it; any other body only as JSON; nothing is ever logged as raw
text a secret could hide in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from turnstile_sync.emulator.siteverify import SITEVERIFY_PATH
from turnstile_sync.emulator.siteverify_body import BadRequest, read_fields

REDACTED = "<redacted>"


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k == "secret" else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _json_or_redacted(raw: bytes) -> Any:
    """A JSON body with every ``secret`` redacted; any other body is not logged at all.

    Whether raw text "mentions a secret" cannot be decided from the text: field names reach
    a reader percent-encoded, RFC 2231/2047-encoded, and so on. So a body is logged only as
    the structure a reader parsed from it, never as text. Request bodies are capped (1 MB)
    before they get here; absurdly nested ones, which the emulator refuses with 400, are not
    recursed into.
    """
    if not raw:
        return None
    try:
        return _redact(json.loads(raw))
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        return REDACTED


def _siteverify_request(content_type: str, raw: bytes) -> Any:
    """Exactly the fields siteverify itself reads from the body (the same reader, so the log
    can never see a field name differently from siteverify), ``secret`` redacted."""
    if not raw:
        return None
    try:
        fields = read_fields(content_type, raw)
    except (BadRequest, ValueError, LookupError):  # unreadable: nothing of it is logged
        return REDACTED
    return _redact(dict(fields))


def redacted_request(url_path: str, content_type: str, raw: bytes) -> Any:
    """What the log keeps of a request body."""
    if url_path.rstrip("/") == SITEVERIFY_PATH:
        return _siteverify_request(content_type, raw)
    return _json_or_redacted(raw)


def _redacted_response(raw: bytes) -> Any:
    """The emulator's own answer: JSON with secrets redacted, or short plain text (a 404 page)
    when it holds nothing that looks like one."""
    if not raw:
        return None
    try:
        return _redact(json.loads(raw))
    except (ValueError, RecursionError):
        text = raw.decode("utf-8", errors="replace")
    return text if "secret" not in text.lower() else REDACTED


def append_exchange(
    path: Path,
    *,
    operation: str,
    method: str,
    url_path: str,
    query: str,
    user_agent: str,
    content_type: str,
    request_body: bytes,
    status: int | str,
    response_body: bytes,
) -> None:
    record = {
        "operation": operation,
        "method": method,
        "path": url_path,
        "query": query,
        "user_agent": user_agent,
        "request": redacted_request(url_path, content_type, request_body),
        "status": status,
        "response": _redacted_response(response_body),
    }
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")
