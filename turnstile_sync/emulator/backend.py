"""The emulator's state: widgets per account in SQLite, and the rules Cloudflare enforces on it.

SQLite makes the state survive between runs (``make demo`` twice shows "no changes") and lets a
served emulator and a test inspect the same file. Handlers hand this module validated values;
it owns identity, timestamps, secrets, limits and the region rule.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from turnstile_sync.emulator.errors import (
    CODE_ENTITLEMENT,
    CODE_INTERNAL,
    CODE_LIMIT_EXCEEDED,
    CODE_REGION_IMMUTABLE,
    CODE_ROTATION_IN_GRACE_PERIOD,
    EmulatorError,
    EmulatorStateError,
    invalid,
    not_found,
)
from turnstile_sync.emulator.statefile import prepare_private_state_file
from turnstile_sync.emulator.tokens import TokenStore

SCHEMA_VERSION = 2
_MAX_OFFSET = 2**62
"""Any page past this is past the end anyway; SQLite integers stop at 2**63."""
SECRET_GRACE_PERIOD = timedelta(hours=2)
_KEY_ALPHABET = string.ascii_letters + string.digits + "-_"
"""base64url, as Cloudflare's keys (the API reference's example is 0x4AAF00AAAABn0R22HWm-YUc)."""
_KEY_PREFIX = "0x4AAAAAAA"
_SHARED_PREFIX_LENGTH = 13
SITEKEY_LENGTH = 24
SECRET_LENGTH = 35
ENTERPRISE_FIELDS = ("bot_fight_mode", "ephemeral_id", "offlabel")
ORDER_COLUMNS = {
    "id": "seq",
    "sitekey": "sitekey",
    "name": "name",
    "created_on": "created_on",
    "modified_on": "modified_on",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS widgets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    sitekey TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_on TEXT,
    name TEXT NOT NULL,
    mode TEXT NOT NULL,
    domains TEXT NOT NULL,
    region TEXT NOT NULL,
    clearance_level TEXT NOT NULL,
    bot_fight_mode INTEGER NOT NULL,
    ephemeral_id INTEGER NOT NULL,
    offlabel INTEGER NOT NULL,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    deployed_via TEXT,
    last_modified_via TEXT
);
CREATE INDEX IF NOT EXISTS widgets_by_account ON widgets (account_id, seq);
CREATE TABLE IF NOT EXISTS issued_keys (key TEXT PRIMARY KEY);
"""
_MAX_KEY_DRAWS = 1000
"""A fresh key is redrawn while it collides with one already issued; a thousand collisions in
a row means the random source is broken, not unlucky."""

_DEFAULTS: dict[str, Any] = {
    "region": "world",
    "clearance_level": "no_clearance",
    "bot_fight_mode": False,
    "ephemeral_id": False,
    "offlabel": False,
}


@dataclass(frozen=True)
class AccountPlan:
    """What an account is entitled to. Defaults are Cloudflare Free's."""

    name: str = "free"
    max_widgets: int | None = 20
    max_domains: int = 10
    enterprise_fields: bool = False


FREE = AccountPlan()
ENTERPRISE = AccountPlan("enterprise", max_widgets=None, max_domains=200, enterprise_fields=True)


def _now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Cloudflare's format: microseconds and a literal Z, e.g. 2014-01-01T05:20:00.123123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _KeyMaker:
    """Sitekeys and secrets in Cloudflare's shape; reproducible when seeded.

    Cloudflare's are base64url (``-`` and ``_`` occur), 24 and 35 characters, and a secret
    shares its sitekey's first 13 characters: the docs' Terraform tutorial shows the pair
    ``0x4AAAAAAAEe4wQdBshJxBeK`` / ``0x4AAAAAAAEe4xWueFq9yX8ypjlimbk1Db4``. Drawing every
    character from all 64 puts a ``-`` or ``_`` in about 3 sitekeys out of 10, so every test
    that creates a few widgets handles them.
    """

    def __init__(self, seed: int | None) -> None:
        self._choice = secrets.choice if seed is None else random.Random(seed).choice  # noqa: S311

    def _random(self, count: int) -> str:
        return "".join(self._choice(_KEY_ALPHABET) for _ in range(count))

    def sitekey(self) -> str:
        return _KEY_PREFIX + self._random(SITEKEY_LENGTH - len(_KEY_PREFIX))

    def secret_for(self, sitekey: str) -> str:
        """A fresh secret under the sitekey's prefix (also after a rotation)."""
        shared = sitekey[:_SHARED_PREFIX_LENGTH]
        return shared + self._random(SECRET_LENGTH - len(shared))


