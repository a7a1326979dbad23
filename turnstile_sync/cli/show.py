"""`show PLANFILE`: a saved plan (from `plan --out`) rendered as `plan` rendered it.

Offline: no API is contacted and no credentials are needed, so a reviewer can read the plan
file a pipeline saved as an artifact. The file is read by the loader `apply --plan` uses
(size cap, FIFOs and devices refused, nesting bounded, schema checked), and then checked
again for what only rendering needs: a plan file is user input and may have been edited by
anyone, and `plan` never had to render a value it did not compute itself.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from turnstile_sync.cli.base import EXIT_OK, cli
from turnstile_sync.cli.output import FORMATS, PlanView, format_option
from turnstile_sync.quoting import excerpt, printable

if TYPE_CHECKING:
    from turnstile_sync.actions import Action, FieldChange, Plan
    from turnstile_sync.planfile import ReviewedPlan

SCALARS = (str, bool, int, float)


@cli.command("show")
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@format_option(*FORMATS)
def show_command(plan_file: Path, output_format: str) -> int:
    """Render a saved plan (from `plan --out`) as plan did. Offline: contacts no API.

    The plan is not re-checked against the account: `apply --plan` does that before applying.
    """
    from turnstile_sync import planfile

    reviewed = planfile.load(plan_file)
    plan = displayable(plan_file, reviewed.plan)
    view = PlanView(output_format, reviewed.target)
    view.show(plan, provenance(plan_file, reviewed))
    return EXIT_OK


def provenance(plan_file: Path, reviewed: ReviewedPlan) -> str:
    """The header: that this is a saved plan, and from which spec, when and for which account.
    Every value comes from the file, so every one is escaped and bounded."""
    document = reviewed.document
    forced = " It was made with --force (guards lifted)." if document["guards"]["forced"] else ""
    return (
        f"{excerpt(str(plan_file), 200)}: saved plan, made by "
        f"{excerpt(document['created_by'], 60)} at {excerpt(document['created_at'], 60)} from "
        f"the spec {excerpt(reviewed.spec_path, 200)} (SHA-256 "
        f"{excerpt(reviewed.spec_sha256[:16], 16)}…), for account "
        f"{excerpt(reviewed.plan.account_id, 40)} on {excerpt(reviewed.target, 200)}. Not "
        f"re-checked against the account (apply --plan does that).{forced}"
    )


def displayable(plan_file: Path, plan: Plan) -> Plan:
    """The plan with only values a renderer can show safely, or PlanFileError naming the first
    that is not one. A plan computes every value it renders (a field name, a mode, a domain
    list); in a file each is whatever its author wrote, e.g. a list where a domain set is
    expected (which the text renderer would fail on) or HTML as a field name (which the
    Markdown renderer would put into a pull-request comment). Text that passes is escaped
    as every renderer escapes names (``printable``), which leaves any real plan unchanged."""
    from turnstile_sync.planfile import PlanFileError

    problems: list[str] = []
    actions = tuple(
        _action(action, f"actions[{index}]", problems) for index, action in enumerate(plan.actions)
    )
    if problems:
        raise PlanFileError(f"{excerpt(str(plan_file), 200)} is damaged: {problems[0]}")
    return replace(
        plan,
        actions=actions,
        unmanaged=tuple(
            w.model_copy(update={"sitekey": printable(w.sitekey)}) for w in plan.unmanaged
        ),
        ignored=tuple(w.model_copy(update={"sitekey": printable(w.sitekey)}) for w in plan.ignored),
    )


def _action(action: Action, where: str, problems: list[str]) -> Action:
    changes = tuple(
        _change(change, f"{where}.changes[{index}]", problems)
        for index, change in enumerate(action.changes)
    )
    return replace(
        action,
        sitekey=printable(action.sitekey) if action.sitekey is not None else None,
        reason=printable(action.reason),
        changes=changes,
    )


def _change(change: FieldChange, where: str, problems: list[str]) -> FieldChange:
    from turnstile_sync.models import SETTINGS_FIELDS

    if change.field not in ("name", *SETTINGS_FIELDS):
        problems.append(f"{where}.field: {excerpt(repr(change.field), 60)} is not a widget field")
        return change
    before = _value(change.field, change.before, f"{where}.before", problems)
    after = _value(change.field, change.after, f"{where}.after", problems)
    return replace(change, before=before, after=after)


def _value(field: str, value: Any, where: str, problems: list[str]) -> Any:
    """None, a scalar, or (domains) a list of hostnames: what a plan records."""
    if value is None:
        return None
    if field == "domains":
        if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
            return tuple(printable(item) for item in value)
        problems.append(f"{where}: domains must be a list of hostnames")
        return value
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, SCALARS):
        return value
    problems.append(f"{where}: {field} must be a single value, not {type(value).__name__}")
    return value
