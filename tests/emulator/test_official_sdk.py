"""Cloudflare's own Python SDK, pointed at `emulator serve`, works as it does against Cloudflare."""

from __future__ import annotations

from pathlib import Path

import cloudflare
import httpx
import pytest

from tests.processes import served_emulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"


def test_sdk_round_trip(tmp_path: Path):
    with served_emulator(tmp_path / "sdk.sqlite3") as base_url:
        client = cloudflare.Cloudflare(api_token="sdk-token", base_url=base_url, max_retries=0)
        widgets = client.turnstile.widgets
        created = widgets.create(
            account_id=ACCOUNT,
            name="login",
            mode="managed",
            domains=["b.example.com", "a.example.com"],
        )
        assert created is not None
        assert created.sitekey.startswith("0x4AAAAAAA")
        assert created.domains == ["a.example.com", "b.example.com"]
        for index in range(6):
            widgets.create(
                account_id=ACCOUNT, name=f"w{index}", mode="invisible", domains=["example.com"]
            )

        listed = list(widgets.list(account_id=ACCOUNT, per_page=5))
        assert len(listed) == 7  # two pages, then the empty page the SDK always asks for
        assert all(not hasattr(item, "secret") or item.secret is None for item in listed)  # type: ignore[attr-defined]

        fetched = widgets.get(created.sitekey, account_id=ACCOUNT)
        assert fetched is not None and fetched.secret == created.secret
        updated = widgets.update(
            created.sitekey,
            account_id=ACCOUNT,
            name="renamed",
            mode="invisible",
            domains=["c.example.com"],
        )
        assert updated is not None and updated.name == "renamed"
        rotated = widgets.rotate_secret(
            created.sitekey, account_id=ACCOUNT, invalidate_immediately=True
        )
        assert rotated is not None and rotated.secret != created.secret
        deleted = widgets.delete(created.sitekey, account_id=ACCOUNT)
        assert deleted is not None and deleted.sitekey == created.sitekey

        with pytest.raises(cloudflare.NotFoundError):
            widgets.get(created.sitekey, account_id=ACCOUNT)
        with pytest.raises(cloudflare.BadRequestError):
            widgets.update(
                listed[1].sitekey,
                account_id=ACCOUNT,
                name="x",
                mode="managed",
                domains=["a.com"],
                region="china",
            )

        stats = httpx.get(base_url.removesuffix("/client/v4") + "/__emulator/stats").json()
        assert stats["operations"]["list"] == {"200": 3}


def test_sdk_sees_authentication_errors(tmp_path: Path):
    with served_emulator(tmp_path / "sdk.sqlite3", "--token", "right") as base_url:
        client = cloudflare.Cloudflare(api_token="wrong", base_url=base_url, max_retries=0)
        with pytest.raises(cloudflare.PermissionDeniedError):
            list(client.turnstile.widgets.list(account_id=ACCOUNT))
