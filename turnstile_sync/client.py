"""The only code that speaks to Cloudflare's widget API: one method per operation.

The transport is injectable, so the same client runs against Cloudflare, the emulator served
over a socket, the emulator in-process (httpx's ASGI transport) or respx in tests.
Credentials live in SecretStr and become headers only when a request is built.

Writes whose outcome is unknown are never blindly repeated: a create is looked for (by name
and content) before it is sent again, a rotation is checked against the secret it replaced,
and a delete that answers 404 after an unknown first attempt counts as done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from turnstile_sync.caller import AmbiguousWriteError, ApiCaller, Credentials, user_agent
from turnstile_sync.errors import (
    ApiError,
    ApiMessage,
    ConfigError,
    OutcomeUnknownError,
    TurnstileSyncError,
)
from turnstile_sync.listing import Layout, ListingError, MalformedPageError, Page, check_pages
from turnstile_sync.models import LiveWidget, WidgetBody, WidgetDetail
from turnstile_sync.ratelimit import CLOUDFLARE_RATE_LIMIT, RateLimit, RequestBudget
from turnstile_sync.retry import RetryPolicy, Timing
from turnstile_sync.urls import DEFAULT_BASE_URL, checked_base_url, public_url

__all__ = ["DEFAULT_BASE_URL", "LIST_PAGE_SIZE", "Credentials", "TurnstileClient"]

_Widget = TypeVar("_Widget", bound=LiveWidget)

LIST_PAGE_SIZE = 1000
"""Cloudflare's maximum page size: one list request per thousand widgets."""
LIST_ATTEMPTS = 2
"""A listing that does not add up is taken once more, then reported: a concurrent change is
over in a moment, and an API that contradicts itself twice will not stop on a third try."""
DEFAULT_PARALLELISM = 16
"""Requests in flight when the command sets none (only ``apply`` has --parallelism; its writes
keep their own bound of 8 in the applier). With 16, the pages after the first of a listing of
up to 17,000 widgets go out in one round trip: plan time stays within two round trips of
latency. Cloudflare documents no concurrency limit, only 1,200 requests per 5 minutes (paced
by the request budget) and 200 per second per IP."""

