"""The client against canned Cloudflare responses (respx): envelope, errors, pagination, auth."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.factories import widget_json
from tests.fake_time import FakeTime
from turnstile_sync.client import DEFAULT_BASE_URL, Credentials, TurnstileClient
from turnstile_sync.errors import ApiError, ApiUnreachableError, ConfigError, RetriesExhaustedError
from turnstile_sync.models import WidgetBody

pytestmark = pytest.mark.anyio

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
WIDGETS = f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/challenges/widgets"
TOKEN = "tok-very-secret-123"


def item(index: int, **extra: Any) -> dict[str, Any]:
    return widget_json(
        f"0x4AAAAAAA{index:014d}",
        f"widget {index}",
        domains=["b.example.com", "A.example.com"],
        **extra,
    )


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def page(items: list[dict[str, Any]], number: int, total: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {"page": number, "per_page": 1000, "count": len(items)}
    if total is not None:
        info["total_count"] = total
    return envelope(items, result_info=info)


def client(**kwargs: Any) -> TurnstileClient:
    """A client whose retries wait on a fake clock: tests never sleep."""
    kwargs.setdefault("timing", FakeTime().timing())
    return TurnstileClient(ACCOUNT, Credentials(token=SecretStr(TOKEN)), **kwargs)


@respx.mock
async def test_list_pages_with_the_largest_page_size():
    route = respx.get(WIDGETS).mock(
        side_effect=[
            httpx.Response(200, json=page([item(i) for i in range(1000)], 1, 1003)),
            httpx.Response(200, json=page([item(i) for i in range(1000, 1003)], 2, 1003)),
        ]
    )
    async with client() as api:
        widgets = await api.list_widgets()
    assert len(widgets) == 1003
    assert route.call_count == 2
    params = [dict(call.request.url.params) for call in route.calls]
    assert params == [
        {"page": "1", "per_page": "1000", "order": "created_on", "direction": "asc"},
        {"page": "2", "per_page": "1000", "order": "created_on", "direction": "asc"},
    ]
    assert widgets[0].domains == ("a.example.com", "b.example.com")


@respx.mock
async def test_list_stops_at_total_count_without_an_extra_request():
    route = respx.get(WIDGETS).mock(
        return_value=httpx.Response(200, json=page([item(i) for i in range(1000)], 1, 1000))
    )
    async with client() as api:
        assert len(await api.list_widgets()) == 1000
    assert route.call_count == 1


@respx.mock
async def test_list_without_total_count_is_an_error_not_a_guess():
    route = respx.get(WIDGETS).mock(
        return_value=httpx.Response(200, json=page([item(i) for i in range(1000)], 1, None))
    )
    async with client() as api:
        with pytest.raises(ApiError, match=r"page 1: result_info.total_count is missing"):
            await api.list_widgets()
    assert route.call_count == 1


@respx.mock
async def test_list_items_ignore_fields_added_later():
    respx.get(WIDGETS).mock(
        return_value=httpx.Response(200, json=page([item(1, deployed_via="api")], 1, 1))
    )
    async with client() as api:
        (widget,) = await api.list_widgets()
    assert widget.name == "widget 1"


@respx.mock
async def test_token_is_sent_as_bearer():
    route = respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([], 1, 0)))
    async with client() as api:
        await api.list_widgets()
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("turnstile-sync/")


@respx.mock
async def test_email_and_key_are_sent_as_x_auth_headers():
    route = respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([], 1, 0)))
    credentials = Credentials(email="ops@example.com", key=SecretStr("global-key"))
    async with TurnstileClient(ACCOUNT, credentials) as api:
        await api.list_widgets()
    headers = route.calls.last.request.headers
    assert headers["X-Auth-Email"] == "ops@example.com"
    assert headers["X-Auth-Key"] == "global-key"
    assert "Authorization" not in headers


@respx.mock
async def test_create_posts_only_the_fields_given():
    route = respx.post(WIDGETS).mock(
        return_value=httpx.Response(200, json=envelope({**item(1), "secret": "0xSECRET"}))
    )
    async with client() as api:
        widget = await api.create_widget(WidgetBody("login", "managed", ("example.com",)))
    assert json.loads(route.calls.last.request.content) == {
        "name": "login",
        "mode": "managed",
        "domains": ["example.com"],
    }
    assert widget.secret.get_secret_value() == "0xSECRET"
    assert "0xSECRET" not in repr(widget)
    assert "0xSECRET" not in str(widget)


@respx.mock
async def test_update_is_a_full_body_put():
    sitekey = item(1)["sitekey"]
    route = respx.put(f"{WIDGETS}/{sitekey}").mock(
        return_value=httpx.Response(200, json=envelope({**item(1), "secret": "s"}))
    )
    body = WidgetBody(
        "login", "managed", ("example.com",), "world", "no_clearance", False, False, True
    )
    async with client() as api:
        await api.update_widget(sitekey, body)
    sent = json.loads(route.calls.last.request.content)
    assert set(sent) == {
        "name",
        "mode",
        "domains",
        "region",
        "clearance_level",
        "bot_fight_mode",
        "ephemeral_id",
        "offlabel",
    }


@respx.mock
async def test_get_delete_and_rotate_use_the_sitekey_path():
    sitekey = item(1)["sitekey"]
    detail = httpx.Response(200, json=envelope({**item(1), "secret": "s"}))
    get = respx.get(f"{WIDGETS}/{sitekey}").mock(return_value=detail)
    delete = respx.delete(f"{WIDGETS}/{sitekey}").mock(return_value=detail)
    rotate = respx.post(f"{WIDGETS}/{sitekey}/rotate_secret").mock(return_value=detail)
    async with client() as api:
        await api.get_widget(sitekey)
        await api.delete_widget(sitekey)
        await api.rotate_secret(sitekey, invalidate_immediately=True)
    # rotate reads the current secret first, so an unknown outcome can be checked, not repeated
    assert (get.call_count, delete.call_count, rotate.call_count) == (2, 1, 1)
    assert json.loads(rotate.calls.last.request.content) == {"invalidate_immediately": True}


@respx.mock
async def test_http_error_carries_cloudflare_codes_and_messages():
    failure = {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    respx.get(WIDGETS).mock(return_value=httpx.Response(403, json=failure))
    async with client() as api:
        with pytest.raises(ApiError) as caught:
            await api.list_widgets()
    error = caught.value
    assert error.status == 403
    assert [(e.code, e.message) for e in error.errors] == [(10000, "Authentication error")]
    assert str(error).startswith(
        "list widgets failed: HTTP 403: Authentication error (code 10000). The API refused "
        "the token in CLOUDFLARE_API_TOKEN"
    )
    assert TOKEN not in str(error)


@respx.mock
async def test_success_false_with_status_200_is_an_error():
    failure = {"success": False, "errors": [{"code": 1234, "message": "nope"}], "messages": []}
    respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=failure))
    async with client() as api:
        with pytest.raises(ApiError, match=r"HTTP 200: nope \(code 1234\)"):
            await api.list_widgets()


@respx.mock
async def test_non_json_answer_is_an_error():
    respx.get(WIDGETS).mock(
        return_value=httpx.Response(
            400, text="<html>bad request</html>", headers={"content-type": "text/html"}
        )
    )
    async with client() as api:
        with pytest.raises(ApiError, match="something other than JSON \\(text/html\\)"):
            await api.list_widgets()


@respx.mock
async def test_malformed_result_is_an_error_not_a_crash():
    respx.get(WIDGETS).mock(return_value=httpx.Response(200, json=page([{"name": "x"}], 1, 1)))
    async with client() as api:
        with pytest.raises(ApiError, match=r"unexpected response: .*sitekey"):
            await api.list_widgets()


@respx.mock
async def test_connection_error_is_reported_without_credentials():
    respx.get(WIDGETS).mock(side_effect=httpx.ConnectError("connection refused"))
    async with client() as api:
        with pytest.raises(ApiUnreachableError) as caught:
            await api.list_widgets()
    assert "cannot reach https://api.cloudflare.com/client/v4: connection refused" in str(
        caught.value
    )
    assert TOKEN not in str(caught.value)


@respx.mock
async def test_timeout_is_reported():
    respx.get(WIDGETS).mock(side_effect=httpx.ReadTimeout("slow"))
    async with client() as api:
        with pytest.raises(RetriesExhaustedError, match="no answer"):
            await api.list_widgets()


@respx.mock
async def test_custom_base_url():
    base = "http://127.0.0.1:9/client/v4"
    route = respx.get(f"{base}/accounts/{ACCOUNT}/challenges/widgets").mock(
        return_value=httpx.Response(200, json=page([], 1, 0))
    )
    async with client(base_url=base + "/") as api:
        await api.list_widgets()
    assert route.called


def test_client_repr_hides_credentials():
    assert TOKEN not in repr(client())
    assert TOKEN not in repr(Credentials(token=SecretStr(TOKEN)))


def test_credentials_from_environment():
    assert Credentials.from_env({"CLOUDFLARE_API_TOKEN": "t"}).headers() == {
        "Authorization": "Bearer t"
    }
    pair = Credentials.from_env({"CLOUDFLARE_EMAIL": "e@x", "CLOUDFLARE_API_KEY": "k"})
    assert pair.headers() == {"X-Auth-Email": "e@x", "X-Auth-Key": "k"}
    with pytest.raises(ConfigError, match="CLOUDFLARE_API_KEY is not set"):
        Credentials.from_env({"CLOUDFLARE_EMAIL": "e@x"})
    with pytest.raises(ConfigError, match="no Cloudflare credentials"):
        Credentials.from_env({})
