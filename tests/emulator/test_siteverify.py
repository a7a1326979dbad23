"""A local siteverify: `emulator serve` answers POST /turnstile/v0/siteverify as
challenges.cloudflare.com does, for Cloudflare's test secrets and for the emulator's widgets.

Everything goes over a real loopback socket to one served emulator (Enterprise plan, so a widget
can have Ephemeral IDs). Its clock is frozen and moved on through /__emulator/clock, so the
300-second token lifetime and the 2-hour rotation grace are hit to the millisecond, without
waiting. Every siteverify answer is checked against the documented shape (tests/conformance.py).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conformance import check_log
from tests.processes import raw_http, served_emulator
from turnstile_sync.emulator import Backend, EmulatorTransport
from turnstile_sync.emulator.options import EmulatorOptions

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
AUTH = {"Authorization": "Bearer any-token"}
PASSES = "1x0000000000000000000000000000000AA"
FAILS = "2x0000000000000000000000000000000AA"
SPENT = "3x0000000000000000000000000000000AA"
DUMMY = "XXXX.DUMMY.TOKEN.XXXX"


@dataclass
class Emulator:
    root: str
    http: httpx.Client
    log: Path

    @property
    def siteverify_url(self) -> str:
        return self.root + "/turnstile/v0/siteverify"

    def widget(self, domains: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": "login", "mode": "managed", "domains": domains or ["example.com"]}
        response = self.http.post(
            f"{self.root}/client/v4/accounts/{ACCOUNT}/challenges/widgets",
            json={**body, **fields},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        widget: dict[str, Any] = response.json()["result"]
        return widget

    def mint_response(self, **body: Any) -> httpx.Response:
        return self.http.post(self.root + "/__emulator/tokens", json=body)

    def mint(self, widget: dict[str, Any], hostname: str = "example.com", **body: Any) -> str:
        response = self.mint_response(sitekey=widget["sitekey"], hostname=hostname, **body)
        assert response.status_code == 200, response.text
        token: str = response.json()["result"]["token"]
        return token

    def verify(self, **fields: str) -> dict[str, Any]:
        """Form-encoded, as curl --data and most server libraries send it."""
        response = self.http.post(self.siteverify_url, data=fields)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def verify_json(self, body: Any) -> dict[str, Any]:
        response = self.http.post(self.siteverify_url, json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def advance(self, seconds: float) -> None:
        response = self.http.post(
            self.root + "/__emulator/clock", json={"advance_seconds": seconds}
        )
        assert response.status_code == 200, response.text

    def rotate(self, widget: dict[str, Any], *, immediately: bool = False) -> str:
        response = self.http.post(
            f"{self.root}/client/v4/accounts/{ACCOUNT}/challenges/widgets/"
            f"{widget['sitekey']}/rotate_secret",
            json={"invalidate_immediately": immediately},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        secret: str = response.json()["result"]["secret"]
        return secret


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("siteverify")
    log = root / "exchanges.jsonl"
    db = root / "state.sqlite3"
    with (
        served_emulator(db, "--plan", "enterprise", "--log", str(log)) as base_url,
        httpx.Client(timeout=30) as http,
    ):
        emulator = Emulator(base_url.removesuffix("/client/v4"), http, log)
        frozen = http.post(emulator.root + "/__emulator/clock", json={"frozen": True})
        assert frozen.status_code == 200, frozen.text
        yield emulator
    checked, problems = check_log(log)
    assert checked > 0
    assert not problems, "\n".join(problems)


# --- Cloudflare's test secrets and the dummy token -------------------------------------------


@pytest.mark.parametrize(
    ("secret", "expected"),
    [(FAILS, ["invalid-input-response"]), (SPENT, ["timeout-or-duplicate"])],
    ids=["always-fails", "already-spent"],
)
def test_failing_test_secrets_answer_the_dummy_token_as_documented(served, secret, expected):
    assert served.verify(secret=secret, response=DUMMY) == {
        "success": False,
        "error-codes": expected,
    }
    assert served.verify_json({"secret": secret, "response": DUMMY})["error-codes"] == expected


def test_passing_test_secret_accepts_the_dummy_token_every_time(served):
    answers = [served.verify(secret=PASSES, response=DUMMY) for _ in range(2)]
    for answer in answers:
        assert answer["success"] is True
        assert answer["error-codes"] == []
        assert {"challenge_ts", "hostname", "action", "cdata"} <= answer.keys()


@pytest.mark.parametrize(
    ("secret", "expected"),
    [(PASSES, []), (FAILS, ["invalid-input-response"]), (SPENT, ["timeout-or-duplicate"])],
)
@pytest.mark.parametrize("kind", ["minted", "made-up"])
def test_test_secrets_answer_any_token_as_they_answer_the_dummy_one(served, secret, expected, kind):
    # "Dummy secret keys should never be used in production as it will accept any response
    # token as valid." (developers.cloudflare.com/turnstile/troubleshooting/testing/)
    widget = served.widget()
    token = served.mint(widget) if kind == "minted" else "any-response-token"
    answer = served.verify(secret=secret, response=token)
    assert answer["success"] is (secret == PASSES)
    assert answer["error-codes"] == expected
    if kind == "minted":  # a test secret never spends a real token
        assert served.verify(secret=widget["secret"], response=token)["success"] is True


def test_a_real_secret_rejects_the_dummy_token(served):
    widget = served.widget()
    answer = served.verify(secret=widget["secret"], response=DUMMY)
    assert answer == {"success": False, "error-codes": ["invalid-input-response"]}


# --- tokens minted for the emulator's widgets ------------------------------------------------


def _multipart(http: httpx.Client, url: str, fields: dict[str, str]) -> dict[str, Any]:
    """What fetch() sends for a FormData body, as Cloudflare's own Workers example does."""
    response = http.post(url, files={name: (None, value) for name, value in fields.items()})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("encoding", ["form", "json", "multipart"])
