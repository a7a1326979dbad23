"""Property: exporting any account gives a spec that validates and plans to no changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.properties.strategies import ACCOUNT
from turnstile_sync.client import TurnstileClient
from turnstile_sync.emulator import (
    ENTERPRISE,
    IN_PROCESS_BASE_URL,
    Backend,
    EmulatorOptions,
    EmulatorTransport,
)
from turnstile_sync.export import export_spec
from turnstile_sync.models import LiveWidget
from turnstile_sync.planner import plan
from turnstile_sync.spec import load_spec_text

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda name: name.strip() == name)
hostname = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(example\.com|example\.org)", fullmatch=True)
widget = st.fixed_dictionaries(
    {
        "name": st.one_of(names, st.sampled_from(["twin", "twin", "login"])),
        "mode": st.sampled_from(["non-interactive", "invisible", "managed"]),
        "domains": st.lists(hostname, max_size=14),
        "region": st.sampled_from(["world", "china"]),
        "clearance_level": st.sampled_from(
            ["no_clearance", "jschallenge", "managed", "interactive"]
        ),
        "bot_fight_mode": st.booleans(),
        "ephemeral_id": st.booleans(),
        "offlabel": st.booleans(),
    }
)


async def round_trip(widgets: list[dict[str, Any]]) -> None:
    backend = Backend(":memory:", account_plan=ENTERPRISE)
    for fields in widgets:
        backend.create(ACCOUNT, fields)
    transport = EmulatorTransport(
        backend, EmulatorOptions(account_plan=ENTERPRISE, rate_limit=None)
    )
    async with TurnstileClient(
        ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=transport
    ) as client:
        live = await client.list_widgets()
    exported = export_spec(live, account_id=ACCOUNT, source="test", exported_at="now")
    loaded = load_spec_text(exported.text, "exported.yaml")
    result = plan(loaded.spec, live)
    assert result.actions == ()
    assert result.unmanaged == ()
    assert "secret" not in exported.text.lower().replace("secrets are never exported", "")


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=100)
@given(st.lists(widget, max_size=12))
def test_export_plans_to_no_changes(widgets: list[dict[str, Any]]) -> None:
    asyncio.run(round_trip(widgets))


def test_export_leaves_values_it_cannot_express_unmanaged():
    odd = LiveWidget(
        sitekey="0xA", name="future", mode="quantum", domains=("a.com",), region="mars"
    )
    exported = export_spec([odd], account_id=ACCOUNT, source="test", exported_at="now")
    assert "quantum" not in exported.text and "mars" not in exported.text
    assert any("mode 'quantum' is not one the spec knows" in w for w in exported.warnings)
    loaded = load_spec_text(exported.text)
    assert plan(loaded.spec, [odd]).actions == ()


@pytest.mark.parametrize("name", ["next\x85line", "para\u2029graph", "tab\there"])
def test_export_round_trips_names_yaml_would_rewrite(name):
    widget = LiveWidget(sitekey="0xA", name=name, mode="managed", domains=("a.com",))
    exported = export_spec([widget], account_id=ACCOUNT, source="test", exported_at="now")
    assert yaml.safe_load(exported.text)["widgets"][0]["name"] == name
