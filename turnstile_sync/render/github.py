"""GitHub Actions: annotations on the spec's lines, and the plan in the job's step summary.

Workflow commands go to stderr (the runner reads both streams), so stdout stays the plan
itself, JSON included. GitHub shows at most 10 annotations of each kind per step, so no more
are sent; a step summary is capped at 1 MiB, so the plan is rendered to fit what is left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from turnstile_sync.actions import ActionKind, Plan
from turnstile_sync.errors import Refusal, SpecError
from turnstile_sync.render import markdown
from turnstile_sync.spec import LoadedSpec

MAX_ANNOTATIONS = 10
STEP_SUMMARY_LIMIT = 1024 * 1024


def active() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(
    kind: str, file: str, line: int | None, message: str, column: int | None = None
) -> str:
    where = f"file={_property(file)}"
    if line is not None:
        where += f",line={line}"
        if column is not None:
            where += f",col={column}"
    return f"::{kind} {where}::{_data(message)}"


def spec_error_annotations(error: SpecError) -> list[str]:
    return [
        _command(
            "error",
            error.source,
            problem.line,
            f"{problem.field}: {problem.message}" if problem.field else problem.message,
            problem.column,
        )
        for problem in error.problems[:MAX_ANNOTATIONS]
    ]


def destructive_annotations(plan: Plan, loaded: LoadedSpec) -> list[str]:
    """One warning per delete or replacement, on the widget's entry (a prune: on `prune:`)."""
    warnings = []
    prune_line = loaded.key_lines.get("prune")
    for action in plan.actions:
        if not action.is_destructive:
            continue
        if action.kind is ActionKind.REPLACE:
            line = loaded.line_of(action.name)
            message = (
                f"replaces {action.name!r} ({action.sitekey}): {action.reason}; pages using the "
                "old sitekey stop working when it is deleted"
            )
        else:
            line = prune_line
            message = (
                f"deletes {action.name!r} ({action.sitekey}): {action.reason}; pages using it "
                "stop working"
            )
        warnings.append(_command("warning", loaded.source, line, message))
    return warnings[:MAX_ANNOTATIONS]


_RULE_KEYS = {
    "max_deletes": "max_deletes",
    "deletes_everything": "prune",
    "empty_spec": "widgets",
    "protected": "protected",
    "protection_lost": "protected",
}


def refusal_annotations(reasons: Sequence[Refusal], loaded: LoadedSpec) -> list[str]:
    """One error per refusal, on the spec line that decides it: the widget's own entry when
    it has one (a 'protect: true', a renamed pin), else the top-level key of the rule."""
    errors = []
    for reason in reasons:
        line = None
        if reason.rule in ("protected", "protection_lost"):
            for widget in reason.widgets:
                line = line or loaded.line_of(widget.name)
        if line is None:
            key = _RULE_KEYS.get(reason.rule, "")
            line = loaded.key_lines.get(key) or loaded.key_lines.get("prune")
        message = f"plan refused ({reason.rule}): {reason.headline}; remedy: {reason.remedy}"
        errors.append(_command("error", loaded.source, line, message))
    return errors[:MAX_ANNOTATIONS]


def append_step_summary(plan: Plan, refusal: Sequence[Refusal] = ()) -> None:
    """Add the markdown plan to $GITHUB_STEP_SUMMARY, within what its 1 MiB cap leaves; a
    refused plan's summary leads with the refusal, as its comment does."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    summary = Path(path)
    used = summary.stat().st_size if summary.exists() else 0
    room = min(markdown.GITHUB_COMMENT_LIMIT, STEP_SUMMARY_LIMIT - used - 1)
    limit = room
    while limit >= 1_000:
        encoded = (markdown.render(plan, limit=limit, refusal=refusal) + "\n").encode("utf-8")
        if len(encoded) <= room:  # the cap is in bytes; non-ASCII names take more than one
            with summary.open("ab") as handle:
                handle.write(encoded)
            return
        limit -= len(encoded) - room