def test_a_minted_token_validates_once_with_what_the_page_passed(served, encoding):
    widget = served.widget(domains=["example.com"])
    token = served.mint(widget, "www.example.com", action="login", cdata="session-42")
    fields = {"secret": widget["secret"], "response": token, "remoteip": "203.0.113.9"}
    send = {
        "form": lambda: served.verify(**fields),
        "json": lambda: served.verify_json(fields),
        "multipart": lambda: _multipart(served.http, served.siteverify_url, fields),
    }[encoding]
    first = send()
    assert first["success"] is True, first
    assert first["error-codes"] == []
    assert (first["hostname"], first["action"], first["cdata"]) == (
        "www.example.com",
        "login",
        "session-42",
    )
    assert "metadata" not in first  # only widgets with Ephemeral IDs carry it
    assert send() == {"success": False, "error-codes": ["timeout-or-duplicate"]}


def test_challenge_ts_is_when_the_token_was_minted(served):
    widget = served.widget()
    minted = served.mint_response(sitekey=widget["sitekey"], hostname="example.com").json()
    served.advance(42)
    answer = served.verify(secret=widget["secret"], response=minted["result"]["token"])
    assert answer["challenge_ts"] == minted["result"]["challenge_ts"]
    assert answer["challenge_ts"].endswith("Z") and len(answer["challenge_ts"]) == 24


def test_a_widget_with_ephemeral_ids_returns_one_in_metadata(served):
    widget = served.widget(ephemeral_id=True)
    answer = served.verify(secret=widget["secret"], response=served.mint(widget))
    assert answer["success"] is True
    assert answer["metadata"]["ephemeral_id"].startswith("x:")


def test_a_token_is_valid_for_exactly_300_seconds(served):
    widget = served.widget()
    on_time, late = served.mint(widget), served.mint(widget)
    served.advance(300)
    assert served.verify(secret=widget["secret"], response=on_time)["success"] is True
    served.advance(0.001)
    assert served.verify(secret=widget["secret"], response=late) == {
        "success": False,
        "error-codes": ["timeout-or-duplicate"],
    }


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(served):
    widget = served.widget()
    token = served.mint(widget, action="signup")
    key = str(uuid.uuid4())
    first = served.verify(secret=widget["secret"], response=token, idempotency_key=key)
    served.advance(600)  # even after the token itself would have expired
    retry = served.verify(secret=widget["secret"], response=token, idempotency_key=key)
    other_key = served.verify(
        secret=widget["secret"], response=token, idempotency_key=str(uuid.uuid4())
    )
    no_key = served.verify(secret=widget["secret"], response=token)
    assert first["success"] is True
    assert retry == first
    assert other_key["error-codes"] == no_key["error-codes"] == ["timeout-or-duplicate"]


