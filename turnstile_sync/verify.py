"""After an apply: is the account as the run left it? Catches a concurrent apply (or a dashboard
edit) that interleaved with this one, which would otherwise end in silent duplicates.

Pure: the CLI lists the account once after applying and hands the listing in.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnstile_sync.actions import ActionKind, Plan
from turnstile_sync.applier import ApplyReport, Outcome
from turnstile_sync.models import LiveWidget, WidgetBody

CONCURRENT_APPLY_REMEDY = (
    "Another apply (or someone in the dashboard) changed the account at the same time. Run "
    "applies one at a time per account (in GitHub Actions: a `concurrency:` group on the apply "
    "job), then delete the duplicate widget you do not want in the dashboard (or pin the one "
    "the spec manages with 'sitekey:') and run plan again."
)


def end_state_problems(plan: Plan, report: ApplyReport, live: Sequence[LiveWidget]) -> list[str]:
    """Every way ``live`` breaks what the done actions of ``report`` promised: a widget with a
    managed name that neither existed when the plan was made nor was made by this run (a
    duplicate), or a widget this run wrote that is gone or looks different. Duplicates the plan
    already saw (and pinned around) are not this run's doing and are not reported."""
    before = {widget.sitekey for widget in plan.observed}
    by_sitekey = {widget.sitekey: widget for widget in live}
    by_name: dict[str, list[str]] = {}
    for widget in live:
        by_name.setdefault(widget.name, []).append(widget.sitekey)
    problems: list[str] = []
    reported: set[str] = set()
    for result in report.results:
        action, body = result.action, result.action.body
        if result.outcome is not Outcome.DONE or action.kind is ActionKind.DELETE:
            continue
        if body is None or result.sitekey is None:
            continue
        holders = by_name.get(body.name, [])
        strangers = [s for s in holders if s != result.sitekey and s not in before]
        if strangers and body.name not in reported:
            reported.add(body.name)
            problems.append(
                f"{body.name!r} is now held by {len(holders)} widgets "
                f"({', '.join(sorted(holders))}): this run left {result.sitekey}, and "
                f"{', '.join(sorted(strangers))} appeared while it ran"
            )
        left = by_sitekey.get(result.sitekey)
        if left is None:
            problems.append(
                f"{body.name!r} ({result.sitekey}), which this run {_verb(action.kind)}, "
                "no longer exists"
            )
            continue
        differences = _differences(body, left)
        if differences:
            problems.append(
                f"{body.name!r} ({result.sitekey}), which this run {_verb(action.kind)}, no "
                f"longer looks as it left it: {'; '.join(differences)}"
            )
    return problems


def _verb(kind: ActionKind) -> str:
    return {ActionKind.CREATE: "created", ActionKind.UPDATE: "updated"}.get(kind, "replaced")


def _differences(body: WidgetBody, widget: LiveWidget) -> list[str]:
    sent = body.to_json()
    if "domains" in sent:  # compared as the set Cloudflare stores, like every plan does
        sent["domains"] = LiveWidget(
            sitekey="", name=body.name, mode=body.mode, domains=body.domains
        ).domains
    differences = []
    for field, value in sent.items():
        now = getattr(widget, field)
        if now != value:
            differences.append(f"{field} {_show(value)} -> {_show(now)}")
    return differences


def _show(value: object) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return repr(value) if isinstance(value, str) else str(value).lower()
