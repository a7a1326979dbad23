"""The command line. Commands live in one module per concern; this is the entry point.

``main`` is the one place that prints errors and chooses the exit code for them.
"""

from __future__ import annotations

import os
import sys

import click

from turnstile_sync.cli import (  # noqa: F401 - registers commands
    emulator,
    export,
    reconcile,
    secrets,
    show,
    sitekeys,
)
from turnstile_sync.cli.base import EXIT_ERROR, EXIT_OK, cli
from turnstile_sync.cli.environment import PREFIX, name_variables

name_variables(cli)  # once every command is registered: TURNSTILE_SYNC_<COMMAND>_<OPTION>

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from turnstile_sync.errors import GuardError, SpecError, TurnstileSyncError
    from turnstile_sync.urls import redact_urls

    try:
        # prog_name also names the completion variable, _TURNSTILE_SYNC_COMPLETE.
        code = cli.main(
            args=argv,
            prog_name="turnstile-sync",
            standalone_mode=False,
            auto_envvar_prefix=PREFIX,
        )
    except SpecError as error:
        from turnstile_sync.render import github

        if github.active():
            for line in github.spec_error_annotations(error):
                click.echo(line, err=True)
        click.echo(f"Error: {error}", err=True)
        code = EXIT_ERROR
    except GuardError as error:
        click.echo(f"Error: {error}\nNothing was changed.", err=True)
        code = EXIT_ERROR
    except TurnstileSyncError as error:
        # Messages name URLs in their public form already; this is the last line of defence.
        click.echo(f"Error: {redact_urls(str(error))}", err=True)
        code = EXIT_ERROR
    except click.ClickException as error:
        error.show()
        code = EXIT_ERROR
    except SystemExit as exit_:
        # Only a library exiting on its own (uvicorn on a busy port exits 3) gets here.
        code = EXIT_OK if exit_.code in (0, None) else EXIT_ERROR
    except (click.Abort, KeyboardInterrupt):
        click.echo("\nInterrupted.", err=True)
        code = EXIT_ERROR
    except Exception as error:
        if os.environ.get("TURNSTILE_SYNC_DEBUG"):
            raise
        click.echo(
            f"Internal error: {type(error).__name__}: {redact_urls(str(error))[:1000]}\n"
            "This is a bug in turnstile-sync; please report it. "
            "Set TURNSTILE_SYNC_DEBUG=1 to see the traceback.",
            err=True,
        )
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
