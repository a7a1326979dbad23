"""Sending one secret to every destination the user named: the secrets file and each command.

Destinations are independent: one that fails does not stop the others, and each outcome is
returned, so a report can say which stores have the secret and which do not. Deliveries run
one at a time even when apply runs its actions in parallel: a store's command-line client (and
the person reading its output) should not see several at once. A secret that did not arrive is
never lost: Cloudflare returns a widget's current secret on GET, which is what ``secrets push``
re-delivers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.secrets_exec import (
    CREDENTIAL_VARIABLES,
    DEFAULT_TIMEOUT,
    ExecResult,
    child_environment,
    run_secret_command,
)
from turnstile_sync.secrets_sink import SecretsSink
from turnstile_sync.widget_keys import widget_key

__all__ = ["SecretDelivery", "SecretEvent", "Undelivered", "widget_environment"]

MIN_CREDENTIAL_REDACTED = 8
"""A credential this long or longer is redacted from commands' output; a shorter one is no
real token, and redacting it would garble the output (a token 't' in a test)."""


class SecretEvent(StrEnum):
    """Why a secret is delivered: ``TURNSTILE_SECRET_EVENT``."""

    CREATE = "create"
    REPLACE = "replace"
    ROTATE = "rotate"
    PUSH = "push"


@dataclass(frozen=True)
class Undelivered:
    """A destination that did not get a secret, and why (never the secret, never a command)."""

    destination: str
    reason: str
    to_file: bool = False
    """The secrets file (--secrets-out), not a command."""

    def __str__(self) -> str:
        return f"{self.destination}: {self.reason}"


def widget_environment(
    name: str, sitekey: str, account_id: str, event: SecretEvent
) -> dict[str, str]:
    """The variables that tell a command which widget the secret on its stdin belongs to."""
    return {
        "TURNSTILE_WIDGET_NAME": name,
        "TURNSTILE_WIDGET_KEY": widget_key(name),
        "TURNSTILE_SITEKEY": sitekey,
        "TURNSTILE_ACCOUNT_ID": account_id,
        "TURNSTILE_SECRET_EVENT": event.value,
    }


ShowOutput = Callable[[str, str, ExecResult], None]
"""(destination, widget name, result): shows a command's (redacted) output to the user."""


class SecretDelivery:
    """Every destination of one run: an optional secrets file, then each command in order."""

    def __init__(
        self,
        *,
        account_id: str,
        sink: SecretsSink | None = None,
        commands: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        mask: Callable[[SecretStr], None] | None = None,
        show_output: ShowOutput | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.account_id = account_id
        self.sink = sink
        self.commands = tuple(commands)
        self.timeout = timeout
        self._mask = mask
        self._show_output = show_output
        self._environ = environ
        self._lock = asyncio.Lock()
        self.delivered = 0

    def __repr__(self) -> str:  # never the commands: they may hold a store's token
        return f"SecretDelivery(file={self.sink!r}, commands={len(self.commands)})"

    @property
    def any(self) -> bool:
        return self.sink is not None or bool(self.commands)

    @staticmethod
    def command_label(index: int) -> str:
        """How a command is named in messages: by position, never by its text."""
        return f"--secrets-exec #{index + 1}"

    async def deliver(
        self, name: str, sitekey: str, secret: SecretStr, event: SecretEvent
    ) -> tuple[Undelivered, ...]:
        """Send ``secret`` everywhere, one secret at a time; return where it did not arrive.

        A secrets file that cannot be written is an undelivered destination like a failing
        command; anything else unexpected propagates (and a kill stays a kill)."""
        async with self._lock:
            if self._mask is not None:
                self._mask(secret)  # before anything could echo it
            failures: list[Undelivered] = []
            if self.sink is not None:
                try:
                    self.sink.record(name, sitekey, secret)
                except (OSError, TurnstileSyncError) as error:
                    reason = f"cannot write it: {error}"
                    failures.append(
                        Undelivered(f"--secrets-out {self.sink.path}", reason, to_file=True)
                    )
            env = widget_environment(name, sitekey, self.account_id, event)
            base = os.environ if self._environ is None else self._environ
            child_env = child_environment(base, env)
            credentials = [
                value
                for key in CREDENTIAL_VARIABLES
                if len(value := base.get(key, "")) >= MIN_CREDENTIAL_REDACTED
            ]
            for index, command in enumerate(self.commands):
                label = self.command_label(index)
                result = await asyncio.to_thread(
                    run_secret_command, command, secret, child_env, self.timeout, credentials
                )
                if self._show_output is not None:
                    self._show_output(label, name, result)
                problem = result.problem(self.timeout)
                if problem is not None:
                    failures.append(Undelivered(label, problem))
            if not failures:
                self.delivered += 1
            return tuple(failures)
