"""One API call: credentials, Cloudflare's envelope, the rate budget, and retries.

Kept apart from the client's operations so that the rules for *whether* a call may be repeated
live in one place. A call that is not safe to repeat (a create, a secret rotation) and whose
outcome is unknown raises AmbiguousWriteError instead of being retried blindly; the client then
checks what happened before trying again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from turnstile_sync import __version__
from turnstile_sync.errors import (
    ApiError,
    ApiMessage,
    ApiUnreachableError,
    ConfigError,
    RetriesExhaustedError,
    TurnstileSyncError,
)
from turnstile_sync.ratelimit import RequestBudget
from turnstile_sync.retry import (
    RetryPolicy,
    Timing,
    is_retryable_status,
    never_sent,
    retry_after_seconds,
)
from turnstile_sync.urls import BASE_URL_VARIABLE, DEFAULT_BASE_URL, public_url, redact_urls

log = logging.getLogger("turnstile_sync.api")


@dataclass(frozen=True)
class Credentials:
    """An API token, or the legacy email + global API key pair."""

    token: SecretStr | None = None
    email: str | None = None
    key: SecretStr | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read the same variables as Cloudflare's own SDK, or explain what is missing."""
        env = os.environ if environ is None else environ
        token = env.get("CLOUDFLARE_API_TOKEN", "").strip()
        if token:
            _check_header_safe("CLOUDFLARE_API_TOKEN", token)
            return cls(token=SecretStr(token))
        email = env.get("CLOUDFLARE_EMAIL", "").strip()
        key = env.get("CLOUDFLARE_API_KEY", "").strip()
        if email and key:
            _check_header_safe("CLOUDFLARE_EMAIL", email)
            _check_header_safe("CLOUDFLARE_API_KEY", key)
            return cls(email=email, key=SecretStr(key))
        if email or key:
            missing = "CLOUDFLARE_API_KEY" if email else "CLOUDFLARE_EMAIL"
            raise ConfigError(f"{missing} is not set; the API key and email go together")
        raise ConfigError(
            "no Cloudflare credentials: set CLOUDFLARE_API_TOKEN (a token with the "
            "'Turnstile Sites Write' permission), or use --emulator to try the spec locally"
        )

    def variables(self) -> str:
        """The environment variables these credentials came from, for messages."""
        if self.token is not None:
            return "CLOUDFLARE_API_TOKEN"
        if self.email is not None:
            return "CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY"
        return ""

    def headers(self) -> dict[str, str]:
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token.get_secret_value()}"}
        if self.email is not None and self.key is not None:
            return {"X-Auth-Email": self.email, "X-Auth-Key": self.key.get_secret_value()}
        return {}


def _check_header_safe(variable: str, value: str) -> None:
    """A newline or non-ASCII character would make httpx fail with the header (and so the
    credential) in its error message: refuse it here, without echoing the value."""
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        raise ConfigError(
            f"{variable} contains characters that cannot be sent in an HTTP header (a newline, "
            "a space or a non-ASCII character?); check how it was set"
        )


class AmbiguousWriteError(TurnstileSyncError):
    """A write was sent and no answer says whether it happened (dropped, timed out, 5xx)."""

    def __init__(self, operation: str, cause: str) -> None:
        self.cause = cause
        super().__init__(f"{operation}: outcome unknown ({cause})")


FIRST_CONTACT_ATTEMPTS = 2
"""Attempts at a refused connection or unresolvable host before the API has answered once in
this run: that is a wrong address (or no network), which no amount of retrying mends, so it is
reported within seconds, not after --max-retry-time. Once the API has answered, the same
failure is a blip and is retried patiently."""


class _NoConnection(ApiUnreachableError):
    """The connection could not be opened (refused, or the host name did not resolve)."""

    def __init__(self, operation: str, cause: str) -> None:
        self.cause = cause
        super().__init__(f"{operation} failed: {cause}")


