"""The only code that speaks HTTP: Cloudflare's v4 envelope, errors and pagination.

The transport is injectable, so the same client runs against Cloudflare, the emulator served
over a socket, the emulator in-process (httpx's ASGI transport) or respx in tests. Credentials
live in SecretStr and are turned into headers only when a request is built, so no repr, log line
or exception can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from turnstile_sync import __version__
from turnstile_sync.errors import ApiError, ApiMessage, ApiUnreachableError, ConfigError
from turnstile_sync.models import LiveWidget, WidgetBody, WidgetDetail

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
_Widget = TypeVar("_Widget", bound=LiveWidget)

LIST_PAGE_SIZE = 1000
"""Cloudflare's maximum page size: one list request per thousand widgets."""


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
            return cls(token=SecretStr(token))
        email = env.get("CLOUDFLARE_EMAIL", "").strip()
        key = env.get("CLOUDFLARE_API_KEY", "").strip()
        if email and key:
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


class TurnstileClient:
    """Async client for the six Turnstile widget endpoints of one account."""

    def __init__(
        self,
        account_id: str,
        credentials: Credentials | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.account_id = account_id
        self._credentials = credentials or Credentials()
        self._base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"turnstile-sync/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"TurnstileClient(account_id={self.account_id!r}, base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def _widgets_path(self) -> str:
        return f"accounts/{self.account_id}/challenges/widgets"

    async def list_widgets(self) -> list[LiveWidget]:
        """Every widget of the account, fetched 1,000 per request."""
        widgets: list[LiveWidget] = []
        page = 1
        while True:
            payload = await self._request(
                "list widgets",
                "GET",
                self._widgets_path,
                params={"page": page, "per_page": LIST_PAGE_SIZE},
            )
            items = payload.get("result") or []
            if not isinstance(items, list):
                raise _unexpected("list widgets", "'result' is not a list")
            widgets += [_parse(LiveWidget, item, "list widgets") for item in items]
            info = payload.get("result_info") or {}
            total = info.get("total_count") if isinstance(info, dict) else None
            last_page = len(items) < LIST_PAGE_SIZE
            if isinstance(total, int | float):
                last_page = last_page or len(widgets) >= total
            if last_page:
                return widgets
            page += 1

    async def get_widget(self, sitekey: str) -> WidgetDetail:
        payload = await self._request("get widget", "GET", f"{self._widgets_path}/{sitekey}")
        return _parse(WidgetDetail, payload.get("result"), "get widget")

    async def create_widget(self, body: WidgetBody) -> WidgetDetail:
        payload = await self._request(
            "create widget", "POST", self._widgets_path, json=body.to_json()
        )
        return _parse(WidgetDetail, payload.get("result"), "create widget")

    async def update_widget(self, sitekey: str, body: WidgetBody) -> WidgetDetail:
        """Full-body PUT: Cloudflare has no PATCH, so every field is always sent."""
        payload = await self._request(
            "update widget", "PUT", f"{self._widgets_path}/{sitekey}", json=body.to_json()
        )
        return _parse(WidgetDetail, payload.get("result"), "update widget")

    async def delete_widget(self, sitekey: str) -> WidgetDetail:
        payload = await self._request("delete widget", "DELETE", f"{self._widgets_path}/{sitekey}")
        return _parse(WidgetDetail, payload.get("result"), "delete widget")

    async def rotate_secret(
        self, sitekey: str, *, invalidate_immediately: bool = False
    ) -> WidgetDetail:
        payload = await self._request(
            "rotate secret",
            "POST",
            f"{self._widgets_path}/{sitekey}/rotate_secret",
            json={"invalidate_immediately": invalidate_immediately},
        )
        return _parse(WidgetDetail, payload.get("result"), "rotate secret")

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, path, params=params, json=json, headers=self._credentials.headers()
            )
        except httpx.TimeoutException:
            raise ApiUnreachableError(
                f"{operation}: no answer from {self._base_url} in time"
            ) from None
        except httpx.TransportError as error:
            raise ApiUnreachableError(
                f"{operation}: cannot reach {self._base_url}: {error or type(error).__name__}"
            ) from None
        return _unwrap(operation, response)


def _unwrap(operation: str, response: httpx.Response) -> dict[str, Any]:
    """Cloudflare's envelope: errors come from the HTTP status *and* ``success: false``."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        kind = response.headers.get("content-type", "no content type")
        raise ApiError(
            operation,
            response.status_code,
            [ApiMessage(0, f"the API answered with something other than JSON ({kind})")],
        )
    if response.status_code >= 400 or payload.get("success") is not True:
        raise ApiError(operation, response.status_code, _messages(payload.get("errors")))
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


def _parse(model: type[_Widget], data: Any, operation: str) -> _Widget:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'result'}: {e['msg']}" for e in error.errors()
        )
        raise _unexpected(operation, problems) from None


def _unexpected(operation: str, detail: str) -> ApiError:
    return ApiError(operation, 200, [ApiMessage(0, f"unexpected response: {detail}")])
