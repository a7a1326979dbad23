"""An API address that refuses connections or does not resolve, before the API has answered
once, is a configuration error: reported after a couple of quick attempts, naming the address
and where it came from, instead of being retried for --max-retry-time (five minutes)."""

from __future__ import annotations

import re

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.test_safety import entry, spec_text
from tests.fake_time import FakeTime
from tests.processes import free_port
from turnstile_sync.caller import format_delay
from turnstile_sync.client import DEFAULT_BASE_URL, Credentials, TurnstileClient
from turnstile_sync.errors import ApiUnreachableError
from turnstile_sync.retry import RetryPolicy

UNRESOLVABLE = "http://nonexistent.invalid/client/v4"


def refusing_url() -> str:
    """A loopback port nothing listens on: bound, then closed, so the connection is refused."""
    return f"http://127.0.0.1:{free_port()}/client/v4"


def attempts(stderr: str) -> int:
    """Requests made, from the -v request log (one INFO line per request)."""
    return len(re.findall(r"^INFO: GET accounts/", stderr, re.MULTILINE))


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [(None, "connection refused"), (UNRESOLVABLE, "the host name does not resolve")],
)
def test_an_unreachable_base_url_fails_after_two_attempts_naming_it_and_its_variable(
    write_spec, base_url, reason
):
    base_url = base_url or refusing_url()
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_BASE_URL": base_url}
    result = run_cli(["-v", "plan", str(write_spec(spec_text(entry("a"))))], env=env)
    assert result.exit_code == 1
    assert attempts(result.stderr) == 2, result.stderr
    assert f"cannot reach {base_url}: {reason}" in result.stderr
    assert f"The API address {base_url} comes from CLOUDFLARE_BASE_URL" in result.stderr
    assert f"unset it to use Cloudflare's API, {DEFAULT_BASE_URL}" in result.stderr
    assert "gave up after" not in result.stderr  # not the retry budget running out
    assert "Traceback" not in result.stderr


def test_an_unreachable_base_url_is_not_retried_for_the_whole_retry_budget(write_spec):
    """The default budget is 300 s; the attempts stay at two whatever the budget."""
    base_url = refusing_url()
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_BASE_URL": base_url}
    spec = str(write_spec(spec_text(entry("a"))))
    result = run_cli(["-v", "plan", spec, "--max-retry-time", "86400"], env=env)
    assert result.exit_code == 1
    assert attempts(result.stderr) == 2, result.stderr


def test_every_command_that_reaches_the_api_fails_fast_on_a_refused_address(write_spec):
    base_url = refusing_url()
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_BASE_URL": base_url}
    spec = str(write_spec(spec_text(entry("a"))))
    for args in (
        ["apply", spec, "--auto-approve"],
        ["export", "--account-id", ACCOUNT],
        ["get-secret", "a", "--account-id", ACCOUNT, "--secrets-out", spec + ".json"],
    ):
        result = run_cli(["-v", *args], env=env)
        assert result.exit_code == 1, args
        assert attempts(result.stderr) == 2, (args, result.stderr)
        assert "comes from CLOUDFLARE_BASE_URL" in result.stderr, args


@pytest.mark.anyio
@respx.mock
async def test_the_default_address_is_named_as_the_default_when_unreachable():
    respx.get(url__startswith=DEFAULT_BASE_URL).mock(side_effect=httpx.ConnectError("refused"))
    time = FakeTime()
    api = TurnstileClient(ACCOUNT, Credentials(token=SecretStr("t")), timing=time.timing())
    async with api:
        with pytest.raises(ApiUnreachableError) as caught:
            await api.list_widgets()
    assert f"The API address {DEFAULT_BASE_URL} is the default" in str(caught.value)
    assert "CLOUDFLARE_BASE_URL is not set" in str(caught.value)
    assert api.retries == 1


@pytest.mark.anyio
@respx.mock
async def test_a_refused_connection_after_the_api_answered_is_retried_patiently():
    """Once the API has answered in this run, a refused connection is a blip (a restart, a
    load balancer): retried within --max-retry-time like any other transient failure."""
    widgets = f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/challenges/widgets"
    empty = {"success": True, "errors": [], "messages": [], "result": []}
    empty["result_info"] = {"page": 1, "per_page": 1000, "count": 0, "total_count": 0}
    route = respx.get(widgets).mock(
        side_effect=[
            httpx.Response(200, json=empty),
            *[httpx.ConnectError("refused")] * 5,
            httpx.Response(200, json=empty),
        ]
    )
    time = FakeTime()
    api = TurnstileClient(
        ACCOUNT,
        Credentials(token=SecretStr("t")),
        timing=time.timing(),
        retry=RetryPolicy(max_retry_time=300),
    )
    async with api:
        assert await api.list_widgets() == []
        assert await api.list_widgets() == []
    assert route.call_count == 7
    assert api.retries == 5


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "under 1 ms"),
        (0.0004, "under 1 ms"),
        (0.033, "33 ms"),
        (0.9994, "999 ms"),
        (1.0, "1.0 s"),
        (12.34, "12.3 s"),
    ],
)
def test_retry_delays_are_shown_in_units_that_are_never_zero(seconds, shown):
    assert format_delay(seconds) == shown


def test_a_jittered_retry_under_a_second_is_logged_in_milliseconds(write_spec):
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_BASE_URL": refusing_url()}
    result = run_cli(["plan", str(write_spec(spec_text(entry("a"))))], env=env)
    assert re.search(r"retrying in (\d+ ms|under 1 ms) \(attempt 2\)", result.stderr), result.stderr
    assert "retrying in 0.0 s" not in result.stderr
