"""rotate-secret and get-secret: the two ways a secret leaves Cloudflare, only into a sink."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from turnstile_sync.cli.base import (
    EXIT_OK,
    Connection,
    cli,
    confirmed,
    connection_options,
    open_client,
    secret_handler,
    secrets_out_option,
    warn,
)

if TYPE_CHECKING:
    from turnstile_sync.connection import Target
    from turnstile_sync.models import LiveWidget

GRACE_EXPLANATION = (
    "Cloudflare keeps the old secret valid for 2 hours after the rotation, so servers can "
    "switch to the new one without failing siteverify; the secret cannot be rotated again "
    "during those 2 hours."
)
IMMEDIATE_EXPLANATION = (
    "With --invalidate-immediately the old secret stops working at once: every server still "
    "using it fails siteverify until it has the new secret."
)


def _widget_options(function: Callable[..., Any]) -> click.Command:
    command = connection_options(
        account_help="Cloudflare account id (else CLOUDFLARE_ACCOUNT_ID, or --spec's account_id)."
    )(function)
    command = click.option(
        "--spec",
        "spec_path",
        type=click.Path(dir_okay=False),
        help="Take the account id from this spec's account_id.",
    )(command)
    return click.argument("name")(command)


def _account(account_id: str | None, spec_path: str | None) -> str:
    from turnstile_sync.connection import resolve_account_id
    from turnstile_sync.spec import load_spec

    spec_account = load_spec(spec_path).spec.account_id if spec_path else None
    return resolve_account_id(account_id, spec_account, warn=warn)


async def _find(target: Target, account: str, name: str) -> LiveWidget:
    from turnstile_sync.planner import find_live_widget

    async with open_client(account, target) as client:
        return find_live_widget(await client.list_widgets(), name)


@cli.command("rotate-secret")
@_widget_options
@click.option(
    "--invalidate-immediately",
    is_flag=True,
    help="Make the old secret stop working now instead of after 2 hours.",
)
@click.option("--auto-approve", is_flag=True, help="Rotate without asking for confirmation.")
@secrets_out_option()
def rotate_secret(
    name: str,
    spec_path: str | None,
    connection: Connection,
    invalidate_immediately: bool,
    auto_approve: bool,
    secrets_out: Path | None,
) -> int:
    """Issue a new secret for the widget NAME (a name or a sitekey)."""
    from turnstile_sync.secrets_sink import SecretsSink

    sink = SecretsSink(secrets_out) if secrets_out is not None else None
    if sink is not None:
        click.get_current_context().call_on_close(sink.close)
    account = _account(connection.account_id, spec_path)
    target = connection.target
    widget = asyncio.run(_find(target, account, name))
    click.echo(
        f"Rotating the secret of {widget.name!r} ({widget.sitekey}) in account {account}.\n"
        + (IMMEDIATE_EXPLANATION if invalidate_immediately else GRACE_EXPLANATION),
        err=True,
    )
    if sink is None:
        warn("the new secret will not be saved anywhere: pass --secrets-out FILE to keep it.")
    if not auto_approve and not confirmed("Rotate the secret?", refusing_to="rotate the secret"):
        click.echo("Rotation cancelled. Nothing was changed.", err=True)
        raise click.exceptions.Exit(1)

    async def rotate() -> None:
        async with open_client(account, target) as client:
            rotated = await client.rotate_secret(
                widget.sitekey, invalidate_immediately=invalidate_immediately
            )
        secret_handler(sink)(widget.name, rotated.sitekey, rotated.secret)

    asyncio.run(rotate())
    where = f"written to {sink.path} (mode 0600)" if sink else "not saved (no --secrets-out)"
    click.echo(
        f"Rotated the secret of {widget.name!r} ({widget.sitekey}); the new secret was {where}."
    )
    return EXIT_OK


@cli.command("get-secret")
@_widget_options
@secrets_out_option(required=True)
def get_secret(
    name: str,
    spec_path: str | None,
    connection: Connection,
    secrets_out: Path,
) -> int:
    """Write the current secret of the widget NAME (a name or a sitekey) to --secrets-out."""
    from turnstile_sync.secrets_sink import SecretsSink

    sink = SecretsSink(secrets_out)
    click.get_current_context().call_on_close(sink.close)
    account = _account(connection.account_id, spec_path)
    target = connection.target

    async def fetch() -> str:
        widget = await _find(target, account, name)
        async with open_client(account, target) as client:
            detail = await client.get_widget(widget.sitekey)
        secret_handler(sink)(detail.name, detail.sitekey, detail.secret)
        return f"{detail.name!r} ({detail.sitekey})"

    described = asyncio.run(fetch())
    click.echo(f"Wrote the secret of {described} to {sink.path} (mode 0600).")
    return EXIT_OK
