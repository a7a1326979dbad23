"""When to try a request again, and how long to wait first.

Retried: 429, 5xx, timeouts and connection errors. Never retried: other 4xx, which will not get
better. Waits are exponential with full jitter (so parallel clients do not retry in lockstep),
or exactly what the server asked for in ``retry-after``, and all of it within one time budget
per operation, after which the error is reported instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from turnstile_sync.defaults import DEFAULT_MAX_RETRY_TIME

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures that happen before a request reaches the server: always safe to try again."""


@dataclass(frozen=True)
class Timing:
    """The clock, sleep and randomness the client uses; injectable so tests wait for nothing."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = field(default=random.random)
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_time: float = DEFAULT_MAX_RETRY_TIME
    """Seconds one operation may spend retrying before its error is reported."""
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int, random_fraction: float) -> float:
        """Full jitter: anywhere between 0 and the exponential ceiling for this attempt."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 32))
        return ceiling * random_fraction


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def never_sent(error: httpx.TransportError) -> bool:
    """True when the server cannot have seen the request at all."""
    return isinstance(error, _NEVER_SENT)


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """The server's requested wait: ``retry-after-ms``, or ``retry-after`` in seconds or as an
    HTTP date. Unparseable or negative values are ignored (the backoff applies instead)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
