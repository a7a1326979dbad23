"""Reconciling a paged listing: every page must agree with the others, or there is no list.

A short list is the dangerous failure: a widget missing from it is one the plan creates again.
Cloudflare does not document whether it honours ``per_page`` up to 1,000 or silently serves
fewer, so the first page's size is taken as the page size (and asked for explicitly from then
on), its ``total_count`` says how many pages there are, and every page is then checked against
that layout. Pure functions over already-fetched payloads, so the rules are tested without I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.quoting import excerpt

__all__ = ["MAX_LIST_PAGES", "MIN_PER_PAGE", "Layout", "ListingError", "Page", "check_pages"]

MIN_PER_PAGE = 5
"""Cloudflare's smallest accepted ``per_page`` (OpenAPI schema): below it, pages cannot be
asked for by the size the server serves."""
MAX_LIST_PAGES = 1200
"""A listing needing more requests than Cloudflare's whole five-minute budget (1,200) would
block every other call on the account: a total that large is refused, not paged through."""


class ListingError(TurnstileSyncError):
    """The pages of a listing do not add up, so no list (and no plan) is made from them."""

    def __init__(self, problems: list[str], attempts: int) -> None:
        self.problems = problems
        body = "\n".join(f"  - {problem}" for problem in problems)
        taken = "once" if attempts == 1 else f"{attempts} times"
        super().__init__(
            f"list widgets: the pages the API returned do not add up (listed {taken}), so "
            "nothing is planned from them; a short list would plan duplicate creates:\n"
            f"{body}\nIf the account was being changed meanwhile, run the command again."
        )


class MalformedPageError(TurnstileSyncError):
    """A list response lacks what every check rests on (``result_info`` and its numbers)."""


@dataclass(frozen=True)
class Page:
    """One list response, with the numbers of its ``result_info``."""

    number: int
    """The page asked for."""
    items: list[dict[str, Any]]
    page: int
    per_page: int
    count: int
    total_count: int
    total_pages: int | None

    @classmethod
    def read(cls, number: int, payload: dict[str, Any]) -> Page:
        items = payload.get("result")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise MalformedPageError(f"page {number}: 'result' is not a list of widgets")
        info = payload.get("result_info")
        if not isinstance(info, dict):
            raise MalformedPageError(f"page {number}: no 'result_info' to check the listing by")
        numbers = {
            name: _whole(info.get(name), f"page {number}: result_info.{name}")
            for name in ("page", "per_page", "count", "total_count")
        }
        pages = info.get("total_pages")
        total_pages = None if pages is None else _whole(pages, f"page {number}: total_pages")
        return cls(number, items, total_pages=total_pages, **numbers)


def _whole(value: Any, what: str) -> int:
    """Cloudflare's schema types these as ``number``: 3 and 3.0 are accepted, 3.5 is not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedPageError(f"{what} is missing or not a number ({value!r})")
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise MalformedPageError(f"{what} is not a whole number ({value!r})")
    return int(value)


@dataclass(frozen=True)
class Layout:
    """What the first page implies for the whole listing."""

    total: int
    size: int
    """Widgets per page: what page 1 served when it did not hold them all."""
    pages: int

    @classmethod
    def from_first(cls, first: Page, asked: int) -> tuple[Layout, list[str]]:
        """The layout, and the problems page 1 alone shows."""
        served = len(first.items)
        total = first.total_count
        problems = []
        if served > asked:
            problems.append(f"page 1 holds {served} widgets, more than the {asked} asked for")
        if served > total:
            problems.append(f"page 1 holds {served} widgets, more than total_count {total}")
        if served >= total:
            return cls(total, max(served, 1), 1), problems
        if served == 0:
            problems.append(f"page 1 is empty, but total_count is {total}")
            return cls(total, 1, 1), problems
        if first.per_page < served:
            problems.append(f"page 1 holds {served} widgets, but its per_page is {first.per_page}")
        if served < MIN_PER_PAGE:
            problems.append(
                f"page 1 holds only {served} of {total} widgets, and pages smaller than "
                f"{MIN_PER_PAGE} cannot be asked for"
            )
            return cls(total, served, 1), problems
        pages = math.ceil(total / served)
        if pages > MAX_LIST_PAGES:
            problems.append(
                f"total_count {total} at {served} per page needs {pages} requests, more than "
                f"the API's whole rate-limit window ({MAX_LIST_PAGES})"
            )
            return cls(total, served, 1), problems
        return cls(total, served, pages), problems

    def expected(self, number: int) -> int:
        if number < self.pages:
            return self.size
        return max(0, self.total - (self.pages - 1) * self.size)


def check_pages(pages: list[Page], layout: Layout) -> list[str]:
    """Every disagreement between the pages and the layout page 1 set, in page order."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for page in pages:
        where = f"page {page.number}"
        held = len(page.items)
        if page.page != page.number:
            problems.append(f"{where}: result_info.page is {page.page}")
        if page.count != held:
            problems.append(f"{where}: result_info.count is {page.count}, but it holds {held}")
        if page.total_count != layout.total:
            problems.append(
                f"{where}: total_count is {page.total_count}, but page 1 said {layout.total}"
            )
        if page.total_pages is not None and page.per_page > 0:
            implied = math.ceil(page.total_count / page.per_page)
            if page.total_pages != implied:
                problems.append(
                    f"{where}: total_pages is {page.total_pages}, but total_count "
                    f"{page.total_count} at per_page {page.per_page} makes {implied}"
                )
        wanted = layout.expected(page.number)
        if page.number > 1 and held != wanted:
            problems.append(
                f"{where}: holds {held} widgets, expected {wanted} (total_count "
                f"{layout.total}, {layout.size} per page)"
            )
        for item in page.items:
            sitekey = str(item.get("sitekey"))
            if sitekey in seen:
                problems.append(
                    f"{where}: widget {excerpt(sitekey)} was already on page {seen[sitekey]}"
                )
            else:
                seen[sitekey] = page.number
    return problems
