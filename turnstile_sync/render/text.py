"""The human-readable plan: Terraform-like symbols, every action also named in words.

Rich decides colour: only on a terminal, never with NO_COLOR. Names come from users and may
contain square brackets, so everything user-supplied goes in as Text, never as markup.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from turnstile_sync.actions import Action, ActionKind, FieldChange, Plan
from turnstile_sync.applier import ActionResult, ApplyReport, Outcome
from turnstile_sync.errors import Refusal
from turnstile_sync.verify import CONCURRENT_APPLY_REMEDY

_SYMBOL = {
    ActionKind.CREATE: ("+", "green", "create"),
    ActionKind.UPDATE: ("~", "yellow", "update in place"),
    ActionKind.REPLACE: ("-/+", "magenta", "replace"),
    ActionKind.DELETE: ("-", "red", "delete"),
}
_OUTCOME = {
    Outcome.DONE: ("done", "green"),
    Outcome.FAILED: ("FAILED", "bold red"),
    Outcome.NOT_ATTEMPTED: ("not attempted", "yellow"),
}
_OUTCOME_WIDTH = max(len(label) for label, _ in _OUTCOME.values()) + 2
_FIELD_WIDTH = 18
NEW_WIDGET_SECRETS_NOTICE = (
    "Secrets of new widgets are never printed, and were not saved (no --secrets-out). Fetch "
    "one with `turnstile-sync get-secret NAME --secrets-out FILE`, or from the Cloudflare "
    "dashboard (Turnstile > the widget > Settings)."
)


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps lines (CI logs and diffs stay greppable). With NO_COLOR (or
    --no-color) no escape code at all is written, not even bold."""
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        emoji=False,
        color_system=None if plain else "auto",
    )


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if value is None:
        return "(unset)"
    return str(value)


def _change_line(change: FieldChange, kind: ActionKind) -> Text:
    line = Text(f"      {change.field + ':':<{_FIELD_WIDTH}}")
    if kind is ActionKind.CREATE:
        line.append(format_value(change.after))
        return line
    if change.field == "domains":
        before, after = set(change.before or ()), set(change.after or ())
        for added in sorted(after - before):
            line.append(f"+ {added}  ", style="green")
        for removed in sorted(before - after):
            line.append(f"- {removed}  ", style="red")
        line.rstrip()
        return line
    line.append(format_value(change.before), style="red")
    line.append(" -> ")
    line.append(format_value(change.after), style="green")
    return line


def _action_lines(action: Action) -> list[Text]:
    symbol, style, words = _SYMBOL[action.kind]
    head = Text(f"{symbol:>3} ", style=style)
    head.append(f"{words} ", style=f"bold {style}")
    head.append(repr(action.name))
    if action.sitekey:
        head.append(f" ({action.sitekey})", style="dim")
    if action.kind in (ActionKind.REPLACE, ActionKind.DELETE) and action.reason:
        head.append(f": {action.reason}")
    lines = [head]
    lines += [
        _change_line(change, action.kind)
        for change in action.changes
        if not (action.kind is ActionKind.CREATE and change.field == "name")
    ]
    if action.kind is ActionKind.REPLACE:
        lines.append(
            Text(
                f"      ! a new widget is created first, with a new sitekey and secret; then "
                f"{action.sitekey} is deleted and every page still using it stops working",
                style="bold magenta",
            )
        )
    elif action.kind is ActionKind.DELETE:
        lines.append(
            Text(
                f"      ! every page still using sitekey {action.sitekey} stops working",
                style="bold red",
            )
        )
    return lines


def render_refusal(reasons: Sequence[Refusal], console: Console) -> None:
    """Why the plan is refused, ahead of the plan itself: rule, numbers and remedy."""
    console.print(
        Text("REFUSED: this plan cannot be applied as it is. Nothing was changed.", "bold red")
    )
    for reason in reasons:
        line = Text(f"  - {reason.rule}: ", style="bold")
        line.append(reason.headline)
        console.print(line)
        console.print(Text(f"    remedy: {reason.remedy}"))
    if all(reason.forcible for reason in reasons):
        console.print("  --force lifts this refusal (after review).")
    else:
        console.print("  --force does not lift it: protection can only be changed in the spec.")
    console.print()


def render_plan(plan: Plan, console: Console, refusal: Sequence[Refusal] = ()) -> None:
    notice = plan.target_notice()
    if notice is not None:
        console.print(Text(notice, style="bold yellow"))
        console.print()
    if refusal:
        render_refusal(refusal, console)
    for action in plan.actions:
        for line in _action_lines(action):
            console.print(line)
    if plan.unmanaged:
        if plan.actions:
            console.print()
        console.print(
            f"Unmanaged: {len(plan.unmanaged)} live widget(s) not in the spec, left alone "
            "(set 'prune: true' to delete them, or 'ignore:' to silence this):"
        )
        for widget in plan.unmanaged:
            console.print(Text(f"    {widget.name!r} ({widget.sitekey})"))
    if plan.ignored:
        if plan.actions and not plan.unmanaged:
            console.print()
        console.print(f"Ignored: {len(plan.ignored)} live widget(s) match 'ignore' patterns.")
    if plan.actions or plan.unmanaged or plan.ignored:
        console.print()
    console.print(Text(plan.summary(), style="bold"))


