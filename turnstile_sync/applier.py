"""The only code that changes an account: runs a Plan and records what happened to each action.

Order matters for safety: creates and updates run first, deletes last, and the delete half of a
replacement runs only once its new widget exists and its new secret reached every destination,
so a failure never leaves a name with no widget, nor servers with no working secret (they hold
the old widget's secret until the new one is delivered). Independent actions still run when
one fails, and every action ends in the report as done, failed or not attempted, so a user
knows exactly where the account stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.client import TurnstileClient
from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.models import WidgetDetail

DEFAULT_PARALLELISM = 8
DELETES_HELD_BACK = (
    "held back: an earlier action failed, and a delete may be the other half of a rename, "
    "so none runs until every create and update has succeeded"
)
DELETES_HELD_BACK_UNDELIVERED = (
    "held back: a new secret was not delivered, and a delete may be the other half of a "
    "rename, whose servers still need the old widget"
)
NOT_STARTED = "interrupted before it started"
ABANDONED_IN_FLIGHT = (
    "abandoned while in flight (Ctrl-C twice): it may or may not have happened; run plan to "
    "see where the account stands"
)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True)
class ActionResult:
    """What happened to one action. ``sitekey`` is the widget it left behind, if any."""

    action: Action
    outcome: Outcome
    sitekey: str | None = None
    error: str | None = None
    undelivered: tuple[str, ...] = ()
    """Destinations the new secret did not reach, each with why (the action itself is done:
    the secret can be re-delivered from the live widget)."""


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ActionResult, ...]
    verification: tuple[str, ...] = ()
    """Ways the account, re-read after applying, is not as this run left it (see verify.py):
    a run whose every action succeeded is still not ok if another one interleaved with it."""
    interrupted: bool = False
    """``stop`` was set (Ctrl-C, SIGTERM): re-running apply finishes the job."""
    abandoned: bool = False
    """``abandon`` was set (a second Ctrl-C): actions in flight were cut off, not awaited."""

    @property
    def ok(self) -> bool:
        return not self.verification and all(
            result.outcome is Outcome.DONE and not result.undelivered for result in self.results
        )

    @property
    def undelivered(self) -> tuple[ActionResult, ...]:
        """Done actions whose new secret did not reach every destination."""
        return tuple(result for result in self.results if result.undelivered)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)


ResultCallback = Callable[[ActionResult], None]
SecretCallback = Callable[[Action, WidgetDetail], None]
DeliverCallback = Callable[[Action, WidgetDetail], Awaitable[tuple[str, ...]]]
"""Sends a new widget's secret on; returns the destinations it did not reach, with why."""


async def apply(
    plan: Plan,
    client: TurnstileClient,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_result: ResultCallback | None = None,
    on_secret: SecretCallback | None = None,
    stop: asyncio.Event | None = None,
    deliver: DeliverCallback | None = None,
    abandon: asyncio.Event | None = None,
) -> ApplyReport:
    """Execute ``plan`` against ``client``'s account. Never raises for a failed action.

    ``on_secret`` receives every new widget the moment it exists, so its secret reaches the
    sink before anything else can go wrong; if it raises, the action is failed. ``deliver``
    (awaited after ``on_secret``) may instead report destinations the secret did not reach:
    the action is then done but undelivered, and the run goes on; but a replacement's old
    widget is kept (the replacement fails, half done: servers still use the old widget's
    secret, and the new one is in no store), and every other delete is held back, as after
    a failure. Once ``stop`` is set, no new action starts; those in flight finish, and the
    rest are reported as not attempted, each with why. Once ``abandon`` is set, those in flight
    are cancelled too (failed: they may or may not have happened), and the report is returned
    all the same, so that what was done is never lost.
    """
    run = _Run(
        client,
        asyncio.Semaphore(max(1, parallelism)),
        on_result,
        on_secret,
        stop,
        deliver,
        known_sitekeys=frozenset(widget.sitekey for widget in plan.observed),
    )
    indexed = list(enumerate(plan.actions))
    completed = await _unless(
        abandon,
        _phases(run, indexed),
    )
    if not completed:
        for index, action in indexed:
            if index in run.results:
                continue
            new = run.created.get(index)
            if new is not None:
                message = _half_replaced(action, new, "the run was abandoned first")
                result = ActionResult(action, Outcome.FAILED, new, message)
            elif index in run.born:
                born = run.born[index]
                message = (
                    f"the widget was created (sitekey {born}) but saving or delivering its "
                    "secret was abandoned; `turnstile-sync secrets push` delivers it"
                )
                result = ActionResult(action, Outcome.FAILED, born, message)
            elif index in run.started:
                result = ActionResult(action, Outcome.FAILED, action.sitekey, ABANDONED_IN_FLIGHT)
            else:
                result = ActionResult(action, Outcome.NOT_ATTEMPTED, action.sitekey, NOT_STARTED)
            run.record(index, result)
    return ApplyReport(
        tuple(run.results[index] for index, _ in indexed),
        interrupted=run.stopping(),
        abandoned=not completed,
    )


async def _unless(abandon: asyncio.Event | None, work: Awaitable[None]) -> bool:
    """Run ``work``; if ``abandon`` is set first, cancel it and return False."""
    if abandon is None:
        await work
        return True
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(abandon.wait())
    await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # re-raise what the work raised (never a failed action: those are results)
        return True
    task.cancel()
    await asyncio.wait((task,))
    return False