class ApiCaller:
    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: Credentials,
        *,
        policy: RetryPolicy,
        timing: Timing,
        budget: RequestBudget | None,
        parallelism: int,
        base_url_origin: str = "",
        writes: bool = False,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self.policy = policy
        self.timing = timing
        self.budget = budget
        self._parallel = asyncio.Semaphore(max(1, parallelism))
        self._origin = base_url_origin
        """Where the base URL came from, for the message when it cannot be reached."""
        self._writes = writes
        """Whether the command changes the account (the permission a 403 asks for)."""
        self.answered = False
        """Whether the API has answered (any HTTP status) once in this run."""
        self.retries = 0
        """Requests repeated because of a retryable failure, for reports and tests."""

    def _public_base_url(self) -> str:
        return public_url(str(self._http.base_url).rstrip("/"))

    def deadline(self) -> float:
        return self.timing.clock() + self.policy.max_retry_time

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        repeatable: bool = True,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Send one request, retrying what may be retried until ``deadline``."""
        deadline = self.deadline() if deadline is None else deadline
        attempt = 0
        while True:
            attempt += 1
            self._refuse_pause_past(operation, attempt, deadline)
            failure, wait_hint = await self._attempt(
                operation, method, path, params, json, repeatable
            )
            if isinstance(failure, dict):
                return failure
            if isinstance(failure, _NoConnection) and not self.answered:
                await self._retry_first_contact(operation, attempt, deadline, failure)
                continue
            await self.wait_to_retry(operation, attempt, deadline, failure, wait_hint)

    async def _retry_first_contact(
        self, operation: str, attempt: int, deadline: float, failure: _NoConnection
    ) -> None:
        """One quick retry at most, then a configuration error naming the address."""
        delay = self.policy.backoff(attempt, self.timing.random())
        if attempt >= FIRST_CONTACT_ATTEMPTS or self.timing.clock() + delay > deadline:
            raise ApiUnreachableError(
                f"{operation} failed: {failure.cause} ({_attempts(attempt)}, before the API "
                f"had answered once). {unreachable_remedy(self._public_base_url(), self._origin)}"
            )
        log.warning("%s; retrying in %s (attempt %d)", failure, format_delay(delay), attempt + 1)
        self.retries += 1
        await self.timing.sleep(delay)

    def _refuse_pause_past(self, operation: str, attempt: int, deadline: float) -> None:
        """A 429 earlier in the run paused every request; if the pause outlasts this
        operation's retry budget, waiting it out would only overrun --max-retry-time (by up
        to Cloudflare's five-minute block), so give up now, saying why."""
        if self.budget is None or self.budget.paused_until <= deadline:
            return
        remaining = self.budget.paused_until - self.timing.clock()
        raise RetriesExhaustedError(
            operation,
            attempt - 1,
            self.policy.max_retry_time,
            TurnstileSyncError(
                f"the API rate limit (HTTP 429) asked every request to wait {remaining:.0f} s more"
            ),
        )

    async def wait_to_retry(
        self,
        operation: str,
        attempt: int,
        deadline: float,
        failure: Exception,
        wait_hint: float | None = None,
    ) -> None:
        """Back off before attempt ``attempt + 1``, or give up if that would pass ``deadline``."""
        delay = (
            wait_hint
            if wait_hint is not None
            else self.policy.backoff(attempt, self.timing.random())
        )
        if self.timing.clock() + delay > deadline:
            raise RetriesExhaustedError(operation, attempt, self.policy.max_retry_time, failure)
        log.warning("%s; retrying in %s (attempt %d)", failure, format_delay(delay), attempt + 1)
        self.retries += 1
        await self.timing.sleep(delay)

    async def _attempt(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        repeatable: bool,
    ) -> tuple[dict[str, Any] | TurnstileSyncError, float | None]:
        """The payload, or the retryable failure and how long the server asked us to wait."""
        if self.budget is not None:
            await self.budget.acquire()
        async with self._parallel:
            started = self.timing.clock()
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, headers=self._credentials.headers()
                )
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                # Their messages quote the URL, which may carry a credential.
                raise ConfigError(
                    f"{operation}: the API address {self._public_base_url()} is unusable (not "
                    "an http(s) URL with a valid host and port)"
                ) from None
            except (httpx.LocalProtocolError, UnicodeEncodeError):
                # Their messages quote the offending header, which may be a credential.
                raise ConfigError(
                    f"{operation}: the request could not be built (a credential or header holds "
                    "characters HTTP does not allow)"
                ) from None
            except httpx.TransportError as error:
                cause = _describe_transport_error(error, self._public_base_url())
                log.info("%s %s: %s", method, path, cause)
                if not repeatable and not never_sent(error):
                    raise AmbiguousWriteError(operation, cause) from None
                if isinstance(error, httpx.ConnectError):
                    return _NoConnection(operation, cause), None
                return ApiUnreachableError(f"{operation} failed: {cause}"), None
        self.answered = True
        log.info(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            response.status_code,
            (self.timing.clock() - started) * 1000,
        )
        if not is_retryable_status(response.status_code):
            try:
                return unwrap(operation, response), None
            except ApiError as error:
                raise self._explained(error, response) from None
        wait = retry_after_seconds(response.headers, self.timing.wall_clock())
        if response.status_code == 429 and self.budget is not None:
            self.budget.pause(wait if wait is not None else self.policy.base_delay)
        if response.status_code >= 500 and not repeatable:
            raise AmbiguousWriteError(operation, f"HTTP {response.status_code}")
        return api_error(operation, response), wait

    def _explained(self, error: ApiError, response: httpx.Response) -> ApiError:
        """The error with the next step when there is an obvious one: refused credentials
        name their variable and the permission; a path the API does not know shows the URL."""
        hint = ""
        if error.status in (401, 403):
            hint = credentials_hint(self._credentials.variables(), self._writes)
        elif error.status == 404 and _no_route(error):
            hint = no_route_hint(public_url(str(response.request.url)), self._public_base_url())
        if not hint:
            return error
        return ApiError(error.operation, error.status, error.errors, hint=hint)


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def _no_route(error: ApiError) -> bool:
    return any(m.code == NO_ROUTE_CODE or "no route" in m.message.lower() for m in error.errors)


