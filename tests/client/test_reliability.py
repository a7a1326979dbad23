"""Retries, retry-after, budgets, at-most-once writes and consistent listing (respx, fake clock)."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.client.test_client import ACCOUNT, WIDGETS, envelope, item, page
from tests.fake_time import EPOCH, FakeTime
from turnstile_sync.client import Credentials, TurnstileClient
from turnstile_sync.errors import ApiError, RetriesExhaustedError
from turnstile_sync.listing import ListingError
from turnstile_sync.models import WidgetBody
from turnstile_sync.ratelimit import RateLimit, RequestBudget
from turnstile_sync.retry import RetryPolicy

pytestmark = pytest.mark.anyio

BODY = WidgetBody("login", "managed", ("example.com",))
FAILURE = {
    "success": False,
    "errors": [{"code": 10503, "message": "unavailable"}],
    "messages": [],
    "result": None,
}


def client(time: FakeTime, **kwargs: Any) -> TurnstileClient:
    kwargs.setdefault("rate_limit", None)
    return TurnstileClient(
        ACCOUNT, Credentials(token=SecretStr("t")), timing=time.timing(), **kwargs
    )


def unavailable(status: int = 503, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=FAILURE, headers=headers)


def detail(index: int = 1, **extra: Any) -> dict[str, Any]:
    return {**item(index), "name": "login", "domains": ["example.com"], "secret": "0xS", **extra}


@respx.mock
async def test_5xx_is_retried_with_exponential_backoff():
    time = FakeTime()
    route = respx.get(WIDGETS).mock(
        side_effect=[unavailable(), unavailable(502), httpx.Response(200, json=page([], 1, 0))]
    )
    async with client(time) as api:
        assert await api.list_widgets() == []
        assert api.retries == 2
    assert route.call_count == 3
    assert time.sleeps == [0.5, 1.0]  # base 0.5 s, doubling; jitter pinned to its ceiling


@respx.mock
async def test_full_jitter_draws_below_the_ceiling():
    time = FakeTime(jitter=0.25)
    respx.get(WIDGETS).mock(
        side_effect=[
            unavailable(),
            unavailable(),
            unavailable(),
            httpx.Response(200, json=page([], 1, 0)),
        ]
    )
    async with client(time) as api:
        await api.list_widgets()
    assert time.sleeps == [0.125, 0.25, 0.5]


@respx.mock
async def test_backoff_is_capped():
    time = FakeTime()
    responses = [unavailable()] * 9 + [httpx.Response(200, json=page([], 1, 0))]
    respx.get(WIDGETS).mock(side_effect=responses)
    async with client(time, retry=RetryPolicy(max_retry_time=1000)) as api:
        await api.list_widgets()
    assert time.sleeps == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": format_datetime(EPOCH + timedelta(seconds=7), usegmt=True)}, 7.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, 0.5),  # unparseable: the backoff applies
    ],
    ids=["seconds", "fraction", "http-date", "milliseconds-first", "garbage"],
)
@respx.mock
async def test_retry_after_is_honoured(headers, expected):
    time = FakeTime()
    respx.get(WIDGETS).mock(
        side_effect=[unavailable(429, **headers), httpx.Response(200, json=page([], 1, 0))]
    )
    async with client(time) as api:
        await api.list_widgets()
    assert time.sleeps == [expected]


async def test_a_429_pauses_every_request_not_just_the_one():
    time = FakeTime()
    budget = RequestBudget(RateLimit(1000, 60), clock=time.clock, sleep=time.sleep)
    await budget.acquire()
    budget.pause(4)  # what the client does when any request gets a 429 with retry-after: 4
    await budget.acquire()
    assert time.sleeps == [4.0]
    assert budget.waited == pytest.approx(4.0)


@respx.mock
async def test_a_429_feeds_the_shared_pause():
    time = FakeTime()
    respx.get(WIDGETS).mock(
        side_effect=[
            unavailable(429, **{"retry-after": "4"}),
            httpx.Response(200, json=page([], 1, 0)),
        ]
    )
    async with client(time, rate_limit=RateLimit(1000, 60)) as api:
        await api.list_widgets()
    # the retry slept the 4 s once; the pause it set had expired by then, so no second wait
    assert time.sleeps == [4.0]


@respx.mock
async def test_a_429_pause_longer_than_the_retry_budget_is_not_waited_out():
    """After a 429 asking for Cloudflare's five-minute block, a later operation (e.g. apply's
    verifying list) gives up at once under --max-retry-time instead of sleeping through it."""
    time = FakeTime()
    respx.get(WIDGETS).mock(return_value=unavailable(429, **{"retry-after": "300"}))
    respx.delete(f"{WIDGETS}/0xA").mock(return_value=unavailable(429, **{"retry-after": "300"}))
    policy = RetryPolicy(max_retry_time=5)
    async with client(time, rate_limit=RateLimit(1000, 60), retry=policy) as api:
        with pytest.raises(RetriesExhaustedError):
            await api.delete_widget("0xA")
        with pytest.raises(RetriesExhaustedError) as caught:
            await api.list_widgets()
    assert "asked every request to wait 300 s more" in str(caught.value)
    assert time.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@respx.mock
async def test_other_4xx_are_never_retried(status):
    time = FakeTime()
    route = respx.get(WIDGETS).mock(return_value=httpx.Response(status, json=FAILURE))
    async with client(time) as api:
        with pytest.raises(ApiError):
            await api.list_widgets()
    assert route.call_count == 1
    assert time.sleeps == []


@respx.mock
async def test_the_retry_budget_ends_with_a_clear_error():
    time = FakeTime()
    route = respx.get(WIDGETS).mock(return_value=unavailable())
    async with client(time, retry=RetryPolicy(max_retry_time=5)) as api:
        with pytest.raises(RetriesExhaustedError) as caught:
            await api.list_widgets()
    assert route.call_count == 4  # waits 0.5 + 1 + 2 = 3.5 s; the next 4 s would pass 5 s
    assert time.now == pytest.approx(3.5)
    message = str(caught.value)
    assert "gave up after 4 attempt(s) within the retry budget of 5 s (--max-retry-time)" in message
    assert "HTTP 503: unavailable (code 10503)" in message


@respx.mock
async def test_a_dropped_create_that_happened_is_not_repeated():
    time = FakeTime()
    post = respx.post(WIDGETS).mock(side_effect=httpx.RemoteProtocolError("dropped"))
    listed = respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([detail(5)], 1, 1)))
    get = respx.get(f"{WIDGETS}/{item(5)['sitekey']}").mock(
        return_value=httpx.Response(200, json=envelope(detail(5)))
    )
    async with client(time) as api:
        widget = await api.create_widget(BODY)
    assert widget.sitekey == item(5)["sitekey"]
    assert (post.call_count, listed.call_count, get.call_count) == (1, 1, 1)


@respx.mock
async def test_a_dropped_create_that_did_not_happen_is_sent_again():
    time = FakeTime()
    post = respx.post(WIDGETS).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=envelope(detail(6)))]
    )
    respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([], 1, 0)))
    async with client(time) as api:
        widget = await api.create_widget(BODY)
    assert widget.sitekey == item(6)["sitekey"]
    assert post.call_count == 2


@respx.mock
async def test_a_create_check_ignores_widgets_that_existed_before():
    time = FakeTime()
    existing = detail(7)
    post = respx.post(WIDGETS).mock(
        side_effect=[unavailable(500), httpx.Response(200, json=envelope(detail(8)))]
    )
    respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([existing], 1, 1)))
    async with client(time) as api:
        widget = await api.create_widget(BODY, known_sitekeys=frozenset({existing["sitekey"]}))
    assert widget.sitekey == item(8)["sitekey"]
    assert post.call_count == 2


@respx.mock
async def test_a_create_that_never_left_is_simply_retried():
    time = FakeTime()
    post = respx.post(WIDGETS).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=envelope(detail(9)))]
    )
    listed = respx.get(WIDGETS)
    async with client(time) as api:
        await api.create_widget(BODY)
    assert post.call_count == 2
    assert listed.call_count == 0


@respx.mock
async def test_a_delete_whose_retry_finds_it_gone_is_done():
    time = FakeTime()
    route = respx.delete(f"{WIDGETS}/0xGONE").mock(
        side_effect=[httpx.RemoteProtocolError("dropped"), httpx.Response(404, json=FAILURE)]
    )
    async with client(time) as api:
        assert await api.delete_widget("0xGONE") is None
    assert route.call_count == 2


@respx.mock
async def test_a_plain_404_on_delete_is_still_an_error():
    time = FakeTime()
    respx.delete(f"{WIDGETS}/0xNONE").mock(return_value=httpx.Response(404, json=FAILURE))
    async with client(time) as api:
        with pytest.raises(ApiError, match="HTTP 404"):
            await api.delete_widget("0xNONE")


@respx.mock
async def test_a_rotation_is_never_done_twice():
    time = FakeTime()
    sitekey = item(1)["sitekey"]
    get = respx.get(f"{WIDGETS}/{sitekey}").mock(
        side_effect=[
            httpx.Response(200, json=envelope(detail(1, secret="old"))),
            httpx.Response(200, json=envelope(detail(1, secret="new"))),
        ]
    )
    rotate = respx.post(f"{WIDGETS}/{sitekey}/rotate_secret").mock(
        side_effect=httpx.ReadTimeout("slow")
    )
    async with client(time) as api:
        rotated = await api.rotate_secret(sitekey)
    assert rotated.secret.get_secret_value() == "new"
    assert (get.call_count, rotate.call_count) == (2, 1)


@respx.mock
async def test_a_rotation_that_did_not_happen_is_sent_again():
    time = FakeTime()
    sitekey = item(1)["sitekey"]
    respx.get(f"{WIDGETS}/{sitekey}").mock(
        return_value=httpx.Response(200, json=envelope(detail(1, secret="old")))
    )
    rotate = respx.post(f"{WIDGETS}/{sitekey}/rotate_secret").mock(
        side_effect=[unavailable(502), httpx.Response(200, json=envelope(detail(1, secret="new")))]
    )
    async with client(time) as api:
        rotated = await api.rotate_secret(sitekey)
    assert rotated.secret.get_secret_value() == "new"
    assert rotate.call_count == 2


@respx.mock
async def test_an_update_is_repeated_after_a_drop():
    time = FakeTime()
    sitekey = item(1)["sitekey"]
    route = respx.put(f"{WIDGETS}/{sitekey}").mock(
        side_effect=[
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(200, json=envelope(detail(1))),
        ]
    )
    async with client(time) as api:
        await api.update_widget(sitekey, BODY)
    assert route.call_count == 2
    assert json.loads(route.calls[0].request.content) == json.loads(route.calls[1].request.content)


@respx.mock
async def test_a_listing_that_moved_between_pages_is_taken_again():
    time = FakeTime()
    first = [item(i) for i in range(1000)]
    route = respx.get(WIDGETS).mock(
        side_effect=[
            httpx.Response(200, json=page(first, 1, 1001)),
            httpx.Response(200, json=page([item(1001)], 2, 1000)),  # total moved: one deleted
            httpx.Response(200, json=page(first, 1, 1001)),
            httpx.Response(200, json=page([item(1000)], 2, 1001)),
        ]
    )
    async with client(time) as api:
        widgets = await api.list_widgets()
    assert route.call_count == 4
    assert len({w.sitekey for w in widgets}) == len(widgets) == 1001


@respx.mock
async def test_a_listing_that_never_settles_is_an_error():
    time = FakeTime()
    respx.get(WIDGETS).mock(
        side_effect=[
            httpx.Response(200, json=page([item(i) for i in range(1000)], 1, 1500 + n))
            if n % 2 == 0
            else httpx.Response(200, json=page([item(1000)], 2, 1400 + n))
            for n in range(6)
        ]
    )
    async with client(time) as api:
        with pytest.raises(ListingError, match=r"listed 2 times"):
            await api.list_widgets()


async def test_the_budget_lets_a_burst_through_then_paces():
    time = FakeTime()
    budget = RequestBudget(RateLimit(10, 100), clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        await budget.acquire()
    assert time.sleeps == []  # a 10-request plan never waits
    await budget.acquire()
    assert time.sleeps == [pytest.approx(102.0)]  # window plus the 2% safety margin
    assert budget.waited == pytest.approx(102.0)


async def test_the_budget_never_allows_more_than_n_in_any_window():
    time = FakeTime()
    budget = RequestBudget(RateLimit(5, 10), clock=time.clock, sleep=time.sleep)
    sent = []
    for index in range(23):
        time.now += 0.7 * (index % 3)
        await budget.acquire()
        sent.append(time.now)
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 10) <= 5


@respx.mock
async def test_a_create_that_keeps_failing_gives_up_within_the_budget():
    time = FakeTime()
    post = respx.post(WIDGETS).mock(return_value=unavailable(503))
    listed = respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([], 1, 0)))
    async with client(time, retry=RetryPolicy(max_retry_time=10)) as api:
        with pytest.raises(RetriesExhaustedError, match="create widget: gave up after"):
            await api.create_widget(BODY)
    assert post.call_count == listed.call_count  # every unknown outcome was checked, once
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0]  # backing off, not hammering
    assert time.now <= 10


@respx.mock
async def test_a_create_whose_check_fails_says_the_widget_may_exist():
    from turnstile_sync.errors import OutcomeUnknownError

    time = FakeTime()
    respx.post(WIDGETS).mock(side_effect=httpx.RemoteProtocolError("dropped"))
    respx.get(WIDGETS).mock(return_value=unavailable(503))
    async with client(time, retry=RetryPolicy(max_retry_time=3)) as api:
        with pytest.raises(OutcomeUnknownError) as caught:
            await api.create_widget(BODY)
    message = str(caught.value)
    assert "create 'login': the outcome is unknown" in message
    assert "It may exist: run plan again" in message and "get-secret" in message


def test_backoff_does_not_overflow_after_many_attempts():
    assert RetryPolicy().backoff(5000, 1.0) == 30.0