async def _phases(run: _Run, indexed: list[tuple[int, Action]]) -> None:
    await asyncio.gather(
        *(run.create_or_update(i, a) for i, a in indexed if a.kind is not ActionKind.DELETE)
    )
    failed = any(result.outcome is Outcome.FAILED for result in run.results.values())
    undelivered = any(run.undelivered.values())
    held_back = failed or undelivered
    for index, action in indexed:
        new = run.created.get(index)
        if new is not None and run.undelivered.get(index):
            message = _half_replaced(action, new, _OLD_KEPT, kept=True)
            result = ActionResult(action, Outcome.FAILED, new, message, run.undelivered[index])
            run.record(index, result)
    await asyncio.gather(
        *(
            run.delete(i, a)
            for i, a in indexed
            if (a.kind is ActionKind.DELETE and not held_back)
            or (a.kind is ActionKind.REPLACE and i in run.created and i not in run.results)
        )
    )
    reason = DELETES_HELD_BACK if failed else DELETES_HELD_BACK_UNDELIVERED
    for index, action in indexed:
        if index not in run.results:
            why = reason if held_back and action.kind is ActionKind.DELETE else NOT_STARTED
            run.record(index, ActionResult(action, Outcome.NOT_ATTEMPTED, action.sitekey, why))


@dataclass
class _Run:
    """The state of one apply: what finished, and which replacements have their new widget."""

    client: TurnstileClient
    limit: asyncio.Semaphore
    on_result: ResultCallback | None
    on_secret: SecretCallback | None
    stop: asyncio.Event | None
    deliver: DeliverCallback | None = None
    known_sitekeys: frozenset[str] = frozenset()
    results: dict[int, ActionResult] = field(default_factory=dict)
    created: dict[int, str] = field(default_factory=dict)
    undelivered: dict[int, tuple[str, ...]] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    born: dict[int, str] = field(default_factory=dict)
    """The new widget of every create or replacement that has one, as soon as it exists."""
    """Actions whose request was sent (or whose new secret is being delivered)."""

    def record(self, index: int, result: ActionResult) -> None:
        self.results[index] = result
        if self.on_result is not None:
            self.on_result(result)

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def create_or_update(self, index: int, action: Action) -> None:
        """Creates, updates, and the create half of a replacement."""
        async with self.limit:
            if self.stopping():
                return
            assert action.body is not None
            self.started.add(index)
            try:
                if action.kind is ActionKind.UPDATE:
                    assert action.sitekey is not None
                    widget = await self.client.update_widget(action.sitekey, action.body)
                else:
                    widget = await self.client.create_widget(
                        action.body, known_sitekeys=self.known_sitekeys
                    )
            except Exception as error:  # every failure belongs in the report
                self.record(
                    index, ActionResult(action, Outcome.FAILED, action.sitekey, _text(error))
                )
                return
        if action.kind is ActionKind.UPDATE:
            self.record(index, ActionResult(action, Outcome.DONE, widget.sitekey))
            return
        self.born[index] = widget.sitekey
        try:
            if self.on_secret is not None:
                self.on_secret(action, widget)
            if self.deliver is not None:
                self.undelivered[index] = await self.deliver(action, widget)
        except Exception as error:  # the widget exists; say so, do not crash
            message = (
                f"the widget was created (sitekey {widget.sitekey}) but its secret could "
                f"not be saved: {_text(error)}. Fetch it with `turnstile-sync get-secret "
                f"{widget.sitekey} --secrets-out FILE`"
            )
            self.record(index, ActionResult(action, Outcome.FAILED, widget.sitekey, message))
            return
        if action.kind is ActionKind.CREATE:
            self.record(index, self._done(index, action, widget.sitekey))
        else:
            self.created[index] = widget.sitekey

    async def delete(self, index: int, action: Action) -> None:
        """Deletes, and the delete half of a replacement whose new widget exists."""
        assert action.sitekey is not None
        new = self.created.get(index)
        async with self.limit:
            if self.stopping():
                if new is not None:
                    cause = "apply was stopped first"
                    message = _half_replaced(action, new, cause)
                    undelivered = self.undelivered.get(index, ())
                    self.record(
                        index, ActionResult(action, Outcome.FAILED, new, message, undelivered)
                    )
                return
            self.started.add(index)
            try:
                await self.client.delete_widget(action.sitekey)
            except Exception as error:  # every failure belongs in the report
                if new is None:
                    result = ActionResult(action, Outcome.FAILED, action.sitekey, _text(error))
                else:
                    message = _half_replaced(action, new, _text(error))
                    undelivered = self.undelivered.get(index, ())
                    result = ActionResult(action, Outcome.FAILED, new, message, undelivered)
                self.record(index, result)
                return
        self.record(index, self._done(index, action, new or action.sitekey))

    def _done(self, index: int, action: Action, sitekey: str | None) -> ActionResult:
        undelivered = self.undelivered.get(index, ())
        return ActionResult(action, Outcome.DONE, sitekey, undelivered=undelivered)


def _text(error: Exception) -> str:
    """Our own errors speak for themselves; anything else is named, for the bug report."""
    if isinstance(error, TurnstileSyncError):
        return str(error)
    return f"{type(error).__name__}: {error}"


_OLD_KEPT = (
    "its new secret did not reach every destination, and servers still use the old widget's "
    "secret, so the old widget was kept"
)


def _half_replaced(action: Action, new: str, cause: str, *, kept: bool = False) -> str:
    if kept:
        return (
            f"the new widget was created (sitekey {new}) but the old one ({action.sitekey}) was "
            f"not deleted: {cause}. Deliver the new secret with `turnstile-sync secrets push`, "
            "then apply again: it deletes the old widget"
        )
    return (
        f"the new widget was created (sitekey {new}) but the old one ({action.sitekey}) was "
        f"not deleted: {cause}. Two widgets are now named {action.name!r}: pin the new one "
        f"with 'sitekey: {new}' and re-run, or delete {action.sitekey} in the dashboard"
    )
