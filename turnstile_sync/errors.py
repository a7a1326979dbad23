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


class OutputError(TurnstileSyncError):
    """The spec's widgets cannot be handed to a build as they are live: every reason at once
    (missing widgets, unsafe sitekeys from the API, names that are not one key)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        body = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"cannot output the sitekeys, {len(problems)} problem(s):\n{body}")


@dataclass(frozen=True)
class RefusedWidget:
    """A widget a refusal is about: what the refused plan would have done to it."""

    name: str
    sitekey: str | None
    action: str
    """The refused plan's action on it: "delete", "replace" or "update" (a rename)."""


@dataclass(frozen=True)
class Refusal:
    """One safety rule a plan breaks, structured so every output format can show it.

    ``message`` is the full sentence (what, rule and remedy) shown on stderr and in text;
    the other fields let JSON consumers and the pull-request comment branch and show numbers
    without parsing prose.
    """

    rule: str
    """A stable identifier: ``protected``, ``protection_lost``, ``empty_spec``,
    ``deletes_everything`` or ``max_deletes``."""
    headline: str
    """The rule and its numbers in a line, e.g. "3 destructive actions > max_deletes 2"."""
    message: str
    remedy: str
    forcible: bool
    """Whether --force lifts it (guards against mistakes do; protection never does)."""
    numbers: tuple[tuple[str, int], ...] = ()
    """The counts the rule compared, e.g. (("destructive", 3), ("max_deletes", 2))."""
    widgets: tuple[RefusedWidget, ...] = ()


class GuardError(TurnstileSyncError):
    """The plan is refused by a safety rule: protection, or a guard that --force overrides.

    ``reasons`` are the structured refusals; ``refusals`` their messages (kept for callers
    that match on text); ``forcible`` is true only when --force would lift every one."""

    def __init__(self, reasons: list[Refusal], *, plan: object = None) -> None:
        self.reasons = tuple(reasons)
        self.refusals = [reason.message for reason in reasons]
        self.forcible = all(reason.forcible for reason in reasons)
        self.plan = plan
        """The refused plan, so it can still be shown for review."""
        body = "\n".join(f"  - {refusal}" for refusal in self.refusals)
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

    def __init__(
        self, operation: str, status: int, errors: list[ApiMessage], *, hint: str = ""
    ) -> None:
        self.operation = operation
        self.status = status
        self.errors = errors
        self.hint = hint
        """The next step, when the status makes it plain (refused credentials, wrong URL)."""
        details = "; ".join(f"{e.message} (code {e.code})" for e in errors) or "no error details"
        super().__init__(
            f"{operation} failed: HTTP {status}: {details}" + (f". {hint}" if hint else "")
        )


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
