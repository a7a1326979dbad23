"""The emulator over raw HTTP (in-process transport): Cloudflare's envelope, statuses and rules."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from turnstile_sync.emulator import (
    ENTERPRISE,
    IN_PROCESS_BASE_URL,
    Backend,
    EmulatorOptions,
    emulator_transport,
)
from turnstile_sync.emulator.errors import EmulatorError

pytestmark = pytest.mark.anyio

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
OTHER = "11111111111111111111111111111111"
WIDGETS = f"accounts/{ACCOUNT}/challenges/widgets"
BODY = {"name": "login", "mode": "managed", "domains": ["b.example.com", "A.example.com"]}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = emulator_transport(tmp_path / "state.sqlite3")
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as client:
        yield client


async def create(http: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await http.post(WIDGETS, json={**BODY, **overrides})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def error_messages(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    return [error["message"] for error in body["errors"]]


async def test_create_returns_a_cloudflare_like_widget(http):
    widget = await create(http)
    assert widget["sitekey"].startswith("0x4AAAAAAA")
    assert len(widget["sitekey"]) == 24
    assert widget["secret"].startswith("0x4AAAAAAA")
    assert len(widget["secret"]) == 35
    assert widget["domains"] == ["a.example.com", "b.example.com"]
    assert widget["region"] == "world"
    assert widget["clearance_level"] == "no_clearance"
    assert widget["offlabel"] is False
    assert widget["created_on"] == widget["modified_on"]
    assert widget["created_on"].endswith("Z")


async def test_success_envelope(http):
    response = await http.post(WIDGETS, json=BODY)
    body = response.json()
    assert (body["success"], body["errors"], body["messages"]) == (True, [], [])


@pytest.mark.parametrize("missing", ["name", "mode", "domains"])
async def test_required_fields(http, missing):
    body = {key: value for key, value in BODY.items() if key != missing}
    response = await http.post(WIDGETS, json=body)
    assert response.status_code == 400
    assert error_messages(response) == [f"missing field `{missing}`"]


@pytest.mark.parametrize("field", ["sitekey", "secret", "colour"])
async def test_unknown_fields_are_refused(http, field):
    response = await http.post(WIDGETS, json={**BODY, field: "x"})
    assert response.status_code == 400
    assert error_messages(response) == [f'json: unknown field "{field}"']


async def test_every_body_problem_is_listed(http):
    response = await http.post(
        WIDGETS, json={"name": "", "mode": "loud", "domains": ["https://x.com"], "extra": 1}
    )
    assert response.status_code == 400
    assert len(error_messages(response)) == 3  # name, mode, unknown field; hostnames after


async def test_hostname_rules(http):
    response = await http.post(WIDGETS, json={**BODY, "domains": ["ok.com", "x.com:443"]})
    assert response.status_code == 400
    assert error_messages(response) == [
        "domains[1]: 'x.com:443': hostnames must not contain a port"
    ]


async def test_malformed_json_body(http):
    response = await http.post(WIDGETS, content=b"{not json")
    assert response.status_code == 400
    assert error_messages(response) == ["request body is not valid JSON"]


async def test_list_items_never_carry_the_secret(http):
    await create(http)
    response = await http.get(WIDGETS)
    body = response.json()
    (listed,) = body["result"]
    assert "secret" not in listed
    assert body["result_info"] == {"page": 1, "per_page": 25, "count": 1, "total_count": 1}


async def test_get_returns_the_secret(http):
    widget = await create(http)
    response = await http.get(f"{WIDGETS}/{widget['sitekey']}")
    assert response.json()["result"]["secret"] == widget["secret"]


async def test_pagination_and_empty_page_past_the_end(http):
    for index in range(7):
        await create(http, name=f"w{index}")
    first = (await http.get(WIDGETS, params={"per_page": 5})).json()
    second = (await http.get(WIDGETS, params={"per_page": 5, "page": 2})).json()
    past = await http.get(WIDGETS, params={"per_page": 5, "page": 3})
    assert [w["name"] for w in first["result"]] == ["w0", "w1", "w2", "w3", "w4"]
    assert [w["name"] for w in second["result"]] == ["w5", "w6"]
    assert past.status_code == 200
    assert past.json()["result"] == []
    assert past.json()["result_info"]["total_count"] == 7


@pytest.mark.parametrize(
    "params",
    [{"per_page": 4}, {"per_page": 1001}, {"page": 0}, {"order": "colour"}, {"filter": "mode:x"}],
)
async def test_invalid_list_parameters(http, params):
    response = await http.get(WIDGETS, params=params)
    assert response.status_code == 400
    assert error_messages(response)


async def test_update_replaces_fields_and_moves_modified_on(http):
    widget = await create(http)
    response = await http.put(
        f"{WIDGETS}/{widget['sitekey']}",
        json={"name": "renamed", "mode": "invisible", "domains": ["c.example.com"]},
    )
    updated = response.json()["result"]
    assert updated["name"] == "renamed"
    assert updated["domains"] == ["c.example.com"]
    assert updated["modified_on"] > widget["modified_on"]
    assert updated["created_on"] == widget["created_on"]


async def test_region_cannot_change(http):
    widget = await create(http)
    response = await http.put(f"{WIDGETS}/{widget['sitekey']}", json={**BODY, "region": "china"})
    assert response.status_code == 400
    assert "you cannot change region" in error_messages(response)[0]
    same = await http.put(f"{WIDGETS}/{widget['sitekey']}", json={**BODY, "region": "world"})
    assert same.status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_sitekey_is_404(http, method):
    response = await http.request(method, f"{WIDGETS}/0x4AAAAAAAnothere00000000", json=BODY)
    assert response.status_code == 404
    assert error_messages(response) == ["widget 0x4AAAAAAAnothere00000000 not found"]


async def test_delete_returns_the_widget_and_removes_it(http):
    widget = await create(http)
    response = await http.delete(f"{WIDGETS}/{widget['sitekey']}")
    assert response.json()["result"]["sitekey"] == widget["sitekey"]
    assert (await http.get(f"{WIDGETS}/{widget['sitekey']}")).status_code == 404


async def test_malformed_account_id_is_a_400(http):
    response = await http.get("accounts/not-an-account/challenges/widgets")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 7003


async def test_unknown_route_uses_the_error_envelope(http):
    response = await http.get("accounts/nothing/here")
    assert response.status_code == 404
    assert response.json()["errors"] == [{"code": 7003, "message": "No route for that URI"}]


async def test_accounts_are_isolated(http):
    widget = await create(http)
    other = await http.get(f"accounts/{OTHER}/challenges/widgets")
    assert other.json()["result"] == []
    assert (
        await http.get(f"accounts/{OTHER}/challenges/widgets/{widget['sitekey']}")
    ).status_code == 404


async def test_rotate_secret_grace_period(http):
    widget = await create(http)
    url = f"{WIDGETS}/{widget['sitekey']}/rotate_secret"
    rotated = (await http.post(url, json={"invalidate_immediately": False})).json()["result"]
    assert rotated["secret"] != widget["secret"]
    again = await http.post(url, json={})
    assert again.status_code == 400
    assert "grace period" in error_messages(again)[0]


async def test_free_plan_limits(http):
    too_many = [f"h{i}.example.com" for i in range(11)]
    response = await http.post(WIDGETS, json={**BODY, "domains": too_many})
    assert response.status_code == 400
    assert "allows 10 per widget" in error_messages(response)[0]
    enterprise_only = await http.post(WIDGETS, json={**BODY, "offlabel": True})
    assert enterprise_only.status_code == 400
    assert error_messages(enterprise_only) == ["offlabel requires an Enterprise entitlement"]
    assert (await http.post(WIDGETS, json={**BODY, "offlabel": False})).status_code == 200
    for index in range(19):
        await create(http, name=f"w{index}")
    over = await http.post(WIDGETS, json=BODY)
    assert over.status_code == 400
    assert "allows 20 widgets per account" in error_messages(over)[0]


async def test_enterprise_plan_allows_more(tmp_path):
    transport = emulator_transport(
        tmp_path / "ent.sqlite3", EmulatorOptions(account_plan=ENTERPRISE)
    )
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as http:
        domains = [f"h{i}.example.com" for i in range(50)]
        response = await http.post(WIDGETS, json={**BODY, "domains": domains, "offlabel": True})
        assert response.status_code == 200


async def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL, transport=emulator_transport(path)
    ) as http:
        widget = await create(http)
    backend = Backend(path)
    try:
        assert backend.get(ACCOUNT, widget["sitekey"])["name"] == "login"
    finally:
        backend.close()


async def test_filter_by_name_and_sitekey_is_a_case_insensitive_substring(http):
    login = await create(http, name="Blog Login")
    await create(http, name="checkout")
    by_name = (await http.get(WIDGETS, params={"filter": "name:LOGIN"})).json()
    assert [w["name"] for w in by_name["result"]] == ["Blog Login"]
    # total_count is "Total results available without any search parameters" (the schema).
    assert (by_name["result_info"]["count"], by_name["result_info"]["total_count"]) == (1, 2)
    by_key = (
        await http.get(WIDGETS, params={"filter": f"sitekey:{login['sitekey'][-6:].lower()}"})
    ).json()
    assert [w["sitekey"] for w in by_key["result"]] == [login["sitekey"]]
    everything = (await http.get(WIDGETS, params={"filter": "name:"})).json()
    assert len(everything["result"]) == 2


async def test_order_and_direction(http):
    for name in ("b", "c", "a"):
        await create(http, name=name)
    by_name = (await http.get(WIDGETS, params={"order": "name", "direction": "desc"})).json()
    assert [w["name"] for w in by_name["result"]] == ["c", "b", "a"]
    by_creation = (await http.get(WIDGETS, params={"order": "created_on"})).json()
    assert [w["name"] for w in by_creation["result"]] == ["b", "c", "a"]


async def test_origin_fields(http):
    widget = await create(http)
    assert widget["deployed_via"] == "api"
    assert widget["last_modified_via"] == "api"


async def test_rotate_immediately_kills_the_old_secret(tmp_path):
    backend = Backend(tmp_path / "rotate.sqlite3")
    widget = backend.create(ACCOUNT, {**BODY, "domains": ["example.com"]})
    rotated = backend.rotate_secret(ACCOUNT, widget["sitekey"], invalidate_immediately=True)
    assert backend.valid_secrets(ACCOUNT, widget["sitekey"]) == [rotated["secret"]]
    backend.close()


async def test_grace_period_keeps_both_secrets_for_two_hours(tmp_path):
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    backend = Backend(tmp_path / "grace.sqlite3", clock=lambda: now[0])
    widget = backend.create(ACCOUNT, {**BODY, "domains": ["example.com"]})
    rotated = backend.rotate_secret(ACCOUNT, widget["sitekey"], invalidate_immediately=False)
    assert rotated["modified_on"] > widget["modified_on"]
    assert backend.valid_secrets(ACCOUNT, widget["sitekey"]) == [
        rotated["secret"],
        widget["secret"],
    ]
    now[0] += timedelta(hours=1, minutes=59)
    with pytest.raises(EmulatorError, match="grace period"):
        backend.rotate_secret(ACCOUNT, widget["sitekey"], invalidate_immediately=True)
    now[0] += timedelta(minutes=2)
    assert backend.valid_secrets(ACCOUNT, widget["sitekey"]) == [rotated["secret"]]
    backend.rotate_secret(ACCOUNT, widget["sitekey"], invalidate_immediately=False)
    backend.close()


async def test_rotate_refuses_unknown_body_fields(http):
    widget = await create(http)
    response = await http.post(f"{WIDGETS}/{widget['sitekey']}/rotate_secret", json={"now": True})
    assert response.status_code == 400
    assert error_messages(response) == ['json: unknown field "now"']


async def test_sitekey_longer_than_32_characters_is_unroutable(http):
    response = await http.get(f"{WIDGETS}/0x{'A' * 40}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 7003


def test_state_file_of_an_older_version_is_migrated(tmp_path):
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
    backend = Backend(path)
    try:
        widget = backend.get(ACCOUNT, "0x4AAAAAAAold0000000000000")
        assert widget["name"] == "old"
        assert "deployed_via" not in widget  # created before origins were recorded
        backend.update(ACCOUNT, widget["sitekey"], {**BODY})
        assert backend.get(ACCOUNT, widget["sitekey"])["last_modified_via"] == "api"
    finally:
        backend.close()


V1_SCHEMA = f"""
CREATE TABLE widgets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, sitekey TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL, previous_secret TEXT, previous_secret_expires_on TEXT,
    name TEXT NOT NULL, mode TEXT NOT NULL, domains TEXT NOT NULL, region TEXT NOT NULL,
    clearance_level TEXT NOT NULL, bot_fight_mode INTEGER NOT NULL, ephemeral_id INTEGER NOT NULL,
    offlabel INTEGER NOT NULL, created_on TEXT NOT NULL, modified_on TEXT NOT NULL
);
INSERT INTO widgets VALUES (1, '{ACCOUNT}', '0x4AAAAAAAold0000000000000', '0xs', NULL, NULL,
    'old', 'managed', '["example.com"]', 'world', 'no_clearance', 0, 0, 0,
    '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z');
PRAGMA user_version = 1;
"""
