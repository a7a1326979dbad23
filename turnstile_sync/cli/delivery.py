"""The options and messages of secret delivery, shared by apply, rotate-secret and secrets push.

A command given with ``--secrets-exec`` may hold a token for the user's secret store, so it is
never echoed: messages name it by position (``--secrets-exec #1``) and remedies say
``--secrets-exec COMMAND``.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from turnstile_sync.cli.base import _shown, warn
from turnstile_sync.quoting import printable

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

    from pydantic import SecretStr

    from turnstile_sync.connection import Target
    from turnstile_sync.secret_delivery import SecretDelivery, Undelivered
    from turnstile_sync.secrets_exec import ExecResult
    from turnstile_sync.secrets_sink import SecretsSink

_F = TypeVar("_F", bound=Callable[..., Any])

SECRETS_EXEC_HELP = (
    "Deliver every new or rotated secret by running `sh -c COMMAND` with the secret on stdin "
    "(no trailing newline) and TURNSTILE_WIDGET_NAME, TURNSTILE_WIDGET_KEY, TURNSTILE_SITEKEY, "
    "TURNSTILE_ACCOUNT_ID and TURNSTILE_SECRET_EVENT (create, replace, rotate, push) in its "
    "environment, without the Cloudflare credentials. Repeatable; combines with --secrets-out. "
    "A command that fails or times out leaves the secret undelivered (exit 1): re-deliver "
    "with `secrets push`."
)
TIMEOUT_HELP = (
    "Seconds each --secrets-exec command may run before it (and everything it started) is "
    "killed; the secret is then undelivered."
)


def _timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    from turnstile_sync.errors import ConfigError
    from turnstile_sync.secrets_exec import checked_timeout

    try:
        return checked_timeout(value)
    except ConfigError:
        raise click.BadParameter(
            f"{_shown(value)} is not a number of seconds above 0 and at most a day", ctx, param
        ) from None


def _commands(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """A blank command (``--secrets-exec "$STORE_COMMAND"`` with the variable unset) is
    refused before anything changes: ``sh -c ''`` exits 0 without reading its input, so every
    secret would be reported delivered to nowhere."""
    from turnstile_sync.secret_delivery import SecretDelivery

    label = SecretDelivery.command_label
    blank = [label(i) for i, command in enumerate(value) if not command.strip()]
    if blank:
        raise click.BadParameter(
            f"{', '.join(blank)} is empty: a blank command would take no secret and still "
            "succeed (is the variable holding it unset?). Nothing was changed.",
            ctx,
            param,
        )
    return value


def secrets_exec_options(function: _F) -> _F:
    function = click.option(
        "--secrets-exec-timeout",
        type=float,
        metavar="SECONDS",
        default=60.0,
        show_default=True,
        callback=_timeout,
        help=TIMEOUT_HELP,
    )(function)
    return click.option(
        "--secrets-exec",
        "secrets_exec",
        metavar="COMMAND",
        multiple=True,
        callback=_commands,
        help=SECRETS_EXEC_HELP,
    )(function)


def _mask(secret: SecretStr) -> None:
    from turnstile_sync.secrets_sink import github_mask_command

    mask = github_mask_command(secret)
    if mask is not None:
        click.echo(mask, err=True)  # stderr: stdout may be a JSON document


def _show_output(label: str, name: str, result: ExecResult) -> None:
    """A command's output on stderr, secret already redacted, each line set apart and
    escaped: it must not forge our own lines (or a GitHub workflow command)."""
    lines = result.output.splitlines()
    if not lines and result.ok:
        return
    status = "ok" if result.ok else "FAILED"
    click.echo(f"{label} for {name!r}: {status}", err=True)
    for line in lines:
        click.echo(f"  | {printable(line)}", err=True)


def make_delivery(
    account_id: str,
    sink: SecretsSink | None,
    commands: Iterable[str],
    timeout: float,
) -> SecretDelivery:
    from turnstile_sync.secret_delivery import SecretDelivery

    return SecretDelivery(
        account_id=account_id,
        sink=sink,
        commands=tuple(commands),
        timeout=timeout,
        mask=_mask,
        show_output=_show_output,
    )


def push_command(
    spec: str | None,
    target: Target,
    *,
    secrets_out: Path | None = None,
    commands: bool = False,
    account_id: str | None = None,
) -> str:
    """The `secrets push` command that re-delivers; never a command's text."""
    words = ["turnstile-sync", "secrets", "push"]
    if spec is not None:
        words.append(shlex.quote(spec))
    if commands:
        words += ["--secrets-exec", "COMMAND"]
    if secrets_out is not None:
        words += ["--secrets-out", shlex.quote(str(secrets_out))]
    if account_id:
        words += ["--account-id", shlex.quote(account_id)]
    if target.emulator:
        words += ["--emulator", "--emulator-db", shlex.quote(str(target.emulator_db))]
    return " ".join(words)


def undelivered_remedy(
    failures: Iterable[Undelivered],
    spec: str | None,
    target: Target,
    account_id: str | None,
    secrets_out: Path | None,
) -> str:
    """What to run to make every failed destination whole."""
    failures = list(failures)
    commands = any(not f.to_file for f in failures)
    to_file = any(f.to_file for f in failures)
    command = push_command(
        spec,
        target,
        secrets_out=secrets_out if to_file else None,
        commands=commands,
        account_id=account_id,
    )
    return (
        f"The widgets exist; re-deliver their current secrets with `{command}`"
        + (" (the same --secrets-exec command(s) as this run)" if commands else "")
        + " once the cause is fixed."
    )


def warn_undelivered(name: str, sitekey: str, failures: Iterable[Undelivered]) -> None:
    for failure in failures:
        warn(f"the secret of {name!r} ({sitekey}) was not delivered to {failure}")


def abandon(message: str) -> None:
    """Kill every running --secrets-exec command's process group, say so, and stop the run
    (KeyboardInterrupt, raised from an event-loop signal handler, ends ``asyncio.run`` and
    ``main`` reports it: exit 1). Without the kill, ``asyncio.run`` would wait for the
    thread running the command, up to its timeout."""
    from turnstile_sync.secrets_exec import kill_running_commands

    killed = kill_running_commands()
    if killed:
        click.echo(f"\nKilled {killed} running --secrets-exec command(s). {message}", err=True)
    raise KeyboardInterrupt


@contextlib.contextmanager
def abandoned_on_signals(loop: asyncio.AbstractEventLoop, message: str) -> Iterator[None]:
    """While delivering outside apply (rotate-secret, secrets push): Ctrl-C and SIGTERM
    stop at once, killing the running command (its own session hides the terminal's
    signals from it). ``message`` says how to make the stores whole."""
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, abandon, message)
    try:
        yield
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
