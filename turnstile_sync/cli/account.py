"""The account of commands that take no SPEC argument (rotate-secret, get-secret, export).

They read the account id from ``--spec FILE``, or from ``./widgets.yaml`` when it exists, so
``get-secret checkout`` beside the spec talks to the same account as ``plan`` does there.
Precedence is the one every command shares (connection.resolve_account_id): --account-id,
then the spec's account_id, then CLOUDFLARE_ACCOUNT_ID. A missing default file is not an
error (these commands work without a spec); a broken one is, with its file:line, rather than
being silently skipped for another account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from turnstile_sync.defaults import DEFAULT_SPEC

if TYPE_CHECKING:
    from turnstile_sync.spec import LoadedSpec

_F = TypeVar("_F", bound=Callable[..., Any])


def spec_option(function: _F) -> _F:
    return click.option(
        "--spec",
        "spec_path",
        type=click.Path(dir_okay=False),
        help=f"Take the account id from this spec's account_id (default: ./{DEFAULT_SPEC} "
        "when it exists).",
    )(function)


@dataclass(frozen=True)
class CommandAccount:
    """The resolved account id, and the spec it may have come from (None when none was read)."""

    account_id: str
    loaded: LoadedSpec | None


def resolve_command_account(
    account_flag: str | None,
    spec_path: str | None,
    warn: Callable[[str], None],
    *,
    environ: dict[str, str] | None = None,
) -> CommandAccount:
    """The account for a command with an optional ``--spec``.

    An explicit ``--spec`` is always read. The default ``./widgets.yaml`` is read only when
    --account-id is not given (it could not change the answer otherwise), and saying so on
    stderr when its account_id is the one used: an account chosen by a file the user did not
    name must not be a surprise."""
    from turnstile_sync.connection import resolve_account_id
    from turnstile_sync.spec import load_spec

    implicit = spec_path is None
    loaded: LoadedSpec | None = None
    if spec_path is not None:
        loaded = load_spec(spec_path)
    elif not account_flag and Path(DEFAULT_SPEC).exists():
        loaded = load_spec(DEFAULT_SPEC)
    spec_account = loaded.spec.account_id if loaded is not None else None
    account = resolve_account_id(account_flag, spec_account, environ, warn=warn)
    if implicit and spec_account and account == spec_account and not account_flag:
        click.echo(
            f"Using account_id {account} from ./{DEFAULT_SPEC} (pass --spec FILE or "
            "--account-id to choose another).",
            err=True,
        )
    return CommandAccount(account, loaded)
