"""The command group, options shared by commands, and the few helpers that print or ask.

Exit codes are a contract pipelines depend on: 0 success (no changes, with
--detailed-exitcode), 2 only for "plan has changes" under --detailed-exitcode, 1 for every
error, including usage errors (click's own default for those would be 2).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from turnstile_sync import __version__
from turnstile_sync.defaults import (
    CLOUDFLARE_RATE_LIMIT,
    DEFAULT_EMULATOR_DB,
    DEFAULT_MAX_RETRY_TIME,
    DEFAULT_SPEC,
)

if TYPE_CHECKING:
    from pydantic import SecretStr

    from turnstile_sync.client import TurnstileClient
    from turnstile_sync.connection import Target
    from turnstile_sync.ratelimit import RateLimit
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.spec import LoadedSpec

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

_F = TypeVar("_F", bound=Callable[..., Any])


VERBOSE_HELP = (
    "Log every API request (method, path, status, duration) to stderr; never credentials."
)
NO_COLOR_HELP = (
    "Never colour the output (colour is used only on a terminal, and never with NO_COLOR)."
)


def configure_output(*, verbose: bool, no_color: bool, reset: bool = False) -> None:
    """What -v/--verbose and --no-color do, wherever on the command line they were given.

    The group calls it first with ``reset`` (installing the handler, quiet by default); each
    command then calls it with its own copies of the options, which can only turn things on,
    so ``turnstile-sync -v plan`` and ``turnstile-sync plan -v`` mean the same."""
    import logging
    import os

    if no_color:
        os.environ["NO_COLOR"] = "1"  # the convention rich (and every renderer) honours
    logger = logging.getLogger("turnstile_sync")
    if reset:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    if verbose:
        logger.setLevel(logging.INFO)


def _output_options() -> list[click.Parameter]:
    """-v/--verbose and --no-color for one command (new objects: each gets its own variable)."""
    return [
        click.Option(["-v", "--verbose"], is_flag=True, help=VERBOSE_HELP),
        click.Option(["--no-color"], is_flag=True, help=NO_COLOR_HELP),
    ]


class Command(click.Command):
    """Every command: it also accepts the global -v/--verbose and --no-color after its name,
    and says on stderr which safety-relevant options came from the environment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_output_options())

    def invoke(self, ctx: click.Context) -> Any:
        from turnstile_sync.cli.environment import announce

        verbose = bool(ctx.params.pop("verbose", False))
        no_color = bool(ctx.params.pop("no_color", False))
        configure_output(verbose=verbose, no_color=no_color)
        announce(ctx, warn)
        return super().invoke(ctx)


class Group(click.Group):
    """Every group: its commands are ``Command`` and its subgroups ``Group``."""

    command_class = Command
    group_class = type


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="turnstile-sync")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
@click.option("--no-color", is_flag=True, help=NO_COLOR_HELP)
def cli(verbose: bool, no_color: bool) -> None:
    """Manage Cloudflare Turnstile widgets as code: validate, plan and apply a YAML spec.

    -v/--verbose and --no-color may also be given after the command (plan -v). Every option
    can be set from an environment variable, TURNSTILE_SYNC_<COMMAND>_<OPTION> (see a
    command's --help), except --force, --account-id and --secrets-exec."""
    configure_output(verbose=verbose, no_color=no_color, reset=True)


MAX_RETRY_TIME_LIMIT = 86_400.0
"""A day: longer is indistinguishable from retrying forever, which no pipeline wants."""


