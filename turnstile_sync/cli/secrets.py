"""rotate-secret, get-secret and secrets push: the ways a secret leaves Cloudflare, only into
a secrets file or a --secrets-exec command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from turnstile_sync.cli.account import resolve_command_account, spec_option
from turnstile_sync.cli.base import (
    EXIT_ERROR,
    EXIT_OK,
    Connection,
    cli,
    confirmed,
    connection_options,
    open_client,
    secret_handler,
    secrets_out_option,
    spec_argument,
    warn,
)
from turnstile_sync.cli.delivery import (
    abandoned_on_signals,
    make_delivery,
    push_command,
    secrets_exec_options,
    undelivered_remedy,
    warn_undelivered,
)

if TYPE_CHECKING:
    from turnstile_sync.connection import Target
    from turnstile_sync.models import LiveWidget
    from turnstile_sync.secret_delivery import SecretDelivery, Undelivered
    from turnstile_sync.spec import LoadedSpec

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
        account_help="Cloudflare account id (else the spec's account_id, else "
        "CLOUDFLARE_ACCOUNT_ID)."
    )(function)
    command = spec_option(command)
    return click.argument("name")(command)


def _account(account_id: str | None, spec_path: str | None, *, secrets_exec: bool = False) -> str:
    from turnstile_sync.spec import require_widget_keys

    resolved = resolve_command_account(account_id, spec_path, warn)
    if resolved.loaded is not None and spec_path is not None and secrets_exec:
        require_widget_keys(resolved.loaded, "--secrets-exec")
    return resolved.account_id


async def _find(target: Target, account: str, name: str) -> LiveWidget:
    from turnstile_sync.widget_lookup import find_live_widget

    async with open_client(account, target) as client:
        return find_live_widget(await client.list_widgets(), name, account)


@cli.command("rotate-secret")
@_widget_options
@click.option(
    "--invalidate-immediately",
    is_flag=True,
    help="Make the old secret stop working now instead of after 2 hours.",
)
@click.option("--auto-approve", is_flag=True, help="Rotate without asking for confirmation.")
@secrets_out_option()
@secrets_exec_options
def rotate_secret(
    name: str,
    spec_path: str | None,
    connection: Connection,
    invalidate_immediately: bool,
    auto_approve: bool,
    secrets_out: Path | None,
    secrets_exec: tuple[str, ...],
    secrets_exec_timeout: float,
) -> int:
    """Issue a new secret for the widget NAME (a name or a sitekey)."""
    from turnstile_sync.errors import ConfigError
    from turnstile_sync.secret_delivery import SecretEvent
    from turnstile_sync.secrets_exec import environment_problem
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.widget_keys import widget_key

    sink = SecretsSink(secrets_out) if secrets_out is not None else None
    if sink is not None:
        click.get_current_context().call_on_close(sink.close)
    account = _account(connection.account_id, spec_path, secrets_exec=bool(secrets_exec))
    target = connection.target
    widget = asyncio.run(_find(target, account, name))
    if secrets_exec and not widget_key(widget.name):
        raise ConfigError(
            f"--secrets-exec: the widget name {widget.name!r} has no letters or digits A-Z/0-9, "
            "so it has no identifier for TURNSTILE_WIDGET_KEY; rename it first. Nothing was "
            "changed."
        )
    unfit = environment_problem(widget.name) if secrets_exec else None
    if unfit is not None:
        raise ConfigError(
            f"--secrets-exec: the widget name {widget.name!r} cannot be passed to a command in "
            f"TURNSTILE_WIDGET_NAME: {unfit}. Rename it first. Nothing was changed."
        )
    delivery = make_delivery(account, sink, secrets_exec, secrets_exec_timeout)
    click.echo(
        f"Rotating the secret of {widget.name!r} ({widget.sitekey}) in account {account}.\n"
        + (IMMEDIATE_EXPLANATION if invalidate_immediately else GRACE_EXPLANATION),
        err=True,
    )
    if not delivery.any:
        warn(
            "the new secret will not be saved anywhere: pass --secrets-out FILE or "
            "--secrets-exec COMMAND to keep it."
        )
    if not auto_approve and not confirmed("Rotate the secret?", refusing_to="rotate the secret"):
        click.echo("Rotation cancelled. Nothing was changed.", err=True)
        raise click.exceptions.Exit(1)

    push = push_command(
        spec_path or "SPEC",
        target,
        secrets_out=secrets_out,
        commands=bool(secrets_exec),
        account_id=account,
    )
    remedy = f"The secret may be rotated and not delivered everywhere: `{push}` re-delivers it."

    async def rotate() -> tuple[Undelivered, ...]:
        with abandoned_on_signals(asyncio.get_running_loop(), remedy):
            return await rotate_and_deliver()

    async def rotate_and_deliver() -> tuple[Undelivered, ...]:
        async with open_client(account, target) as client:
            rotated = await client.rotate_secret(
                widget.sitekey, invalidate_immediately=invalidate_immediately
            )
        if not delivery.any:
            secret_handler(None)(widget.name, rotated.sitekey, rotated.secret)  # mask only
            return ()
        return await delivery.deliver(
            widget.name, rotated.sitekey, rotated.secret, SecretEvent.ROTATE
        )

    failures = asyncio.run(rotate())
    places = []
    if sink is not None and not any(f.to_file for f in failures):
        places.append(f"written to {sink.path} (mode 0600)")
    delivered = len(secrets_exec) - sum(1 for f in failures if not f.to_file)
    if delivered:
        places.append(f"delivered by {delivered} of {len(secrets_exec)} --secrets-exec command(s)")
    where = " and ".join(places) or "not saved (no --secrets-out)"
    click.echo(
        f"Rotated the secret of {widget.name!r} ({widget.sitekey}); the new secret was {where}."
    )
    if failures:
        warn_undelivered(widget.name, widget.sitekey, failures)
        remedy = undelivered_remedy(failures, spec_path or "SPEC", target, account, secrets_out)
        click.echo(f"Error: the new secret was not delivered everywhere. {remedy}", err=True)
        return EXIT_ERROR
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


@cli.group("secrets")
def secrets_group() -> None:
    """Deliver the current secrets of a spec's widgets again."""


