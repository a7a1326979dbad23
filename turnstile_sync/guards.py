"""Safety rules a plan must pass before anyone is asked to apply it.

Protection cannot be overridden: a protected widget is never deleted or replaced, and the
only way around it is to change the spec, which is reviewed. The guards against mistakes
(deleting everything, deleting more than ``max_deletes``, an empty spec against a populated
account) yield to ``--force``, because a large clean-up is sometimes exactly what is meant.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.errors import GuardError
from turnstile_sync.models import LiveWidget, Spec

FORCE_HINT = "If this is intended, review the plan and re-run with --force."


@dataclass(frozen=True)
class Protection:
    """What a spec protects; recorded in plan files so applying one re-checks it."""

    patterns: tuple[str, ...] = ()
    """The top-level 'protected' list: names, sitekeys or glob patterns."""
    entries: tuple[str, ...] = ()
    """Names of entries with 'protect: true'."""

    @classmethod
    def of(cls, spec: Spec) -> Protection:
        return cls(spec.protected, tuple(w.name for w in spec.widgets if w.protect))


def enforce_guards(
    plan: Plan, spec: Spec, considered: Sequence[LiveWidget], *, force: bool
) -> None:
    """Raise GuardError listing every refusal; protection first, as --force cannot lift it."""
    protected = protection_refusals(plan, Protection.of(spec))
    if protected:
        raise GuardError(protected, forcible=False, plan=plan)
    if force:
        return
    refusals = mistake_refusals(plan, spec, considered)
    if refusals:
        raise GuardError(refusals, forcible=True, plan=plan)


def protection_rule(action: Action, protection: Protection) -> str | None:
    """Why the widget this action removes is protected, or None."""
    if action.kind is ActionKind.REPLACE and action.name in protection.entries:
        return f"'protect: true' on its entry {action.name!r}"
    for pattern in protection.patterns:
        if action.sitekey == pattern or fnmatch.fnmatchcase(action.name, pattern):
            return f"'protected: [{pattern}]' in the spec"
        if action.live is not None and fnmatch.fnmatchcase(action.live.name, pattern):
            return f"'protected: [{pattern}]' in the spec"
    return None


def protection_refusals(plan: Plan, protection: Protection) -> list[str]:
    refusals = []
    for action in plan.actions:
        if not action.is_destructive:
            continue
        rule = protection_rule(action, protection)
        if rule is not None:
            verb = "delete" if action.kind is ActionKind.DELETE else "replace"
            refusals.append(
                f"refusing to {verb} {action.name!r} ({action.sitekey}): it is protected by "
                f"{rule}. --force does not lift protection; change the spec first if it "
                "really must go."
            )
    return refusals


def mistake_refusals(plan: Plan, spec: Spec, considered: Sequence[LiveWidget]) -> list[str]:
    refusals = []
    deletes = plan.count(ActionKind.DELETE)
    replaces = plan.count(ActionKind.REPLACE)
    live = len(considered)
    if not spec.widgets and live:
        refusals.append(
            f"the spec lists no widgets but the account has {live} managed widget(s). "
            "Rule: an empty spec is refused, since it is almost always a truncated file or a "
            f"wrong path. {FORCE_HINT}"
        )
    elif live and deletes == live:
        refusals.append(
            f"the plan deletes every managed widget in the account ({deletes} of {live}). "
            f"Rule: a plan may not delete every live managed widget. {FORCE_HINT}"
        )
    if deletes + replaces > spec.max_deletes:
        refusals.append(
            f"the plan deletes {deletes} and replaces {replaces} widget(s): "
            f"{deletes + replaces} destructive actions, more than max_deletes "
            f"({spec.max_deletes}). Rule: at most max_deletes widgets may be deleted or "
            "replaced in one run. Review the plan, then raise max_deletes in the spec or "
            "re-run with --force."
        )
    return refusals
