"""Cloudflare's request budget, and the client side that keeps under it.

Cloudflare allows 1,200 requests per five minutes per user, cumulatively across the dashboard
and every tool, and blocks the user for five minutes when it is exceeded. The client keeps a
log of its own sends and waits only when the next request would overflow the window: a
10-request plan never waits, and a 5,000-action apply runs at the budget's pace without a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from turnstile_sync.errors import ConfigError
from turnstile_sync.quoting import quoted

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per sliding window of ``seconds``."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``1200/300``; ``off`` or ``0`` disables the limit."""
        if text.strip().lower() in {"off", "none", "0"}:
            return None
        match = _RATE.match(text)
        requests, seconds = 0, 0.0
        if match:
            with contextlib.suppress(ValueError):  # more digits than int() takes
                requests, seconds = int(match.group(1)), float(match.group(2))
        if not (1 <= requests <= MAX_REQUESTS and 0 < seconds <= MAX_WINDOW):
            raise ConfigError(
                f"rate limit {quoted(text)} is not N/SECONDS (e.g. 1200/300, N at most "
                f"{MAX_REQUESTS:,}, SECONDS at most {MAX_WINDOW:,g}) or 'off'"
            )
        return cls(requests, seconds)

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


MAX_REQUESTS = 1_000_000
MAX_WINDOW = 86_400.0
"""A day: a longer window only makes a run wait longer than any pipeline would."""

CLOUDFLARE_RATE_LIMIT = RateLimit(1200, 300)
"""Cloudflare's global API limit: 1,200 requests per five minutes per user."""

SAFETY_MARGIN = 0.02
"""The client's window is 2% longer than the server's: requests sent a window apart can
arrive closer together than that, and one too many costs a five-minute block."""


class RequestBudget:
    """A sliding-window log of sends, shared by every request of one client."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._window = limit.seconds * (1 + SAFETY_MARGIN)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited = 0.0
        """Seconds spent waiting for the budget, for reports and benchmarks."""

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self._window:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.limit.requests:
                    wait = max(wait, self._sent[0] + self._window - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                self.waited += wait
                await self._sleep(wait)

    @property
    def paused_until(self) -> float:
        """When a 429's retry-after lets requests go again (clock time; past if not paused)."""
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """The server said to wait (429 retry-after): nobody sends until then."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
