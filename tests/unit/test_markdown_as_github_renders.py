"""The markdown plan parsed by a CommonMark parser (markdown-it-py, with GFM tables), as
GitHub parses a comment: every widget's changes are a ``diff`` code block with exactly the
expected lines, and no widget name or live value, however hostile, adds HTML, a link, a
mention, a heading or a code block, or closes one early.

GitHub links mentions, URLs and issue references only in text outside code, so the tests
check that no such text node holds them."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.unit.test_guards import refusal
from tests.unit.test_planner import live, managed, spec
from tests.unit.test_renderers import every_kind
from turnstile_sync.actions import Action, ActionKind, FieldChange, Plan
from turnstile_sync.planner import plan
from turnstile_sync.quoting import printable
from turnstile_sync.render import markdown

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
OUR_HTML = {"<sub>", "</sub>", "</details>"}
LINKING = re.compile(r"@\w|://|www\.|#\d", re.IGNORECASE)
"""What GitHub links in text outside code: mentions, URLs, issue references."""
FOLDED = "<details><summary>Show the "


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).parse(text)


def flatten(tokens: list[Token]) -> list[Token]:
    out = []
    for token in tokens:
        out.append(token)
        out.extend(flatten(token.children or []))
    return out


def fences(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.type == "fence"]


def test_every_widget_change_is_a_diff_code_block_with_the_changed_values():
    tokens = parse(markdown.render(every_kind()))
    blocks = fences(tokens)
    assert [t.info for t in blocks] == ["diff"] * 4  # replace, create, two updates
    assert [t.content for t in blocks] == [
        "- region: world\n+ region: china\n",
        "+ mode: managed\n+ domains:\n+   example.com\n+   new.example.com\n+ region: china\n",
        "- mode: managed\n+ mode: invisible\n  domains:\n    example.com\n"
        "-   old.example.com\n+   www.example.com\n",
        "- mode: managed\n+ mode: invisible\n",
    ]
    assert not [t for t in tokens if t.type == "html_block" and "details" in t.content]


def test_names_render_exactly_in_code_spans_backticks_included():
    tokens = flatten(parse(markdown.render(every_kind())))
    spans = {t.content for t in tokens if t.type == "code_inline"}
    assert {"login", "new form", "checkout", "stale", "pipes | and `ticks` <b>"} <= spans


HOSTILE_NAMES = [
    "```",
    "````diff",
    "x\n```\n<details>",
    "\r\n~~~\n# heading",
    "a\u2028```\u2029b",
    "<details><summary>open me</summary>",
    "<img src=x onerror=alert(1)>",
    "@octocat please look",
    "cc @org/team",
    "[click](https://evil.example)",
    "https://evil.example",
    "www.evil.example",
    "fixes #1",
    "`",
    "` leading and trailing `",
    "  spaced  ",
    "**bold** _em_ ~~gone~~",
    "\\`escaped\\`",
    "| a | b |\n|---|---|",
    "&lt;b&gt; &amp;",
]


def can_be_in_a_spec(name: str) -> bool:
    """The spec refuses control characters in names; live widgets (whose names the API
    returns) may still carry them, so those names are tested where live names appear."""
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)


def hostile_plan(name: str) -> Plan:
    """The name in every place a name appears: create, update, replace, delete, unmanaged."""
    if not can_be_in_a_spec(name):
        current = [live(f"unmanaged {name}", "0x4AAAAAAAHOSTILE00000003")]
        made = plan(spec(managed("other")), current)
        gone = Action(ActionKind.DELETE, f"gone {name}", "0x4AAAAAAAHOSTILE00000004", reason=name)
        return Plan(made.account_id, (gone,), unmanaged=made.unmanaged)
    desired = spec(
        managed(f"new {name}"),
        managed(name, mode="invisible"),
        managed(f"r {name}", region="china"),
    )
    current = [
        live(name, "0x4AAAAAAAHOSTILE00000001"),
        live(f"r {name}", "0x4AAAAAAAHOSTILE00000002"),
        live(f"unmanaged {name}", "0x4AAAAAAAHOSTILE00000003"),
    ]
    made = plan(desired, current)
    gone = Action(ActionKind.DELETE, f"gone {name}", "0x4AAAAAAAHOSTILE00000004", reason=name)
    return Plan(made.account_id, (*made.actions, gone), unmanaged=made.unmanaged)


def assert_inert(text: str, *, diff_blocks: int) -> list[Token]:
    tokens = flatten(parse(text))
    html = [t.content.strip() for t in tokens if t.type in ("html_block", "html_inline")]
    assert all(
        piece in OUR_HTML or piece.startswith(("<details><summary>Unmanaged: ", FOLDED))
        for piece in html
    ), html
    assert not [t for t in tokens if t.type == "link_open"]
    assert not [t for t in tokens if t.type in ("s_open", "table_open", "hr", "lheading")]
    for token in tokens:
        if token.type == "text":
            assert not LINKING.search(token.content), token.content
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings[0] == "h3" and headings.count("h3") == 1
    blocks = [t for t in tokens if t.type in ("fence", "code_block")]
    assert [t.info for t in blocks] == ["diff"] * diff_blocks
    for block in blocks:
        assert all(line[:1] in "+- " for line in block.content.splitlines()), block.content
    return tokens


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_name_adds_no_markup_and_cannot_leave_its_code(name):
    text = markdown.render(hostile_plan(name))
    in_spec = can_be_in_a_spec(name)
    tokens = assert_inert(text, diff_blocks=3 if in_spec else 0)  # create, update, replace
    spans = [t.content for t in tokens if t.type == "code_inline"]
    shown = printable(name)
    places = ("", "new ", "r ", "gone ", "unmanaged ") if in_spec else ("gone ", "unmanaged ")
    for expected in (f"{place}{shown}" for place in places):
        assert expected in spans or expected.strip(" ") in spans, expected


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_name_in_a_refusal_adds_no_markup(name):
    desired = spec(managed("keep"), prune=True, protected=["x*"])
    error = refusal(desired, [live("keep", "0x4AAAAAAAKEEP"), live(f"x{name}", "0x4AAAAAAAX")])
    text = markdown.render(error.plan, refusal=error.reasons)
    assert text.startswith("### turnstile-sync plan: REFUSED. ")
    assert_inert(text, diff_blocks=0)


@pytest.mark.parametrize("value", ["```", "````", "~~~", "x\n```\ny", "<details>", "@octocat"])
def test_a_live_value_cannot_close_its_diff_block(value):
    action = Action(
        ActionKind.UPDATE,
        "login",
        "0x4AAAAAAALOGIN",
        changes=(
            FieldChange("mode", value, "managed"),
            FieldChange("domains", (value, "example.com"), ("example.com",)),
        ),
    )
    tokens = assert_inert(markdown.render(Plan(ACCOUNT, (action,))), diff_blocks=1)
    (block,) = fences(tokens)
    shown = printable(value)
    assert block.content == (
        f"- mode: {shown}\n+ mode: managed\n  domains:\n"
        + "".join(sorted([f"-   {shown}\n", "    example.com\n"], key=lambda line: line[4:]))
    )


def updates(count: int) -> Plan:
    return Plan(
        ACCOUNT,
        tuple(
            Action(
                ActionKind.UPDATE,
                f"w{i}",
                f"0x4AAAAAAA{i:014d}",
                changes=(FieldChange("mode", "managed", "invisible"),),
            )
            for i in range(count)
        ),
    )


def test_a_small_plan_shows_every_diff_unfolded():
    lines_per_widget = 6  # name, blank, fence, two changed lines, fence
    count = markdown.FOLD_LINES // lines_per_widget
    text = markdown.render(updates(count))
    assert "<details>" not in text
    assert len(fences(parse(text))) == count


def test_a_large_plan_folds_its_sections_and_keeps_every_diff_a_code_block():
    count = markdown.FOLD_LINES  # far more lines than the threshold
    text = markdown.render(updates(count))
    tokens = parse(text)
    opened = [t for t in tokens if t.type == "html_block" and "<details>" in t.content]
    assert len(opened) == 1 and "Show the 150 widget(s)" in opened[0].content
    assert text.count("</details>") == 1
    assert len(fences(tokens)) == count
    assert_inert(text, diff_blocks=count)


def test_a_truncated_plan_never_cuts_a_diff_block():
    text = markdown.render(updates(3000), limit=20_000)
    assert len(text) <= 20_000
    tokens = assert_inert(text, diff_blocks=text.count("```diff"))
    assert text.count("```diff") * 2 == text.count("```")
    assert text.count("<details>") == text.count("</details>") == 1
    note = next(t.content for t in tokens if t.type == "inline" and "not shown" in t.content)
    assert f"{3000 - len(fences(tokens))} more action(s) are not shown (" in note
