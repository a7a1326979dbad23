"""HTTP errors with a next step: refused credentials name the variable that holds them and
the permission the command needs; a path the API has no route for shows the URL called and
the form Cloudflare's base URL takes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.test_safety import entry, spec_text
from tests.processes import served_emulator
from turnstile_sync.client import DEFAULT_BASE_URL, Credentials, TurnstileClient
from turnstile_sync.emulator import IN_PROCESS_BASE_URL, EmulatorOptions, emulator_transport
from turnstile_sync.errors import ApiError

RIGHT_TOKEN = "the-right-token"
WRONG_TOKEN = "a-token-without-turnstile-permissions"
WRITE = "'Turnstile Sites Write'"
READ = "'Turnstile Sites Read'"


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A served emulator that accepts only RIGHT_TOKEN, as Cloudflare accepts only tokens
    with the permission; its base URL."""
    db = tmp_path_factory.mktemp("guarded") / "emulator.sqlite3"
    with served_emulator(db, "--token", RIGHT_TOKEN) as base_url:
        yield base_url


def commands(spec: Path) -> list[tuple[list[str], str]]:
    """Every command that reaches an account, and the permission it needs."""
    out = str(spec.parent / "secrets.json")
    account = ["--account-id", ACCOUNT]
    return [
        (["plan", str(spec)], READ),
        (["apply", str(spec), "--auto-approve"], WRITE),
        (["rotate-secret", "a", *account, "--auto-approve"], WRITE),
        (["get-secret", "a", *account, "--secrets-out", out], READ),
        (["export", *account], READ),
        (["output", str(spec)], READ),
        (["secrets", "push", str(spec), "--secrets-out", out], READ),
    ]


def test_a_refused_token_names_its_variable_and_the_permission_each_command_needs(
    write_spec, guarded_api
):
    spec = write_spec(spec_text(entry("a")))
    env = {"CLOUDFLARE_BASE_URL": guarded_api, "CLOUDFLARE_API_TOKEN": WRONG_TOKEN}
    for args, permission in commands(spec):
        result = run_cli(args, env=env)
        assert result.exit_code == 1, args
        assert "HTTP 403" in result.stderr, (args, result.stderr)
        assert "The API refused the token in CLOUDFLARE_API_TOKEN" in result.stderr, args
        assert f"has the {permission} permission" in result.stderr, (args, result.stderr)
        assert WRONG_TOKEN not in result.stderr + result.stdout


def test_a_refused_key_pair_names_both_variables(write_spec, guarded_api):
    spec = write_spec(spec_text(entry("a")))
    env = {
        "CLOUDFLARE_BASE_URL": guarded_api,
        "CLOUDFLARE_EMAIL": "ops@example.com",
        "CLOUDFLARE_API_KEY": "0123456789abcdef0123456789abcdef01234",
    }
    result = run_cli(["apply", str(spec), "--auto-approve"], env=env)
    assert result.exit_code == 1
    assert "The API refused the key in CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY" in result.stderr
    assert f"CLOUDFLARE_API_TOKEN with the {WRITE} permission" in result.stderr
    assert "0123456789abcdef0123456789abcdef01234" not in result.stderr + result.stdout


def test_a_wrong_base_path_shows_the_url_called_and_the_expected_form(write_spec, guarded_api):
    wrong = guarded_api.removesuffix("/client/v4") + "/v4"
    env = {"CLOUDFLARE_BASE_URL": wrong, "CLOUDFLARE_API_TOKEN": RIGHT_TOKEN}
    result = run_cli(["plan", str(write_spec(spec_text(entry("a"))))], env=env)
    assert result.exit_code == 1
    assert "HTTP 404: No route for that URI" in result.stderr
    called = f"{wrong}/accounts/{ACCOUNT}/challenges/widgets"
    assert f"The API has no route for {called}: the base URL {wrong} looks wrong" in result.stderr
    assert f"has the form {DEFAULT_BASE_URL}" in result.stderr


def in_process(tmp_path: Path, token: str, base_url: str = IN_PROCESS_BASE_URL, **kw: bool):
    options = EmulatorOptions(require_auth=True, token=RIGHT_TOKEN)
    return TurnstileClient(
        ACCOUNT,
        Credentials(token=SecretStr(token)),
        base_url=base_url,
        transport=emulator_transport(tmp_path / "emulator.sqlite3", options),
        **kw,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("writes", "permission"), [(True, WRITE), (False, READ)])
async def test_the_in_process_emulator_refuses_a_token_with_the_same_next_step(
    tmp_path, writes, permission
):
    async with in_process(tmp_path, WRONG_TOKEN, writes=writes) as api:
        with pytest.raises(ApiError) as caught:
            await api.list_widgets()
    assert caught.value.status == 403
    assert f"CLOUDFLARE_API_TOKEN: check that it is current and has the {permission}" in str(
        caught.value
    )


@pytest.mark.anyio
async def test_the_in_process_emulator_has_no_route_for_a_wrong_base_path(tmp_path):
    wrong = IN_PROCESS_BASE_URL.removesuffix("/client/v4") + "/v4"
    async with in_process(tmp_path, RIGHT_TOKEN, wrong) as api:
        with pytest.raises(ApiError) as caught:
            await api.list_widgets()
    assert caught.value.status == 404
    assert f"The API has no route for {wrong}/accounts/{ACCOUNT}/challenges/widgets" in str(
        caught.value
    )
    assert DEFAULT_BASE_URL in caught.value.hint


@pytest.mark.anyio
@respx.mock
async def test_no_route_on_cloudflares_own_address_points_at_the_account_id():
    """Cloudflare answers 7003 "Could not route ... perhaps your object identifier is invalid"
    for an account id it does not know: the base URL is right then, the id is not."""
    called = f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/challenges/widgets"
    failure = {
        "success": False,
        "errors": [{"code": 7003, "message": "Could not route to /accounts/..."}],
        "messages": [],
        "result": None,
    }
    respx.get(called).mock(return_value=httpx.Response(404, json=failure))
    api = TurnstileClient(ACCOUNT, Credentials(token=SecretStr("t")))
    async with api:
        with pytest.raises(ApiError) as caught:
            await api.list_widgets()
    assert f"no route for {called}: the base URL is Cloudflare's, so check the account id" in (
        caught.value.hint
    )