def _result_line(result: ActionResult) -> Text:
    label, style = _OUTCOME[result.outcome]
    _, _, words = _SYMBOL[result.action.kind]
    line = Text(f"  {label:<{_OUTCOME_WIDTH}}", style=style)
    line.append(f"{words} {result.action.name!r}")
    old = result.action.sitekey
    if result.action.kind is ActionKind.REPLACE and result.sitekey and old != result.sitekey:
        line.append(f" ({old} -> {result.sitekey})", style="dim")  # pages need the new one
    elif result.sitekey:
        line.append(f" ({result.sitekey})", style="dim")
    if result.error:
        line.append(f": {result.error}")
    for problem in result.undelivered:
        line.append(f"; secret NOT delivered to {problem}", style="bold red")
    return line


def live_display(console: Console) -> bool:
    """A progress bar redraws itself with cursor escapes: only on a terminal, and never with
    NO_COLOR or --no-color (which promise that no escape sequence at all is written)."""
    return console.is_terminal and not console.is_dumb_terminal and console.color_system is not None


class ApplyProgress:
    """Progress of an apply, in one of two presentations, never both:

    - live (a terminal with colour): a bar, erased when apply returns; the final report then
      lists every action once;
    - otherwise (CI logs, pipes, --no-color): one plain line per action as it finishes, so
      that if apply is killed, what was done is already on record; the final report then
      gives only the summary (``listed``), not the same lines again.

    Call it with each result; close() when apply returns."""

    def __init__(self, total: int, console: Console) -> None:
        self.total = total
        self.finished = 0
        self.console = console
        self.listed = not live_display(console)
        self._bar = None
        if not self.listed:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "applying",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("apply", total=total)
            self._bar.start()

    def __call__(self, result: ActionResult) -> None:
        self.finished += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.finished)
        elif self.listed:
            line = Text(f"apply [{self.finished}/{self.total}]", style="dim")
            line.append_text(_result_line(result))
            self.console.print(line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def render_report(
    report: ApplyReport,
    console: Console,
    *,
    secrets_path: Path | None = None,
    commands: int = 0,
    listed: bool = False,
) -> None:
    """``commands``: how many --secrets-exec commands the new secrets were sent to (those
    that did not take one are reported as errors, after this). ``listed``: the progress
    already printed one line per action (see ApplyProgress), so only the summary follows."""
    if not listed:
        for result in report.results:
            console.print(_result_line(result))
    done = report.count(Outcome.DONE)
    failed = report.count(Outcome.FAILED)
    skipped = report.count(Outcome.NOT_ATTEMPTED)
    console.print()
    if report.verification:
        console.print(
            Text(
                f"Apply finished ({done} done, {failed} failed, {skipped} not attempted), but "
                "the account is not as this run left it:",
                style="bold red",
            )
        )
        for problem in report.verification:
            console.print(Text(f"  - {problem}"))
        console.print(Text(CONCURRENT_APPLY_REMEDY))
    elif report.ok:
        console.print(Text(f"Apply complete: {done} done.", style="bold green"))
    elif not failed and not skipped:
        console.print(
            Text(
                f"Apply done ({done} done), but the secrets of {len(report.undelivered)} new "
                "widget(s) were not delivered (see above and the error below).",
                style="bold red",
            )
        )
    elif report.interrupted or report.abandoned:
        how = "abandoned" if report.abandoned else "interrupted"
        console.print(
            Text(
                f"Apply {how}: {done} done, {failed} failed, {skipped} not attempted. "
                "Re-run apply to finish: it plans again from the live account, so it does "
                "only what is left.",
                style="bold red",
            )
        )
    else:
        console.print(
            Text(
                f"Apply incomplete: {done} done, {failed} failed, {skipped} not attempted. "
                "Fix the cause and re-run apply: it plans again from the live account.",
                style="bold red",
            )
        )
    created = any(
        r.outcome is Outcome.DONE and r.action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
        for r in report.results
    )
    if created and secrets_path is not None:
        console.print(f"Secrets of new widgets were written to {secrets_path} (mode 0600).")
    if created and commands:
        console.print(f"Secrets of new widgets were sent to {commands} --secrets-exec command(s).")
    if created and secrets_path is None and not commands:
        console.print(NEW_WIDGET_SECRETS_NOTICE)
