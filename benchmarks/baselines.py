"""What a user would otherwise write, run as separate processes so memory is measured fairly.

- ``sdk-plan`` / ``sdk-apply``: a reconcile script on Cloudflare's official Python SDK, with
  its defaults (25 widgets per page, auto-pagination) and sequential writes.
- ``terraform-refresh``: what Terraform's provider does on refresh, one GET per widget, with
  Terraform's default parallelism of 10.

Each prints one JSON line: what it did, for the harness to check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx
import yaml

ACCOUNT = os.environ.get("BENCH_ACCOUNT", "023e105f4ecef8ad9ca31a8372d0c353")


def _desired(spec_path: str) -> dict[str, dict[str, Any]]:
    with open(spec_path, encoding="utf-8") as handle:  # noqa: PTH123
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {widget["name"]: widget for widget in spec["widgets"]}


def sdk_reconcile(base_url: str, spec_path: str, *, write: bool) -> dict[str, int]:
    import cloudflare

    client = cloudflare.Cloudflare(api_token="bench", base_url=base_url, max_retries=2)
    desired = _desired(spec_path)
    live = list(client.turnstile.widgets.list(account_id=ACCOUNT))
    changes = 0
    for widget in live:
        want = desired.get(widget.name)
        if want is None:
            continue
        if widget.mode != want["mode"] or sorted(widget.domains) != sorted(want["domains"]):
            changes += 1
            if write:
                client.turnstile.widgets.update(
                    widget.sitekey,
                    account_id=ACCOUNT,
                    name=widget.name,
                    mode=want["mode"],
                    domains=want["domains"],
                )
    return {"listed": len(live), "changes": changes}


async def terraform_refresh(
    base_url: str, sitekeys: list[str], parallelism: int = 10
) -> dict[str, int]:
    """Terraform knows every sitekey from its state file, so it reads each one, and nothing else."""
    headers = {"Authorization": "Bearer bench"}
    async with httpx.AsyncClient(base_url=base_url + "/", headers=headers, timeout=60) as http:
        limit = asyncio.Semaphore(parallelism)

        async def read(sitekey: str) -> None:
            async with limit:
                (
                    await http.get(f"accounts/{ACCOUNT}/challenges/widgets/{sitekey}")
                ).raise_for_status()

        await asyncio.gather(*(read(sitekey) for sitekey in sitekeys))
    return {"refreshed": len(sitekeys)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["sdk-plan", "sdk-apply", "terraform-refresh"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--spec")
    parser.add_argument("--sitekeys", help="file with one sitekey per line (Terraform's state)")
    args = parser.parse_args()
    if args.what == "terraform-refresh":
        with open(args.sitekeys, encoding="utf-8") as handle:  # noqa: PTH123
            sitekeys = handle.read().split()
        result = asyncio.run(terraform_refresh(args.base_url, sitekeys))
    else:
        result = sdk_reconcile(args.base_url, args.spec, write=args.what == "sdk-apply")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
