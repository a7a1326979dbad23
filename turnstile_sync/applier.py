"""The only code that changes an account: runs a Plan and records what happened to each action.

Order matters for safety: creates and updates run first, deletes last, and the delete half of a
replacement runs only once its new widget exists, so a failure never leaves a name with no
widget. Independent actions still run when one fails, and every action ends in the report as
done, failed or not attempted, so a user knows exactly where the account stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.client import TurnstileClient
from turnstile_sync.errors import TurnstileSyncError

DEFAULT_PARALLELISM = 8


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


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ActionResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.outcome is Outcome.DONE for result in self.results)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)


ResultCallback = Callable[[ActionResult], None]


async def apply(
    plan: Plan,
    client: TurnstileClient,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_result: ResultCallback | None = None,
) -> ApplyReport:
    """Execute ``plan`` against ``client``'s account. Never raises for a failed action."""
    limit = asyncio.Semaphore(max(1, parallelism))
    results: dict[int, ActionResult] = {}
    created: dict[int, str] = {}

    def record(index: int, result: ActionResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    async def first_phase(index: int, action: Action) -> None:
        async with limit:
            try:
                if action.kind is ActionKind.UPDATE:
                    assert action.sitekey is not None and action.body is not None
                    widget = await client.update_widget(action.sitekey, action.body)
                    record(index, ActionResult(action, Outcome.DONE, widget.sitekey))
                    return
                assert action.body is not None
                widget = await client.create_widget(action.body)
            except TurnstileSyncError as error:
                record(index, ActionResult(action, Outcome.FAILED, action.sitekey, str(error)))
                return
            if action.kind is ActionKind.CREATE:
                record(index, ActionResult(action, Outcome.DONE, widget.sitekey))
            else:
                created[index] = widget.sitekey

    async def second_phase(index: int, action: Action) -> None:
        assert action.sitekey is not None
        async with limit:
            try:
                await client.delete_widget(action.sitekey)
            except TurnstileSyncError as error:
                if action.kind is ActionKind.DELETE:
                    record(index, ActionResult(action, Outcome.FAILED, action.sitekey, str(error)))
                else:
                    new = created[index]
                    message = (
                        f"the new widget was created (sitekey {new}) but the old one "
                        f"({action.sitekey}) was not deleted: {error}. Two widgets are now "
                        f"named '{action.name}': delete {action.sitekey} in the dashboard, or "
                        f"pin the new one with 'sitekey: {new}' and re-run"
                    )
                    record(index, ActionResult(action, Outcome.FAILED, new, message))
                return
        sitekey = created.get(index) if action.kind is ActionKind.REPLACE else None
        record(index, ActionResult(action, Outcome.DONE, sitekey))

    indexed = list(enumerate(plan.actions))
    await asyncio.gather(
        *(first_phase(i, a) for i, a in indexed if a.kind is not ActionKind.DELETE)
    )
    deletes = [
        (i, a)
        for i, a in indexed
        if a.kind is ActionKind.DELETE or (a.kind is ActionKind.REPLACE and i in created)
    ]
    await asyncio.gather(*(second_phase(i, a) for i, a in deletes))
    for index, action in indexed:
        if index not in results:
            record(index, ActionResult(action, Outcome.NOT_ATTEMPTED, action.sitekey))
    return ApplyReport(tuple(results[index] for index, _ in indexed))
