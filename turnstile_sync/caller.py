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
from turnstile_sync.urls import public_url, redact_urls

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
    ) -> None:
        self._http = http
        self._credentials = credentials
        self.policy = policy
        self.timing = timing
        self.budget = budget
        self._parallel = asyncio.Semaphore(max(1, parallelism))
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
            await self.wait_to_retry(operation, attempt, deadline, failure, wait_hint)

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
        log.warning("%s; retrying in %.1f s (attempt %d)", failure, delay, attempt + 1)
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
                return ApiUnreachableError(f"{operation} failed: {cause}"), None
        log.info(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            response.status_code,
            (self.timing.clock() - started) * 1000,
        )
        if not is_retryable_status(response.status_code):
            return unwrap(operation, response), None
        wait = retry_after_seconds(response.headers, self.timing.wall_clock())
        if response.status_code == 429 and self.budget is not None:
            self.budget.pause(wait if wait is not None else self.policy.base_delay)
        if response.status_code >= 500 and not repeatable:
            raise AmbiguousWriteError(operation, f"HTTP {response.status_code}")
        return api_error(operation, response), wait


def _describe_transport_error(error: httpx.TransportError, base_url: str) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer from {base_url} in time"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the connection to {base_url} was dropped without an answer"
    return f"cannot reach {base_url}: {redact_urls(str(error)) or type(error).__name__}"


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