NO_ROUTE_CODE = 7003
"""Cloudflare's "No route for that URI": the path is not an API endpoint at all."""


def format_delay(seconds: float) -> str:
    """A wait as people read it: "1.5 s", "240 ms", never "0.0 s" for a jittered 20 ms."""
    if seconds >= 1:
        return f"{seconds:.1f} s"
    milliseconds = round(seconds * 1000)
    return f"{milliseconds} ms" if milliseconds >= 1 else "under 1 ms"


def unreachable_remedy(url: str, origin: str) -> str:
    """What to check when ``url`` cannot be reached, depending on where it came from."""
    if origin == BASE_URL_VARIABLE:
        return (
            f"The API address {url} comes from {BASE_URL_VARIABLE}: check it (is the server "
            f"running?), or unset it to use Cloudflare's API, {DEFAULT_BASE_URL}."
        )
    if url == DEFAULT_BASE_URL:
        return (
            f"The API address {url} is the default ({BASE_URL_VARIABLE} is not set): check the "
            "network, DNS and any proxy (HTTPS_PROXY) this machine needs."
        )
    where = f" comes from {origin}" if origin else " was given"
    return f"The API address {url}{where}: check it, and the network."


def credentials_hint(variables: str, writes: bool) -> str:
    """A 401/403: which variable holds the refused credentials, and the permission needed."""
    permission = "Turnstile Sites Write" if writes else "Turnstile Sites Read"
    need = (
        "this command changes widgets"
        if writes
        else "this command only reads widgets; apply and rotate-secret need 'Turnstile Sites Write'"
    )
    if variables == "CLOUDFLARE_API_TOKEN":
        return (
            "The API refused the token in CLOUDFLARE_API_TOKEN: check that it is current and "
            f"has the '{permission}' permission on this account ({need})."
        )
    if variables:
        return (
            f"The API refused the key in {variables}: check both values, or use a token in "
            f"CLOUDFLARE_API_TOKEN with the '{permission}' permission ({need})."
        )
    return (
        f"The API asked for credentials: set CLOUDFLARE_API_TOKEN to a token with '{permission}'."
    )


def no_route_hint(called: str, base_url: str) -> str:
    """A 404 "No route": the base URL's path is wrong, not the widget."""
    if (
        base_url == DEFAULT_BASE_URL
    ):  # Cloudflare's own 7003: "perhaps your object identifier is invalid"
        return (
            f"The API has no route for {called}: the base URL is Cloudflare's, so check the "
            "account id in it (--account-id, the spec's account_id or CLOUDFLARE_ACCOUNT_ID)."
        )
    return (
        f"The API has no route for {called}: the base URL {base_url} looks wrong; Cloudflare's "
        f"has the form {DEFAULT_BASE_URL} (check CLOUDFLARE_BASE_URL)."
    )


def _describe_transport_error(error: httpx.TransportError, base_url: str) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer from {base_url} in time"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the connection to {base_url} was dropped without an answer"
    return f"cannot reach {base_url}: {_connect_failure(error)}"


def _connect_failure(error: httpx.TransportError) -> str:
    """The operating system's reason, in words: httpx's own message for a refused connection
    is "All connection attempts failed", which does not say refused."""
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"the host name does not resolve ({cause.strerror or cause})"
        cause = cause.__cause__ or cause.__context__
    return redact_urls(str(error)) or type(error).__name__


def _payload(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def api_error(operation: str, response: httpx.Response) -> ApiError:
    payload = _payload(response)
    if payload is None:
        kind = response.headers.get("content-type", "no content type")
        messages = [ApiMessage(0, f"the API answered with something other than JSON ({kind})")]
        return ApiError(operation, response.status_code, messages)
    return ApiError(operation, response.status_code, _messages(payload.get("errors")))


def unwrap(operation: str, response: httpx.Response) -> dict[str, Any]:
    """Cloudflare's envelope: errors come from the HTTP status *and* ``success: false``."""
    payload = _payload(response)
    if payload is None or response.status_code >= 400 or payload.get("success") is not True:
        raise api_error(operation, response)
    return payload


def _messages(raw: Any) -> list[ApiMessage]:
    if not isinstance(raw, list):
        return []
    messages = []
    for item in raw:
        if isinstance(item, dict):
            code = item.get("code")
            messages.append(
                ApiMessage(code if isinstance(code, int) else 0, str(item.get("message", "")))
            )
    return messages


def user_agent() -> str:
    return f"turnstile-sync/{__version__}"
