"""Behaviours checked against public sources, each through HTTP against `emulator serve` and
against the in-process emulator: the China Network entitlement, partial PUTs, total_count
under a filter, rate-limit headers on every answer, malformed credential headers, the hostname
limit, and the emulator's own hostname rules agreeing with the tool's."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.processes import served_emulator
from tests.unit.test_emulator_keeps_its_own_rules import INVALID, VALID, tool_verdict
from turnstile_sync.emulator import (
    ENTERPRISE,
    IN_PROCESS_BASE_URL,
    Backend,
    EmulatorOptions,
    RateLimit,
    emulator_transport,
)

pytestmark = pytest.mark.anyio

WIDGETS = f"accounts/{ACCOUNT}/challenges/widgets"
BODY = {"name": "login", "mode": "managed", "domains": ["example.com"]}
AUTH = {"Authorization": "Bearer fidelity"}
GLOBAL_API_KEY = "0123456789abcdef" * 2 + "01234"  # 37 hex digits


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[tuple[str, ...]], str]]:
    """One `emulator serve` per set of options, shared by this module's tests (each test
    works in an account and with a token of its own): starting one per test is slow."""
    started: dict[tuple[str, ...], str] = {}
    with contextlib.ExitStack() as stack:

        def start(args: tuple[str, ...]) -> str:
            if args not in started:
                db = tmp_path_factory.mktemp("served") / "state.sqlite3"
                started[args] = stack.enter_context(served_emulator(db, *args))
            return started[args]

        yield start


@pytest.fixture(params=["in-process", "served"])
def emulator(
    request: pytest.FixtureRequest, servers: Callable[[tuple[str, ...]], str]
) -> Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, str]]]:
    """The same emulator both ways: ``serve_args`` for `emulator serve`, ``options`` for the
    in-process one (each test gives both, meaning the same thing). With ``db`` the emulator
    opens that state file (served: a server of its own); otherwise a fresh account."""

    @asynccontextmanager
    async def start(
        serve_args: tuple[str, ...] = (), db: Path | None = None, **options: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        account = ACCOUNT if db is not None else uuid.uuid4().hex
        widgets = f"accounts/{account}/challenges/widgets"
        auth = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
        if request.param == "in-process":
            transport = emulator_transport(db or ":memory:", EmulatorOptions(**options))
            async with httpx.AsyncClient(
                base_url=IN_PROCESS_BASE_URL, transport=transport, headers=auth
            ) as http:
                yield http, widgets
            return
        with contextlib.ExitStack() as stack:
            if db is not None:
                base_url = stack.enter_context(served_emulator(db, *serve_args))
            else:
                base_url = servers(serve_args)
            async with httpx.AsyncClient(base_url=base_url, headers=auth) as http:
                yield http, widgets

    return start


def messages(response: httpx.Response) -> list[str]:
    return [error["message"] for error in response.json()["errors"]]


# 1. China region needs the China Network entitlement [siiway/prism PR #19]


async def test_china_region_is_refused_without_the_china_network(emulator):
    async with emulator(china_network=False) as (http, widgets):
        refused = await http.post(widgets, json={**BODY, "region": "china"})
        world = await http.post(widgets, json={**BODY, "region": "world"})
        moved = await http.put(
            f"{widgets}/{world.json()['result']['sitekey']}", json={"region": "china"}
        )
        listed = (await http.get(widgets)).json()
    assert refused.status_code == 400
    assert messages(refused) == ["not entitled to create widgets with this region"]
    assert world.status_code == 200
    assert moved.status_code == 400
    assert messages(moved)[0].startswith("you cannot change region")
    assert [w["region"] for w in listed["result"]] == ["world"]


@pytest.mark.parametrize(
    ("serve_args", "options"),
    [
        (("--china-network",), {}),
        (("--plan", "enterprise"), {"account_plan": ENTERPRISE}),
    ],
    ids=["entitled", "enterprise"],
)
async def test_china_region_is_created_with_the_china_network(emulator, serve_args, options):
    async with emulator(serve_args, **options) as (http, widgets):
        created = await http.post(widgets, json={**BODY, "region": "china"})
    assert created.status_code == 200, created.text
    assert created.json()["result"]["region"] == "china"


def test_enterprise_without_the_china_network_is_refused(servers):
    base_url = servers(("--plan", "enterprise", "--no-china-network"))
    refused = httpx.post(f"{base_url}/{WIDGETS}", json={**BODY, "region": "china"}, headers=AUTH)
    assert (refused.status_code, messages(refused)) == (
        400,
        ["not entitled to create widgets with this region"],
    )


async def test_a_china_widget_stays_editable_without_the_entitlement(emulator, tmp_path):
    db = tmp_path / "e.sqlite3"
    backend = Backend(db, china_network=True)
    widget = backend.create(ACCOUNT, {**BODY, "region": "china"})
    backend.close()
    async with emulator(db=db, china_network=False) as (http, widgets):
        renamed = await http.put(f"{widgets}/{widget['sitekey']}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["result"]["name"], renamed.json()["result"]["region"]) == (
        "renamed",
        "china",
    )


def test_apply_of_a_china_widget_on_a_free_account_names_the_refusal(servers, write_spec):
    path = write_spec(
        f"account_id: {ACCOUNT}\nwidgets:\n"
        "  - {name: cn, mode: managed, domains: [shop.example.cn], region: china}\n"
    )
    env = {"CLOUDFLARE_BASE_URL": servers(()), "CLOUDFLARE_API_TOKEN": "t"}
    result = run_cli(
        ["apply", str(path), "--auto-approve", "--account-id", uuid.uuid4().hex], env=env
    )
    assert result.exit_code == 1
    assert "not entitled to create widgets with this region" in result.stderr
    assert "Traceback" not in result.stderr


# 2. A PUT keeps what it leaves out [cloudflare/cloudflare-go PR #3594]


async def test_a_partial_put_keeps_the_fields_it_leaves_out(emulator):
    full = {
        "name": "checkout",
        "mode": "invisible",
        "domains": ["a.example", "b.example"],
        "clearance_level": "managed",
    }
    async with emulator() as (http, widgets):
        created = (await http.post(widgets, json=full)).json()["result"]
        item = f"{widgets}/{created['sitekey']}"
        only_domains = await http.put(item, json={"domains": ["C.example"]})
        only_mode = await http.put(item, json={"mode": "managed"})
        nothing = await http.put(item, json={})
        bad_host = await http.put(item, json={"domains": ["c.example:443"]})
        unknown = await http.put(item, json={"colour": "red"})
        bad_mode = await http.put(item, json={"mode": "loud"})
        stored = (await http.get(item)).json()["result"]
    assert only_domains.status_code == 200, only_domains.text
    after_domains = only_domains.json()["result"]
    assert (after_domains["name"], after_domains["mode"], after_domains["clearance_level"]) == (
        "checkout",
        "invisible",
        "managed",
    )
    assert after_domains["domains"] == ["c.example"]
    assert only_mode.json()["result"]["domains"] == ["c.example"]
    assert nothing.status_code == 200
    assert [r.status_code for r in (bad_host, unknown, bad_mode)] == [400, 400, 400]
    assert messages(unknown) == ['json: unknown field "colour"']
    assert {k: stored[k] for k in ("name", "mode", "domains", "clearance_level", "secret")} == {
        "name": "checkout",
        "mode": "managed",
        "domains": ["c.example"],
        "clearance_level": "managed",
        "secret": created["secret"],
    }


async def test_create_still_requires_name_mode_and_domains(emulator):
    async with emulator() as (http, widgets):
        response = await http.post(widgets, json={"domains": ["a.example"]})
    assert response.status_code == 400
    assert messages(response) == ["missing field `name`", "missing field `mode`"]


# 4. total_count is "Total results available without any search parameters" [schema]


async def test_total_count_ignores_the_filter(emulator):
    async with emulator() as (http, widgets):
        for name in ("login", "checkout", "login page"):
            await http.post(widgets, json={**BODY, "name": name})
        filtered = (await http.get(widgets, params={"filter": "name:login", "per_page": 5})).json()
        unfiltered = (await http.get(widgets)).json()
    assert [w["name"] for w in filtered["result"]] == ["login", "login page"]
    assert (filtered["result_info"]["count"], filtered["result_info"]["total_count"]) == (2, 3)
    assert unfiltered["result_info"]["total_count"] == 3


# 5. Rate-limit headers on every answer; malformed credentials get 400
#    [fundamentals/api/reference/limits; cloudflare-typescript issue #161]

RATELIMIT = re.compile(r'^"default";r=\d+;t=\d+$')


def assert_rate_limit_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert RATELIMIT.match(response.headers.get("ratelimit", "")), where
    assert response.headers.get("ratelimit-policy") == '"default";q=1200;w=300', where


async def test_every_answer_carries_the_rate_limit_headers_errors_included(emulator):
    async with emulator(require_auth=True) as (http, widgets):
        answers = [
            await http.get(widgets),
            await http.post(widgets, json=BODY),
            await http.post(widgets, json={"name": ""}),
            await http.get(f"{widgets}/0x4AAAAAAAnotthere-_0000"),
            await http.patch(widgets),
            await http.get(f"accounts/{ACCOUNT}/nothing"),
            await http.get("accounts/not-an-account/challenges/widgets"),
            await http.get(widgets, headers={"Authorization": ""}),
            await http.get(widgets, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
            await http.post(widgets, content=b"x" * (1024 * 1024 + 1)),
        ]
        anonymous = httpx.AsyncClient(
            base_url=http.base_url,
            transport=http._transport,  # same emulator, no credentials
        )
        async with anonymous:
            answers.append(await anonymous.get(widgets))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 400, 404, 405, 404, 400, 400, 400, 413, 403]
    for answer in answers:
        assert_rate_limit_headers(answer)
    remaining = [int(a.headers["ratelimit"].split("r=")[1].split(";")[0]) for a in answers[:7]]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] == 1199


async def test_the_throttled_answer_carries_the_headers_and_retry_after(emulator):
    args = ("--rate-limit", "2/60")
    async with emulator(args, rate_limit=RateLimit(2, 60)) as (http, widgets):
        answers = [await http.get(widgets) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["ratelimit"].split(";")[1] for a in answers] == ["r=1", "r=0", "r=0"]
    assert {a.headers["ratelimit-policy"] for a in answers} == {'"default";q=2;w=60'}
    assert int(answers[2].headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("headers", "chain"),
    [
        ({"Authorization": "Bearer"}, (6111, "Invalid format for Authorization header")),
        ({"Authorization": "Bearer two words"}, (6111, "Invalid format for Authorization header")),
        ({"Authorization": "Token abc"}, (6111, "Invalid format for Authorization header")),
        (
            {"X-Auth-Email": "ops@example.com", "X-Auth-Key": "an-api-token-sent-as-a-key"},
            (6103, "Invalid format for X-Auth-Key header"),
        ),
    ],
    ids=["empty-bearer", "spaces", "other-scheme", "token-as-key"],
)
async def test_malformed_credential_headers_get_400_with_code_6003(emulator, headers, chain):
    async with emulator(require_auth=True) as (http, widgets):
        http.headers.pop("Authorization")
        response = await http.get(widgets, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [{"code": chain[0], "message": chain[1]}],
        }
    ]


async def test_well_formed_credentials_are_not_malformed(emulator):
    args = ("--token", "right")
    async with emulator(args, require_auth=True, token="right") as (http, widgets):
        wrong = await http.get(widgets, headers={"Authorization": "Bearer wrong"})
        right = await http.get(widgets, headers={"Authorization": "Bearer right"})
    async with emulator(require_auth=True) as (http, widgets):
        http.headers.pop("Authorization")
        legacy = await http.get(
            widgets, headers={"X-Auth-Email": "ops@example.com", "X-Auth-Key": GLOBAL_API_KEY}
        )
    assert (wrong.status_code, right.status_code, legacy.status_code) == (403, 200, 200)
    assert wrong.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]


# 6. Hostnames per widget: 10 on Free (plans table; the hostname-management page says 15)


async def test_free_allows_ten_hostnames_per_widget(emulator):
    hosts = [f"h{i}.example" for i in range(11)]
    async with emulator() as (http, widgets):
        ten = await http.post(widgets, json={**BODY, "domains": hosts[:10]})
        eleven = await http.post(widgets, json={**BODY, "domains": hosts})
        grown = await http.put(
            f"{widgets}/{ten.json()['result']['sitekey']}", json={"domains": hosts}
        )
    assert ten.status_code == 200
    assert (eleven.status_code, grown.status_code) == (400, 400)
    assert "the free plan allows 10 per widget" in messages(eleven)[0]


# 7. The emulator's own hostname rules agree with the tool's, through HTTP


async def test_the_emulator_over_http_agrees_with_the_tools_hostname_rules():
    options = EmulatorOptions(account_plan=ENTERPRISE, rate_limit=None)
    transport = emulator_transport(":memory:", options)
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as http:
        created = (await http.post(WIDGETS, json=BODY)).json()["result"]
        item = f"{WIDGETS}/{created['sitekey']}"
        disagreements = []
        for hostname in [*VALID, *INVALID]:
            answer = await http.put(item, json={"domains": [hostname]})
            stored = answer.json()["result"]["domains"][0] if answer.status_code == 200 else None
            if answer.status_code not in (200, 400) or stored != tool_verdict(hostname):
                disagreements.append((hostname, answer.status_code, stored))
    assert disagreements == []
