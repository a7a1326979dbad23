"""export (the live account as a spec) and schema (the spec's JSON Schema, for editors)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from turnstile_sync.cli.account import resolve_command_account, spec_option
from turnstile_sync.cli.base import EXIT_OK, Connection, cli, connection_options, open_client, warn


def spec_json_schema() -> dict[str, object]:
    from turnstile_sync.models import Spec

    schema = Spec.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "turnstile-sync spec",
        "description": "Which Cloudflare Turnstile widgets an account should have.",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the spec file (for editors and linters)."""
    click.echo(json.dumps(spec_json_schema(), indent=2))
    return EXIT_OK


@cli.command()
@connection_options(
    account_help="Cloudflare account id (else the spec's account_id, else CLOUDFLARE_ACCOUNT_ID)."
)
@spec_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the spec here instead of to stdout. An existing file is not overwritten.",
)
def export(connection: Connection, spec_path: str | None, out: Path | None) -> int:
    """Write the live account as a spec that plans to no changes. Never exports secrets."""
    from turnstile_sync.errors import ConfigError
    from turnstile_sync.export import export_spec

    if out is not None and out.exists():
        raise ConfigError(f"{out} already exists; export does not overwrite files")
    account = resolve_command_account(connection.account_id, spec_path, warn).account_id
    target = connection.target

    async def fetch() -> list:  # type: ignore[type-arg]
        async with open_client(account, target) as client:
            return await client.list_widgets()

    live = asyncio.run(fetch())
    exported = export_spec(
        live,
        account_id=account,
        source=target.describe(),
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    for message in exported.warnings:
        warn(message)
    if out is None:
        click.echo(exported.text, nl=False)
    else:
        try:
            out.write_text(exported.text, encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot write {out}: {error.strerror or error}") from None
        click.echo(f"Exported {len(live)} widget(s) to {out}.", err=True)
    return EXIT_OK
