"""The one exception root, and the errors that carry what a user needs to act.

Every error the package raises on purpose derives from ``TurnstileSyncError``, so the CLI can
turn all of them into one clear message and exit 1, and library users can catch one type.
Messages never include credentials: nothing here is ever given a header or a token.
"""

from __future__ import annotations

from dataclasses import dataclass


class TurnstileSyncError(Exception):
    """Root of every error raised on purpose by turnstile-sync."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located precisely enough to jump to it in an editor."""

    message: str
    field: str = ""
    line: int | None = None
    column: int | None = None

    def format(self, source: str) -> str:
        where = source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


MAX_LISTED_PROBLEMS = 100
"""Problems a spec error's message lists; the rest are counted. A file whose every value is
wrong would otherwise print a line per value: a million lines help no one fix it."""


class SpecError(TurnstileSyncError):
    """The spec file cannot be used. Carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{source}: {count:,} {noun}:"]
        lines += [f"  {problem.format(source)}" for problem in problems[:MAX_LISTED_PROBLEMS]]
        if count > MAX_LISTED_PROBLEMS:
            more = count - MAX_LISTED_PROBLEMS
            lines.append(f"  ... and {more:,} more problem{'s' if more != 1 else ''}")
        super().__init__("\n".join(lines))


class ConfigError(TurnstileSyncError):
    """Missing or contradictory settings: credentials, account id, options."""


class PlanError(TurnstileSyncError):
    """The spec cannot be reconciled with the live account as it stands (e.g. ambiguous names)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"cannot plan: {problems[0]}")
        else:
            body = "\n".join(f"  - {problem}" for problem in problems)
            super().__init__(f"cannot plan, {len(problems)} problems:\n{body}")


class GuardError(TurnstileSyncError):
    """The plan is refused by a safety rule: protection, or a guard that --force overrides."""

    def __init__(self, refusals: list[str], *, forcible: bool, plan: object = None) -> None:
        self.refusals = refusals
        self.forcible = forcible
        self.plan = plan
        """The refused plan, so it can still be shown for review."""
        body = "\n".join(f"  - {refusal}" for refusal in refusals)
        super().__init__(f"the plan is refused:\n{body}")


@dataclass(frozen=True)
class ApiMessage:
    """One entry of Cloudflare's ``errors`` array."""

    code: int
    message: str


class ApiError(TurnstileSyncError):
    """Cloudflare (or the emulator) answered with an error.

    Keeps the HTTP status and Cloudflare's own codes so callers can branch on them and users
    can search Cloudflare's docs for them.
    """

    def __init__(self, operation: str, status: int, errors: list[ApiMessage]) -> None:
        self.operation = operation
        self.status = status
        self.errors = errors
        details = "; ".join(f"{e.message} (code {e.code})" for e in errors) or "no error details"
        super().__init__(f"{operation} failed: HTTP {status}: {details}")


class ApiUnreachableError(TurnstileSyncError):
    """No HTTP answer at all: DNS, refused connection, timeout, TLS."""


class RetriesExhaustedError(TurnstileSyncError):
    """A retryable failure persisted past the retry budget."""

    def __init__(self, operation: str, attempts: int, budget: float, last: Exception) -> None:
        self.operation = operation
        self.attempts = attempts
        self.last = last
        super().__init__(
            f"{operation}: gave up after {attempts} attempt(s) within the retry budget of "
            f"{budget:g} s (--max-retry-time); last error: {last}"
        )


class OutcomeUnknownError(TurnstileSyncError):
    """A write may or may not have happened, and checking which failed too."""