class Backend:
    """Widgets of every account, in one SQLite database (``:memory:`` for throwaway state)."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        account_plan: AccountPlan = FREE,
        china_network: bool = True,
        clock: Callable[[], datetime] = _now,
        seed: int | None = None,
    ) -> None:
        try:
            if str(path) != ":memory:":
                prepare_private_state_file(Path(path))
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as error:
            raise EmulatorStateError(
                f"cannot use {path} as the emulator's state file: {error}"
            ) from None
        self.account_plan = account_plan
        self.china_network = china_network
        """The account holds the China Network entitlement: it may create region 'china'."""
        self._clock = clock
        self._keys = _KeyMaker(seed)
        self._last_timestamp = ""
        self._clock_offset = timedelta(0)
        self._frozen_at: datetime | None = None
        self.tokens = TokenStore(self._db)
        """Siteverify tokens minted for this emulator's widgets (``POST /__emulator/tokens``)."""

    def _migrate(self) -> None:
        """Bring a state file written by an older version up to date, keeping its widgets."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(widgets)")}
        for column in ("deployed_via", "last_modified_via"):
            if column not in columns:
                self._db.execute(f"ALTER TABLE widgets ADD COLUMN {column} TEXT")
        # Every sitekey and secret the file ever held counts as issued (a file written before
        # issued_keys existed remembers only its live widgets and their tokens' sitekeys).
        self._db.execute(
            "INSERT OR IGNORE INTO issued_keys (key) SELECT sitekey FROM widgets "
            "UNION SELECT secret FROM widgets "
            "UNION SELECT previous_secret FROM widgets WHERE previous_secret IS NOT NULL"
        )
        tables = {row["name"] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "siteverify_tokens" in tables:
            self._db.execute(
                "INSERT OR IGNORE INTO issued_keys (key) SELECT sitekey FROM siteverify_tokens"
            )
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _fresh(self, db: sqlite3.Connection, draw: Callable[[], str]) -> str:
        """A key never issued before by this state file, and recorded as issued.

        A seeded emulator reopening its file restarts its random sequence, so it draws keys it
        has already handed out (to live widgets, or to deleted ones whose tokens and secrets
        must never come back): those are redrawn. The sequence stays reproducible for a given
        seed and file."""
        for _ in range(_MAX_KEY_DRAWS):
            key = draw()
            inserted = db.execute("INSERT OR IGNORE INTO issued_keys (key) VALUES (?)", [key])
            if inserted.rowcount == 1:
                return key
        raise EmulatorError(500, CODE_INTERNAL, "could not draw a fresh key")

    def _timestamp(self) -> str:
        """A fresh timestamp that always moves forward, so modified_on changes on every write."""
        moment = self.now()
        stamp = format_timestamp(moment)
        while stamp <= self._last_timestamp:
            moment += timedelta(microseconds=1)
            stamp = format_timestamp(moment)
        self._last_timestamp = stamp
        return stamp

    def list_widgets(
        self,
        account_id: str,
        *,
        page: int,
        per_page: int,
        order: str | None = None,
        direction: str = "asc",
        name_contains: str | None = None,
        sitekey_contains: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the widgets that match, and how many the account holds in all.

        The total ignores the filter: Cloudflare's schema defines ``total_count`` as "Total
        results available without any search parameters"."""
        where = "account_id = ?"
        args: list[Any] = [account_id]
        total = self._db.execute(
            "SELECT count(*) FROM widgets WHERE account_id = ?", [account_id]
        ).fetchone()[0]
        if name_contains:
            where += " AND instr(lower(name), lower(?)) > 0"
            args.append(name_contains)
        if sitekey_contains:
            where += " AND instr(lower(sitekey), lower(?)) > 0"
            args.append(sitekey_contains)
        column = ORDER_COLUMNS.get(order or "id", "seq")
        sort = "DESC" if direction == "desc" else "ASC"
        rows = self._db.execute(
            f"SELECT * FROM widgets WHERE {where} ORDER BY {column} {sort}, seq {sort} "  # noqa: S608
            "LIMIT ? OFFSET ?",
            [*args, per_page, min((page - 1) * per_page, _MAX_OFFSET)],
        ).fetchall()
        return [_row_to_widget(row) for row in rows], int(total)

    def get(self, account_id: str, sitekey: str) -> dict[str, Any]:
        return _row_to_widget(self._row(account_id, sitekey))

    def create(self, account_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        values = {**_DEFAULTS, **fields}
        if values["region"] == "china" and not self.china_network:
            # Cloudflare's words, seen by a client verified against the API (siiway/prism
            # PR #19); the status and code are not published (guess: 400, our code).
            raise EmulatorError(
                400, CODE_ENTITLEMENT, "not entitled to create widgets with this region"
            )
        self._check_entitlements(values)
        with self._transaction() as db:
            limit = self.account_plan.max_widgets
            if limit is not None:
                count = db.execute(
                    "SELECT count(*) FROM widgets WHERE account_id = ?", [account_id]
                ).fetchone()[0]
                if count >= limit:
                    raise EmulatorError(
                        400,
                        CODE_LIMIT_EXCEEDED,
                        f"widget limit reached: the {self.account_plan.name} plan allows "
                        f"{limit} widgets per account",
                    )
            now = self._timestamp()
            sitekey = self._fresh(db, self._keys.sitekey)
            db.execute(
                "INSERT INTO widgets (account_id, sitekey, secret, name, mode, domains, region, "
                "clearance_level, bot_fight_mode, ephemeral_id, offlabel, created_on, modified_on, "
                "deployed_via, last_modified_via) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'api', 'api')",
                [
                    account_id,
                    sitekey,
                    self._fresh(db, lambda: self._keys.secret_for(sitekey)),
                    values["name"],
                    values["mode"],
                    json.dumps(sorted(values["domains"])),
                    values["region"],
                    values["clearance_level"],
                    values["bot_fight_mode"],
                    values["ephemeral_id"],
                    values["offlabel"],
                    now,
                    now,
                ],
            )
        return self.get(account_id, sitekey)

    def update(self, account_id: str, sitekey: str, fields: dict[str, Any]) -> dict[str, Any]:
        """PUT as Cloudflare does it: the body's fields replace the stored ones and every
        field left out keeps its value (cloudflare-go PR #3594, by a Cloudflare engineer).

        A widget already in region 'china' stays editable without the entitlement (the
        refusal Cloudflare words is about creating; updating one is a guess)."""
        with self._transaction() as db:
            current = _row_to_widget(self._row(account_id, sitekey))
            region = fields.get("region", current["region"])
            if region != current["region"]:
                raise EmulatorError(
                    400,
                    CODE_REGION_IMMUTABLE,
                    # "you cannot change region": Cloudflare's words (siiway/prism PR #19).
                    f"you cannot change region (widget is in '{current['region']}', request "
                    f"asks for '{region}'); create a new widget",
                )
            values = {**current, **fields}
            self._check_entitlements(values, previous=current)
            db.execute(
                "UPDATE widgets SET name = ?, mode = ?, domains = ?, clearance_level = ?, "
                "bot_fight_mode = ?, ephemeral_id = ?, offlabel = ?, modified_on = ?, "
                "last_modified_via = 'api' WHERE account_id = ? AND sitekey = ?",
                [
                    values["name"],
                    values["mode"],
                    json.dumps(sorted(values["domains"])),
                    values["clearance_level"],
                    values["bot_fight_mode"],
                    values["ephemeral_id"],
                    values["offlabel"],
                    self._timestamp(),
                    account_id,
                    sitekey,
                ],
            )
        return self.get(account_id, sitekey)

    def delete(self, account_id: str, sitekey: str) -> dict[str, Any]:
        with self._transaction() as db:
            widget = _row_to_widget(self._row(account_id, sitekey))
            db.execute(
                "DELETE FROM widgets WHERE account_id = ? AND sitekey = ?", [account_id, sitekey]
            )
            # Its tokens go with it: nothing minted for a deleted widget may ever validate.
            self.tokens.forget_sitekey(sitekey)
        return widget

    def rotate_secret(
        self, account_id: str, sitekey: str, *, invalidate_immediately: bool
    ) -> dict[str, Any]:
        """New secret; the old one stays valid for two hours unless invalidated at once.

        Cloudflare refuses a second rotation during the grace period. Whether an immediate
        rotation also blocks the next one is UNCONFIRMED; here it does not, as there is no
        grace period to protect.
        """
        with self._transaction() as db:
            row = self._row(account_id, sitekey)
            now = self.now()
            expires = row["previous_secret_expires_on"]
            if expires and expires > format_timestamp(now):
                raise EmulatorError(
                    400,
                    CODE_ROTATION_IN_GRACE_PERIOD,
                    f"the secret was rotated recently; it cannot be rotated again until the "
                    f"2-hour grace period ends at {expires}",
                )
            previous, previous_expires = (
                (None, None)
                if invalidate_immediately
                else (row["secret"], format_timestamp(now + SECRET_GRACE_PERIOD))
            )
            db.execute(
                "UPDATE widgets SET secret = ?, previous_secret = ?, "
                "previous_secret_expires_on = ?, modified_on = ?, last_modified_via = 'api' "
                "WHERE account_id = ? AND sitekey = ?",
                [
                    self._fresh(db, lambda: self._keys.secret_for(sitekey)),
                    previous,
                    previous_expires,
                    self._timestamp(),
                    account_id,
                    sitekey,
                ],
            )
        return self.get(account_id, sitekey)

    def valid_secrets(self, account_id: str, sitekey: str) -> list[str]:
        """Secrets siteverify would accept now: the current one, and the previous one in grace."""
        row = self._row(account_id, sitekey)
        valid = [row["secret"]]
        expires = row["previous_secret_expires_on"]
        if row["previous_secret"] and expires and expires > format_timestamp(self.now()):
            valid.append(row["previous_secret"])
        return valid

    def now(self) -> datetime:
        """The emulator's time: the clock it was given (or the moment it was frozen at), plus
        however far it was moved on."""
        base = self._frozen_at if self._frozen_at is not None else self._clock()
        return base + self._clock_offset

    def freeze_clock(self, frozen: bool) -> datetime:
        """Stop (or restart) the emulator's time, so a test can hit an expiry to the
        millisecond; restarting carries on from the frozen moment, never jumping back."""
        now = self.now()
        if frozen:
            self._frozen_at, self._clock_offset = now, timedelta(0)
        else:
            self._frozen_at, self._clock_offset = None, now - self._clock()
        return now

    def advance_clock(self, delta: timedelta) -> datetime:
        """Move the emulator's time forward (never back, so timestamps keep increasing), so a
        test sees a token expire or a rotation's grace period end without waiting for it."""
        if delta < timedelta(0):
            raise invalid("the clock only moves forward")
        self._clock_offset += delta
        return self.now()

    def find_by_sitekey(self, sitekey: str) -> tuple[str, dict[str, Any]] | None:
        """The account and widget holding a sitekey, whatever the account (sitekeys are
        unique across Cloudflare, and siteverify names no account)."""
        row = self._db.execute("SELECT * FROM widgets WHERE sitekey = ?", [sitekey]).fetchone()
        return None if row is None else (row["account_id"], _row_to_widget(row))

    def find_by_secret(self, secret: str) -> dict[str, Any] | None:
        """The widget a secret validates for now: its current secret, or the previous one while
        the rotation's 2-hour grace period lasts (never after an immediate invalidation, which
        keeps no previous secret)."""
        row = self._db.execute(
            "SELECT * FROM widgets WHERE secret = ? OR (previous_secret = ? "
            "AND previous_secret_expires_on > ?) LIMIT 1",
            [secret, secret, format_timestamp(self.now())],
        ).fetchone()
        return None if row is None else _row_to_widget(row)

    def _row(self, account_id: str, sitekey: str) -> sqlite3.Row:
        row = self._db.execute(
            "SELECT * FROM widgets WHERE account_id = ? AND sitekey = ?", [account_id, sitekey]
        ).fetchone()
        if row is None:
            raise not_found(sitekey)
        return row  # type: ignore[no-any-return]

    def _check_entitlements(
        self, values: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        plan = self.account_plan
        problems: list[tuple[int, str]] = []
        if not values["domains"] and not plan.enterprise_fields:
            problems.append(
                (
                    CODE_ENTITLEMENT,
                    "domains must list at least one hostname; an empty list ('any hostname') "
                    "requires an Enterprise entitlement",
                )
            )
        if len(values["domains"]) > plan.max_domains:
            problems.append(
                (
                    CODE_LIMIT_EXCEEDED,
                    f"too many hostnames: {len(values['domains'])}; the {plan.name} plan "
                    f"allows {plan.max_domains} per widget",
                )
            )
        if not plan.enterprise_fields:
            for name in ENTERPRISE_FIELDS:
                was_on = bool(previous and previous[name])
                if values[name] and not was_on:
                    problems.append(
                        (CODE_ENTITLEMENT, f"{name} requires an Enterprise entitlement")
                    )
        if problems:
            raise EmulatorError.many(400, problems)


def _row_to_widget(row: sqlite3.Row) -> dict[str, Any]:
    """A widget as the detail endpoints show it (list endpoints drop the secret)."""
    return {
        "sitekey": row["sitekey"],
        "secret": row["secret"],
        "name": row["name"],
        "mode": row["mode"],
        "domains": json.loads(row["domains"]),
        "region": row["region"],
        "clearance_level": row["clearance_level"],
        "bot_fight_mode": bool(row["bot_fight_mode"]),
        "ephemeral_id": bool(row["ephemeral_id"]),
        "offlabel": bool(row["offlabel"]),
        "created_on": row["created_on"],
        "modified_on": row["modified_on"],
        # Omitted for widgets created before Cloudflare recorded the origin (API-NOTES §2).
        **{key: row[key] for key in ("deployed_via", "last_modified_via") if row[key]},
    }
