"""Text and Markdown plans against golden files; the comment size limit; JSON against its schema.

Regenerate the golden files after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from tests.conftest import ACCOUNT, REPO_ROOT
from tests.unit.test_planner import live, managed, spec
from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.models import LiveWidget
from turnstile_sync.planner import plan
from turnstile_sync.render import json_format, markdown
from turnstile_sync.render.text import render_plan

GOLDEN = Path(__file__).parent.parent / "golden"
PLAN_SCHEMA = json.loads((REPO_ROOT / "docs" / "plan.schema.json").read_text())


def every_kind() -> Plan:
    desired = spec(
        managed("new form", domains=["new.example.com", "example.com"], region="china"),
        managed("login", mode="invisible", domains=["example.com", "www.example.com"]),
        managed("checkout", region="china", clearance_level="managed"),
        managed("pipes | and `ticks` <b>", mode="invisible"),
        prune=True,
        ignore=["legacy-*"],
        max_deletes=5,
    )
    current = [
        live("login", "0x4AAAAAAALOGIN00000000001", domains=["example.com", "old.example.com"]),
        live("checkout", "0x4AAAAAAACHECKOUT0000002", clearance_level="managed"),
        live("pipes | and `ticks` <b>", "0x4AAAAAAAPIPES000000003"),
        live("stale", "0x4AAAAAAASTALE000000004"),
        live("legacy-form", "0x4AAAAAAALEGACY00000005"),
    ]
    return plan(desired, current)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; re-run with UPDATE_GOLDEN=1 and review"


def test_every_kind_fixture_has_every_kind():
    kinds = {action.kind for action in every_kind().actions}
    assert kinds == set(ActionKind)


def test_text_plan_golden():
    stream = io.StringIO()
    render_plan(
        every_kind(),
        Console(file=stream, no_color=True, width=200, soft_wrap=True, highlight=False),
    )
    check_golden("plan.txt", stream.getvalue())


def test_markdown_plan_golden():
    check_golden("plan.md", markdown.render(every_kind()))


def test_markdown_shows_names_exactly_in_code_spans():
    text = markdown.render(every_kind())
    assert "**``pipes | and `ticks` <b>``**" in text  # backticks kept, not rewritten
    assert "<b>" not in text.replace("``pipes | and `ticks` <b>``", "")


def test_markdown_title_says_plan_once():
    (first, *_) = markdown.render(every_kind()).splitlines()
    assert first == "### turnstile-sync plan: 1 to create, 2 to update, 1 to replace, 1 to delete"
    unchanged = markdown.render(Plan(ACCOUNT))
    assert unchanged.startswith("### turnstile-sync plan: no changes, the account matches")


def big_plan(count: int) -> Plan:
    actions = []
    for index in range(count):
        kind = (ActionKind.DELETE, ActionKind.REPLACE, ActionKind.CREATE, ActionKind.UPDATE)[
            index % 4
        ]
        sitekey = None if kind is ActionKind.CREATE else f"0x4AAAAAAA{index:014d}"
        actions.append(
            Action(kind, f"widget number {index}", sitekey, reason="because the plan says so")
        )
    return Plan("023e105f4ecef8ad9ca31a8372d0c353", tuple(actions))


def test_a_5000_action_plan_fits_a_github_comment():
    text = markdown.render(big_plan(5000))
    assert len(text) <= markdown.GITHUB_COMMENT_LIMIT
    summary = "1250 to create, 1250 to update, 1250 to replace, 1250 to delete\n"
    assert text.startswith(f"### turnstile-sync plan: {summary}")
    assert "> [!WARNING]\n> This plan deletes or replaces 2500 widget(s)." in text
    assert "> - **delete** `widget number 0`" in text  # destructive first
    note = text[text.index("> [!NOTE]") :]
    shown = text.count("**`widget number")
    left_out = int(note.split("> ")[2].split(" more action(s)")[0])
    assert left_out > 0 and shown + left_out == 5000  # the sections hold every action once
    assert text.count("<details>") == text.count("</details>")
    for kind in ("create", "update"):
        assert f"{kind}" in note


@pytest.mark.parametrize("limit", [5_000, 20_000, 65_536])
def test_markdown_never_passes_its_limit(limit):
    assert len(markdown.render(big_plan(800), limit=limit)) <= limit


def test_small_plans_are_not_truncated():
    text = markdown.render(every_kind())
    assert "[!NOTE]" not in text


def test_json_plan_matches_its_documented_schema():
    document = json_format.plan_document(every_kind(), target="emulator")
    jsonschema.validate(document, PLAN_SCHEMA)
    assert list(document) == [
        "format_version",
        "kind",
        "account_id",
        "target",
        "summary",
        "actions",
        "drift",
        "unmanaged",
        "ignored",
        "refusal",
        "targets",
        "replace",
    ]
    assert document["refusal"] is None
    assert document["targets"] is None and document["replace"] == []
    assert document["summary"]["replace"] == 1
    login = next(d for d in document["drift"] if d["name"] == "login")
    assert login["fields"]["mode"] == {"live": "managed", "spec": "invisible"}


def test_json_schema_rejects_what_the_contract_forbids():
    document = json_format.plan_document(every_kind(), target="emulator")
    document["results"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, PLAN_SCHEMA)


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


CONTROL_AND_BIDI = (
    [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]
    + ["\t", "\n", "\r", "\x7f"]
    + [chr(code) for code in range(0x80, 0xA0)]
    + [chr(code) for code in range(0x202A, 0x202F)]
    + [chr(code) for code in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)


@pytest.mark.parametrize("character", CONTROL_AND_BIDI, ids=lambda c: f"U+{ord(c):04X}")
def test_markdown_escapes_control_and_bidi_characters_as_visible_text(character):
    name = f"a{character}b"
    # Spec names cannot hold control characters (the loader refuses them); live names can.
    desired = spec(managed("kept", mode="invisible"), prune=True, max_deletes=5)
    current = [
        live(name, "0x4AAAAAAAHOSTILE00000001"),
        live(f"gone{character}", "0x4AAAAAAAHOSTILE00000002"),
        live("kept", "0x4AAAAAAAHOSTILE00000003"),
    ]
    rendered = markdown.render(plan(desired, current))
    if character == "\n":  # the document's own line breaks
        assert f"a{character}b" not in rendered and f"gone{character}" not in rendered
    else:
        assert character not in rendered
    visible = repr(character)[1:-1]
    assert f"a{visible}b" in rendered
    assert f"gone{visible}" in rendered
