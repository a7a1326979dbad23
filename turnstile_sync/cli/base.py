"""The command group, options shared by commands, and the few helpers that print or ask.

Exit codes are a contract pipelines depend on: 0 success (no changes, with
--detailed-exitcode), 2 only for "plan has changes" under --detailed-exitcode, 1 for every
error, including usage errors (click's own default for those would be 2).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from turnstile_sync import __version__
from turnstile_sync.defaults import DEFAULT_EMULATOR_DB, DEFAULT_SPEC

if TYPE_CHECKING:
    from pydantic import SecretStr

    from turnstile_sync.actions import Plan
    from turnstile_sync.client import TurnstileClient
    from turnstile_sync.connection import Target
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.spec import LoadedSpec

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="turnstile-sync")
def cli() -> None:
    """Manage Cloudflare Turnstile widgets as code: validate, plan and apply a YAML spec."""


def spec_argument(function: _F) -> _F:
    return click.argument(
        "spec_path", metavar="[SPEC]", default=DEFAULT_SPEC, type=click.Path(dir_okay=False)
    )(function)


def connection_options(function: _F) -> _F:
    options = [
        click.option(
            "--account-id",
            help="Cloudflare account id; overrides the spec's account_id and "
            "CLOUDFLARE_ACCOUNT_ID.",
        ),
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
    ]
    for option in reversed(options):
        function = option(function)
    return function


def force_option(function: _F) -> _F:
    return click.option(
        "--force",
        is_flag=True,
        help="Override the guards against deleting everything, more than max_deletes, or an "
        "empty spec. Never overrides protection.",
    )(function)


def secrets_out_option(*, required: bool = False) -> Callable[[_F], _F]:
    return click.option(
        "--secrets-out",
        type=click.Path(dir_okay=False, path_type=Path),
        required=required,
        help="Write new secrets to this JSON file (mode 0600, merged with what it holds): "
        "name -> sitekey and secret. Secrets are never printed.",
    )


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def load_spec(spec_path: str) -> LoadedSpec:
    from turnstile_sync.spec import load_spec as load

    return load(spec_path)


def choose_target(emulator: bool, emulator_db: Path) -> Target:
    from turnstile_sync.connection import Target

    return Target.choose(emulator=emulator, emulator_db=emulator_db)


def open_client(account_id: str, target: Target) -> TurnstileClient:
    from turnstile_sync.connection import open_client as open_

    return open_(account_id, target)


def describe_target(account_id: str, target: Target, live: int) -> str:
    return f"account {account_id} on {target.describe()} has {live} widget(s)."


def confirmed(question: str, *, refusing_to: str) -> bool:
    """Ask for a literal 'yes' on the terminal; without one, refuse rather than guess."""
    from turnstile_sync.errors import ConfigError

    if not sys.stdin.isatty():
        raise ConfigError(
            f"refusing to {refusing_to}: there is no terminal to ask for confirmation on. "
            "Review what will happen, then pass --auto-approve (as CI pipelines do)."
        )
    answer: str = click.prompt(
        f"\n{question} Only 'yes' will be accepted", default="", show_default=False, err=True
    )
    return answer.strip() == "yes"


def secret_handler(sink: SecretsSink | None) -> Callable[[str, str, SecretStr], None]:
    """Mask a new secret in GitHub Actions logs first, then put it in the sink, if any."""
    from turnstile_sync.secrets_sink import github_mask_command

    def handle(name: str, sitekey: str, secret: SecretStr) -> None:
        mask = github_mask_command(secret)
        if mask is not None:
            click.echo(mask)
        if sink is not None:
            sink.record(name, sitekey, secret)

    return handle


def render_plan(plan: Plan, header: str) -> None:
    from turnstile_sync.render.text import make_console
    from turnstile_sync.render.text import render_plan as render

    click.echo(header, err=True)
    render(plan, make_console())
