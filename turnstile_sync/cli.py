"""The command line: options, confirmation and exit codes. Thin by design.

Exit codes are a contract pipelines depend on: 0 success (no changes, with
--detailed-exitcode), 2 only for "plan has changes" under --detailed-exitcode, 1 for every
error, including usage errors (click's own default for those would be 2).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from turnstile_sync import __version__
from turnstile_sync.defaults import DEFAULT_EMULATOR_DB, DEFAULT_SPEC

if TYPE_CHECKING:
    from rich.console import Console

    from turnstile_sync.actions import Plan
    from turnstile_sync.applier import ApplyReport
    from turnstile_sync.connection import Target
    from turnstile_sync.spec import LoadedSpec

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

_F = TypeVar("_F", bound=Callable[..., Any])


def _spec_argument(function: _F) -> _F:
    return click.argument(
        "spec_path", metavar="[SPEC]", default=DEFAULT_SPEC, type=click.Path(dir_okay=False)
    )(function)


def _connection_options(function: _F) -> _F:
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


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def _load(spec_path: str) -> LoadedSpec:
    from turnstile_sync.spec import load_spec

    return load_spec(spec_path)


async def _plan_against_live(
    loaded: LoadedSpec, account_id: str, target: Target
) -> tuple[Plan, int]:
    from turnstile_sync.connection import open_client
    from turnstile_sync.planner import plan

    async with open_client(account_id, target) as client:
        live = await client.list_widgets()
    return plan(loaded.spec, live, account_id=account_id), len(live)


def _plan_and_show(
    spec_path: str, account_id: str | None, emulator: bool, emulator_db: Path, console: Console
) -> tuple[Plan, str, Target]:
    """Load the spec, read the account, plan, and show the plan: the start of plan and apply."""
    from turnstile_sync.connection import Target, resolve_account_id
    from turnstile_sync.render.text import render_plan

    loaded = _load(spec_path)
    account = resolve_account_id(account_id, loaded.spec.account_id, warn=_warn)
    target = Target(emulator=emulator, emulator_db=emulator_db)
    plan, live = asyncio.run(_plan_against_live(loaded, account, target))
    click.echo(_describe_target(loaded, account, target, live), err=True)
    render_plan(plan, console)
    return plan, account, target


def _describe_target(loaded: LoadedSpec, account_id: str, target: Target, live: int) -> str:
    where = f"the embedded emulator ({target.emulator_db})" if target.emulator else "Cloudflare"
    return (
        f"{loaded.source}: {len(loaded.spec.widgets)} widget(s) in the spec; account "
        f"{account_id} on {where} has {live} widget(s)."
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="turnstile-sync")
def cli() -> None:
    """Manage Cloudflare Turnstile widgets as code: validate, plan and apply a YAML spec."""


@cli.command()
@_spec_argument
def validate(spec_path: str) -> int:
    """Check SPEC offline. Nothing is sent anywhere."""
    loaded = _load(spec_path)
    count = len(loaded.spec.widgets)
    click.echo(f"{loaded.source}: valid ({count} widget{'s' if count != 1 else ''}).")
    return EXIT_OK


@cli.command("plan")
@_spec_argument
@_connection_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes, 0 when there are none (1 is always an error).",
)
def plan_command(
    spec_path: str,
    account_id: str | None,
    emulator: bool,
    emulator_db: Path,
    detailed_exitcode: bool,
) -> int:
    """Show what apply would change to make the account match SPEC. Changes nothing."""
    from turnstile_sync.render.text import make_console

    plan, _, _ = _plan_and_show(spec_path, account_id, emulator, emulator_db, make_console())
    return EXIT_CHANGES if detailed_exitcode and plan.has_changes else EXIT_OK


@cli.command("apply")
@_spec_argument
@_connection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="How many API requests may be in flight at once.",
)
def apply_command(
    spec_path: str,
    account_id: str | None,
    emulator: bool,
    emulator_db: Path,
    auto_approve: bool,
    parallelism: int,
) -> int:
    """Plan, show the plan, ask for 'yes', then change the account to match SPEC."""
    from turnstile_sync.render.text import make_console, render_report

    console = make_console()
    plan, account, target = _plan_and_show(spec_path, account_id, emulator, emulator_db, console)
    if not plan.has_changes:
        return EXIT_OK
    if not auto_approve and not _confirmed():
        click.echo("Apply cancelled. Nothing was changed.", err=True)
        return EXIT_ERROR
    report = asyncio.run(_apply(plan, account, target, parallelism))
    console.print()
    render_report(report, console)
    return EXIT_OK if report.ok else EXIT_ERROR


def _confirmed() -> bool:
    from turnstile_sync.errors import ConfigError

    if not sys.stdin.isatty():
        raise ConfigError(
            "refusing to apply: there is no terminal to ask for confirmation on. Review the "
            "plan, then pass --auto-approve (as CI pipelines do)."
        )
    answer: str = click.prompt(
        "\nApply these changes? Only 'yes' will be accepted",
        default="",
        show_default=False,
        err=True,
    )
    return answer.strip() == "yes"


async def _apply(plan: Plan, account_id: str, target: Target, parallelism: int) -> ApplyReport:
    from turnstile_sync.applier import apply
    from turnstile_sync.connection import open_client
    from turnstile_sync.render.text import make_console, progress_printer

    progress = progress_printer(len(plan.actions), make_console(stderr=True))
    async with open_client(account_id, target) as client:
        return await apply(plan, client, parallelism=parallelism, on_result=progress)


@cli.group()
def emulator() -> None:
    """The embedded emulator of Cloudflare's Turnstile widget API."""


@emulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_EMULATOR_DB,
    show_default=True,
    help="SQLite state file (the same default as --emulator-db), or :memory:.",
)
@click.option(
    "--plan",
    "account_plan",
    type=click.Choice(["free", "enterprise"]),
    default="free",
    show_default=True,
    help="Limits and entitlements of every account: free (20 widgets, 10 hostnames, no "
    "Enterprise-only fields) or enterprise (no widget limit, 200 hostnames).",
)
@click.option(
    "--token",
    envvar="TURNSTILE_SYNC_EMULATOR_TOKEN",
    help="Accept only 'Authorization: Bearer TOKEN'. Without it any well-formed credentials "
    "are accepted; missing ones are refused (403), as Cloudflare does.",
)
@click.option(
    "--rate-limit",
    default="1200/300",
    show_default=True,
    help="Requests per sliding window of SECONDS per credential, as N/SECONDS, or 'off'.",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0, help="Delay per request.")
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0,
    help="Probability of a 503 before the request is performed.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0,
    help="Probability that the request is performed and then the connection is dropped "
    "without a response.",
)
@click.option(
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0,
    help="Probability of a spurious 429 with retry-after.",
)
@click.option("--seed", type=int, help="Seed for faults, sitekeys and secrets: reproducible runs.")
@click.option(
    "--log",
    "request_log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every request and response (secrets redacted, no headers) to this "
    "JSON-lines file.",
)
def emulator_serve(
    host: str,
    port: int,
    db_path: Path,
    account_plan: str,
    token: str | None,
    rate_limit: str,
    latency_ms: float,
    error_rate: float,
    drop_rate: float,
    throttle_rate: float,
    seed: int | None,
    request_log: Path | None,
) -> int:
    """Serve the emulator over HTTP until interrupted (Ctrl-C)."""
    from turnstile_sync.emulator import ENTERPRISE, FREE, EmulatorOptions, Faults, RateLimit, serve

    options = EmulatorOptions(
        account_plan=ENTERPRISE if account_plan == "enterprise" else FREE,
        require_auth=True,
        token=token,
        rate_limit=RateLimit.parse(rate_limit),
        faults=Faults(latency_ms, error_rate, drop_rate, throttle_rate, seed),
        request_log=request_log,
    )
    base = f"http://{host}:{port}/client/v4"
    click.echo(
        f"Serving Cloudflare's Turnstile widget API at {base} (state: {db_path}).\n"
        f"Point a client at it with CLOUDFLARE_BASE_URL={base}. "
        f"Stats: http://{host}:{port}/__emulator/stats. Stop with Ctrl-C.",
        err=True,
    )
    serve(host, port, db_path, options)
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: the one place that prints errors and exits."""
    from turnstile_sync.errors import TurnstileSyncError

    try:
        code = cli.main(args=argv, prog_name="turnstile-sync", standalone_mode=False)
    except TurnstileSyncError as error:
        click.echo(f"Error: {error}", err=True)
        code = EXIT_ERROR
    except click.ClickException as error:
        error.show()
        code = EXIT_ERROR
    except (click.Abort, KeyboardInterrupt):
        click.echo("\nInterrupted.", err=True)
        code = EXIT_ERROR
    except Exception as error:
        if os.environ.get("TURNSTILE_SYNC_DEBUG"):
            raise
        click.echo(
            f"Internal error: {type(error).__name__}: {error}\n"
            "This is a bug in turnstile-sync; please report it. "
            "Set TURNSTILE_SYNC_DEBUG=1 to see the traceback.",
            err=True,
        )
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
