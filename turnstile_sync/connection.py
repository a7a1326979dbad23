"""Which account, and through what: Cloudflare's API or the embedded emulator.

The account id is resolved as: ``--account-id``, then the spec's ``account_id``, then
``CLOUDFLARE_ACCOUNT_ID``. The spec beats the environment on purpose (DESIGN.md had it the
other way): the spec is the reviewed artefact, and an ambient variable set for some other tool
must not silently point a reviewed spec at a different account.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from turnstile_sync.client import (
    DEFAULT_BASE_URL,
    DEFAULT_PARALLELISM,
    Credentials,
    TurnstileClient,
)
from turnstile_sync.defaults import DEFAULT_EMULATOR_DB
from turnstile_sync.errors import ConfigError
from turnstile_sync.models import ACCOUNT_ID_PATTERN
from turnstile_sync.quoting import quoted
from turnstile_sync.ratelimit import CLOUDFLARE_RATE_LIMIT, RateLimit
from turnstile_sync.retry import RetryPolicy
from turnstile_sync.urls import BASE_URL_VARIABLE, checked_base_url, public_url


@dataclass(frozen=True)
class Target:
    """Where to connect: the in-process emulator (with its state file) or an API base URL."""

    emulator: bool = False
    emulator_db: Path = DEFAULT_EMULATOR_DB
    base_url: str = DEFAULT_BASE_URL
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: RateLimit | None = CLOUDFLARE_RATE_LIMIT
    parallelism: int = DEFAULT_PARALLELISM
    base_url_origin: str = ""
    """``CLOUDFLARE_BASE_URL`` when the address came from it; empty for the default."""
    writes: bool = False
    """Whether the command changes widgets: the permission a refused token is told it needs."""

    @classmethod
    def choose(
        cls,
        *,
        emulator: bool,
        emulator_db: Path,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = CLOUDFLARE_RATE_LIMIT,
        environ: Mapping[str, str] | None = None,
        writes: bool = False,
    ) -> Target:
        env = os.environ if environ is None else environ
        from_variable = env.get(BASE_URL_VARIABLE, "").strip()
        base_url = from_variable or DEFAULT_BASE_URL
        if not emulator:
            base_url = checked_base_url(base_url)
        return cls(
            emulator=emulator,
            emulator_db=emulator_db,
            base_url=base_url.rstrip("/"),
            retry=retry or RetryPolicy(),
            rate_limit=rate_limit,
            base_url_origin=BASE_URL_VARIABLE if from_variable else "",
            writes=writes,
        )

    @property
    def identity(self) -> str:
        """What a plan file records, so a plan made against one target is not applied to another.
        Never a credential: only the public form of the URL is recorded."""
        return "emulator" if self.emulator else public_url(self.base_url)

    def describe(self) -> str:
        if self.emulator:
            return f"the embedded emulator ({self.emulator_db})"
        return public_url(self.base_url)


def resolve_account_id(
    flag: str | None,
    spec_account_id: str | None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> str:
    env = os.environ if environ is None else environ
    from_env = env.get("CLOUDFLARE_ACCOUNT_ID", "").strip() or None
    if flag:
        account_id = _checked(flag.strip(), "--account-id")
        if spec_account_id and spec_account_id != account_id and warn is not None:
            warn(f"--account-id {account_id} overrides the spec's account_id ({spec_account_id}).")
    elif spec_account_id:
        account_id = _checked(spec_account_id, "the spec's account_id")
        if from_env and from_env != spec_account_id and warn is not None:
            shown = from_env if ACCOUNT_ID_PATTERN.fullmatch(from_env) else quoted(from_env)
            warn(
                f"CLOUDFLARE_ACCOUNT_ID ({shown}) differs from the spec's account_id "
                f"({spec_account_id}); using the spec's. Pass --account-id to override."
            )
    elif from_env:
        account_id = _checked(from_env, "CLOUDFLARE_ACCOUNT_ID")
    else:
        raise ConfigError(
            "no account id: set account_id in the spec, pass --account-id, or set "
            "CLOUDFLARE_ACCOUNT_ID"
        )
    return account_id


def _checked(account_id: str, origin: str) -> str:
    """An account id is validated before it is printed anywhere: it may come from a command
    line or variable a pull request controls, and a newline in it would forge a log line."""
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise ConfigError(
            f"{origin} {quoted(account_id)} is not an account id (32 lower-case hex characters)"
        )
    return account_id


def open_client(
    account_id: str, target: Target, environ: Mapping[str, str] | None = None
) -> TurnstileClient:
    """A client for the target. Credentials are checked here, before any request is made."""
    if target.emulator:
        from turnstile_sync.emulator import IN_PROCESS_BASE_URL, emulator_transport

        return TurnstileClient(
            account_id,
            base_url=IN_PROCESS_BASE_URL,
            transport=emulator_transport(target.emulator_db),
            retry=target.retry,
            rate_limit=target.rate_limit,
            parallelism=target.parallelism,
        )
    credentials = Credentials.from_env(os.environ if environ is None else environ)
    return TurnstileClient(
        account_id,
        credentials,
        base_url=target.base_url,
        retry=target.retry,
        rate_limit=target.rate_limit,
        parallelism=target.parallelism,
        base_url_origin=target.base_url_origin,
        writes=target.writes,
    )
