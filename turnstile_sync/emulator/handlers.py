"""Thin handlers: parse the request strictly, call the backend, serialise the envelope.

Cloudflare decodes bodies strictly (an unknown key such as ``sitekey`` is refused: API-NOTES
§4), so the request model forbids extra keys and reports every problem in one response.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from turnstile_sync.emulator.backend import ORDER_COLUMNS, Backend
from turnstile_sync.emulator.errors import CODE_INVALID_REQUEST, EmulatorError, invalid
from turnstile_sync.emulator.hostnames import HostnameRefused, canonical_hostname
from turnstile_sync.emulator.options import EmulatorOptions

MIN_PER_PAGE = 5
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 25


class WidgetRequest(BaseModel):
    """The create body of Cloudflare's schema: name, mode, domains required."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    mode: Literal["non-interactive", "invisible", "managed"]
    domains: list[str]
    region: Literal["world", "china"] | None = None
    clearance_level: Literal["no_clearance", "jschallenge", "managed", "interactive"] | None = None
    bot_fight_mode: StrictBool | None = None
    ephemeral_id: StrictBool | None = None
    offlabel: StrictBool | None = None


class WidgetUpdate(WidgetRequest):
    """The update body as Cloudflare accepts it: every field optional, and a field left out
    keeps its value, so ``{"domains": [...]}`` alone works (cloudflare-go PR #3594, by a
    Cloudflare engineer; the docs' curl examples). The OpenAPI schema still marks name, mode
    and domains required; the API does not enforce it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=254)] | None = None  # type: ignore[assignment]
    mode: Literal["non-interactive", "invisible", "managed"] | None = None  # type: ignore[assignment]
    domains: list[str] | None = None  # type: ignore[assignment]


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invalidate_immediately: StrictBool = False


def success(result: Any, result_info: dict[str, int] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body)


def failure(status: int, errors: list[tuple[int, str]]) -> JSONResponse:
    body = {
        "success": False,
        "errors": [{"code": code, "message": message} for code, message in errors],
        "messages": [],
        "result": None,
    }
    return JSONResponse(body, status_code=status)


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _list_item(widget: dict[str, Any]) -> dict[str, Any]:
    """List items never carry the secret (Cloudflare's list schema has no such field)."""
    return {key: value for key, value in widget.items() if key != "secret"}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except RecursionError:
        # json refuses nesting deeper than the interpreter's recursion limit this way.
        raise invalid("request body is not valid JSON: nested too deeply") from None
    except ValueError:  # UnicodeDecodeError included: the body must be UTF-8
        raise invalid("request body is not valid JSON") from None


def _validation_errors(error: ValidationError) -> EmulatorError:
    problems: list[tuple[int, str]] = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            message = f'json: unknown field "{field}"'
        elif item["type"] == "missing":
            message = f"missing field `{field}`"
        else:
            message = f"{field}: {item['msg']}"
        problems.append((CODE_INVALID_REQUEST, message))
    return EmulatorError.many(400, problems)


async def _widget_fields(request: Request, model: type[WidgetRequest]) -> dict[str, Any]:
    """The body's fields, validated; only those the body gives (None is "not given")."""
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    try:
        body = model.model_validate(data)
    except ValidationError as error:
        raise _validation_errors(error) from None
    fields = body.model_dump(exclude_none=True)
    if body.domains is None:
        return fields
    problems: list[tuple[int, str]] = []
    domains: set[str] = set()
    for index, hostname in enumerate(body.domains):
        try:
            domains.add(canonical_hostname(hostname))
        except HostnameRefused as error:
            problems.append((CODE_INVALID_REQUEST, f"domains[{index}]: {error}"))
    if problems:
        raise EmulatorError.many(400, problems)
    fields["domains"] = sorted(domains)
    return fields


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise invalid(f"{name} must be a number, got {raw!r}") from None
    if not number.is_integer():
        raise invalid(f"{name} must be a whole number, got {raw!r}")
    value = int(number)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{name} must be {bounds}, got {value}")
    return value


def _choice_param(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and raw not in choices:
        raise invalid(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _filter_param(request: Request) -> dict[str, str]:
    raw = request.query_params.get("filter")
    if not raw:
        return {}
    field, sep, value = raw.partition(":")
    if not sep or field not in ("name", "sitekey"):
        raise invalid(f"filter must be 'name:<text>' or 'sitekey:<text>', got {raw!r}")
    return {f"{field}_contains": value} if value else {}


def _per_page_cap(request: Request) -> int | None:
    """The --per-page-cap fault: pages are cut silently, offsets follow the capped size, and
    ``result_info.per_page`` says the capped size (the only hint a client gets)."""
    options: EmulatorOptions | None = getattr(request.app.state, "options", None)
    return options.faults.per_page_cap if options is not None else None


async def list_widgets(request: Request) -> JSONResponse:
    account_id = request.path_params["account_id"]
    page = _int_param(request, "page", 1, 1, None)
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, MIN_PER_PAGE, MAX_PER_PAGE)
    per_page = min(per_page, _per_page_cap(request) or per_page)
    order = _choice_param(request, "order", tuple(ORDER_COLUMNS))
    direction = _choice_param(request, "direction", ("asc", "desc")) or "asc"
    widgets, total = _backend(request).list_widgets(
        account_id,
        page=page,
        per_page=per_page,
        order=order,
        direction=direction,
        **_filter_param(request),
    )
    info = {"page": page, "per_page": per_page, "count": len(widgets), "total_count": total}
    return success([_list_item(widget) for widget in widgets], info)


async def create_widget(request: Request) -> JSONResponse:
    fields = await _widget_fields(request, WidgetRequest)
    return success(_backend(request).create(request.path_params["account_id"], fields))


async def get_widget(request: Request) -> JSONResponse:
    params = request.path_params
    return success(_backend(request).get(params["account_id"], params["sitekey"]))


async def update_widget(request: Request) -> JSONResponse:
    fields = await _widget_fields(request, WidgetUpdate)
    params = request.path_params
    return success(_backend(request).update(params["account_id"], params["sitekey"], fields))


async def delete_widget(request: Request) -> JSONResponse:
    params = request.path_params
    return success(_backend(request).delete(params["account_id"], params["sitekey"]))


async def rotate_secret(request: Request) -> JSONResponse:
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    try:
        body = RotateRequest.model_validate(data)
    except ValidationError as error:
        raise _validation_errors(error) from None
    params = request.path_params
    widget = _backend(request).rotate_secret(
        params["account_id"],
        params["sitekey"],
        invalidate_immediately=body.invalidate_immediately,
    )
    return success(widget)
