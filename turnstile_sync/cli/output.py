"""How a plan is shown: text for people, JSON for programs, Markdown for pull requests, plus
annotations and the step summary when running under GitHub Actions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turnstile_sync.actions import Plan
    from turnstile_sync.applier import ApplyReport
    from turnstile_sync.errors import Refusal
    from turnstile_sync.spec import LoadedSpec

FORMATS = ("text", "json", "markdown")
_F = TypeVar("_F", bound=Callable[..., Any])


_FORMAT_HELP = {
    "text": "text for people",
    "json": "json for programs (docs/json-format.md)",
    "markdown": "markdown for a pull request comment",
}


def format_option(*choices: str) -> Callable[[_F], _F]:
    """--format with this command's choices; the help names only those, so a command that
    refuses markdown does not advertise it."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=", ".join(_FORMAT_HELP.get(choice, choice) for choice in choices) + ".",
    )


@dataclass(frozen=True)
class PlanView:
    output_format: str
    target: str
    loaded: LoadedSpec | None = None
    fail_on_unmanaged: bool = False
    deferred: bool = False
    """apply --format json prints one document at the end, plan and results together."""

    def show(self, plan: Plan, header: str, refusal: Sequence[Refusal] = ()) -> None:
        """``refusal``: why a guard or protection refused the plan; every format leads with
        it, and a deferred (apply) JSON document is written now, as nothing will follow."""
        from turnstile_sync.render import github

        click.echo(header, err=True)
        if self.output_format == "text":
            from turnstile_sync.render.text import make_console, render_plan

            render_plan(plan, make_console(), refusal)
        elif self.output_format == "markdown":
            from turnstile_sync.render import markdown

            click.echo(markdown.render(plan, refusal=refusal))
        elif not self.deferred:
            from turnstile_sync.render import json_format as json_render

            document = json_render.plan_document(
                plan, target=self.target, unmanaged_fails=self.fail_on_unmanaged, refusal=refusal
            )
            json_render.write(document, sys.stdout)
        elif refusal:
            from turnstile_sync.render import json_format as json_render

            document = json_render.apply_document(plan, None, target=self.target, refusal=refusal)
            json_render.write(document, sys.stdout)
        if github.active():
            if self.loaded is not None:
                for line in github.destructive_annotations(plan, self.loaded):
                    click.echo(line, err=True)
                for line in github.refusal_annotations(refusal, self.loaded):
                    click.echo(line, err=True)
            github.append_step_summary(plan, refusal)

    def report(
        self, plan: Plan, report: ApplyReport | None, secrets_path: str | None, *, commands: int = 0
    ) -> None:
        if self.output_format == "json":
            from turnstile_sync.render import json_format as json_render

            document = json_render.apply_document(plan, report, target=self.target)
            json_render.write(document, sys.stdout)
            return
        if report is None:
            return
        from pathlib import Path

        from turnstile_sync.render.text import live_display, make_console, render_report

        console = make_console()
        console.print()
        path = Path(secrets_path) if secrets_path else None
        # the progress (stderr) listed every action unless it was a live bar: not again here
        listed = not live_display(make_console(stderr=True))
        render_report(report, console, secrets_path=path, commands=commands, listed=listed)
