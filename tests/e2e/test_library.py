"""The library API exactly as the README shows it."""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT

pytestmark = pytest.mark.anyio


async def test_readme_library_example(tmp_path):
    from turnstile_sync import (
        TurnstileClient,
        apply,
        emulator_transport,
        load_spec_text,
        plan,
    )
    from turnstile_sync.emulator import IN_PROCESS_BASE_URL

    loaded = load_spec_text(
        f"account_id: {ACCOUNT}\n"
        "widgets:\n  - name: login\n    mode: managed\n    domains: [example.com]\n"
    )
    transport = emulator_transport(tmp_path / "lib.sqlite3")
    async with TurnstileClient(
        ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=transport
    ) as client:
        the_plan = plan(loaded.spec, await client.list_widgets())
        assert the_plan.summary().startswith("Plan: 1 to create")
        report = await apply(the_plan, client)
        assert report.ok
        assert not plan(loaded.spec, await client.list_widgets()).has_changes


def test_unknown_attribute_is_an_attribute_error():
    import turnstile_sync

    with pytest.raises(AttributeError):
        _ = turnstile_sync.no_such_thing  # type: ignore[attr-defined]


async def test_a_secret_that_cannot_be_stored_is_reported_not_lost(tmp_path):
    from turnstile_sync import TurnstileClient, apply, emulator_transport, load_spec_text, plan
    from turnstile_sync.applier import Outcome
    from turnstile_sync.emulator import IN_PROCESS_BASE_URL

    loaded = load_spec_text(
        f"account_id: {ACCOUNT}\n"
        "widgets:\n  - name: a\n    mode: managed\n    domains: [a.com]\n"
        "  - name: b\n    mode: managed\n    domains: [b.com]\n"
    )

    def broken_sink(action, widget):
        if action.name == "a":
            raise OSError("disk full")

    transport = emulator_transport(tmp_path / "lib.sqlite3")
    async with TurnstileClient(
        ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=transport
    ) as client:
        report = await apply(plan(loaded.spec, []), client, on_secret=broken_sink)
        outcomes = {r.action.name: r for r in report.results}
        assert outcomes["b"].outcome is Outcome.DONE
        failed = outcomes["a"]
        assert failed.outcome is Outcome.FAILED
        assert failed.sitekey is not None
        assert f"the widget was created (sitekey {failed.sitekey})" in (failed.error or "")
        assert "OSError: disk full" in (failed.error or "")
        assert len(await client.list_widgets()) == 2
