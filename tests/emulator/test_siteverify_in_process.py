"""The embedded emulator (no socket) answers siteverify too, so an application's Python tests
can use it through httpx's transport, with the test's own clock."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import ACCOUNT
from tests.fake_time import FakeTime
from turnstile_sync.emulator import Backend, EmulatorTransport

pytestmark = pytest.mark.anyio
ROOT = "http://emulator.turnstile-sync.invalid"


async def test_in_process_siteverify_follows_the_tests_clock():
    time = FakeTime()
    transport = EmulatorTransport(Backend(":memory:", clock=time.wall_clock))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        created = await http.post(
            f"/client/v4/accounts/{ACCOUNT}/challenges/widgets",
            json={"name": "login", "mode": "invisible", "domains": ["example.com"]},
        )
        widget = created.json()["result"]

        async def token() -> str:
            minted = await http.post(
                "/__emulator/tokens", json={"sitekey": widget["sitekey"], "hostname": "example.com"}
            )
            value: str = minted.json()["result"]["token"]
            return value

        stale = await token()
        time.now += timedelta(seconds=200).total_seconds()
        fresh = await token()
        time.now += timedelta(seconds=101).total_seconds()
        late = await http.post(
            "/turnstile/v0/siteverify", data={"secret": widget["secret"], "response": stale}
        )
        on_time = await http.post(
            "/turnstile/v0/siteverify", json={"secret": widget["secret"], "response": fresh}
        )
    assert late.json() == {"success": False, "error-codes": ["timeout-or-duplicate"]}
    assert on_time.json()["success"] is True
    assert on_time.json()["challenge_ts"] == "2026-01-01T00:03:20.000Z"


async def test_a_state_file_that_fails_is_a_retryable_internal_error():
    transport = EmulatorTransport(Backend(":memory:"))
    transport.backend.close()  # every query now fails, as a locked or vanished file would
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        answer = await http.post(
            "/turnstile/v0/siteverify", data={"secret": "0x4AAAAAAAsecret", "response": "0.t"}
        )
    assert answer.status_code == 200
    assert answer.json() == {"success": False, "error-codes": ["internal-error"]}
