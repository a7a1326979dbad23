"""The plan as a pull-request comment.

Reviewers see one title with the counts, then what removes a sitekey (deletes and
replacements, with a warning), then each kind of action with every widget's changes inline as
a fenced ``diff`` block (GitHub colours ``+`` and ``-`` lines, as in Terraform PR comments).
Only a large plan folds its sections into ``<details>``. GitHub caps a comment at 65,536
characters; a larger plan keeps the title and as much as fits, destructive actions first, and
says exactly how much was left out.

Names and values come from spec authors, dashboard users and the API, so nothing they contain
may act as markdown: names are shown in code spans (literal, backticks included), values only
inside fenced blocks whose fence is longer than any backtick run in them, and free text is
backslash-escaped with @mentions put in code spans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from turnstile_sync.actions import Action, ActionKind, FieldChange, Plan
from turnstile_sync.errors import Refusal
from turnstile_sync.quoting import printable
from turnstile_sync.render.text import format_value

GITHUB_COMMENT_LIMIT = 65_536
_FOOTER_RESERVE = 600
_TITLES = {
    ActionKind.CREATE: "Create",
    ActionKind.UPDATE: "Update in place",
    ActionKind.REPLACE: "Replace (new sitekey and secret)",
    ActionKind.DELETE: "Delete",
}
_ORDER = (ActionKind.REPLACE, ActionKind.DELETE, ActionKind.CREATE, ActionKind.UPDATE)
REFUSAL_WIDGETS_SHOWN = 10
"""Widgets named per refusal in the callout; the sections below list every one."""
FOLD_LINES = 150
"""Lines of widget changes above which every section is folded into ``<details>``: about
three screens of a pull-request page, roughly 25 widgets with a few changed fields each. Below
it a reviewer reads the whole diff without a click; above it the title, the counts and the
warning naming every delete and replacement stay visible, and each section opens on demand."""

_INLINE_PUNCTUATION = re.compile(r"([\\`*\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_LINKING = re.compile(r"@|://|www\.|#\d", re.IGNORECASE)
"""What GitHub turns into a mention, a link or an issue reference in plain text."""
_BACKTICKS = re.compile(r"`+")


def _escape_word(word: str) -> str:
    if _LINKING.search(word):
        return _code(word)
    return (
        _INLINE_PUNCTUATION.sub(r"\\\1", word)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def escape(text: str) -> str:
    """Free text (a reason, a refusal's headline) as literal markdown: line breaks, control and
    bidi characters escaped as visible text (``\\x1b``, ``\\u202e``), as in every renderer;
    inline markdown punctuation backslash-escaped and HTML as entities; a word GitHub would
    turn into a mention, a link or an issue reference (``@name``, ``https://``, ``www.``,
    ``#12``) goes in a code span, where GitHub links nothing. Free text never starts a line,
    so line-start syntax (headings, lists) cannot arise."""
    return " ".join(_escape_word(word) for word in printable(text).split(" "))


def _code(text: str) -> str:
    """A code span showing ``text`` exactly, backticks included: the delimiter is one backtick
    longer than the longest run inside (CommonMark), padded with a space where the content
    starts or ends with a backtick or with a space. Code spans render nothing (no HTML, links
    or mentions); only control and bidi characters, which act even there, are escaped."""
    safe = printable(text)
    longest = max((len(run) for run in _BACKTICKS.findall(safe)), default=0)
    fence = "`" * (longest + 1)
    if (
        safe.startswith("`")
        or safe.endswith("`")
        or (safe.startswith(" ") and safe.endswith(" ") and safe.strip(" "))
    ):
        safe = f" {safe} "
    return f"{fence}{safe}{fence}"


def _diff_block(lines: Sequence[str]) -> str:
    """A fenced ``diff`` block. Every line starts with ``+``, ``-`` or a space, so none can be
    a closing fence; the fence is also longer than any backtick run in the lines."""
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}diff", *lines, fence])


def _value(value: object) -> str:
    return printable(format_value(value))


def _change_lines(change: FieldChange, kind: ActionKind) -> list[str]:
    """One field as diff lines; a domain set item by item, as the text plan shows it."""
    if change.field == "domains":
        before = set(change.before or ()) if kind is not ActionKind.CREATE else set()
        after = set(change.after or ())
        marks = {
            item: "+" if item not in before else "-" if item not in after else " "
            for item in before | after
        }
        head = "+ domains:" if kind is ActionKind.CREATE else "  domains:"
        return [head] + [f"{marks[item]}   {printable(str(item))}" for item in sorted(marks)]
    if kind is ActionKind.CREATE:
        return [f"+ {change.field}: {_value(change.after)}"]
    return [
        f"- {change.field}: {_value(change.before)}",
        f"+ {change.field}: {_value(change.after)}",
    ]


def _widget(action: Action) -> str:
    """One widget: its name and sitekey, then its changes as a diff (a delete is one line)."""
    sitekey = _code(action.sitekey) if action.sitekey else "new widget"
    if action.kind is ActionKind.DELETE:
        return f"- **{_code(action.name)}** ({sitekey}): {escape(action.reason)}"
    head = f"**{_code(action.name)}** ({sitekey})"
    if action.kind is ActionKind.REPLACE and action.reason:
        head += f": {escape(action.reason)}"
    lines = [
        line
        for change in action.changes
        if not (action.kind is ActionKind.CREATE and change.field == "name")
        for line in _change_lines(change, action.kind)
    ]
    if not lines:
        return head
    return f"{head}\n\n{_diff_block(lines)}"


@dataclass(frozen=True)
class _Section:
    kind: ActionKind
    widgets: tuple[str, ...]


class _Budget:
    """Text added in order until the limit; counts what had to be left out, by kind."""

    def __init__(self, limit: int) -> None:
        self.limit = limit - _FOOTER_RESERVE
        self.parts: list[str] = []
        self.size = 0
        self.left_out: Counter[ActionKind] = Counter()

    def fits(self, text: str) -> bool:
        return self.size + len(text) + 1 <= self.limit

    def add(self, text: str) -> bool:
        if not self.fits(text):
            return False
        self.parts.append(text)
        self.size += len(text) + 1
        return True


def _heading(plan: Plan, *, name: str, refused: bool) -> str:
    """One heading: the counts, without the text plan's "Plan:" prefix (the heading already
    says it is a plan); a refused plan says REFUSED first."""
    if not plan.actions:
        counts = "no changes, the account matches the spec"
    else:
        counts = ", ".join(
            f"{plan.count(kind)} to {kind.value}"
            for kind in (
                ActionKind.CREATE,
                ActionKind.UPDATE,
                ActionKind.REPLACE,
                ActionKind.DELETE,
            )
        )
    return f"### {name}: REFUSED. {counts}" if refused else f"### {name}: {counts}"


def render(
    plan: Plan,
    *,
    title: str = "turnstile-sync plan",
    limit: int = GITHUB_COMMENT_LIMIT,
    refusal: Sequence[Refusal] = (),
) -> str:
    """A refused plan leads with the refusal (rule, numbers, remedy), so a reviewer reading
    the comment cannot take it for a plan that will be applied."""
    budget = _Budget(limit)
    budget.add(_heading(plan, name=title, refused=bool(refusal)))
    if plan.targeted:
        budget.add(targeted_callout(plan))
    if refusal:
        _refusal(budget, refusal)
    budget.add(
        f"<sub>account {_code(plan.account_id)} · {len(plan.unchanged)} unchanged · "
        f"{len(plan.unmanaged)} unmanaged · {len(plan.ignored)} ignored</sub>\n"
    )
    destructive = [a for a in plan.actions if a.is_destructive]
    if destructive:
        _warning(budget, destructive)
    sections = [
        _Section(kind, tuple(_widget(a) for a in plan.actions if a.kind is kind))
        for kind in _ORDER
        if plan.count(kind)
    ]
    fold = sum(widget.count("\n") + 1 for s in sections for widget in s.widgets) > FOLD_LINES
    for section in sections:
        _section(budget, section, fold=fold)
    unmanaged_left_out = _unmanaged(budget, plan)
    return "\n".join(budget.parts) + _footer(budget.left_out, unmanaged_left_out)


def targeted_callout(plan: Plan) -> str:
    """A --target plan says so before anything else: it is silent about every widget it
    left out, which may have changes pending. Empty for a plan of the whole account."""
    notice = plan.target_notice()
    if notice is None:
        return ""
    listed = ", ".join(_code(target) for target in plan.targets or ())
    return (
        f"> [!IMPORTANT]\n> **Targeted plan:** only {plan.selected} of {plan.universe} "
        f"widget(s) considered (`--target` {listed}); other changes may be pending.\n"
    )


def _unmanaged(budget: _Budget, plan: Plan) -> int:
    """The unmanaged list, folded (they are not changes); returns how many did not fit."""
    if not plan.unmanaged:
        return 0
    opening = (
        f"\n<details><summary>Unmanaged: {len(plan.unmanaged)} live widget(s) not in the "
        "spec, left alone</summary>\n"
    )
    closing = "\n</details>"
    if not budget.fits(opening + closing):
        return len(plan.unmanaged)
    budget.add(opening)
    shown = 0
    for widget in plan.unmanaged:
        line = f"- {_code(widget.name)} ({_code(widget.sitekey)})"
        if not budget.fits(line + closing):
            break
        budget.add(line)
        shown += 1
    budget.add(closing)
    return len(plan.unmanaged) - shown


def _refusal(budget: _Budget, reasons: Sequence[Refusal]) -> None:
    forcible = all(reason.forcible for reason in reasons)
    budget.add(
        "> [!CAUTION]\n> **This plan is refused: it cannot be applied as it is.** Nothing was "
        "changed.\n>"
    )
    for reason in reasons:
        budget.add(f"> - **{reason.rule}**: {escape(reason.headline)}.")
        budget.add(f">   Remedy: {escape(reason.remedy)}.")
        shown = reason.widgets[:REFUSAL_WIDGETS_SHOWN]
        if shown:
            listing = ", ".join(
                f"{w.action} {_code(w.name)}" + (f" ({_code(w.sitekey)})" if w.sitekey else "")
                for w in shown
            )
            more = len(reason.widgets) - len(shown)
            budget.add(f">   Widgets: {listing}" + (f", and {more} more" if more else "") + ".")
    lifted = (
        "`--force` lifts this refusal (after review)."
        if forcible
        else "`--force` does not lift it: protection can only be changed in the spec."
    )
    budget.add(f">\n> {lifted}\n")


def _warning(budget: _Budget, destructive: list[Action]) -> None:
    budget.add(
        f"> [!WARNING]\n> This plan deletes or replaces {len(destructive)} widget(s). Every page "
        "still using their sitekeys stops working when they are deleted.\n>"
    )
    for action in destructive:
        verb = "replace" if action.kind is ActionKind.REPLACE else "delete"
        where = f"{_code(action.name)} ({_code(action.sitekey or '')})"
        line = f"> - **{verb}** {where}: {escape(action.reason)}"
        if not budget.add(line):
            break
    budget.add("")


def _section(budget: _Budget, section: _Section, *, fold: bool) -> None:
    """A heading, then each widget whole (a diff block is never cut); folded if asked."""
    count = len(section.widgets)
    header = f"\n#### {_TITLES[section.kind]} ({count})"
    if fold:
        header += f"\n\n<details><summary>Show the {count} widget(s)</summary>"
    closing = "\n</details>" if fold else ""
    if not budget.fits(header + "\n" + section.widgets[0] + closing):
        budget.left_out[section.kind] += count
        return
    budget.add(header)
    shown = 0
    for widget in section.widgets:
        tight = section.kind is ActionKind.DELETE and shown  # one list, not a loose one
        chunk = widget if tight else "\n" + widget
        if not budget.fits(chunk + closing) or not budget.add(chunk):
            break
        shown += 1
    if closing:
        budget.add(closing)
    budget.left_out[section.kind] += count - shown


def _footer(left_out: Counter[ActionKind], unmanaged: int) -> str:
    total = sum(left_out.values())
    if not total and not unmanaged:
        return "\n"
    parts = [f"{count} {kind.value}" for kind, count in left_out.items() if count]
    if unmanaged:
        parts.append(f"{unmanaged} unmanaged")
    return (
        f"\n\n> [!NOTE]\n> {total} more action(s) are not shown ({', '.join(parts)}): the "
        "comment would pass GitHub's 65,536-character limit. The full plan is in the job log "
        "and the plan file.\n"
    )
