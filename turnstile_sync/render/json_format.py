"""The machine-readable plan and apply report: ``--format json``.

A documented, versioned contract (docs/json-format.md, docs/plan.schema.json). Keys come in a
fixed order, values are plain JSON, and secrets are never part of it: nothing here is given
one. Bump FORMAT_VERSION on any change a consumer could notice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.applier import ApplyReport
from turnstile_sync.errors import Refusal
from turnstile_sync.models import LiveWidget

FORMAT_VERSION = 1


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _action(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "name": action.name,
        "sitekey": action.sitekey,
        "reason": action.reason,
        "destructive": action.is_destructive,
        "changes": [
            {"field": c.field, "before": _value(c.before), "after": _value(c.after)}
            for c in action.changes
        ],
    }


def _widget(widget: LiveWidget) -> dict[str, str]:
    return {"name": widget.name, "sitekey": widget.sitekey}


def refusal_document(reasons: Sequence[Refusal]) -> dict[str, Any] | None:
    """Why a plan is refused (``None`` when it is not): every rule it breaks, with the numbers
    compared, the widgets involved and the remedy, so a pipeline can branch without parsing
    the error message on stderr."""
    if not reasons:
        return None
    return {
        "forcible": all(reason.forcible for reason in reasons),
        "reasons": [
            {
                "rule": reason.rule,
                "headline": reason.headline,
                "message": reason.message,
                "remedy": reason.remedy,
                "forcible": reason.forcible,
                "numbers": dict(reason.numbers),
                "widgets": [
                    {"name": w.name, "sitekey": w.sitekey, "action": w.action}
                    for w in reason.widgets
                ],
            }
            for reason in reasons
        ],
    }


def plan_document(
    plan: Plan,
    *,
    target: str,
    unmanaged_fails: bool = False,
    refusal: Sequence[Refusal] = (),
) -> dict[str, Any]:
    """``drift`` lists, per widget, the managed fields whose live value differs from the spec;
    ``refusal`` is null unless a guard or protection refuses the plan."""
    counts = {kind.value: plan.count(kind) for kind in ActionKind}
    return {
        "format_version": FORMAT_VERSION,
        "kind": "plan",
        "account_id": plan.account_id,
        "target": target,
        "summary": {
            **counts,
            "unmanaged": len(plan.unmanaged),
            "ignored": len(plan.ignored),
            "unchanged": len(plan.unchanged),
            "has_changes": plan.has_changes,
            "drift": plan.has_changes or (unmanaged_fails and bool(plan.unmanaged)),
        },
        "actions": [_action(action) for action in plan.actions],
        "drift": [
            {
                "name": action.name,
                "sitekey": action.sitekey,
                "fields": {
                    c.field: {"live": _value(c.before), "spec": _value(c.after)}
                    for c in action.changes
                },
            }
            for action in plan.actions
            if action.kind in (ActionKind.UPDATE, ActionKind.REPLACE)
        ],
        "unmanaged": [_widget(w) for w in plan.unmanaged],
        "ignored": [_widget(w) for w in plan.ignored],
        "refusal": refusal_document(refusal),
        "targets": targets_document(plan),
        "replace": list(plan.replace),
    }


def targets_document(plan: Plan) -> dict[str, Any] | None:
    """``null`` for a plan of the whole account; for a --target plan, the targets as given
    and how many widgets they selected out of how many, since such a plan says nothing about
    the others (they may have changes pending)."""
    if plan.targets is None:
        return None
    return {"requested": list(plan.targets), "considered": plan.selected, "total": plan.universe}


def apply_document(
    plan: Plan, report: ApplyReport | None, *, target: str, refusal: Sequence[Refusal] = ()
) -> dict[str, Any]:
    """A refused apply has no results and is not ok: nothing was attempted."""
    document = plan_document(plan, target=target, refusal=refusal)
    document["kind"] = "apply"
    results = report.results if report is not None else ()
    document["results"] = [
        {
            "kind": r.action.kind.value,
            "name": r.action.name,
            "sitekey": r.sitekey,
            "replaced_sitekey": (
                r.action.sitekey
                if r.action.kind is ActionKind.REPLACE and r.sitekey != r.action.sitekey
                else None
            ),
            "outcome": r.outcome.value,
            "error": r.error,
            "undelivered": list(r.undelivered),
        }
        for r in results
    ]
    document["ok"] = report.ok if report is not None else not refusal
    return document


def write(document: dict[str, Any], stream: IO[str]) -> None:
    stream.write(json.dumps(document, indent=2) + "\n")
    stream.flush()
