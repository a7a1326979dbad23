"""The emulator's own endpoints for tests: mint a siteverify token, move the clock.

Neither exists at Cloudflare. A browser solving a challenge is what issues a real token; here a
test asks for one, and is refused whatever a real widget would refuse (a hostname its domains
do not cover, an ``action`` or ``cdata`` the widget would not take). The clock lets a test see a
token expire after 300 s, or a rotated secret's 2-hour grace end, without waiting. Both sit
behind ``emulator serve --token`` when it is set, like the stats endpoint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic import Field as PydanticField
from starlette.requests import Request
from starlette.responses import JSONResponse

from turnstile_sync.emulator.backend import Backend
from turnstile_sync.emulator.errors import EmulatorError, invalid
from turnstile_sync.emulator.handlers import _json_body
from turnstile_sync.emulator.siteverify import challenge_timestamp
from turnstile_sync.emulator.tokens import (
    MAX_ACTION_LENGTH,
    MAX_CDATA_LENGTH,
    TOKEN_LIFETIME,
    MintRefused,
    Token,
    covers,
    custom_value,
    new_ephemeral_id,
    new_token_value,
    page_hostname,
)

TOKENS_PATH = "/__emulator/tokens"
CLOCK_PATH = "/__emulator/clock"
CONTROL_PATHS = (TOKENS_PATH, CLOCK_PATH)
_MAX_ADVANCE = timedelta(days=3650)


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sitekey: Annotated[StrictStr, PydanticField(max_length=64)]
    hostname: Annotated[StrictStr, PydanticField(max_length=300)]
    action: StrictStr = ""
    cdata: StrictStr = ""


class ClockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_seconds: StrictInt | StrictFloat = 0
    frozen: StrictBool | None = None


async def _object_body(request: Request) -> dict[str, object]:
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    return data


def _problems(error: ValidationError) -> EmulatorError:
    messages = [
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors()
    ]
    return EmulatorError.many(400, [(10400, message) for message in messages])


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def mint_token(request: Request) -> JSONResponse:
    """A token as the widget would issue it on that hostname, valid for 300 s and one use."""
    try:
        body = MintRequest.model_validate(await _object_body(request))
    except ValidationError as error:
        raise _problems(error) from None
    backend = _backend(request)
    found = backend.find_by_sitekey(body.sitekey)
    if found is None:
        raise EmulatorError(404, 10404, f"no widget has the sitekey {body.sitekey!r}")
    _, widget = found
    try:
        hostname = page_hostname(body.hostname)
        action = custom_value("action", body.action, MAX_ACTION_LENGTH)
        cdata = custom_value("cdata", body.cdata, MAX_CDATA_LENGTH)
    except MintRefused as error:
        raise invalid(str(error)) from None
    if not covers(widget["domains"], hostname):
        raise invalid(
            f"hostname {hostname!r} is not covered by the widget's domains "
            f"({', '.join(widget['domains'])}); the widget would not run there"
        )
    issued_on = backend.now()
    token = Token(
        value=new_token_value(),
        sitekey=body.sitekey,
        hostname=hostname,
        action=action,
        cdata=cdata,
        ephemeral_id=new_ephemeral_id(),
        issued_on=issued_on,
    )
    backend.tokens.insert(token)
    return JSONResponse(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {
                "token": token.value,
                "sitekey": token.sitekey,
                "hostname": hostname,
                "action": action,
                "cdata": cdata,
                "challenge_ts": challenge_timestamp(issued_on),
                "expires_on": challenge_timestamp(issued_on + TOKEN_LIFETIME),
            },
        }
    )


async def clock(request: Request) -> JSONResponse:
    """GET: the emulator's time. POST ``{"frozen": true|false, "advance_seconds": N}``: stop
    or restart it, then move it forward N seconds."""
    backend = _backend(request)
    if request.method == "POST":
        try:
            body = ClockRequest.model_validate(await _object_body(request))
        except ValidationError as error:
            raise _problems(error) from None
        seconds = float(body.advance_seconds)
        if not 0 <= seconds <= _MAX_ADVANCE.total_seconds():
            raise invalid(
                f"advance_seconds must be between 0 and {int(_MAX_ADVANCE.total_seconds())}"
            )
        if body.frozen is not None:
            backend.freeze_clock(body.frozen)
        backend.advance_clock(timedelta(seconds=seconds))
    now = challenge_timestamp(backend.now())
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": {"now": now}})
