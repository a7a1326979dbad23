"""One widget as Cloudflare's list endpoint returns it, for tests that need API-shaped data."""

from __future__ import annotations

from typing import Any


def widget_json(sitekey: str, name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "sitekey": sitekey,
        "name": name,
        "mode": "managed",
        "domains": ["example.com"],
        "region": "world",
        "clearance_level": "no_clearance",
        "bot_fight_mode": False,
        "ephemeral_id": False,
        "offlabel": False,
        "created_on": "2026-01-01T00:00:00.000000Z",
        "modified_on": "2026-01-01T00:00:00.000000Z",
        **overrides,
    }
