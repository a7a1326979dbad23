"""A refused plan's renderers: the refusal leads, fits GitHub's limit, and cannot be forged by
a widget name; its JSON matches the documented schema."""

from __future__ import annotations

import io

import jsonschema
import pytest
from rich.console import Console

from tests.unit.test_guards import refusal
from tests.unit.test_planner import live, managed, spec
from tests.unit.test_renderers import PLAN_SCHEMA
from turnstile_sync.render import json_format, markdown
from turnstile_sync.render.text import render_plan

HOSTILE = "x`\n### turnstile-sync plan: Plan: 0 to create <b>|"


def refused_prune(count: int, *, name_prefix: str = "stray"):
    desired = spec(managed("keep"), prune=True, max_deletes=1)
    current = [live("keep", "0x4AAAAAAAKEEP")]
    current += [live(f"{name_prefix} {i}", f"0x4AAAAAAA{i:014d}") for i in range(count)]
    return refusal(desired, current)


def test_a_refusal_leads_even_when_the_plan_overflows_the_comment_limit():
    error = refused_prune(3000)
    text = markdown.render(error.plan, refusal=error.reasons, limit=20_000)
    assert len(text) <= 20_000
    assert text.startswith("### turnstile-sync plan: REFUSED.")
    assert "3000 destructive actions (3000 delete, 0 replace) &gt; max_deletes 1" in text
    assert ", and 2990 more." in text  # the callout names ten; the tables list the rest
    assert "[!NOTE]" in text  # and say how much of the plan did not fit


def test_a_hostile_name_cannot_forge_lines_in_the_refusal():
    desired = spec(managed("keep"), prune=True, protected=["x*"])
    error = refusal(desired, [live("keep", "0x4AAAAAAAKEEP"), live(HOSTILE, "0x4AAAAAAAX")])
    text = markdown.render(error.plan, refusal=error.reasons)
    (first, *rest) = text.splitlines()
    assert first == "### turnstile-sync plan: REFUSED. 0 to create, 0 to update, " + (
        "0 to replace, 1 to delete"
    )
    assert not any(line.startswith("### ") for line in rest)
    assert "> - **protected**: delete of protected 'x\\`\\\\n###" in text  # shown as it is
    assert "0 to create &lt;b&gt;" in text  # outside code spans, HTML is escaped
    assert "\\`" in text  # and a backtick is backslash-escaped, shown as it is
    stream = io.StringIO()
    render_plan(error.plan, Console(file=stream, color_system=None), error.reasons)
    assert "\n###" not in stream.getvalue()


@pytest.mark.parametrize("rule", ["max_deletes", "deletes_everything", "empty_spec"])
def test_every_guard_refusal_is_documented_json(rule):
    current = [live("a", "0x4AAAAAAAA"), live("b", "0x4AAAAAAAB")]
    desired = {
        "max_deletes": spec(managed("a"), prune=True, max_deletes=0),
        "deletes_everything": spec(managed("new"), prune=True, max_deletes=5),
        "empty_spec": spec(prune=True, max_deletes=5),
    }[rule]
    error = refusal(desired, current)
    document = json_format.plan_document(error.plan, target="emulator", refusal=error.reasons)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert rule in [reason["rule"] for reason in document["refusal"]["reasons"]]
    assert document["refusal"]["forcible"] is True
