"""`emulator serve`: the embedded emulator over HTTP, with its fault options."""

from __future__ import annotations

from pathlib import Path

import click

from turnstile_sync.cli.base import EXIT_OK, cli, finite
from turnstile_sync.defaults import DEFAULT_EMULATOR_DB


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
    help="SQLite state file (the same default as --emulator-db), or :memory:. It holds "
    "secrets, so it is kept owner-only (0600) and directories created for it are 0700.",
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
    "--china-network/--no-china-network",
    default=None,
    help="Whether every account holds the China Network entitlement, which creating a "
    "region 'china' widget needs. Default: only with --plan enterprise (Cloudflare refuses "
    "it on Free: 'not entitled to create widgets with this region').",
)
@click.option(
    "--token",
    envvar="TURNSTILE_SYNC_EMULATOR_TOKEN",
    help="Accept only 'Authorization: Bearer TOKEN', on every route including the stats, "
    "token-minting and clock endpoints (siteverify, like Cloudflare's, takes no credentials). "
    "Without it any well-formed credentials are accepted; missing ones are refused (403), as "
    "Cloudflare does.",
)
@click.option(
    "--rate-limit",
    default="1200/300",
    show_default=True,
    help="Requests per sliding window of SECONDS per credential, as N/SECONDS, or 'off'.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0,
    callback=lambda ctx, param, value: finite(ctx, param, value, upper=3_600_000),
    help="Delay per request (at most an hour).",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0,
    callback=finite,
    help="Probability of a 503 before the request is performed.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0,
    callback=finite,
    help="Probability that the request is performed and then the connection is dropped "
    "without a response.",
)
@click.option(
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0,
    callback=finite,
    help="Probability of a spurious 429 with retry-after.",
)
@click.option(
    "--per-page-cap",
    type=click.IntRange(min=1),
    help="Serve at most N widgets per list page whatever per_page asks, echoing N in "
    "result_info.per_page (a silent page-size cap, to rehearse listing large accounts).",
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
    china_network: bool | None,
    token: str | None,
    rate_limit: str,
    latency_ms: float,
    error_rate: float,
    drop_rate: float,
    throttle_rate: float,
    per_page_cap: int | None,
    seed: int | None,
    request_log: Path | None,
) -> int:
    """Serve the emulator over HTTP until interrupted (Ctrl-C)."""
    from turnstile_sync.emulator import ENTERPRISE, FREE, EmulatorOptions, Faults, RateLimit, serve

    options = EmulatorOptions(
        account_plan=ENTERPRISE if account_plan == "enterprise" else FREE,
        china_network=account_plan == "enterprise" if china_network is None else china_network,
        require_auth=True,
        token=token,
        rate_limit=RateLimit.parse(rate_limit),
        faults=Faults(
            latency_ms=latency_ms,
            error_rate=error_rate,
            drop_rate=drop_rate,
            throttle_rate=throttle_rate,
            seed=seed,
            per_page_cap=per_page_cap,
        ),
        request_log=request_log,
    )
    base = f"http://{host}:{port}/client/v4"
    click.echo(
        f"Serving Cloudflare's Turnstile widget API at {base} (state: {db_path}).\n"
        f"Point a client at it with CLOUDFLARE_BASE_URL={base}. "
        f"Stats: http://{host}:{port}/__emulator/stats. "
        f"Siteverify: http://{host}:{port}/turnstile/v0/siteverify (tokens from POST "
        f"http://{host}:{port}/__emulator/tokens). Stop with Ctrl-C.",
        err=True,
    )
    serve(host, port, db_path, options)
    return EXIT_OK
