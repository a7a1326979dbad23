"""Checks recorded emulator exchanges against Cloudflare's OpenAPI schema.

Every emulator in the test run logs its exchanges (TURNSTILE_SYNC_EMULATOR_LOG, set by an
autouse fixture); after each test, every response is validated against the operation's
response schema, and every request sent by turnstile-sync's own client against the request
schema. Widget objects are checked strictly (no properties beyond the schema's), so the
emulator cannot drift into inventing fields, and list items can never carry a secret.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from openapi_schema_validator import OAS30Validator

SCHEMA_PATH = Path(__file__).parent / "data" / "turnstile-openapi.json"
_COLLECTION = "/accounts/{account_id}/challenges/widgets"
_ITEM = _COLLECTION + "/{sitekey}"
OPERATIONS = {
    "list": (_COLLECTION, "get"),
    "create": (_COLLECTION, "post"),
    "get": (_ITEM, "get"),
    "update": (_ITEM, "put"),
    "delete": (_ITEM, "delete"),
    "rotate_secret": (_ITEM + "/rotate_secret", "post"),
}
STRICT_SCHEMAS = ("turnstile_widget_list", "turnstile_widget_detail")
KNOWN_DEVIATIONS = {
    # Cloudflare answers a throttled request with code 971 (widely observed; API-NOTES §4),
    # below the schema's minimum of 1000. The emulator copies the real API, not the schema.
    (429, "971 is less than the minimum of 1000 at ['errors', 0, 'code']"),
}


@cache
def _document() -> dict[str, Any]:
    document = json.loads(SCHEMA_PATH.read_text())
    strict = copy.deepcopy(document)
    for name in STRICT_SCHEMAS:
        strict["components"]["schemas"][name]["additionalProperties"] = False
    return strict


def _validate(schema: dict[str, Any], instance: Any, what: str) -> list[str]:
    root = {"components": _document()["components"], **schema}
    validator = OAS30Validator(root)
    return [
        f"{what}: {error.message} at {list(error.absolute_path)}"
        for error in validator.iter_errors(instance)
    ]


def _operation(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path, method = OPERATIONS[name]
    item = _document()["paths"][path]
    operation = item[method]
    parameters = item.get("parameters", []) + operation.get("parameters", [])
    return operation, parameters


def _response_schema(operation: dict[str, Any] | None, status: int) -> dict[str, Any]:
    failure = {"$ref": "#/components/schemas/turnstile_api-response-common-failure"}
    if operation is None:
        return failure
    responses = operation["responses"]
    declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    if declared is None:
        # The schema declares only 200 and 4XX; injected 5xx answers use the failure envelope.
        return failure
    schema: dict[str, Any] = declared["content"]["application/json"]["schema"]
    return schema


SITEVERIFY_ERROR_CODES = [
    "missing-input-secret",
    "invalid-input-secret",
    "missing-input-response",
    "invalid-input-response",
    "bad-request",
    "timeout-or-duplicate",
    "internal-error",
]
SITEVERIFY_ANSWER = {
    # developers.cloudflare.com/turnstile/get-started/server-side-validation/: the success and
    # failure examples, the field list and the error-code table. No other field is allowed.
    "type": "object",
    "additionalProperties": False,
    "required": ["success", "error-codes"],
    "properties": {
        "success": {"type": "boolean"},
        "error-codes": {"type": "array", "items": {"enum": SITEVERIFY_ERROR_CODES}},
        "challenge_ts": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
        "hostname": {"type": "string"},
        "action": {"type": "string"},
        "cdata": {"type": "string"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ephemeral_id"],
            "properties": {"ephemeral_id": {"type": "string"}},
        },
    },
}


def _check_siteverify(record: dict[str, Any]) -> list[str]:
    """siteverify is not in the API's schema: its answers are checked against the docs'."""
    if not isinstance(record["status"], int):
        return []
    where = f"{record['method']} {record['path']} -> {record['status']}"
    answer = record["response"]
    problems = _validate(SITEVERIFY_ANSWER, answer, f"siteverify answer of {where}")
    if isinstance(answer, dict) and answer.get("success") is True:
        problems += [
            f"siteverify answer of {where}: a success lacks {name!r}"
            for name in ("challenge_ts", "hostname", "action", "cdata")
            if name not in answer
        ]
        if answer.get("error-codes"):
            problems.append(f"siteverify answer of {where}: a success carries error codes")
    elif isinstance(answer, dict) and not answer.get("error-codes"):
        problems.append(f"siteverify answer of {where}: a failure without error codes")
    return problems


def check_exchange(record: dict[str, Any]) -> list[str]:
    """Every way one logged exchange breaks Cloudflare's schema."""
    if record["path"].rstrip("/") == "/turnstile/v0/siteverify":
        # challenges.cloudflare.com's siteverify has its own documented shape.
        return _check_siteverify(record)
    if record["path"].startswith("/__emulator/"):
        return []  # the emulator's own endpoints have no Cloudflare counterpart
    problems: list[str] = []
    status = record["status"]
    name = record["operation"]
    operation, parameters = _operation(name) if name in OPERATIONS else (None, [])
    where = f"{record['method']} {record['path']} -> {status}"
    if isinstance(status, int):
        found = _validate(_response_schema(operation, status), record["response"], "")
        problems += [
            f"response of {where}{problem}"
            for problem in found
            if (status, problem.removeprefix(": ")) not in KNOWN_DEVIATIONS
        ]
        if status == 200 and name == "list":
            problems += [
                f"response of {where}: list item carries a secret"
                for item in record["response"]["result"]
                if "secret" in item
            ]
    if operation is not None and record["user_agent"].startswith("turnstile-sync/"):
        problems += _check_request(record, operation, parameters, where)
    return problems


def _check_request(
    record: dict[str, Any], operation: dict[str, Any], parameters: list[dict[str, Any]], where: str
) -> list[str]:
    problems: list[str] = []
    query = dict(parse_qsl(record["query"]))
    known = {p["name"]: p for p in parameters}
    for key, raw in query.items():
        parameter = known.get(key)
        if parameter is None or parameter["in"] != "query":
            problems.append(f"request {where}: undeclared query parameter {key!r}")
            continue
        value: Any = raw
        if parameter["schema"].get("type") == "number":
            value = float(raw)
        problems += _validate(parameter["schema"], value, f"query {key} of {where}")
    segments = record["path"].removeprefix("/client/v4").split("/")
    path_values = {"account_id": segments[2]}
    if len(segments) > 5:
        path_values["sitekey"] = segments[5]
    for key, value in path_values.items():
        problems += _validate(known[key]["schema"], value, f"path {key} of {where}")
    body = operation.get("requestBody")
    if body is not None:
        schema = body["content"]["application/json"]["schema"]
        refused_unread = record["status"] in (403, 429, 503)  # answered before the body was read
        if record["request"] is None and body.get("required") and not refused_unread:
            problems.append(f"request {where}: body is required")
        elif record["request"] is not None:
            problems += _validate(schema, record["request"], f"request body of {where}")
    elif record["request"] is not None:
        problems.append(f"request {where}: operation takes no body")
    return problems


def check_log(path: Path) -> tuple[int, list[str]]:
    """How many exchanges were checked, and every problem found."""
    if not path.exists():
        return 0, []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    problems = [problem for record in records for problem in check_exchange(record)]
    return len(records), problems
