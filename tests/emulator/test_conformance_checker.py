"""The schema checker itself must be able to fail, or the conformance net proves nothing."""

from __future__ import annotations

from typing import Any

from tests.conformance import check_exchange
from tests.factories import widget_json

WIDGET = widget_json("0x4AAAAAAAabcdefghijklmn", "login")
PATH = "/client/v4/accounts/023e105f4ecef8ad9ca31a8372d0c353/challenges/widgets"


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "operation": "list",
        "method": "GET",
        "path": PATH,
        "query": "page=1&per_page=1000",
        "user_agent": "turnstile-sync/0.1.0",
        "request": None,
        "status": 200,
        "response": {
            "success": True,
            "errors": [],
            "messages": [],
            "result": [WIDGET],
            "result_info": {"page": 1, "per_page": 1000, "count": 1, "total_count": 1},
        },
    }
    base.update(overrides)
    return base


def test_a_conforming_exchange_passes():
    assert check_exchange(record()) == []


def test_missing_required_field_is_caught():
    widget = {k: v for k, v in WIDGET.items() if k != "ephemeral_id"}
    response = {**record()["response"], "result": [widget]}
    (problem,) = check_exchange(record(response=response))
    assert "'ephemeral_id' is a required property" in problem


def test_secret_in_a_list_item_is_caught():
    response = {**record()["response"], "result": [{**WIDGET, "secret": "<redacted>"}]}
    problems = check_exchange(record(response=response))
    assert any("list item carries a secret" in p for p in problems)


def test_missing_result_info_field_is_caught():
    response = {**record()["response"], "result_info": {"page": 1, "per_page": 1000}}
    assert check_exchange(record(response=response))


def test_error_envelope_must_have_code_at_least_1000():
    bad = {
        "success": False,
        "errors": [{"code": 7, "message": "x"}],
        "messages": [],
        "result": None,
    }
    assert check_exchange(record(status=400, response=bad))


def test_client_request_with_out_of_range_page_size_is_caught():
    (problem,) = check_exchange(record(query="page=1&per_page=5000"))
    assert "query per_page" in problem


def test_client_request_with_undeclared_parameter_is_caught():
    (problem,) = check_exchange(record(query="limit=5"))
    assert "undeclared query parameter 'limit'" in problem


def test_client_create_body_must_match_the_schema():
    detail = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {**WIDGET, "secret": "<redacted>"},
    }
    bad = record(
        operation="create", method="POST", query="", request={"name": "x"}, response=detail
    )
    problems = check_exchange(bad)
    assert any("'mode' is a required property" in p for p in problems)


def test_requests_from_other_clients_are_not_judged():
    assert check_exchange(record(query="limit=5", user_agent="curl/8")) == []