log = logging.getLogger("turnstile_sync.api")


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
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = CLOUDFLARE_RATE_LIMIT,
        parallelism: int = DEFAULT_PARALLELISM,
        timing: Timing | None = None,
        base_url_origin: str = "",
        writes: bool = False,
    ) -> None:
        """``base_url_origin``: where ``base_url`` came from (e.g. "CLOUDFLARE_BASE_URL"),
        named when it cannot be reached; ``writes``: whether the caller means to change
        widgets, so a refused token is told the permission it needs."""
        self.account_id = account_id
        self._base_url = checked_base_url(base_url, "base_url")
        timing = timing or Timing()
        try:
            self._http = httpx.AsyncClient(
                base_url=self._base_url,
                transport=transport,
                timeout=timeout,
                headers={"User-Agent": user_agent()},
            )
        except (OSError, ValueError, ImportError, httpx.InvalidURL) as error:
            # httpx reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and SSL_CERT_FILE / SSL_CERT_DIR
            # here; their messages may quote a proxy URL with its password, so only the
            # error's kind is shown.
            raise ConfigError(
                "cannot set up HTTP connections from the environment (a proxy variable such as "
                "HTTPS_PROXY, or SSL_CERT_FILE / SSL_CERT_DIR, is unusable: "
                f"{type(error).__name__}); fix or unset it"
            ) from None
        budget = (
            RequestBudget(rate_limit, clock=timing.clock, sleep=timing.sleep)
            if rate_limit is not None
            else None
        )
        self._caller = ApiCaller(
            self._http,
            credentials or Credentials(),
            policy=retry or RetryPolicy(),
            timing=timing,
            budget=budget,
            parallelism=parallelism,
            base_url_origin=base_url_origin,
            writes=writes,
        )

    def __repr__(self) -> str:
        shown = public_url(self._base_url)
        return f"TurnstileClient(account_id={self.account_id!r}, base_url={shown!r})"

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
    def retries(self) -> int:
        """How many requests were repeated after a retryable failure."""
        return self._caller.retries

    @property
    def _widgets_path(self) -> str:
        return f"accounts/{self.account_id}/challenges/widgets"

    async def list_widgets(self) -> list[LiveWidget]:
        """Every widget of the account, in creation order, or an error: never a short list.

        Page 1 says how many widgets there are (``total_count``) and how many a page holds
        (what it served: the API may cap ``per_page`` silently); the other pages are then
        fetched at once, within the client's parallelism and rate budget, and every page must
        agree with that layout (see ``turnstile_sync.listing``). The order is ``created_on``
        ascending, so a widget created meanwhile lands at the end and a delete moves the
        total: either shows up as pages that disagree. Such a listing is taken once more (the
        change was probably a moment's); if it still does not add up, it is an error naming
        every disagreement.
        """
        problems: list[str] = []
        for attempt in range(1, LIST_ATTEMPTS + 1):
            widgets, problems = await self._list_once()
            if not problems:
                return widgets
            if attempt < LIST_ATTEMPTS:
                log.warning(
                    "the listing did not add up (%s); listing the account again", problems[0]
                )
        raise ListingError(problems, LIST_ATTEMPTS)

    async def _list_once(self) -> tuple[list[LiveWidget], list[str]]:
        first, widgets = await self._list_page(1, LIST_PAGE_SIZE)
        layout, problems = Layout.from_first(first, LIST_PAGE_SIZE)
        rest = await _all_or_none(
            [self._list_page(number, layout.size) for number in range(2, layout.pages + 1)]
        )
        problems += check_pages([first, *(page for page, _ in rest)], layout)
        for _, more in rest:
            widgets += more
        return widgets, problems

    async def _list_page(self, number: int, size: int) -> tuple[Page, list[LiveWidget]]:
        """One page, read and parsed as soon as it arrives (while later pages are still on
        their way)."""
        payload = await self._caller.call(
            "list widgets",
            "GET",
            self._widgets_path,
            params={
                "page": number,
                "per_page": size,
                "order": "created_on",
                "direction": "asc",
            },
        )
        try:
            page = Page.read(number, payload)
        except MalformedPageError as error:
            raise _unexpected("list widgets", str(error)) from None
        return page, [_parse(LiveWidget, item, "list widgets") for item in page.items]

    async def get_widget(self, sitekey: str) -> WidgetDetail:
        payload = await self._caller.call("get widget", "GET", f"{self._widgets_path}/{sitekey}")
        return _parse(WidgetDetail, payload.get("result"), "get widget")

    async def create_widget(
        self, body: WidgetBody, *, known_sitekeys: frozenset[str] = frozenset()
    ) -> WidgetDetail:
        """Create a widget, at most once.

        ``known_sitekeys`` are widgets that existed before (for example the one a replacement
        supersedes): after an unknown outcome, a widget with this name and content that is not
        among them is the one this call created.
        """
        deadline = self._caller.deadline()
        attempt = 0
        while True:
            attempt += 1
            try:
                payload = await self._caller.call(
                    "create widget",
                    "POST",
                    self._widgets_path,
                    json=body.to_json(),
                    repeatable=False,
                    deadline=deadline,
                )
            except AmbiguousWriteError as unknown:
                log.warning(
                    "create '%s': %s; checking whether it was created", body.name, unknown.cause
                )
                try:
                    created = await self._find_created(body, known_sitekeys)
                except TurnstileSyncError as check:
                    raise OutcomeUnknownError(
                        f"create {body.name!r}: the outcome is unknown ({unknown.cause}) and "
                        f"checking for the widget failed ({check}). It may exist: run plan "
                        "again, which shows it or creates it; if it exists, fetch its secret "
                        "with `turnstile-sync get-secret`"
                    ) from None
                if created is not None:
                    return created
                await self._caller.wait_to_retry("create widget", attempt, deadline, unknown)
                continue
            return _parse(WidgetDetail, payload.get("result"), "create widget")

    async def _find_created(
        self, body: WidgetBody, known_sitekeys: frozenset[str]
    ) -> WidgetDetail | None:
        wanted = body.to_json()
        candidates = [
            widget
            for widget in await self.list_widgets()
            if widget.sitekey not in known_sitekeys
            and all(_same(getattr(widget, key), value) for key, value in wanted.items())
        ]
        if not candidates:
            return None
        newest = max(candidates, key=lambda widget: widget.created_on)
        log.warning("create '%s' had happened: found %s", body.name, newest.sitekey)
        return await self.get_widget(newest.sitekey)

    async def update_widget(self, sitekey: str, body: WidgetBody) -> WidgetDetail:
        """Full-body PUT: Cloudflare has no PATCH, so every field is always sent. Repeating a
        full-body PUT is harmless, so it is retried like a read."""
        payload = await self._caller.call(
            "update widget", "PUT", f"{self._widgets_path}/{sitekey}", json=body.to_json()
        )
        return _parse(WidgetDetail, payload.get("result"), "update widget")

    async def delete_widget(self, sitekey: str) -> WidgetDetail | None:
        """Delete a widget. None means it was confirmed gone after an unknown first attempt."""
        deadline = self._caller.deadline()
        uncertain = False
        attempt = 0
        while True:
            attempt += 1
            try:
                payload = await self._caller.call(
                    "delete widget",
                    "DELETE",
                    f"{self._widgets_path}/{sitekey}",
                    repeatable=False,
                    deadline=deadline,
                )
            except AmbiguousWriteError as unknown:
                uncertain = True
                await self._caller.wait_to_retry("delete widget", attempt, deadline, unknown)
                continue
            except ApiError as error:
                if uncertain and error.status == 404:
                    return None
                raise
            return _parse(WidgetDetail, payload.get("result"), "delete widget")

    async def rotate_secret(
        self, sitekey: str, *, invalidate_immediately: bool = False
    ) -> WidgetDetail:
        """Rotate once. The current secret is read first, so that after an unknown outcome a
        changed secret proves the rotation happened and it is not repeated."""
        before = (await self.get_widget(sitekey)).secret.get_secret_value()
        deadline = self._caller.deadline()
        attempt = 0
        while True:
            attempt += 1
            try:
                payload = await self._caller.call(
                    "rotate secret",
                    "POST",
                    f"{self._widgets_path}/{sitekey}/rotate_secret",
                    json={"invalidate_immediately": invalidate_immediately},
                    repeatable=False,
                    deadline=deadline,
                )
            except AmbiguousWriteError as unknown:
                log.warning("rotate %s: %s; checking whether it happened", sitekey, unknown.cause)
                try:
                    current = await self.get_widget(sitekey)
                except TurnstileSyncError as check:
                    raise OutcomeUnknownError(
                        f"rotate secret of {sitekey}: the outcome is unknown ({unknown.cause}) "
                        f"and checking failed ({check}). Fetch the current secret with "
                        "`turnstile-sync get-secret` before rotating again"
                    ) from None
                if current.secret.get_secret_value() != before:
                    return current
                await self._caller.wait_to_retry("rotate secret", attempt, deadline, unknown)
                continue
            return _parse(WidgetDetail, payload.get("result"), "rotate secret")


_Result = TypeVar("_Result")


async def _all_or_none(calls: list[Coroutine[Any, Any, _Result]]) -> list[_Result]:
    """Run ``calls`` concurrently; results in the order given. If one fails, the others are
    cancelled (not left running against the API) and that failure is raised as it is."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _same(live_value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return sorted(str(item).lower() for item in wanted) == list(live_value)
    return bool(live_value == wanted)


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
