"""Edge behaviours of the local siteverify and of the emulator's state: a secret sent under an
encoded field name stays out of the request log; a seeded emulator reopening its state file
never hands out a sitekey (or secret) it already issued."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNT
from turnstile_sync.emulator import Backend, EmulatorTransport
from turnstile_sync.emulator.options import EmulatorOptions

pytestmark = pytest.mark.anyio
ROOT = "http://emulator.turnstile-sync.invalid"
WIDGETS = f"/client/v4/accounts/{ACCOUNT}/challenges/widgets"


async def _widget(http: httpx.AsyncClient) -> dict[str, object]:
    created = await http.post(
        WIDGETS, json={"name": "login", "mode": "managed", "domains": ["example.com"]}
    )
    assert created.status_code == 200, created.text
    widget: dict[str, object] = created.json()["result"]
    return widget


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=XX"


def _multipart(disposition: str) -> str:
    return (
        f"--XX\r\nContent-Disposition: {disposition}\r\n\r\n{{secret}}\r\n"
        "--XX\r\nContent-Disposition: form-data; name=response\r\n\r\n{token}\r\n--XX--\r\n"
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, "s%65cret={secret}&response={token}"),  # percent-encoded field name
        (FORM, "%73%65%63%72%65%74={secret}&response={token}"),
        (MULTIPART, _multipart("form-data; name*=utf-8''s%65cret")),  # RFC 2231 value
        (MULTIPART, _multipart("form-data; name*0=se; name*1=cret")),  # RFC 2231 continuation
        (MULTIPART, _multipart("=?utf-8?b?Zm9ybS1kYXRhOyBuYW1lPSJzZWNyZXQi?=")),  # RFC 2047
    ],
)
async def test_a_siteverify_secret_never_reaches_the_request_log(
    tmp_path: Path, content_type: str, body: str
):
    log = tmp_path / "exchanges.jsonl"
    transport = EmulatorTransport(Backend(":memory:"), EmulatorOptions(request_log=log))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        widget = await _widget(http)
        minted = await http.post(
            "/__emulator/tokens", json={"sitekey": widget["sitekey"], "hostname": "example.com"}
        )
        token = minted.json()["result"]["token"]
        answer = await http.post(
            "/turnstile/v0/siteverify",
            content=body.format(secret=widget["secret"], token=token).encode(),
            headers={"content-type": content_type},
        )
    # The emulator reads the encoded name as `secret`: the token validates...
    assert answer.json()["success"] is True
    # ...so the secret it carried is a secret, and must not be written to the log.
    assert str(widget["secret"]) not in log.read_text()


async def test_a_seeded_emulator_reopening_its_state_file_can_still_create_widgets(
    tmp_path: Path,
):
    state = tmp_path / "state.sqlite"
    first = EmulatorTransport(Backend(state, seed=7))
    async with httpx.AsyncClient(transport=first, base_url=ROOT) as http:
        await _widget(http)
    second = EmulatorTransport(Backend(state, seed=7))  # `emulator serve --state F --seed 7` again
    async with httpx.AsyncClient(transport=second, base_url=ROOT) as http:
        created = await http.post(
            WIDGETS, json={"name": "signup", "mode": "managed", "domains": ["example.com"]}
        )
    assert created.status_code == 200, created.text


async def test_a_token_for_a_deleted_widget_never_validates_for_a_later_widget(tmp_path: Path):
    state = tmp_path / "state.sqlite"
    first = EmulatorTransport(Backend(state, seed=7))
    async with httpx.AsyncClient(transport=first, base_url=ROOT) as http:
        old = await _widget(http)
        minted = await http.post(
            "/__emulator/tokens", json={"sitekey": old["sitekey"], "hostname": "example.com"}
        )
        token = minted.json()["result"]["token"]
        deleted = await http.delete(f"{WIDGETS}/{old['sitekey']}")
        assert deleted.status_code == 200
    second = EmulatorTransport(Backend(state, seed=7))
    async with httpx.AsyncClient(transport=second, base_url=ROOT) as http:
        new = await _widget(http)
        answer = await http.post(
            "/turnstile/v0/siteverify", data={"secret": new["secret"], "response": token}
        )
    assert answer.json() == {"success": False, "error-codes": ["invalid-input-response"]}
    assert new["sitekey"] != old["sitekey"]


@pytest.mark.parametrize("response", ["any-response-token", "0.minted-elsewhere"])
async def test_the_always_passes_test_secret_accepts_any_response_token(response: str):
    # "Dummy secret keys should never be used in production as it will accept any response
    # token as valid." (developers.cloudflare.com/turnstile/troubleshooting/testing/)
    transport = EmulatorTransport(Backend(":memory:"))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        answer = await http.post(
            "/turnstile/v0/siteverify",
            data={"secret": "1x0000000000000000000000000000000AA", "response": response},
        )
    assert answer.json()["success"] is True