def test_a_token_only_validates_with_its_own_widgets_secret(served):
    mine, other = served.widget(), served.widget(name="other")
    token = served.mint(mine)
    assert served.verify(secret=other["secret"], response=token)["error-codes"] == [
        "invalid-input-response"
    ]
    # The refusal did not spend it: its own widget still validates it.
    assert served.verify(secret=mine["secret"], response=token)["success"] is True


def test_unknown_secrets_and_tokens_are_refused(served):
    widget = served.widget()
    token = served.mint(widget)
    assert served.verify(secret="0x4AAAAAAAnot-a-real-secret-at-all00", response=token)[
        "error-codes"
    ] == ["invalid-input-secret"]
    assert served.verify(secret=widget["secret"], response="0.forged")["error-codes"] == [
        "invalid-input-response"
    ]
    assert served.verify(secret=widget["secret"], response=token + "x" * 2048)["error-codes"] == [
        "invalid-input-response"
    ]


def test_a_deleted_widgets_secret_no_longer_validates(served):
    widget = served.widget()
    token = served.mint(widget)
    deleted = served.http.delete(
        f"{served.root}/client/v4/accounts/{ACCOUNT}/challenges/widgets/{widget['sitekey']}",
        headers=AUTH,
    )
    assert deleted.status_code == 200
    assert served.verify(secret=widget["secret"], response=token)["error-codes"] == [
        "invalid-input-secret"
    ]


# --- secret rotation -------------------------------------------------------------------------


def test_the_old_secret_validates_for_the_2_hour_grace_period(served):
    widget = served.widget()
    old = widget["secret"]
    new = served.rotate(widget)
    assert new != old
    assert served.verify(secret=old, response=served.mint(widget))["success"] is True
    assert served.verify(secret=new, response=served.mint(widget))["success"] is True
    served.advance(2 * 3600 - 0.001)
    assert served.verify(secret=old, response=served.mint(widget))["success"] is True
    served.advance(0.001)
    assert served.verify(secret=old, response=served.mint(widget))["error-codes"] == [
        "invalid-input-secret"
    ]
    assert served.verify(secret=new, response=served.mint(widget))["success"] is True


def test_a_token_minted_before_a_rotation_validates_with_either_secret_in_grace(served):
    widget = served.widget()
    before = served.mint(widget)
    new = served.rotate(widget)
    assert served.verify(secret=new, response=before)["success"] is True


def test_an_immediate_rotation_invalidates_the_old_secret_at_once(served):
    widget = served.widget()
    old = widget["secret"]
    new = served.rotate(widget, immediately=True)
    token = served.mint(widget)
    assert served.verify(secret=old, response=token)["error-codes"] == ["invalid-input-secret"]
    assert served.verify(secret=new, response=token)["success"] is True


# --- minting: only what the widget would issue -----------------------------------------------


@pytest.mark.parametrize(
    ("domains", "hostname"),
    [
        (["example.com"], "example.com"),
        (["example.com"], "a.b.example.com"),
        (["www.example.com"], "abc.www.example.com"),
        (["203.0.113.7"], "203.0.113.7"),
        (["example.com"], "EXAMPLE.com"),
    ],
)
def test_minting_accepts_hostnames_the_widget_covers(served, domains, hostname):
    widget = served.widget(domains=domains)
    response = served.mint_response(sitekey=widget["sitekey"], hostname=hostname)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["hostname"] == hostname.lower()


