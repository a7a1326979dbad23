"""Property: for any live account and spec, plan -> apply -> plan is empty (in-process emulator).

Also checks what apply must never do: touch ignored widgets, or delete unmanaged ones
without prune.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.properties.strategies import ACCOUNT, scenarios
from turnstile_sync.applier import apply
from turnstile_sync.client import TurnstileClient
from turnstile_sync.emulator import ENTERPRISE, IN_PROCESS_BASE_URL, Backend, EmulatorTransport
from turnstile_sync.models import Spec
from turnstile_sync.planner import plan


def ignored_widgets(backend: Backend) -> list[dict[str, Any]]:
    widgets = backend.list_widgets(ACCOUNT, page=1, per_page=1000)[0]
    return [widget for widget in widgets if widget["name"].startswith("legacy-")]


async def converge(live: list[dict[str, Any]], spec: Spec) -> None:
    backend = Backend(":memory:", account_plan=ENTERPRISE)
    for widget in live:
        backend.create(ACCOUNT, widget)
    ignored_before = ignored_widgets(backend)
    transport = EmulatorTransport(backend)
    async with TurnstileClient(
        ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=transport
    ) as client:
        first = plan(spec, await client.list_widgets(), force=True)
        report = await apply(first, client)
        assert report.ok, [r.error for r in report.results if r.error]
        after = await client.list_widgets()
        second = plan(spec, after, force=True)
        assert second.actions == (), second.actions
        remaining = {w.sitekey for w in after}
        for widget in first.unmanaged:
            assert widget.sitekey in remaining, "an unmanaged widget was deleted without prune"
        assert ignored_widgets(backend) == ignored_before, "an ignored widget was touched"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_apply_plan_converges(scenario: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    live, raw_spec = scenario
    asyncio.run(converge(live, Spec.model_validate(raw_spec)))
