"""Rate limit, fault injection, stats and seeds: in-process, through the public transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from turnstile_sync.emulator import (
    IN_PROCESS_BASE_URL,
    EmulatorOptions,
    Faults,
    RateLimit,
    emulator_transport,
)
from turnstile_sync.emulator.options import CLOUDFLARE_RATE_LIMIT
from turnstile_sync.emulator.ratelimit import SlidingWindowLimiter
from turnstile_sync.errors import ConfigError

pytestmark = pytest.mark.anyio

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
WIDGETS = f"accounts/{ACCOUNT}/challenges/widgets"
BODY = {"name": "login", "mode": "managed", "domains": ["example.com"]}
STATS = "http://emulator.turnstile-sync.invalid/__emulator/stats"


@asynccontextmanager
async def emulator(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = emulator_transport(":memory:", EmulatorOptions(**options))
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as client:
        yield client


async def test_rate_limit_answers_429_with_cloudflare_headers():
    async with emulator(rate_limit=RateLimit(3, 60)) as http:
        answers = [await http.get(WIDGETS) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert answers[0].headers["ratelimit"].startswith('"default";r=2;t=')
    limited = answers[3]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["errors"] == [
        {"code": 971, "message": "Please wait and consider throttling your request speed"}
    ]


async def test_rate_limit_is_per_credential():
    async with emulator(rate_limit=RateLimit(1, 60)) as http:
        first = await http.get(WIDGETS, headers={"Authorization": "Bearer one"})
        second = await http.get(WIDGETS, headers={"Authorization": "Bearer two"})
        again = await http.get(WIDGETS, headers={"Authorization": "Bearer one"})
    assert [first.status_code, second.status_code, again.status_code] == [200, 200, 429]


def test_sliding_window_frees_capacity_as_requests_age():
    now = [0.0]
    limiter = SlidingWindowLimiter(RateLimit(2, 10), clock=lambda: now[0])
    assert limiter.check("k").allowed
    now[0] = 4.0
    assert limiter.check("k").allowed
    now[0] = 10.0  # the request at t=0 has left the window
    decision = limiter.check("k")
    assert decision.allowed
    assert decision.remaining == 0
    assert decision.reset_seconds == 4  # the request at t=4 leaves at t=14


def test_exceeding_the_limit_blocks_a_whole_window_like_cloudflare():
    now = [0.0]
    limiter = SlidingWindowLimiter(RateLimit(2, 10), clock=lambda: now[0])
    assert limiter.check("k").allowed and limiter.check("k").allowed
    now[0] = 3.0
    refused = limiter.check("k")
    assert (refused.allowed, refused.reset_seconds) == (False, 10)
    now[0] = 12.0  # the window alone would have room again; the block still holds
    assert limiter.check("k") == type(refused)(False, 0, 1)
    assert limiter.check("other").allowed
    now[0] = 13.0
    assert limiter.check("k").allowed


def test_one_off_credentials_are_forgotten_once_idle_but_blocks_are_kept():
    """A long-running emulator fed a new credential per request stays bounded in memory,
    without forgetting a credential that is still counted or blocked."""
    now = [0.0]
    limiter = SlidingWindowLimiter(RateLimit(1, 10), clock=lambda: now[0])
    assert limiter.check("blocked").allowed
    assert not limiter.check("blocked").allowed  # blocked until t=10... and then a new window
    for index in range(30_000):
        now[0] = index * 0.001  # all within the first 30 s
        limiter.check(f"one-off {index}")
    remembered = len(limiter._seen) + len(limiter._blocked_until)
    assert remembered <= 20_002  # swept whenever it passed the threshold, never unbounded
    now[0] = 5.0
    limiter = SlidingWindowLimiter(RateLimit(1, 10), clock=lambda: now[0])
    assert limiter.check("held").allowed
    for index in range(10_001):
        limiter.check(f"other {index}")  # the sweep runs: 'held' is still in its window
    assert not limiter.check("held").allowed


def test_credentials_are_remembered_by_digest_not_by_their_whole_text(tmp_path):
    from turnstile_sync.emulator.middleware import _credential_key

    options = EmulatorOptions(require_auth=True)
    key = _credential_key({"x-auth-email": "a" * 60_000 + "@x", "x-auth-key": "k"}, options)
    assert key is not None and len(key) < 40


def test_default_rate_limit_is_cloudflares():
    assert EmulatorOptions().rate_limit == CLOUDFLARE_RATE_LIMIT == RateLimit(1200, 300)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1200/300", RateLimit(1200, 300)), ("10 / 1.5", RateLimit(10, 1.5)), ("off", None)],
)
def test_rate_limit_parsing(text, expected):
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["1200", "0/10", "a/b", "5/0"])
def test_rate_limit_parsing_refuses_nonsense(text):
    with pytest.raises(ConfigError, match="N/SECONDS"):
        RateLimit.parse(text)


def test_fault_probabilities_are_checked():
    with pytest.raises(ConfigError, match="error-rate must be between 0 and 1"):
        Faults(error_rate=1.5)


async def test_error_fault_is_a_503_before_anything_happens():
    async with emulator(faults=Faults(error_rate=1.0)) as http:
        response = await http.post(WIDGETS, json=BODY)
        assert response.status_code == 503
        assert response.json()["success"] is False
        stats = (await http.get(STATS)).json()
    assert stats["operations"]["create"] == {"503": 1}
    assert stats["faults"]["error"] == 1


async def test_throttle_fault_is_a_429_with_retry_after():
    async with emulator(faults=Faults(throttle_rate=1.0)) as http:
        response = await http.get(WIDGETS)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


async def test_drop_fault_performs_the_mutation_then_drops_the_connection(tmp_path):
    db = tmp_path / "drop.sqlite3"
    transport = emulator_transport(db, EmulatorOptions(faults=Faults(drop_rate=1.0)))
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.post(WIDGETS, json=BODY)
        assert transport.stats.snapshot()["operations"]["create"] == {"dropped": 1}
    async with (
        emulator_transport(db) as clean,
        httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=clean) as http,
    ):
        listed = (await http.get(WIDGETS)).json()["result"]
    assert [w["name"] for w in listed] == ["login"]


async def test_latency_delays_each_request(monkeypatch: pytest.MonkeyPatch):
    # The emulator's waits are recorded, not timed: a stopwatch would measure the machine.
    waits: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    async with emulator(faults=Faults(latency_ms=60)) as http:
        first = await http.get(WIDGETS)
        second = await http.post(WIDGETS, json=BODY)
    assert (first.status_code, second.status_code) == (200, 200)
    assert waits == [0.06, 0.06]


async def test_seed_makes_faults_and_keys_reproducible():
    async def run() -> tuple[list[int], list[str]]:
        async with emulator(faults=Faults(error_rate=0.5, seed=7)) as http:
            statuses, sitekeys = [], []
            for index in range(20):
                response = await http.post(WIDGETS, json={**BODY, "name": f"w{index}"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    sitekeys.append(response.json()["result"]["sitekey"])
            return statuses, sitekeys

    first, second = await run(), await run()
    assert first == second
    assert 200 in first[0] and 503 in first[0]


async def test_stats_count_by_operation_and_status_and_reset():
    async with emulator() as http:
        created = (await http.post(WIDGETS, json=BODY)).json()["result"]
        await http.get(f"{WIDGETS}/{created['sitekey']}")
        await http.get(f"{WIDGETS}/0x4AAAAAAAmissing0000000")
        await http.get(WIDGETS)
        await http.get("accounts/x/elsewhere")
        stats = (await http.get(STATS)).json()
        assert stats["total"] == 5
        assert stats["operations"] == {
            "create": {"200": 1},
            "get": {"200": 1, "404": 1},
            "list": {"200": 1},
            "other": {"404": 1},
        }
        reset = await http.delete(STATS)
        assert reset.json()["total"] == 0
        assert (await http.get(STATS)).json()["operations"] == {}


async def test_stats_requests_are_not_counted_or_limited():
    async with emulator(rate_limit=RateLimit(1, 60), faults=Faults(error_rate=1.0)) as http:
        for _ in range(3):
            assert (await http.get(STATS)).status_code == 200
        assert (await http.get(STATS)).json()["total"] == 0