@pytest.mark.parametrize(
    ("domains", "hostname"),
    [
        (["example.com"], "example.org"),
        (["example.com"], "notexample.com"),
        (["example.com"], "example.com.evil.test"),
        (["www.example.com"], "example.com"),
        (["www.example.com"], "dash.example.com"),
    ],
)
def test_minting_refuses_hostnames_the_widget_does_not_cover(served, domains, hostname):
    widget = served.widget(domains=domains)
    response = served.mint_response(sitekey=widget["sitekey"], hostname=hostname)
    assert response.status_code == 400
    assert "not covered by the widget's domains" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"hostname": "https://example.com"},
        {"hostname": "example.com:8080"},
        {"hostname": ""},
        {"hostname": "example.com", "action": "x" * 33},
        {"hostname": "example.com", "action": "log in"},
        {"hostname": "example.com", "cdata": "y" * 256},
        {"hostname": "example.com", "cdata": "a;b"},
        {"hostname": "example.com", "action": 7},
        {"hostname": ["example.com"]},
        {"hostname": "example.com", "ttl": 5},
    ],
    ids=[
        "scheme",
        "port",
        "empty",
        "long-action",
        "space-in-action",
        "long-cdata",
        "semicolon-in-cdata",
        "numeric-action",
        "list-hostname",
        "unknown-field",
    ],
)
def test_minting_refuses_what_a_widget_would_not_issue(served, body):
    widget = served.widget()
    response = served.mint_response(sitekey=widget["sitekey"], **body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False


def test_minting_accepts_the_longest_action_and_cdata(served):
    widget = served.widget()
    token = served.mint(widget, action="a_-" * 10 + "ab", cdata="c" * 255)
    answer = served.verify(secret=widget["secret"], response=token)
    assert (len(answer["action"]), len(answer["cdata"])) == (32, 255)


def test_minting_for_an_unknown_sitekey_is_404(served):
    response = served.mint_response(sitekey="0x4AAAAAAAnoSuchWidget00", hostname="example.com")
    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{", b"\xff"], ids=["list", "str", "cut", "bin"])
def test_minting_refuses_bodies_that_are_not_a_json_object(served, body):
    response = served.http.post(
        served.root + "/__emulator/tokens",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


# --- the request itself: missing, malformed and hostile inputs -------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"response": DUMMY}, ["missing-input-secret"]),
        ({"secret": PASSES}, ["missing-input-response"]),
        ({}, ["missing-input-secret", "missing-input-response"]),
        ({"secret": "", "response": ""}, ["missing-input-secret", "missing-input-response"]),
    ],
    ids=["no-secret", "no-response", "nothing", "empty-strings"],
)
def test_missing_inputs_are_named(served, fields, expected):
    assert served.verify(**fields) == {"success": False, "error-codes": expected}
    assert served.verify_json(fields)["error-codes"] == expected


def test_json_null_counts_as_not_given(served):
    # The docs' example sends `remoteip: ip`, which is null when the header is missing.
    answer = served.verify_json({"secret": PASSES, "response": DUMMY, "remoteip": None})
    assert answer["success"] is True
    assert served.verify_json({"secret": None, "response": DUMMY})["error-codes"] == [
        "missing-input-secret"
    ]


def test_unknown_fields_are_ignored(served):
    answer = served.verify(secret=PASSES, response=DUMMY, sitekey="1x00000000000000000000AA")
    assert answer["success"] is True


def _post_raw(served: Emulator, body: bytes, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type is not None else {}
    return served.http.post(served.siteverify_url, content=body, headers=headers)


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"secret": "%s", "response": "%s"}' % (PASSES.encode(), DUMMY.encode()), "text/plain"),
        (b"secret=a&response=b", None),
        (b"[]", "application/json"),
        (b'"secret"', "application/json"),
        (b"42", "application/json"),
        (b"null", "application/json"),
        (b'{"secret": "a", "response": ', "application/json"),
        (b'{"secret": "a", "secret": "b", "response": "c"}', "application/json"),
        (b'{"secret": 1, "response": "c"}', "application/json"),
        (b'{"secret": ["a"], "response": "c"}', "application/json"),
        (b'{"secret": {"a": 1}, "response": "c"}', "application/json"),
        (b'{"secret": true, "response": "c"}', "application/json"),
        (b"[" * 100_00 + b"]" * 100_00, "application/json"),
        (b"secret=a&secret=b&response=c", FORM),
        (b"secret=a&response=c&response=d", FORM),
        (b"secret=\xff&response=c", FORM),
        (b"&".join(b"f%d=1" % i for i in range(500)), FORM),
        (b"secret=a", "multipart/form-data; boundary=nope"),
        (
            f"secret={PASSES}&response={DUMMY}&idempotency_key=not-a-uuid".encode(),
            FORM,
        ),
    ],
    ids=[
        "json-as-text-plain",
        "no-content-type",
        "json-array",
        "json-string",
        "json-number",
        "json-null",
        "json-cut-off",
        "json-duplicate-secret",
        "json-number-secret",
        "json-list-secret",
        "json-object-secret",
        "json-bool-secret",
        "json-deeply-nested",
        "form-repeated-secret",
        "form-repeated-response",
        "form-not-ascii",
        "form-too-many-fields",
        "multipart-without-parts",
        "idempotency-key-not-a-uuid",
    ],
)
def test_unreadable_requests_are_bad_requests(served, body, content_type):
    response = _post_raw(served, body, content_type)
    assert response.status_code == 200
    assert response.json() == {"success": False, "error-codes": ["bad-request"]}


