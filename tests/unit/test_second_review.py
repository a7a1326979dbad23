"""Regression tests for what a second independent review found (each reproduced first)."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.test_planner import live, managed, spec
from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.errors import PlanError, SpecError
from turnstile_sync.export import export_spec
from turnstile_sync.models import LiveWidget
from turnstile_sync.planner import plan
from turnstile_sync.render import markdown
from turnstile_sync.retry import RetryPolicy
from turnstile_sync.spec import load_spec_text

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
FORGED = "d\n::warning::forged"


def test_names_cannot_start_a_new_line_in_plan_errors():
    with pytest.raises(PlanError) as caught:
        plan(spec(managed(FORGED)), [live(FORGED, "0xA"), live(FORGED, "0xB")])
    assert "\n::warning" not in str(caught.value)
    assert "\\n::warning::forged" in str(caught.value)


def test_names_cannot_start_a_new_line_in_spec_errors():
    text = 'widgets:\n  - name: "d\\n::error::forged"\n    mode: wrong\n'
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "s.yaml")
    assert "\n::error" not in str(caught.value)


def test_ipv6_written_out_in_full_is_not_drift():
    current = live("login", "0xA", domains=["2001:0DB8:0000::1"])
    assert plan(spec(managed(domains=["2001:db8::1"])), [current]).actions == ()


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


def test_markdown_folds_stay_balanced_when_unmanaged_widgets_overflow():
    creates = tuple(Action(ActionKind.CREATE, f"new {i}") for i in range(400))
    unmanaged = tuple(
        LiveWidget(sitekey=f"0x4AAAAAAA{i:014d}", name=f"unmanaged {i}", mode="managed", domains=())
        for i in range(3000)
    )
    text = markdown.render(Plan(ACCOUNT, creates, unmanaged=unmanaged))
    assert len(text) <= markdown.GITHUB_COMMENT_LIMIT
    assert text.count("<details>") == text.count("</details>")
    assert "unmanaged)" in text[text.index("[!NOTE]") :]


def test_backoff_does_not_overflow_after_many_attempts():
    assert RetryPolicy().backoff(5000, 1.0) == 30.0
