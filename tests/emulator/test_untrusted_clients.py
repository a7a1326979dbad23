"""A served emulator stays safe with any client: the token gates everything, bodies are capped,
hostile JSON is a 400, and a client hanging up is one log line. In-process and over loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import raw_http, served_emulator, wait_for_text
from turnstile_sync.emulator import IN_PROCESS_BASE_URL, EmulatorOptions, emulator_transport

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
WIDGETS = f"accounts/{ACCOUNT}/challenges/widgets"
BODY = {"name": "login", "mode": "managed", "domains": ["example.com"]}
STATS = "http://emulator.turnstile-sync.invalid/__emulator/stats"
RIGHT = {"Authorization": "Bearer right"}
MB = 1024 * 1024


@asynccontextmanager
async def emulator(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = emulator_transport(":memory:", EmulatorOptions(**options))
    async with httpx.AsyncClient(base_url=IN_PROCESS_BASE_URL, transport=transport) as client:
        yield client


def stats_url(base_url: str) -> str:
    return base_url.removesuffix("/client/v4") + "/__emulator/stats"


def assert_cloudflare_error(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["success"], body["messages"], body["result"]) == (False, [], None)
    assert body["errors"] and all(
        isinstance(error["code"], int) and error["message"] for error in body["errors"]
    )
    errors: list[dict[str, Any]] = body["errors"]
    return errors


# The token gates every route, stats included


@pytest.mark.anyio
async def test_token_gates_reading_and_resetting_stats():
    async with emulator(require_auth=True, token="right") as http:
        assert (await http.get(WIDGETS, headers=RIGHT)).status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            read = await http.get(STATS, headers=headers)
            reset = await http.delete(STATS, headers=headers)
            for refused in (read, reset):
                errors = assert_cloudflare_error(refused, 403)
                assert errors == [{"code": 10000, "message": "Authentication error"}]
                assert "operations" not in refused.text
        kept = (await http.get(STATS, headers=RIGHT)).json()
    assert kept["total"] == 1  # the refused reset reset nothing


def test_served_token_gates_stats(tmp_path: Path):
    with served_emulator(tmp_path / "state.sqlite3", "--token", "right") as base_url:
        anonymous = httpx.get(stats_url(base_url))
        reset = httpx.delete(stats_url(base_url), headers={"Authorization": "Bearer wrong"})
        allowed = httpx.get(stats_url(base_url), headers=RIGHT)
    assert_cloudflare_error(anonymous, 403)
    assert_cloudflare_error(reset, 403)
    assert allowed.status_code == 200
    assert allowed.json()["total"] == 0


# Bodies over 1 MB are refused without being read


@pytest.mark.anyio
async def test_body_over_one_megabyte_is_refused_with_413_by_its_length(tmp_path: Path):
    log = tmp_path / "exchanges.jsonl"
    async with emulator(request_log=log) as http:
        response = await http.post(WIDGETS, content=b"{" + b" " * (2 * MB) + b"}")
        listed = (await http.get(WIDGETS)).json()["result"]
    errors = assert_cloudflare_error(response, 413)
    assert "1 MB" in errors[0]["message"]
    assert listed == []
    assert log.stat().st_size < 10_000  # the exchange log never holds the oversized body
    record = json.loads(log.read_text().splitlines()[0])
    assert (record["status"], record["request"]) == (413, None)


@pytest.mark.anyio
async def test_streamed_body_is_cut_off_after_one_megabyte(tmp_path: Path):
    log = tmp_path / "exchanges.jsonl"
    chunk = b" " * 65536
    pulled = [0]

    async def endless_body() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(16 * MB // len(chunk)):  # 16 MB, sent without a Content-Length
            pulled[0] += 1
            yield chunk
        yield b"}"

    async with emulator(request_log=log) as http:
        response = await http.post(WIDGETS, content=endless_body())
        listed = (await http.get(WIDGETS)).json()["result"]
    assert_cloudflare_error(response, 413)
    assert listed == []
    assert pulled[0] <= MB // len(chunk) + 1  # reading stopped at the cap
    assert log.stat().st_size < 10_000
    assert json.loads(log.read_text().splitlines()[0])["request"] is None


@pytest.mark.anyio
async def test_body_of_exactly_one_megabyte_is_still_read():
    padded = json.dumps(BODY).encode()
    padded = padded[:-1] + b" " * (MB - len(padded)) + b"}"
    assert len(padded) == MB
    async with emulator() as http:
        response = await http.post(WIDGETS, content=padded)
    assert response.status_code == 200, response.text


def test_served_body_over_the_cap_is_refused_before_it_is_sent(tmp_path: Path):
    with served_emulator(tmp_path / "state.sqlite3") as base_url:
        # Only the head is sent: a 200 MB Content-Length is answered without waiting for it.
        answer = raw_http(
            base_url,
            f"POST /client/v4/{WIDGETS} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 * MB}\r\n\r\n".encode(),
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(body)["errors"][0]["code"] == 10413


def test_served_chunked_body_over_the_cap_is_refused(tmp_path: Path):
    chunk = b" " * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2 * MB // len(chunk)))
    with served_emulator(tmp_path / "state.sqlite3") as base_url:
        answer = raw_http(
            base_url,
            f"POST /client/v4/{WIDGETS} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer t\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + chunks
            + b"0\r\n\r\n",
        )
        listed = httpx.get(f"{base_url}/{WIDGETS}", headers={"Authorization": "Bearer t"})
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert listed.json()["result"] == []


# Hostile JSON is a 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b'{"name": "\xff\xfe", "mode": "managed", "domains": []}', "not valid JSON"),
        (b'["login"]', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"{", "not valid JSON"),
    ],
    ids=["deep-array", "deep-object", "invalid-utf8", "array", "number", "truncated"],
)
async def test_hostile_json_bodies_are_a_400(tmp_path: Path, body: bytes, message: str):
    log = tmp_path / "exchanges.jsonl"
    async with emulator(request_log=log) as http:
        created = await http.post(WIDGETS, content=body)
        updated = await http.put(f"{WIDGETS}/0x4AAAAAAAnothing00000000", content=body)
        rotated = await http.post(
            f"{WIDGETS}/0x4AAAAAAAnothing00000000/rotate_secret", content=body
        )
    for response in (created, updated, rotated):
        errors = assert_cloudflare_error(response, 400)
        assert message in errors[0]["message"]
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == [400] * 3


def test_served_deeply_nested_json_is_a_400(tmp_path: Path):
    with served_emulator(tmp_path / "state.sqlite3") as base_url:
        response = httpx.post(
            f"{base_url}/{WIDGETS}",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
        )
    errors = assert_cloudflare_error(response, 400)
    assert "nested too deeply" in errors[0]["message"]


# A client hanging up is one line in the log, not a traceback


def test_client_hanging_up_mid_request_is_logged_as_one_line(tmp_path: Path):
    stderr = tmp_path / "emulator.stderr"
    with served_emulator(tmp_path / "state.sqlite3", stderr=stderr) as base_url:
        raw_http(
            base_url,
            f"POST /client/v4/{WIDGETS} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer t\r\nContent-Type: application/json\r\n"
            'Content-Length: 1000\r\n\r\n{"name": "'.encode(),  # 10 of the 1000 bytes
            read=False,
        )
        wait_for_text(stderr, "client disconnected")
        still_serving = httpx.get(f"{base_url}/{WIDGETS}", headers={"Authorization": "Bearer t"})
    output = stderr.read_text()
    assert "Traceback" not in output and "internal error" not in output.lower()
    lines = [line for line in output.splitlines() if "disconnected" in line]
    assert lines == [
        "WARNING: client disconnected before the request was read: "
        f"POST /client/v4/accounts/{ACCOUNT}/challenges/widgets"
    ]
    assert still_serving.status_code == 200


@pytest.mark.anyio
async def test_cancelled_request_is_logged_as_one_line(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="turnstile_sync.emulator")
    reading = asyncio.Event()

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b'{"name": '
        reading.set()  # the emulator is reading this body: the request is in its hands
        await asyncio.Event().wait()  # and the client never sends the rest
        yield b"}"

    async with emulator() as http:
        request = asyncio.ensure_future(http.post(WIDGETS, content=stalled_body()))
        await reading.wait()
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        (f"request cancelled before it was answered: POST /client/v4/{WIDGETS}", None)
    ]