def test_a_huge_body_is_refused_before_it_is_read(served):
    body = b"secret=" + PASSES.encode() + b"&response=" + b"x" * (2 * 1024 * 1024)
    response = _post_raw(served, body, FORM)
    assert response.status_code == 413
    assert response.json() == {"success": False, "error-codes": ["bad-request"]}


def test_a_huge_chunked_body_is_cut_off(served):
    def chunks() -> Iterator[bytes]:
        yield b"secret=" + PASSES.encode() + b"&response="
        for _ in range(64):
            yield b"x" * 16384

    response = served.http.post(
        served.siteverify_url, content=chunks(), headers={"content-type": FORM}
    )
    assert response.status_code == 413
    assert response.json()["error-codes"] == ["bad-request"]


def test_a_body_shorter_than_announced_does_not_hang_the_emulator(served):
    url = httpx.URL(served.root)
    request = (
        b"POST /turnstile/v0/siteverify HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
        b"Content-Length: 500\r\n\r\nsecret=a" % (url.host.encode(), FORM.encode())
    )
    raw_http(served.root, request, read=False)
    # The emulator still answers the next caller.
    assert served.verify(secret=PASSES, response=DUMMY)["success"] is True


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_siteverify_takes_only_post(served, method):
    response = served.http.request(method, served.siteverify_url)
    assert response.status_code == 405
    assert response.json() == {"success": False, "error-codes": ["bad-request"]}


def test_a_huge_secret_is_an_invalid_secret(served):
    answer = served.verify(secret="s" * 50_000, response=DUMMY)
    assert answer["error-codes"] == ["invalid-input-secret"]


def test_siteverify_needs_no_api_credentials(served):
    # The served emulator refuses API calls without credentials; siteverify is not the API.
    api = served.http.get(f"{served.root}/client/v4/accounts/{ACCOUNT}/challenges/widgets")
    assert api.status_code in (400, 403)
    assert served.verify(secret=PASSES, response=DUMMY)["success"] is True


def test_secrets_sent_to_siteverify_never_reach_the_request_log(served):
    widget = served.widget()
    token = served.mint(widget)
    served.verify(secret=widget["secret"], response=token)
    served.verify_json({"secret": widget["secret"], "response": token})
    _multipart(served.http, served.siteverify_url, {"secret": widget["secret"], "response": "t"})
    malformed = f"secret={widget['secret']}&response=a b&secret".encode()
    assert _post_raw(served, malformed, FORM).status_code == 200
    logged = served.log.read_text()
    assert widget["secret"] not in logged
    records = [json.loads(line) for line in logged.splitlines()]
    assert any(r["operation"] == "siteverify" for r in records)


# --- the gate of the emulator's own endpoints ------------------------------------------------


def test_error_rate_makes_siteverify_answer_internal_error(tmp_path: Path):
    with served_emulator(tmp_path / "faulty.sqlite3", "--error-rate", "1") as base_url:
        root = base_url.removesuffix("/client/v4")
        answer = httpx.post(
            root + "/turnstile/v0/siteverify", data={"secret": PASSES, "response": DUMMY}
        )
        minted = httpx.post(root + "/__emulator/tokens", json={"sitekey": "x", "hostname": "a"})
    assert (answer.status_code, answer.json()) == (
        200,
        {"success": False, "error-codes": ["internal-error"]},
    )
    assert minted.status_code == 404  # the emulator's own endpoints are never faulted