def retry_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--max-retry-time: a finite number of seconds from 0 to a day. click's FloatRange lets
    ``nan`` through (every comparison with it is false), and a budget of ``nan`` or ``inf``
    retries forever."""
    if not 0 <= value <= MAX_RETRY_TIME_LIMIT:  # also false for nan
        raise click.BadParameter(
            f"{_shown(value)} is not a number of seconds from 0 to {MAX_RETRY_TIME_LIMIT:,g}",
            ctx,
            param,
        )
    return value


def finite(ctx: click.Context, param: click.Parameter, value: float, upper: float = 1.0) -> float:
    """A probability or duration option: click's FloatRange lets ``nan`` through (every
    comparison with it is false), and ``inf`` latency would hold every request forever."""
    if not 0 <= value <= upper:  # also false for nan
        raise click.BadParameter(
            f"{_shown(value)} is not a number from 0 to {upper:,g}", ctx, param
        )
    return value


def rate_limit(ctx: click.Context, param: click.Parameter, value: str) -> RateLimit | None:
    """--rate-limit: ``N/SECONDS`` or ``off``, checked while the command line is parsed."""
    from turnstile_sync.errors import ConfigError
    from turnstile_sync.ratelimit import RateLimit

    try:
        limit = RateLimit.parse(value)
    except ConfigError:
        raise click.BadParameter(
            f"{_shown(value)} is not N/SECONDS (e.g. 1200/300) or 'off'", ctx, param
        ) from None
    if limit is not None and not math.isfinite(limit.seconds):
        raise click.BadParameter(f"{_shown(value)}: the window is not a finite number", ctx, param)
    return limit


def _shown(value: Any) -> str:
    from turnstile_sync.quoting import quoted

    return quoted(str(value))


def spec_argument(function: _F) -> _F:
    return click.argument(
        "spec_path", metavar="[SPEC]", default=DEFAULT_SPEC, type=click.Path(dir_okay=False)
    )(function)


@dataclass(frozen=True)
class Connection:
    """The options every command that reaches an account shares, gathered in one value."""

    account_id: str | None
    target: Target


WRITING_COMMANDS = frozenset({"apply", "rotate-secret"})
"""The commands that change widgets, so need 'Turnstile Sites Write'; every other command
that reaches an account (plan, export, output, get-secret, secrets push) only reads."""


def connection_options(*, account_help: str) -> Callable[[Callable[..., Any]], click.Command]:
    """Adds --account-id, --emulator, --emulator-db, --max-retry-time and --rate-limit, and
    hands the command one ``connection`` argument instead of five."""

    def decorate(function: Callable[..., Any]) -> Any:
        @functools.wraps(function)
        def command(
            *args: Any,
            account_id: str | None,
            emulator: bool,
            emulator_db: Path,
            max_retry_time: float,
            rate_limit: RateLimit | None,
            **kwargs: Any,
        ) -> Any:
            from turnstile_sync.connection import Target
            from turnstile_sync.retry import RetryPolicy

            target = Target.choose(
                emulator=emulator,
                emulator_db=emulator_db,
                retry=RetryPolicy(max_retry_time=max_retry_time),
                rate_limit=rate_limit,
                writes=click.get_current_context().info_name in WRITING_COMMANDS,
            )
            return function(*args, connection=Connection(account_id, target), **kwargs)

        options = [
            click.option("--account-id", help=account_help),
            click.option(
                "--emulator",
                is_flag=True,
                help="Run against the embedded emulator (in-process, no network, no token).",
            ),
            click.option(
                "--emulator-db",
                type=click.Path(dir_okay=False, path_type=Path),
                default=DEFAULT_EMULATOR_DB,
                show_default=True,
                help="State file of the embedded emulator.",
            ),
            click.option(
                "--max-retry-time",
                type=float,
                callback=retry_seconds,
                default=DEFAULT_MAX_RETRY_TIME,
                show_default=True,
                help="Seconds one API operation may spend retrying 429s, 5xx, timeouts and "
                "connection errors before the error is reported.",
            ),
            click.option(
                "--rate-limit",
                callback=rate_limit,
                default=str(CLOUDFLARE_RATE_LIMIT),
                show_default=True,
                help="Client-side request budget, N/SECONDS (Cloudflare's is 1200/300 per "
                "user, shared with every other tool), or 'off'.",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def force_option(function: _F) -> _F:
    return click.option(
        "--force",
        is_flag=True,
        help="Override the guards against deleting everything, more than max_deletes, or an "
        "empty spec. Never overrides protection.",
    )(function)


STANDARD_STREAMS = frozenset({"-", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"})
"""Names that mean the terminal or a pipeline's log rather than a file."""


