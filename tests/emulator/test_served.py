"""`emulator serve` over a real loopback socket: auth, tokens, dropped connections, stats."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.processes import served_emulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
BODY = {"name": "login", "mode": "managed", "domains": ["example.com"]}


def widgets(base_url: str) -> str:
    return f"{base_url}/accounts/{ACCOUNT}/challenges/widgets"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Auth-Email": "ops@example.com"}],
    ids=["none", "email-without-key"],
)
def test_missing_credentials_are_refused(tmp_path: Path, headers):
    with served_emulator(tmp_path / "auth.sqlite3") as base_url:
        response = httpx.get(widgets(base_url), headers=headers)
    assert response.status_code == 403
    assert response.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]


def test_any_well_formed_credentials_are_accepted_without_token(tmp_path: Path):
    with served_emulator(tmp_path / "auth.sqlite3") as base_url:
        bearer = httpx.get(widgets(base_url), headers={"Authorization": "Bearer anything"})
        legacy = httpx.get(
            widgets(base_url),
            headers={
                "X-Auth-Email": "ops@example.com",
                "X-Auth-Key": "0123456789abcdef" * 2 + "01234",
            },
        )
    assert (bearer.status_code, legacy.status_code) == (200, 200)


def test_token_option_accepts_only_that_token(tmp_path: Path):
    with served_emulator(tmp_path / "auth.sqlite3", "--token", "right") as base_url:
        wrong = httpx.get(widgets(base_url), headers={"Authorization": "Bearer wrong"})
        right = httpx.get(widgets(base_url), headers={"Authorization": "Bearer right"})
    assert (wrong.status_code, right.status_code) == (403, 200)


def test_dropped_connection_after_the_write(tmp_path: Path):
    auth = {"Authorization": "Bearer t"}
    with served_emulator(tmp_path / "drop.sqlite3", "--drop-rate", "1", "--seed", "1") as base_url:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(widgets(base_url), json=BODY, headers=auth)
        stats = httpx.get(base_url.removesuffix("/client/v4") + "/__emulator/stats").json()
    assert stats["operations"]["create"] == {"dropped": 1}
    with served_emulator(tmp_path / "drop.sqlite3") as base_url:
        listed = httpx.get(widgets(base_url), headers=auth).json()["result"]
    assert [w["name"] for w in listed] == ["login"]


def test_rate_limit_option(tmp_path: Path):
    auth = {"Authorization": "Bearer t"}
    with served_emulator(tmp_path / "rl.sqlite3", "--rate-limit", "2/60") as base_url:
        statuses = [httpx.get(widgets(base_url), headers=auth).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
