"""output: the spec's widgets as they are live, as sitekeys a front-end build can use.

One listing of the account, matched to the spec by the planner's own rules (names, pins,
'ignore', interrupted replacements), so ``output`` names exactly the widgets ``plan`` manages.
Nothing from the API is trusted: a sitekey is written only if it is made of the characters
Cloudflare's sitekeys use, because a newline in one would forge extra dotenv lines or GitHub
outputs. Everything is checked before anything is printed or appended, so an error leaves
stdout and $GITHUB_OUTPUT untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from turnstile_sync.cli.base import (
    EXIT_OK,
    Connection,
    cli,
    connection_options,
    describe_target,
    load_spec,
    open_client,
    spec_argument,
    warn,
)
from turnstile_sync.cli.reconcile import ACCOUNT_HELP

if TYPE_CHECKING:
    from turnstile_sync.models import LiveWidget, Spec

OUTPUT_FORMATS = ("json", "dotenv", "github")
GITHUB_OUTPUT = "GITHUB_OUTPUT"
SAFE_SITEKEY = re.compile(r"\A[A-Za-z0-9_-]+\Z")
"""What a sitekey may contain to be written: Cloudflare's are 0x4AAAAAAA... in this alphabet."""


@dataclass(frozen=True)
class LiveSitekeys:
    pairs: tuple[tuple[str, str], ...]
    """(spec name, live sitekey), in spec order."""
    missing: tuple[str, ...]
    """Spec names with no live widget (left out; an error unless --allow-missing)."""


def twin_problems(spec: Spec) -> list[str]:
    """Entries sharing one name (each pinning its own sitekey) cannot both be one output key:
    a build reading ``{"name": "sitekey"}`` or TURNSTILE_SITEKEY_<KEY> would get one of them
    at random. Refused offline, naming them, rather than choosing."""
    counts = Counter(widget.name for widget in spec.widgets)
    problems = []
    for name, count in counts.items():
        if count > 1:
            sitekeys = ", ".join(w.sitekey or "unpinned" for w in spec.widgets if w.name == name)
            problems.append(
                f"{count} entries are named {name!r} (pinned to {sitekeys}); an output key "
                "names one sitekey, so give each entry its own name"
            )
    return problems


def live_sitekeys(spec: Spec, live: Sequence[LiveWidget], *, allow_missing: bool) -> LiveSitekeys:
    """The live sitekey of every spec entry, matched as the planner matches; raises
    OutputError listing every problem (identity the planner cannot decide, missing widgets
    unless allowed, sitekeys unsafe to write)."""
    from turnstile_sync.errors import OutputError
    from turnstile_sync.planner import match_live
    from turnstile_sync.quoting import quoted

    matching = match_live(spec, live)
    problems = list(matching.problems)
    pairs: list[tuple[str, str]] = []
    missing: list[str] = []
    for index, widget in enumerate(spec.widgets):
        current = matching.matches.get(index)
        if current is None:
            missing.append(widget.name)
            if not allow_missing:
                problems.append(
                    f"{widget.name!r} is not in the account (apply the spec to create it, or "
                    "pass --allow-missing to leave it out)"
                )
        elif not SAFE_SITEKEY.match(current.sitekey):
            problems.append(
                f"the API gave {widget.name!r} the sitekey {quoted(current.sitekey)}, which has "
                "characters other than A-Z, a-z, 0-9, '_' and '-'; it is not written anywhere"
            )
        else:
            pairs.append((widget.name, current.sitekey))
    if problems:
        raise OutputError(problems)
    return LiveSitekeys(tuple(pairs), tuple(missing))


def key_lines(pairs: Sequence[tuple[str, str]], *, lower: bool) -> str:
    from turnstile_sync.widget_keys import widget_key

    lines = []
    for name, sitekey in pairs:
        key = f"TURNSTILE_SITEKEY_{widget_key(name)}"
        lines.append(f"{key.lower() if lower else key}={sitekey}\n")
    return "".join(lines)


def _github_output_path() -> Path:
    from turnstile_sync.errors import ConfigError

    value = os.environ.get(GITHUB_OUTPUT)
    if not value:
        state = "is not set" if value is None else "is set but empty"
        raise ConfigError(
            f"--format github appends to the file named by ${GITHUB_OUTPUT}, and "
            f"{GITHUB_OUTPUT} {state} (GitHub Actions sets it in every step; elsewhere "
            "use --format dotenv or json)"
        )
    return Path(value)


def _append(path: Path, text: str) -> None:
    """One append (never a truncation): earlier steps' outputs in the file are kept. If the
    file's last line lacks its newline, one is added first, so the first pair is not glued
    to someone else's value."""
    from turnstile_sync.errors import ConfigError

    try:
        with path.open("a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = "\n" + text
            handle.write(text.encode("utf-8"))
    except OSError as error:
        raise ConfigError(
            f"cannot append to {path} (${GITHUB_OUTPUT}): {error.strerror or error}"
        ) from None


@cli.command("output")
@spec_argument
@connection_options(account_help=ACCOUNT_HELP)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    default="json",
    show_default=True,
    help='json: {"name": "sitekey", ...} on stdout; dotenv: TURNSTILE_SITEKEY_<KEY>=<sitekey> '
    "lines on stdout; github: the same pairs, keys lower-cased, appended to $GITHUB_OUTPUT.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Leave out, with a warning, spec widgets not in the account yet (else an error).",
)
def output_command(
    spec_path: str, connection: Connection, output_format: str, allow_missing: bool
) -> int:
    """Print the live sitekey of every widget in SPEC, for front-end builds. Changes nothing.

    One listing of the account; widgets are matched to spec entries as plan matches them."""
    from turnstile_sync.connection import resolve_account_id
    from turnstile_sync.errors import OutputError
    from turnstile_sync.spec import require_widget_keys

    loaded = load_spec(spec_path)
    twins = twin_problems(loaded.spec)
    if twins:
        raise OutputError(twins)
    if output_format != "json":
        require_widget_keys(loaded, f"output --format {output_format}")
    destination = _github_output_path() if output_format == "github" else None
    account = resolve_account_id(connection.account_id, loaded.spec.account_id, warn=warn)
    target = connection.target

    async def fetch() -> list[LiveWidget]:
        async with open_client(account, target) as client:
            return await client.list_widgets()

    live = asyncio.run(fetch())
    found = live_sitekeys(loaded.spec, live, allow_missing=allow_missing)
    click.echo(
        f"{loaded.source}: {len(found.pairs)} of {len(loaded.spec.widgets)} widget(s) live; "
        + describe_target(account, target, len(live)),
        err=True,
    )
    for name in found.missing:
        warn(f"{name!r} is not in the account yet; left out of the output (--allow-missing)")
    if output_format == "json":
        click.echo(json.dumps(dict(found.pairs), indent=2))
    elif output_format == "dotenv":
        click.echo(key_lines(found.pairs, lower=False), nl=False)
    elif destination is not None:
        _append(destination, key_lines(found.pairs, lower=True))
        click.echo(f"Appended {len(found.pairs)} output(s) to {destination}.", err=True)
    return EXIT_OK
