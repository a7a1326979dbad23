"""Siteverify tokens: the rules for minting one, and the table that remembers each one.

A real token comes out of a visitor's browser solving a challenge; the emulator has no browser,
so a test mints one (``POST /__emulator/tokens``) for a widget, a hostname the widget covers, and
the ``action``/``cdata`` a page would pass. What Cloudflare's docs say a token is, it is here:
at most 2048 characters, valid for 300 seconds and for one validation, with ``idempotency_key``
retries answered alike (developers.cloudflare.com/turnstile/get-started/server-side-validation/).
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from turnstile_sync.emulator.hostnames import canonical_hostname

TOKEN_LIFETIME = timedelta(seconds=300)
MAX_TOKEN_LENGTH = 2048
DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"  # noqa: S105 - Cloudflare's public test token
"""What Cloudflare's test sitekeys produce; only its test secrets accept it (testing docs)."""
_CUSTOM_VALUE = re.compile(r"\A[A-Za-z0-9_-]*\Z")
MAX_ACTION_LENGTH = 32
MAX_CDATA_LENGTH = 255
"""action: "up to 32 alphanumeric characters including _ and -"; cData: up to 255 of the same
(developers.cloudflare.com turnstile client-side rendering, widget configurations)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS siteverify_tokens (
    token TEXT PRIMARY KEY,
    sitekey TEXT NOT NULL,
    hostname TEXT NOT NULL,
    action TEXT NOT NULL,
    cdata TEXT NOT NULL,
    ephemeral_id TEXT,
    issued_on TEXT NOT NULL,
    idempotency_key TEXT,
    answer TEXT
);
"""


class MintRefused(ValueError):
    """A token a real widget would never have issued; the message says why."""


def page_hostname(raw: str) -> str:
    """The hostname a token is minted for, in canonical form, or MintRefused.

    The one call into hostname rules: when the emulator's own rules land
    (``turnstile_sync.emulator.hostnames.canonical_hostname``, raising a ValueError), they
    replace the tool's here, and nothing else changes."""
    try:
        return canonical_hostname(raw)
    except ValueError as error:
        raise MintRefused(f"hostname: {error}") from None


def covers(domains: list[str], hostname: str) -> bool:
    """Whether a widget with these domains runs on ``hostname``: a listed name covers itself and
    its subdomains ("adding www.example.com ... will allow widgets to work on
    abc.www.example.com", hostname-management docs); an empty list is Enterprise's "any
    hostname"."""
    if not domains:
        return True
    return any(hostname == domain or hostname.endswith("." + domain) for domain in domains)


def custom_value(name: str, value: str, limit: int) -> str:
    """``action`` or ``cdata`` as the widget accepts them, or MintRefused."""
    if len(value) > limit or not _CUSTOM_VALUE.match(value):
        raise MintRefused(
            f"{name} must be at most {limit} letters, digits, '_' or '-' (Cloudflare's widget "
            "refuses anything else)"
        )
    return value


@dataclass(frozen=True)
class Token:
    value: str
    sitekey: str
    hostname: str
    action: str
    cdata: str
    ephemeral_id: str | None
    issued_on: datetime
    idempotency_key: str | None = None
    answer: dict[str, Any] | None = None
    """The siteverify answer given when it was spent; None while unspent."""

    def expired(self, now: datetime) -> bool:
        return now - self.issued_on > TOKEN_LIFETIME


def new_token_value() -> str:
    """Unguessable, URL-safe and well under 2048 characters, like Cloudflare's."""
    return "0." + secrets.token_urlsafe(96)


def new_ephemeral_id() -> str:
    """In the shape of the docs' example, ``x:9f78e0ed210960d7693b167e``."""
    return "x:" + secrets.token_hex(12)


class TokenStore:
    """Minted tokens in the emulator's SQLite file, so a served emulator and a test share them."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(_SCHEMA)

    def insert(self, token: Token) -> None:
        self._db.execute(
            "INSERT INTO siteverify_tokens (token, sitekey, hostname, action, cdata, "
            "ephemeral_id, issued_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                token.value,
                token.sitekey,
                token.hostname,
                token.action,
                token.cdata,
                token.ephemeral_id,
                token.issued_on.isoformat(),
            ],
        )

    def forget_sitekey(self, sitekey: str) -> None:
        """Drop every token minted for a widget (it was deleted): none may validate again."""
        self._db.execute("DELETE FROM siteverify_tokens WHERE sitekey = ?", [sitekey])

    def find(self, value: str) -> Token | None:
        row = self._db.execute(
            "SELECT * FROM siteverify_tokens WHERE token = ?", [value]
        ).fetchone()
        if row is None:
            return None
        return Token(
            value=row["token"],
            sitekey=row["sitekey"],
            hostname=row["hostname"],
            action=row["action"],
            cdata=row["cdata"],
            ephemeral_id=row["ephemeral_id"],
            issued_on=datetime.fromisoformat(row["issued_on"]),
            idempotency_key=row["idempotency_key"],
            answer=json.loads(row["answer"]) if row["answer"] else None,
        )

    def spend(self, value: str, idempotency_key: str | None, answer: dict[str, Any]) -> bool:
        """Record the one validation a token gets; False if another got there first."""
        cursor = self._db.execute(
            "UPDATE siteverify_tokens SET idempotency_key = ?, answer = ? "
            "WHERE token = ? AND answer IS NULL",
            [idempotency_key, json.dumps(answer), value],
        )
        return cursor.rowcount == 1
