"""An optional JSON-lines journal of every exchange: what a client really sent and got back.

Useful for debugging a pipeline against the emulator, and how the test suite checks every
request and response against Cloudflare's OpenAPI schema. Headers are never written (they
carry credentials) and every ``secret`` value is redacted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

REDACTED = "<redacted>"
_URLENCODED = re.compile(r"\A[\w.~%+*-]+=[\w.~%+*-]*(?:&[\w.~%+*-]+=[\w.~%+*-]*)*\Z", re.ASCII)
"""Only a body that is plainly ``name=value&...`` is read as a form (a multipart body would
otherwise parse as one field with a long name, its secret unredacted)."""


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k == "secret" else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _redacted_json(raw: bytes) -> Any:
    """The body as JSON with secrets redacted, or as text when it is not (sane) JSON.

    Request bodies are capped (1 MB) before they get here; absurdly nested ones, which the
    emulator refuses with 400, are kept as text rather than recursed into.
    """
    if not raw:
        return None
    try:
        return _redact(json.loads(raw))
    except (ValueError, RecursionError):
        text = raw.decode("utf-8", errors="replace")
    if "secret" not in text.lower():
        return text
    # A siteverify form carries the widget's secret: logged as its fields, secret redacted;
    # any other body that mentions one (multipart, malformed) is not logged at all.
    if not _URLENCODED.match(text):
        return REDACTED
    return _redact(dict(parse_qsl(text, keep_blank_values=True)))


def append_exchange(
    path: Path,
    *,
    operation: str,
    method: str,
    url_path: str,
    query: str,
    user_agent: str,
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
        "request": _redacted_json(request_body),
        "status": status,
        "response": _redacted_json(response_body),
    }
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")
