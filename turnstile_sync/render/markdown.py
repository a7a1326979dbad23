"""The plan as a pull-request comment.

Reviewers see the summary first, then what removes a sitekey (deletes and replacements, with
a warning), then a table per kind of action with the field changes folded away. GitHub caps a
comment at 65,536 characters; a larger plan keeps the summary and as much as fits, destructive
actions first, and says exactly how much was left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

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
"""Widgets named per refusal in the callout; the plan's tables below list every one."""


def escape(text: str) -> str:
    """Safe inside a table cell: no pipes, backticks or HTML; line breaks, control and bidi
    characters escaped as visible text (``\\x1b``, ``\\u202e``), as in every renderer."""
    return (
        printable(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("`", "'")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def _code(text: str) -> str:
    """Inline code is literal (no HTML), so only what breaks a table or the span is changed,
    and control and bidi characters, which act even inside code, are escaped as text."""
    safe = printable(text).replace("|", "\\|").replace("`", "'")
    return f"`{safe}`"


def _value(change: FieldChange, side: str) -> str:
    value = change.before if side == "before" else change.after
    if value is None:
        return "-"
    return _code(format_value(value))


def _changed(action: Action) -> str:
    return (
        ", ".join(
            change.field
            for change in action.changes
            if change.field != "name" or action.kind is not ActionKind.CREATE
        )
        or "-"
    )


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
    if plan.targeted:
        budget.add(targeted_callout(plan))
    if refusal:
        budget.add(f"### {title}: REFUSED. {plan.summary()}")
        _refusal(budget, refusal)
    else:
        budget.add(f"### {title}: {plan.summary()}")
    budget.add(
        f"<sub>account {_code(plan.account_id)} · {len(plan.unchanged)} unchanged · "
        f"{len(plan.unmanaged)} unmanaged · {len(plan.ignored)} ignored</sub>\n"
    )
    destructive = [a for a in plan.actions if a.is_destructive]
    if destructive:
        _warning(budget, destructive)
    for kind in _ORDER:
        actions = [a for a in plan.actions if a.kind is kind]
        if actions:
            _section(budget, kind, actions)
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
    """The unmanaged list, folded; returns how many did not fit."""
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


def _section(budget: _Budget, kind: ActionKind, actions: list[Action]) -> None:
    header = (
        f"\n#### {_TITLES[kind]} ({len(actions)})\n\n| widget | sitekey | fields |\n|---|---|---|"
    )
    if not budget.fits(header + "\n" + _row(actions[0])):
        budget.left_out[kind] += len(actions)
        return
    budget.add(header)
    shown: list[Action] = []
    for action in actions:
        if not budget.add(_row(action)):
            break
        shown.append(action)
    budget.left_out[kind] += len(actions) - len(shown)
    _details(budget, kind, shown)


def _row(action: Action) -> str:
    sitekey = _code(action.sitekey) if action.sitekey else "new"
    return f"| {_code(action.name)} | {sitekey} | {escape(_changed(action))} |"


def _details(budget: _Budget, kind: ActionKind, actions: Iterable[Action]) -> None:
    rows = []
    for action in actions:
        for change in action.changes:
            if kind is ActionKind.CREATE and change.field == "name":
                continue
            live, spec = _value(change, "before"), _value(change, "after")
            rows.append(f"| {_code(action.name)} | {change.field} | {live} | {spec} |")
    if not rows:
        return
    opening = (
        "\n<details><summary>Field changes</summary>\n\n"
        "| widget | field | live | spec |\n|---|---|---|---|"
    )
    if not budget.fits(opening + "\n" + rows[0] + "\n</details>"):
        return
    budget.add(opening)
    for row in rows:
        if not budget.fits(row + "\n\n</details>"):
            break
        budget.add(row)
    budget.add("\n</details>")


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
