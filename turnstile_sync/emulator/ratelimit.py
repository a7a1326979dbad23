"""Cloudflare's rate limit as a sliding window per credential.

Cloudflare allows 1,200 requests per five minutes per user, and "if you exceed this limit, all
API calls for the next five minutes will be blocked" (fundamentals/api/reference/limits). So a
burst up to the budget passes (no fixed 4 requests/s pace), and the first request over it
starts a block of one whole window, answered 429 with ``retry-after``.

The emulator defines its own ``RateLimit`` rather than importing the client's: the server's
rule and the client's pacing are two sides that tests hold against each other, so neither may
be the other by construction.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from turnstile_sync.errors import ConfigError
from turnstile_sync.quoting import quoted

_SPEC = re.compile(r"\A\s*([0-9]{1,7})\s*/\s*([0-9]{1,5}(?:\.[0-9]{1,6})?)\s*\Z")
MAX_REQUESTS = 1_000_000
MAX_WINDOW = 86_400.0
"""A day: a longer window is no rehearsal anyone would wait for."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per sliding window of ``seconds``, per credential."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``N/SECONDS`` such as ``1200/300``; ``off``, ``none`` or ``0`` turn the limit off."""
        if text.strip().lower() in {"off", "none", "0"}:
            return None
        match = _SPEC.match(text)
        if match:
            requests, seconds = int(match.group(1)), float(match.group(2))
            if 1 <= requests <= MAX_REQUESTS and 0 < seconds <= MAX_WINDOW:
                return cls(requests, seconds)
        raise ConfigError(
            f"rate limit {quoted(text)} is not N/SECONDS (e.g. 1200/300, N at most "
            f"{MAX_REQUESTS:,}, SECONDS at most {MAX_WINDOW:,g}) or 'off'"
        )

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


CLOUDFLARE_RATE_LIMIT = RateLimit(1200, 300)
"""1,200 requests per five minutes per user (fundamentals/api/reference/limits)."""

_SWEEP_ABOVE = 10_000
"""Credentials remembered before idle ones are swept out (a sweep is linear, so it runs
rarely: only once this many are held)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    reset_seconds: int
    """Seconds, rounded up, until the oldest counted request leaves the window."""


class SlidingWindowLimiter:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._sweep_at = _SWEEP_ABOVE

    def check(self, key: str) -> Decision:
        """Count a request for ``key`` if the window has room; otherwise block the window."""
        now = self._clock()
        if len(self._seen) + len(self._blocked_until) > self._sweep_at:
            self._forget_idle(now)
        blocked_until = self._blocked_until.get(key, 0.0)
        if now < blocked_until:
            return Decision(False, 0, max(1, math.ceil(blocked_until - now)))
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - self.limit.seconds:
            window.popleft()
        if len(window) >= self.limit.requests:
            self._blocked_until[key] = now + self.limit.seconds
            window.clear()
            return Decision(False, 0, max(1, math.ceil(self.limit.seconds)))
        window.append(now)
        reset = window[0] + self.limit.seconds - now
        remaining = self.limit.requests - len(window)
        return Decision(True, remaining, max(1, math.ceil(reset)))

    def _forget_idle(self, now: float) -> None:
        """Drop credentials with nothing left in their window and no block running, so a
        stream of one-off credentials cannot grow a long-running emulator without bound."""
        horizon = now - self.limit.seconds
        self._seen = {k: w for k, w in self._seen.items() if w and w[-1] > horizon}
        self._blocked_until = {k: t for k, t in self._blocked_until.items() if t > now}
        # Sweep again only once as many more have come: linear work, amortised per request.
        self._sweep_at = max(_SWEEP_ABOVE, 2 * (len(self._seen) + len(self._blocked_until)))

    def policy_header(self) -> str:
        return f'"default";q={self.limit.requests};w={math.ceil(self.limit.seconds)}'