def test_token_option_guards_minting_and_the_clock_but_not_siteverify(tmp_path: Path):
    with served_emulator(
        tmp_path / "gated.sqlite3", "--token", "right", "--rate-limit", "2/60"
    ) as base_url:
        root = base_url.removesuffix("/client/v4")
        right = {"Authorization": "Bearer right"}
        widget = httpx.post(
            f"{base_url}/accounts/{ACCOUNT}/challenges/widgets",
            json={"name": "w", "mode": "managed", "domains": ["example.com"]},
            headers=right,
        ).json()["result"]
        body = {"sitekey": widget["sitekey"], "hostname": "example.com"}
        refused = httpx.post(root + "/__emulator/tokens", json=body)
        clock = httpx.post(root + "/__emulator/clock", json={"advance_seconds": 1})
        minted = httpx.post(root + "/__emulator/tokens", json=body, headers=right)
        # The API's rate limit (2 per minute, already spent) does not apply to siteverify.
        answers = [
            httpx.post(
                root + "/turnstile/v0/siteverify",
                data={"secret": widget["secret"], "response": minted.json()["result"]["token"]},
            ).json()
            for _ in range(3)
        ]
    assert (refused.status_code, clock.status_code, minted.status_code) == (403, 403, 200)
    assert [a["success"] for a in answers] == [True, False, False]
    assert answers[1]["error-codes"] == ["timeout-or-duplicate"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"advance_seconds": -1}',
        b'{"advance_seconds": 1e400}',
        b'{"advance_seconds": NaN}',
        b'{"advance_seconds": "60"}',
        b'{"advance_seconds": 400000000}',
        b'{"frozen": "yes"}',
        b'{"rewind": 1}',
        b"[]",
    ],
    ids=[
        "negative",
        "infinite",
        "nan",
        "string",
        "beyond-ten-years",
        "frozen-str",
        "unknown",
        "list",
    ],
)
def test_the_clock_only_moves_forward_by_sane_amounts(served, body):
    before = served.http.get(served.root + "/__emulator/clock").json()["result"]["now"]
    response = served.http.post(
        served.root + "/__emulator/clock",
        content=body,
        headers={"content-type": "application/json"},
    )
    after = served.http.get(served.root + "/__emulator/clock").json()["result"]["now"]
    assert response.status_code == 400, response.text
    assert after == before  # frozen, and nothing moved it


# --- in process: what the request log keeps, and what a reopened state file issues ----------

ROOT = "http://emulator.turnstile-sync.invalid"
WIDGETS = f"/client/v4/accounts/{ACCOUNT}/challenges/widgets"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=XX"


async def _create(http: httpx.AsyncClient, name: str = "login") -> dict[str, Any]:
    created = await http.post(
        WIDGETS, json={"name": name, "mode": "managed", "domains": ["example.com"]}
    )
    assert created.status_code == 200, created.text
    widget: dict[str, Any] = created.json()["result"]
    return widget


async def _mint_in_process(http: httpx.AsyncClient, widget: dict[str, Any]) -> str:
    minted = await http.post(
        "/__emulator/tokens", json={"sitekey": widget["sitekey"], "hostname": "example.com"}
    )
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["result"]["token"]
    return token


def _multipart_with(disposition: str) -> str:
    return (
        f"--XX\r\nContent-Disposition: {disposition}\r\n\r\n{{secret}}\r\n"
        "--XX\r\nContent-Disposition: form-data; name=response\r\n\r\n{token}\r\n--XX--\r\n"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, "secret={secret}&response={token}"),
        (FORM, "s%65cret={secret}&response={token}"),  # percent-encoded field name
        (FORM, "%73%65%63%72%65%74={secret}&response={token}"),
        (MULTIPART, _multipart_with("form-data; name=secret")),
        (MULTIPART, _multipart_with("form-data; name*=utf-8''s%65cret")),  # RFC 2231 value
        (MULTIPART, _multipart_with("form-data; name*0=se; name*1=cret")),  # RFC 2231 pieces
        (MULTIPART, _multipart_with("=?utf-8?b?Zm9ybS1kYXRhOyBuYW1lPSJzZWNyZXQi?=")),  # RFC 2047
    ],
)
async def test_a_siteverify_secret_never_reaches_the_request_log_however_its_name_is_encoded(
    tmp_path: Path, content_type: str, body: str
):
    log = tmp_path / "exchanges.jsonl"
    transport = EmulatorTransport(Backend(":memory:"), EmulatorOptions(request_log=log))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        widget = await _create(http)
        token = await _mint_in_process(http, widget)
        answer = await http.post(
            "/turnstile/v0/siteverify",
            content=body.format(secret=widget["secret"], token=token).encode(),
            headers={"content-type": content_type},
        )
    # siteverify reads the encoded name as `secret` (the token validates)...
    assert answer.json()["success"] is True
    # ...and the log keeps exactly the fields siteverify read, the secret redacted.
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert str(widget["secret"]) not in log.read_text()
    assert records[-1]["request"] == {"secret": "<redacted>", "response": token}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/turnstile/v0/siteverify", "text/plain"),  # siteverify cannot read it
        ("/turnstile/v0/siteverify", FORM + "; charset=utf-8"),  # unreadable bytes
        (WIDGETS, FORM),  # an API path that takes JSON only
    ],
)
async def test_a_body_no_reader_parsed_is_never_logged_as_text(
    tmp_path: Path, path: str, content_type: str
):
    log = tmp_path / "exchanges.jsonl"
    transport = EmulatorTransport(Backend(":memory:"), EmulatorOptions(request_log=log))
    hidden = "0x4AAAAAAAhiddenValueNeverLogged"
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        await http.post(
            path,
            content=f"s%65cret={hidden}&\xff".encode("latin-1"),
            headers={"content-type": content_type, **AUTH},
        )
    assert hidden not in log.read_text()
    assert json.loads(log.read_text().splitlines()[-1])["request"] == "<redacted>"


