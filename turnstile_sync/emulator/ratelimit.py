"""Cloudflare's rate limit as a sliding window per credential.

Cloudflare allows 1,200 requests per five minutes per user and answers 429 with
``retry-after`` beyond that. A sliding window (rather than a fixed 4 requests/s pace) is what
lets a burst of a few hundred requests through, as the real API does.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from turnstile_sync.emulator.options import RateLimit


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

    def check(self, key: str) -> Decision:
        """Count a request for ``key`` if the window has room."""
        now = self._clock()
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - self.limit.seconds:
            window.popleft()
        allowed = len(window) < self.limit.requests
        if allowed:
            window.append(now)
        reset = window[0] + self.limit.seconds - now if window else self.limit.seconds
        remaining = max(0, self.limit.requests - len(window))
        return Decision(allowed, remaining, max(1, math.ceil(reset)))

    def policy_header(self) -> str:
        return f'"default";q={self.limit.requests};w={math.ceil(self.limit.seconds)}'
