"""A listing is every widget or an error: silent page caps, pages that disagree, and the pages
after the first fetched concurrently without changing the requests or the order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.client.test_client import WIDGETS, client, envelope, item
from tests.conftest import ACCOUNT
from turnstile_sync.client import TurnstileClient
from turnstile_sync.emulator import (
    ENTERPRISE,
    IN_PROCESS_BASE_URL,
    Backend,
    EmulatorOptions,
    Faults,
    emulator_transport,
)
from turnstile_sync.errors import ApiError
from turnstile_sync.listing import ListingError

pytestmark = pytest.mark.anyio

Pages = Callable[[int, int], dict[str, Any]]


def served(total: int, cap: int, *, echo: bool = True, **info: Any) -> Pages:
    """An API holding ``total`` widgets that serves at most ``cap`` a page, offsets by the
    size it serves, and echoes the cap in per_page (or, with echo=False, what was asked)."""

    def answer(number: int, asked: int) -> dict[str, Any]:
        size = min(asked, cap)
        start = (number - 1) * size
        items = [item(i) for i in range(start, min(start + size, total))]
        result_info = {
            "page": number,
            "per_page": size if echo else asked,
            "count": len(items),
            "total_count": total,
            **info,
        }
        return envelope(items, result_info=result_info)

    return answer


def mock(answer: Pages) -> respx.Route:
    """Answers by the page asked for, so concurrent requests get the right page whatever the
    order they arrive in."""

    def respond(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        return httpx.Response(200, json=answer(int(params["page"]), int(params["per_page"])))

    return respx.get(WIDGETS).mock(side_effect=respond)


def asked(route: respx.Route) -> list[tuple[int, int]]:
    calls = [call.request.url.params for call in route.calls]
    return sorted((int(params["page"]), int(params["per_page"])) for params in calls)


def sitekeys(count: int, start: int = 0) -> list[str]:
    return [item(i)["sitekey"] for i in range(start, start + count)]


# A silent page-size cap


@respx.mock
async def test_a_capped_page_size_is_paged_through_to_the_total():
    route = mock(served(2_345, cap=500))
    async with client() as api:
        widgets = await api.list_widgets()
    assert [w.sitekey for w in widgets] == sitekeys(2_345)
    # page 1 asks for 1,000; the rest ask for the 500 the API serves: five requests in all
    assert asked(route) == [(1, 1000), (2, 500), (3, 500), (4, 500), (5, 500)]


@respx.mock
async def test_a_cap_the_api_does_not_admit_to_is_paged_by_what_it_served():
    """per_page says 1000 but 300 came: asking for 300 explicitly makes every offset certain."""
    route = mock(served(700, cap=300, echo=False))
    async with client() as api:
        widgets = await api.list_widgets()
    assert [w.sitekey for w in widgets] == sitekeys(700)
    assert asked(route) == [(1, 1000), (2, 300), (3, 300)]


@respx.mock
async def test_a_cap_below_the_smallest_page_size_is_an_error_not_a_short_list():
    route = mock(served(12, cap=3))
    async with client() as api:
        with pytest.raises(ListingError) as caught:
            await api.list_widgets()
    assert "page 1 holds only 3 of 12 widgets" in str(caught.value)
    assert "pages smaller than 5 cannot be asked for" in str(caught.value)
    assert asked(route) == [(1, 1000), (1, 1000)]  # listed twice, never paged by 3


@respx.mock
async def test_a_total_beyond_the_rate_limit_window_is_refused_without_paging():
    route = mock(served(10**9, cap=1000))
    async with client() as api:
        with pytest.raises(ListingError, match=r"needs 1000000 requests, more than"):
            await api.list_widgets()
    assert route.call_count == 2


# Pages that disagree: listed once more, then an error naming what disagreed


def with_page(base: Pages, number: int, change: Callable[[dict[str, Any]], None]) -> Pages:
    def answer(page: int, size: int) -> dict[str, Any]:
        payload = base(page, size)
        if page == number:
            change(payload)
        return payload

    return answer


def set_info(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload["result_info"].update(values)


def drop_items(count: int) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        del payload["result"][-count:]
        payload["result_info"]["count"] = len(payload["result"])

    return change


def repeat_item(index: int) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload["result"].__setitem__(0, item(index))


def add_items(count: int) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        payload["result"] += [item(10_000 + i) for i in range(count)]
        payload["result_info"]["count"] = len(payload["result"])

    return change


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            with_page(served(2_500, 1000), 3, set_info(total_count=2_499)),
            "page 3: total_count is 2499, but page 1 said 2500",
        ),
        (
            with_page(served(2_500, 1000), 2, repeat_item(5)),
            f"page 2: widget {item(5)['sitekey']} was already on page 1",
        ),
        (
            with_page(served(2_500, 1000), 2, drop_items(1000)),
            "page 2: holds 0 widgets, expected 1000 (total_count 2500, 1000 per page)",
        ),
        (
            with_page(served(2_500, 1000), 3, drop_items(1)),
            "page 3: holds 499 widgets, expected 500",
        ),
        (
            with_page(served(2_500, 1000), 3, add_items(2)),
            "page 3: holds 502 widgets, expected 500",
        ),
        (
            with_page(served(10, 1000), 1, set_info(total_count=8)),
            "page 1 holds 10 widgets, more than total_count 8",
        ),
        (
            with_page(served(0, 1000), 1, set_info(total_count=3)),
            "page 1 is empty, but total_count is 3",
        ),
        (
            with_page(served(2_500, 1000), 2, set_info(count=999)),
            "page 2: result_info.count is 999, but it holds 1000",
        ),
        (
            with_page(served(2_500, 1000), 2, set_info(page=1)),
            "page 2: result_info.page is 1",
        ),
        (
            with_page(served(2_500, 1000), 1, set_info(total_pages=2)),
            "page 1: total_pages is 2, but total_count 2500 at per_page 1000 makes 3",
        ),
    ],
    ids=[
        "total-moves",
        "duplicate",
        "empty-page-before-total",
        "short-last-page",
        "more-than-total",
        "more-than-total-on-page-1",
        "empty-page-1",
        "count-disagrees",
        "wrong-page",
        "total-pages-disagrees",
    ],
)
@respx.mock
async def test_a_listing_that_does_not_add_up_is_an_error_naming_what_disagreed(answer, expected):
    route = mock(answer)
    async with client() as api:
        with pytest.raises(ListingError) as caught:
            await api.list_widgets()
    message = str(caught.value)
    assert expected in message
    assert "listed 2 times" in message and "nothing is planned from them" in message
    pages = max(number for number, _ in asked(route))
    assert route.call_count == 2 * pages  # the whole listing once more, and no further


@respx.mock
async def test_a_change_during_the_listing_is_outlived_by_listing_again():
    """A widget deleted between page 1 and page 3: the first listing disagrees with itself,
    the second (after the delete) adds up, and is what the caller gets."""
    listings: list[int] = []

    def answer(number: int, size: int) -> dict[str, Any]:
        if number == 1:
            listings.append(1)
        total = 2_500 if len(listings) == 1 and number == 1 else 2_499
        return served(total, 1000)(number, size)

    route = mock(answer)
    async with client() as api:
        widgets = await api.list_widgets()
    assert [w.sitekey for w in widgets] == sitekeys(2_499)
    assert route.call_count == 6


@respx.mock
async def test_a_page_that_fails_fails_the_listing_and_stops_the_others():
    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        if number == 3:
            return httpx.Response(403, json={"success": False, "errors": [], "messages": []})
        return httpx.Response(200, json=served(5_000, 1000)(number, 1000))

    respx.get(WIDGETS).mock(side_effect=respond)
    async with client() as api:
        with pytest.raises(ApiError, match="HTTP 403"):
            await api.list_widgets()


# Concurrency: the same requests, the same order, the same checks


@respx.mock
async def test_pages_after_the_first_are_in_flight_together():
    """Every page after the first waits until all of them have arrived: a sequential client
    would never get past page 2 (the timeout only bounds that failure)."""
    total_pages = 10
    arrived: set[int] = set()
    everyone = asyncio.Event()

    async def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        if number > 1:
            arrived.add(number)
            if len(arrived) == total_pages - 1:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), timeout=10)
        return httpx.Response(200, json=served(9_999, 1000)(number, 1000))

    route = respx.get(WIDGETS).mock(side_effect=respond)
    async with client() as api:
        widgets = await api.list_widgets()
    assert [w.sitekey for w in widgets] == sitekeys(9_999)
    assert asked(route) == [(n, 1000) for n in range(1, total_pages + 1)]


@respx.mock
async def test_pages_in_flight_never_exceed_the_parallelism():
    in_flight = [0]
    most = [0]

    async def respond(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0)
        in_flight[0] -= 1
        return httpx.Response(200, json=served(7_000, 1000)(int(request.url.params["page"]), 1000))

    route = respx.get(WIDGETS).mock(side_effect=respond)
    async with client(parallelism=2) as api:
        widgets = await api.list_widgets()
    assert [w.sitekey for w in widgets] == sitekeys(7_000)
    assert route.call_count == 7
    assert most[0] <= 2


@respx.mock
async def test_pages_answered_in_reverse_still_list_in_creation_order():
    """Later pages answer first; the list is still page 1, 2, 3... as a sequential one."""
    total_pages = 6
    order: list[int] = []
    turns = {number: asyncio.Event() for number in range(2, total_pages + 1)}

    async def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        if number > 1:
            if number < total_pages:
                await asyncio.wait_for(turns[number + 1].wait(), timeout=10)
            order.append(number)
            turns[number].set()
        return httpx.Response(200, json=served(5_500, 1000)(number, 1000))

    respx.get(WIDGETS).mock(side_effect=respond)
    async with client() as api:
        widgets = await api.list_widgets()
    assert order == [6, 5, 4, 3, 2]
    assert [w.sitekey for w in widgets] == sitekeys(5_500)


# Against the emulator's --per-page-cap


def seeded(db: Path, count: int) -> list[str]:
    backend = Backend(db, account_plan=ENTERPRISE)
    try:
        return [
            backend.create(ACCOUNT, {"name": f"w{i}", "mode": "managed", "domains": ["a.com"]})[
                "sitekey"
            ]
            for i in range(count)
        ]
    finally:
        backend.close()


async def test_the_emulator_cap_serves_short_pages_and_says_so(tmp_path):
    db = tmp_path / "emulator.sqlite3"
    seeded(db, 12)
    transport = emulator_transport(db, EmulatorOptions(faults=Faults(per_page_cap=5)))
    async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_BASE_URL) as http:
        answers = [
            (
                await http.get(
                    f"accounts/{ACCOUNT}/challenges/widgets",
                    params={"page": number, "per_page": 1000},
                    headers={"Authorization": "Bearer t"},
                )
            ).json()
            for number in (1, 3)
        ]
    assert [a["result_info"] for a in answers] == [
        {"page": 1, "per_page": 5, "count": 5, "total_count": 12},
        {"page": 3, "per_page": 5, "count": 2, "total_count": 12},
    ]


@pytest.mark.parametrize("cap", [5, 7, 1000])
async def test_the_client_lists_every_widget_under_an_emulator_cap(tmp_path, cap):
    db = tmp_path / "emulator.sqlite3"
    created = seeded(db, 23)
    transport = emulator_transport(db, EmulatorOptions(faults=Faults(per_page_cap=cap)))
    async with TurnstileClient(ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=transport) as api:
        widgets = await api.list_widgets()
        requests = transport.stats.snapshot()["total"]
    assert [w.sitekey for w in widgets] == created
    assert requests == -(-23 // min(cap, 1000))


def test_a_cap_below_one_is_refused():
    with pytest.raises(Exception, match="per-page-cap must be at least 1"):
        Faults(per_page_cap=0)
