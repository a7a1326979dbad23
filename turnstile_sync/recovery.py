"""Completing the secrets file after an interrupted apply: the intents of the delivery journal,
resolved against the live account, and the secrets they are owed fetched with a GET."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from turnstile_sync.actions import ActionKind, Plan
from turnstile_sync.client import TurnstileClient
from turnstile_sync.delivery_journal import Intent, resolve, target_digest
from turnstile_sync.errors import ApiError
from turnstile_sync.models import LiveWidget
from turnstile_sync.secrets_sink import SecretsSink

StoreSecret = Callable[[str, str, SecretStr], Awaitable[bool]]
"""Delivers a recovered secret; returns whether the secrets file now holds it (only then is
its intent cleared: the next run tries again)."""


@dataclass(frozen=True)
class Recovery:
    """What resolving the journal did: secrets fetched, and names it could not decide."""

    recovered: tuple[tuple[str, str], ...] = ()
    """(name, sitekey) of every widget whose secret was fetched into the file."""
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...] = ()
    elsewhere: int = 0
    """Intents of another account or target, left for a run against that one."""


def intents_for(plan: Plan, target_identity: str) -> list[Intent]:
    """One intent per widget ``plan`` creates (creates and the create half of replacements)."""
    target = target_digest(target_identity)
    return [
        Intent(
            plan.account_id,
            target,
            action.name,
            tuple(sorted(w.sitekey for w in plan.observed if w.name == action.name)),
        )
        for action in plan.actions
        if action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
    ]


async def recover(
    client: TurnstileClient,
    sink: SecretsSink,
    target_identity: str,
    store: StoreSecret,
    live: Sequence[LiveWidget] | None = None,
) -> Recovery:
    """Resolve the journal's intents for this account and target; ``live`` saves a listing
    when the caller has a fresh one. Lists the account only when there is something to do."""
    target = target_digest(target_identity)
    intents = sink.journal.outstanding(client.account_id, target)
    elsewhere = len(sink.journal.elsewhere(client.account_id, target))
    if not intents:
        return Recovery(elsewhere=elsewhere)
    if live is None:
        live = await client.list_widgets()
    resolution = resolve(intents, live, sink.saved_sitekeys())
    recovered: list[tuple[str, str]] = []
    done = list(resolution.settled)
    for intent, sitekey in resolution.fetch:
        try:
            detail = await client.get_widget(sitekey)
        except ApiError as error:
            if error.status != 404:
                raise
            done.append(intent)  # deleted since it was listed: nothing is owed any more
            continue
        if await store(intent.name, detail.sitekey, detail.secret):
            recovered.append((intent.name, detail.sitekey))
            done.append(intent)
    sink.journal.clear(done)
    ambiguous = tuple((intent.name, sitekeys) for intent, sitekeys in resolution.ambiguous)
    return Recovery(tuple(recovered), ambiguous, elsewhere)