@pytest.mark.anyio
async def test_a_seeded_emulator_reopening_its_state_file_can_still_create_widgets(
    tmp_path: Path,
):
    state = tmp_path / "state.sqlite"
    first = EmulatorTransport(Backend(state, seed=7))
    async with httpx.AsyncClient(transport=first, base_url=ROOT) as http:
        old = await _create(http)
    second = EmulatorTransport(Backend(state, seed=7))  # `emulator serve --state F --seed 7` again
    async with httpx.AsyncClient(transport=second, base_url=ROOT) as http:
        new = await _create(http, "signup")
        rotated = await http.post(f"{WIDGETS}/{new['sitekey']}/rotate_secret", json={})
    assert new["sitekey"] != old["sitekey"] and new["secret"] != old["secret"]
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["result"]["secret"] not in (old["secret"], new["secret"])


@pytest.mark.anyio
async def test_a_state_file_from_before_issued_keys_were_kept_still_never_reissues(
    tmp_path: Path,
):
    state = tmp_path / "state.sqlite"
    async with httpx.AsyncClient(
        transport=EmulatorTransport(Backend(state, seed=7)), base_url=ROOT
    ) as http:
        old = await _create(http)
    with sqlite3.connect(state) as db:  # what an older version wrote: no record of keys
        db.execute("DROP TABLE issued_keys")
    async with httpx.AsyncClient(
        transport=EmulatorTransport(Backend(state, seed=7)), base_url=ROOT
    ) as http:
        new = await _create(http, "signup")
    assert new["sitekey"] != old["sitekey"]


@pytest.mark.anyio
async def test_a_token_for_a_deleted_widget_never_validates_again(tmp_path: Path):
    state = tmp_path / "state.sqlite"
    first = EmulatorTransport(Backend(state, seed=7))
    async with httpx.AsyncClient(transport=first, base_url=ROOT) as http:
        old = await _create(http)
        token = await _mint_in_process(http, old)
        deleted = await http.delete(f"{WIDGETS}/{old['sitekey']}")
        assert deleted.status_code == 200
    reopened = Backend(state, seed=7)
    assert reopened.tokens.find(token) is None  # deleted with its widget
    async with httpx.AsyncClient(transport=EmulatorTransport(reopened), base_url=ROOT) as http:
        new = await _create(http)
        answer = await http.post(
            "/turnstile/v0/siteverify", data={"secret": new["secret"], "response": token}
        )
    assert answer.json() == {"success": False, "error-codes": ["invalid-input-response"]}
    assert new["sitekey"] != old["sitekey"]


@pytest.mark.anyio
async def test_an_internal_error_never_shows_the_cause_to_the_client(
    monkeypatch: pytest.MonkeyPatch,
):
    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("UNIQUE constraint failed: widgets.sitekey")

    monkeypatch.setattr(Backend, "create", broken)
    transport = EmulatorTransport(Backend(":memory:"))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        answer = await http.post(
            WIDGETS, json={"name": "x", "mode": "managed", "domains": ["example.com"]}
        )
    assert answer.status_code == 500
    assert "UNIQUE" not in answer.text and "sitekey" not in answer.text
    assert answer.json()["errors"] == [{"code": 10001, "message": "emulator internal error"}]