@secrets_group.command("push")
@spec_argument
@connection_options(
    account_help="Cloudflare account id; overrides the spec's account_id and CLOUDFLARE_ACCOUNT_ID."
)
@secrets_out_option()
@secrets_exec_options
def secrets_push(
    spec_path: str,
    connection: Connection,
    secrets_out: Path | None,
    secrets_exec: tuple[str, ...],
    secrets_exec_timeout: float,
) -> int:
    """Deliver the current secret of every widget SPEC manages (event `push`), to
    --secrets-exec commands and/or --secrets-out. Changes nothing in the account: one list
    request, then one GET per widget. For moving to a new store, or making whole a run that
    died between creating a widget and delivering its secret."""
    from turnstile_sync.connection import resolve_account_id
    from turnstile_sync.errors import ConfigError
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.spec import load_spec, require_widget_keys

    if not secrets_exec and secrets_out is None:
        raise ConfigError(
            "secrets push needs somewhere to deliver to: pass --secrets-exec COMMAND and/or "
            "--secrets-out FILE. Nothing was fetched."
        )
    loaded = load_spec(spec_path)
    if secrets_exec:
        require_widget_keys(loaded, "--secrets-exec")
    account = resolve_account_id(connection.account_id, loaded.spec.account_id, warn=warn)
    sink = SecretsSink(secrets_out) if secrets_out is not None else None
    if sink is not None:
        click.get_current_context().call_on_close(sink.close)
    target = connection.target
    delivery = make_delivery(account, sink, secrets_exec, secrets_exec_timeout)
    report = _PushReport()
    remedy = "Secrets were being pushed: run the same `secrets push` again once it has stopped."

    async def push() -> None:
        with abandoned_on_signals(asyncio.get_running_loop(), remedy):
            await _push(loaded, account, target, delivery, report)

    try:
        asyncio.run(push())
    finally:  # said even when the run stops early (an error, an interruption)
        click.echo(
            f"Pushed the current secrets of {report.pushed} of {len(loaded.spec.widgets)} "
            f"widget(s) in {loaded.source} to every destination.",
            err=True,
        )
    for problem in report.missing:
        click.echo(f"Error: {problem}", err=True)
    if report.failures:
        remedy = undelivered_remedy(
            report.failures, spec_path, target, connection.account_id, secrets_out
        )
        click.echo(f"Error: some secrets were not delivered. {remedy}", err=True)
    return EXIT_ERROR if report.missing or report.failures else EXIT_OK


@dataclass
class _PushReport:
    """What a push did so far: kept outside the event loop, so an interrupted or failed
    push still says how far it got."""

    pushed: int = 0
    missing: list[str] = field(default_factory=list)
    failures: list[Undelivered] = field(default_factory=list)


async def _push(
    loaded: LoadedSpec,
    account: str,
    target: Target,
    delivery: SecretDelivery,
    report: _PushReport,
) -> None:
    """Fetch and deliver each managed widget's secret, one at a time. Widgets are matched
    to the spec as ``plan`` matches them (pins, names, the halves of an interrupted
    replacement); a widget that is missing, undecided, or deleted since the listing is
    named, and the others are still delivered."""
    from turnstile_sync.errors import ApiError
    from turnstile_sync.planner import match_live
    from turnstile_sync.secret_delivery import SecretEvent

    async with open_client(account, target) as client:
        live = await client.list_widgets()
        matching = match_live(loaded.spec, live)
        report.missing += matching.problems
        for index, widget in enumerate(loaded.spec.widgets):
            current = matching.matches.get(index)
            if current is None:
                undecided = any(repr(widget.name) in problem for problem in matching.problems)
                why = (
                    ": which live widget it manages is undecided (see above)"
                    if undecided
                    else f" is in {loaded.source} but not in the account (apply creates it)"
                )
                report.missing.append(f"{widget.name!r}{why}; its secret was not pushed")
                continue
            try:
                detail = await client.get_widget(current.sitekey)
            except ApiError as error:
                if error.status != 404:
                    raise
                report.missing.append(
                    f"{widget.name!r} ({current.sitekey}) was deleted since it was listed; "
                    "its secret was not pushed"
                )
                continue
            undelivered = await delivery.deliver(
                widget.name, detail.sitekey, detail.secret, SecretEvent.PUSH
            )
            warn_undelivered(widget.name, detail.sitekey, undelivered)
            report.failures += undelivered
            report.pushed += 0 if undelivered else 1
