"""A clock that only moves when the code under test sleeps: retry timing, exactly, instantly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from turnstile_sync.retry import Timing

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    jitter: float = 1.0
    """What the injected random() returns: 1.0 makes every backoff its full ceiling."""

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def wall_clock(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def timing(self) -> Timing:
        return Timing(
            clock=self.clock,
            sleep=self.sleep,
            random=lambda: self.jitter,
            wall_clock=self.wall_clock,
        )
