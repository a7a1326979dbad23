"""Request counts by operation and status, so benchmarks and tests count what a client sent."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_COLLECTION = r"^/client/v4/accounts/[^/]+/challenges/widgets/?$"
_ITEM = r"^/client/v4/accounts/[^/]+/challenges/widgets/[^/]+/?$"
_ROTATE = r"^/client/v4/accounts/[^/]+/challenges/widgets/[^/]+/rotate_secret/?$"
_OPERATIONS = [
    ("GET", re.compile(_COLLECTION), "list"),
    ("POST", re.compile(_COLLECTION), "create"),
    ("GET", re.compile(_ITEM), "get"),
    ("PUT", re.compile(_ITEM), "update"),
    ("DELETE", re.compile(_ITEM), "delete"),
    ("POST", re.compile(_ROTATE), "rotate_secret"),
    ("POST", re.compile(r"^/turnstile/v0/siteverify/?$"), "siteverify"),
    ("POST", re.compile(r"^/__emulator/tokens/?$"), "mint_token"),
]
FAULT_KINDS = ("error", "drop", "throttle", "rate_limited", "auth_refused")


def operation_of(method: str, path: str) -> str:
    """The Cloudflare operation a request is for, or ``other`` for anything unroutable."""
    for verb, pattern, name in _OPERATIONS:
        if method == verb and pattern.match(path):
            return name
    return "other"


class Stats:
    """Counters for one emulator instance. Statuses are HTTP codes, or ``dropped``."""

    def __init__(self) -> None:
        self._requests: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()

    def record(self, operation: str, status: int | str) -> None:
        self._requests[(operation, str(status))] += 1

    def fault(self, kind: str) -> None:
        self._faults[kind] += 1

    def reset(self) -> None:
        self._requests.clear()
        self._faults.clear()

    def snapshot(self) -> dict[str, Any]:
        operations: dict[str, dict[str, int]] = {}
        for (operation, status), count in sorted(self._requests.items()):
            operations.setdefault(operation, {})[status] = count
        return {
            "total": sum(self._requests.values()),
            "operations": operations,
            "faults": {kind: self._faults[kind] for kind in FAULT_KINDS},
        }
