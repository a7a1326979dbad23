"""Options from environment variables: TURNSTILE_SYNC_<COMMAND>_<OPTION>.

click's ``auto_envvar_prefix`` convention, with one difference: the variable is named after
the option as it is typed (``--format`` gives TURNSTILE_SYNC_PLAN_FORMAT), not after the Python
parameter behind it (``output_format``), so the name can be guessed from ``--help``, which
shows it. Each option gets its variable explicitly, which also makes click name the variable
in the error for a bad value. Precedence is click's: command line, then variable, then default.

A variable is read by whatever step it is set for, silently and for every run, so some options
are never read from one (``NOT_FROM_ENVIRONMENT``), and those that skip a confirmation or send
secrets somewhere are announced on stderr when a variable set them (``ANNOUNCED``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import click
from click.core import ParameterSource

PREFIX = "TURNSTILE_SYNC"

NOT_FROM_ENVIRONMENT = {
    "force": "it lifts the guards against mass deletion, so it must be on the reviewed "
    "command line, as `apply --plan` already requires",
    "account_id": "CLOUDFLARE_ACCOUNT_ID is its variable, and it ranks below the spec's "
    "account_id so that a variable left in a shared environment cannot redirect a spec",
    "secrets_exec": "it runs a command with the new secrets; a command belongs on the reviewed "
    "command line (and a variable would be split at its spaces)",
    "version": "it is not a setting",
}
"""Options (by parameter name) that have no variable, and why."""

ANNOUNCED = frozenset(
    {"auto_approve", "plan_file", "invalidate_immediately", "secrets_out", "replace", "targets"}
)
"""Options that skip the confirmation, change what is applied without asking, break live
servers at once, or choose where secrets are written: said on stderr when a variable set them."""

_log = logging.getLogger("turnstile_sync.cli")


def command_path(ctx: click.Context) -> tuple[str, ...]:
    """The command names below the program: ("emulator", "serve") for `emulator serve`."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return tuple(reversed(names))


def variable_name(path: Sequence[str], option: click.Option) -> str:
    """TURNSTILE_SYNC, the command path, then the option's long name, upper case, '_' for '-'."""
    long = next((opt for opt in option.opts if opt.startswith("--")), option.opts[0])
    parts = [PREFIX, *path, long.lstrip("-")]
    return "_".join(parts).upper().replace("-", "_")


def name_variables(command: click.Command, path: tuple[str, ...] = ()) -> None:
    """Give every option of ``command`` and its subcommands its variable, shown in --help.

    A variable the option already had (TURNSTILE_SYNC_EMULATOR_TOKEN) keeps working after
    the conventional one. click's own derivation from the parameter name is turned off, so
    each option has exactly the names --help shows."""
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        param.allow_from_autoenv = False
        if param.name in NOT_FROM_ENVIRONMENT:
            continue
        name = variable_name(path, param)
        existing = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
        param.envvar = [name, *(other for other in existing if other != name)]
        param.show_envvar = True
    if isinstance(command, click.Group):
        for name, subcommand in command.commands.items():
            name_variables(subcommand, (*path, name))


def announce(ctx: click.Context, warn: Callable[[str], None]) -> None:
    """Say which options came from the environment: the safety-relevant ones on stderr
    always, the rest with -v. Values are never shown (a variable may hold anything)."""
    path = command_path(ctx)
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        if param.name in NOT_FROM_ENVIRONMENT:
            ignored = variable_name(path, param)
            if os.environ.get(ignored):
                warn(
                    f"{ignored} is ignored: {_spelling(param)} is read only from the command "
                    f"line ({NOT_FROM_ENVIRONMENT[param.name]})."
                )
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.ENVIRONMENT:
            continue
        variable = _supplying(param)
        if param.name in ANNOUNCED and ctx.params.get(param.name):
            click.echo(
                f"Note: {_spelling(param)} is set by the environment variable {variable}, "
                "not on the command line.",
                err=True,
            )
        else:
            _log.info("%s is set by the environment variable %s", _spelling(param), variable)


def _supplying(option: click.Option) -> str:
    """The variable click took the value from: the first non-empty one, as click reads them."""
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
    return next((name for name in names if os.environ.get(name)), names[0] if names else "?")


def _spelling(option: click.Option) -> str:
    return next((opt for opt in option.opts if opt.startswith("--")), option.opts[0])
