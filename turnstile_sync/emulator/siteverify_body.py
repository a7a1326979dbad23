"""Reading a siteverify request body the way challenges.cloudflare.com accepts it.

Cloudflare takes ``application/x-www-form-urlencoded`` and ``application/json`` (server-side
validation docs), and its own Workers example posts a ``FormData``, which is
``multipart/form-data``. Anything the emulator cannot read unambiguously (another content
type, JSON that is not an object, a field given twice, a value that is not a string) is a
``bad-request``: a test should fail here rather than pass against a lenient stand-in.
"""

from __future__ import annotations

import json
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

FIELDS = ("secret", "response", "remoteip", "idempotency_key")
MAX_BODY_BYTES = 64 * 1024
"""Far above any real body (a token is at most 2048 characters); larger ones are refused."""
_MAX_FORM_FIELDS = 100


class BadRequest(ValueError):
    """The body cannot be read as a siteverify request (answered with ``bad-request``)."""


def read_fields(content_type: str, raw: bytes) -> dict[str, str]:
    """The siteverify fields the body gives (unknown fields are ignored, as a form would be);
    a JSON ``null`` counts as not given (``remoteip: ip`` with no IP, as the docs' example
    would send it)."""
    if not raw.strip():
        return {}  # nothing sent (``curl -X POST``): every required field is missing
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        pairs = _json_pairs(raw)
    elif media == "application/x-www-form-urlencoded":
        pairs = _form_pairs(raw)
    elif media == "multipart/form-data":
        pairs = _multipart_pairs(content_type, raw)
    else:
        raise BadRequest(f"unsupported content type {media or '(none)'}")
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in FIELDS:
            continue
        if name in fields:
            raise BadRequest(f"{name} is given more than once")
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
        fields[name] = value
    return fields


def _json_pairs(raw: bytes) -> list[tuple[str, Any]]:
    # Duplicate keys are kept (json.loads would silently keep the last), so they can be refused.
    seen: list[list[tuple[str, Any]]] = []

    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen.append(pairs)
        return dict(pairs)

    try:
        data = json.loads(raw, object_pairs_hook=keep)
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    pairs = seen[-1]  # the outermost object is completed last
    names = [name for name, _ in pairs]
    duplicated = {name for name in names if names.count(name) > 1 and name in FIELDS}
    if duplicated:
        raise BadRequest(f"{', '.join(sorted(duplicated))} given more than once")
    return pairs


def _form_pairs(raw: bytes) -> list[tuple[str, Any]]:
    try:
        text = raw.decode("ascii")
        return list(
            parse_qsl(
                text, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FORM_FIELDS
            )
        )
    except ValueError:  # non-ASCII bytes, bad percent-escapes, too many fields
        raise BadRequest("body is not a valid form") from None


def _multipart_pairs(content_type: str, raw: bytes) -> list[tuple[str, Any]]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or message.defects:
        raise BadRequest("body is not valid multipart/form-data")
    pairs: list[tuple[str, Any]] = []
    for index, part in enumerate(message.iter_parts()):
        if index >= _MAX_FORM_FIELDS:
            raise BadRequest("too many form fields")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise BadRequest("a form part has no name or no value")
        try:
            pairs.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            raise BadRequest(f"{name} is not UTF-8") from None
    return pairs
