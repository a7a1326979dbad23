"""Domain errors of the emulator, each carrying Cloudflare's HTTP status and error code.

Cloudflare does not publish the codes of most Turnstile errors (API-NOTES marks them
UNCONFIRMED), so the codes below are the emulator's own, documented choices. Clients should
branch on the HTTP status, as Cloudflare's SDKs do.
"""

from __future__ import annotations

from turnstile_sync.errors import TurnstileSyncError

CODE_AUTH = 10000
"""Cloudflare's "Authentication error"."""
CODE_RATE_LIMITED = 971
"""Cloudflare's code for a throttled request (third-party observations)."""
CODE_UNAVAILABLE = 10503
"""Emulator's choice for an injected 503."""
CODE_NO_ROUTE = 7003
"""Cloudflare's code for an unroutable URI or a malformed identifier in the path."""
CODE_INTERNAL = 10001
"""The emulator's internal error (HTTP 500); its message never carries the cause's text."""
CODE_METHOD_NOT_ALLOWED = 10405
CODE_INVALID_REQUEST = 10400
"""Emulator's choice: a body or query parameter that breaks the schema."""
CODE_NOT_FOUND = 10404
"""Emulator's choice: no widget with that sitekey in that account."""
CODE_REGION_IMMUTABLE = 10406
CODE_ROTATION_IN_GRACE_PERIOD = 10407
CODE_LIMIT_EXCEEDED = 10408
CODE_ENTITLEMENT = 10409
CODE_BODY_TOO_LARGE = 10413
"""Emulator's choice: a request body over the emulator's cap (HTTP 413)."""


class EmulatorError(TurnstileSyncError):
    """Raised by the backend or handlers; routes turn it into Cloudflare's error envelope."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errors = [(code, message)]

    @classmethod
    def many(cls, status: int, errors: list[tuple[int, str]]) -> EmulatorError:
        """One response listing every problem, as Cloudflare does for a bad body."""
        error = cls(status, errors[0][0], errors[0][1])
        error.errors = errors
        return error


class EmulatorStateError(TurnstileSyncError):
    """The emulator's state file cannot be opened or is not an emulator database."""


def body_too_large(limit: int) -> EmulatorError:
    return EmulatorError(
        413,
        CODE_BODY_TOO_LARGE,
        f"request body is larger than the emulator accepts ({_size(limit)})",
    )


def _size(count: int) -> str:
    mb = 1024 * 1024
    return f"{count // mb} MB" if count % mb == 0 else f"{count:,} bytes"


def invalid(message: str) -> EmulatorError:
    return EmulatorError(400, CODE_INVALID_REQUEST, message)


def not_found(sitekey: str) -> EmulatorError:
    return EmulatorError(404, CODE_NOT_FOUND, f"widget {sitekey} not found")