def secrets_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--secrets-out: a file, never standard output. ``-`` is the usual spelling of stdout,
    which ends up in terminals and CI logs; refused while the command line is parsed, so
    before anything is asked or changed (without this, a file named ``-`` was written)."""
    if value is not None and str(value) in STANDARD_STREAMS:
        stream = "standard error" if str(value).endswith(("stderr", "/2")) else "standard output"
        exec_too = any(option.name == "secrets_exec" for option in ctx.command.params)
        raise click.BadParameter(
            f"{_shown(str(value))} is {stream}, and secrets are never written there (it ends "
            "up in terminals and CI logs): give a file, e.g. --secrets-out secrets.json "
            "(written mode 0600; keep it out of git)"
            + (
                ", or hand each secret to a command with --secrets-exec COMMAND" if exec_too else ""
            ),
            ctx,
            param,
        )
    return value


def secrets_out_option(*, required: bool = False) -> Callable[[_F], _F]:
    return click.option(
        "--secrets-out",
        type=click.Path(dir_okay=False, path_type=Path),
        callback=secrets_file,
        required=required,
        help="Write new secrets to this JSON file (mode 0600, merged with what it holds): "
        "name -> sitekey and secret. Secrets are never printed.",
    )


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def load_spec(spec_path: str) -> LoadedSpec:
    from turnstile_sync.spec import load_spec as load

    return load(spec_path)


def open_client(account_id: str, target: Target) -> TurnstileClient:
    from turnstile_sync.connection import open_client as open_

    return open_(account_id, target)


def describe_target(account_id: str, target: Target, live: int) -> str:
    return f"account {account_id} on {target.describe()} has {live} widget(s)."


CI_REMEDY = "add --auto-approve (after reviewing what it will do)"


def confirmed(question: str, *, refusing_to: str, ci_remedy: str = CI_REMEDY) -> bool:
    """Ask for a literal 'yes' on the terminal; without one, refuse rather than guess.

    In CI (``CI`` set, as every CI service does) there is never anyone to ask, so the refusal
    says exactly what to add to the command line instead."""
    import os

    from turnstile_sync.errors import ConfigError

    if not sys.stdin.isatty():
        if os.environ.get("CI"):
            raise ConfigError(
                f"refusing to {refusing_to}: there is no terminal to ask for confirmation on, "
                f"and CI is set: {ci_remedy}."
            )
        raise ConfigError(
            f"refusing to {refusing_to}: there is no terminal to ask for confirmation on. "
            "Review what will happen, then pass --auto-approve (as CI pipelines do)."
        )
    with _interruptible():
        try:
            answer: str = click.prompt(
                f"\n{question} Only 'yes' will be accepted",
                default="",
                show_default=False,
                err=True,
            )
        except (click.Abort, KeyboardInterrupt, EOFError):  # Ctrl-C, Ctrl-D: a plain "no"
            click.echo("", err=True)  # the cursor is still on the prompt's line
            return False
    return answer.strip() == "yes"


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Let Ctrl-C end a prompt at once, even inside ``asyncio.run``.

    ``asyncio.run`` replaces Python's SIGINT handler with one that only cancels its task and
    returns; a blocking read of the terminal then resumes after it, so the first Ctrl-C was
    swallowed until 'Enter' or a second Ctrl-C. While the prompt waits, the default handler
    (raise KeyboardInterrupt) is back; the previous one is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def secret_handler(sink: SecretsSink | None) -> Callable[[str, str, SecretStr], None]:
    """Mask a new secret in GitHub Actions logs first, then put it in the sink, if any."""
    from turnstile_sync.secrets_sink import github_mask_command

    def handle(name: str, sitekey: str, secret: SecretStr) -> None:
        mask = github_mask_command(secret)
        if mask is not None:
            click.echo(mask, err=True)  # stderr: stdout may be a JSON document
        if sink is not None:
            sink.record(name, sitekey, secret)

    return handle
