"""Safety rules a plan must pass before anyone is asked to apply it.

Protection cannot be overridden: a protected widget is never deleted or replaced, and the
only way around it is to change the spec, which is reviewed. The guards against mistakes
(deleting everything, deleting more than ``max_deletes``, an empty spec against a populated
account) yield to ``--force``, because a large clean-up is sometimes exactly what is meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from turnstile_sync import name_rules
from turnstile_sync.actions import Action, ActionKind, Plan
from turnstile_sync.errors import GuardError, Refusal, RefusedWidget
from turnstile_sync.models import LiveWidget, Spec

FORCE_HINT = "If this is intended, review the plan and re-run with --force."
PROTECTION_REMEDY = (
    "change the spec first if it really must go (remove its protection); --force does not "
    "lift protection"
)
RENAME_REMEDY = (
    "protect the new name first ('protect: true' on its entry, or add it to 'protected'); "
    "--force does not lift protection"
)


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
        raise GuardError(protected, plan=plan)
    if force:
        return
    refusals = mistake_refusals(plan, spec, considered)
    if refusals:
        raise GuardError(refusals, plan=plan)


def protection_rule(action: Action, protection: Protection) -> str | None:
    """Why the widget this action removes is protected, or None.

    Both the action's name and the live widget's name are checked, since a plan may name a
    widget differently from how the account does.
    """
    names = [action.name]
    if action.live is not None and action.live.name != action.name:
        names.append(action.live.name)
    return _rule_covering(names, action.sitekey, protection)


def _rule_covering(names: Sequence[str], sitekey: str | None, protection: Protection) -> str | None:
    """The first rule that protects a widget with one of ``names`` or ``sitekey``.

    A 'protect: true' entry protects its name (literally, not as a glob); 'protected' entries
    are names, sitekeys or globs. Both compare folded names (see turnstile_sync.name_rules), so
    a look-alike of a protected name is protected too; the message then says why it matched.
    """
    for entry in protection.entries:
        for name in names:
            if entry == name:
                return f"'protect: true' on its entry {entry!r}"
            if name_rules.folded(entry) == name_rules.folded(name):
                return f"'protect: true' on the entry {entry!r}{_FOLDED_NOTE}"
    for pattern in protection.patterns:
        for candidate in (*names, *((sitekey,) if sitekey else ())):
            match = name_rules.matching(pattern, candidate)
            if match is not None:
                note = _FOLDED_NOTE if match is name_rules.Match.FOLDED else ""
                return f"'protected: [{pattern}]' in the spec{note}"
    return None


_FOLDED_NOTE = " (matched once case and Unicode normalisation are ignored)"


def _renamed(action: Action) -> tuple[str, str] | None:
    """(old, new) when an update renames its widget."""
    if action.kind is not ActionKind.UPDATE:
        return None
    for change in action.changes:
        if change.field == "name" and change.before != change.after:
            return str(change.before), str(change.after)
    return None


def _widget(action: Action) -> RefusedWidget:
    return RefusedWidget(action.name, action.sitekey, action.kind.value)


def protection_refusals(plan: Plan, protection: Protection) -> list[Refusal]:
    """Deletes and replacements of protected widgets, and renames that would strip a widget
    of its protection (after which a later prune could delete it unguarded)."""
    refusals = []
    for action in plan.actions:
        renamed = _renamed(action)
        if renamed is not None:
            old, new = renamed
            rule = _rule_covering([old], action.sitekey, protection)
            if rule is not None and _rule_covering([new], action.sitekey, protection) is None:
                refusals.append(
                    Refusal(
                        rule="protection_lost",
                        headline=f"renaming protected {old!r} to unprotected {new!r}",
                        message=(
                            f"refusing to rename {old!r} ({action.sitekey}) to {new!r}: {old!r} "
                            f"is protected by {rule}, and no rule protects {new!r}, so the "
                            "widget would lose its protection. --force does not lift "
                            "protection; protect the new name first ('protect: true' on its "
                            "entry, or add it to 'protected')."
                        ),
                        remedy=RENAME_REMEDY,
                        forcible=False,
                        widgets=(_widget(action),),
                    )
                )
            continue
        if not action.is_destructive:
            continue
        rule = protection_rule(action, protection)
        if rule is not None:
            verb = "delete" if action.kind is ActionKind.DELETE else "replace"
            refusals.append(
                Refusal(
                    rule="protected",
                    headline=f"{verb} of protected {action.name!r}",
                    message=(
                        f"refusing to {verb} {action.name!r} ({action.sitekey}): it is "
                        f"protected by {rule}. --force does not lift protection; change the "
                        "spec first if it really must go."
                    ),
                    remedy=PROTECTION_REMEDY,
                    forcible=False,
                    widgets=(_widget(action),),
                )
            )
    return refusals


def mistake_refusals(plan: Plan, spec: Spec, considered: Sequence[LiveWidget]) -> list[Refusal]:
    refusals = []
    deletes = plan.count(ActionKind.DELETE)
    replaces = plan.count(ActionKind.REPLACE)
    live = len(considered)
    destructive = tuple(_widget(a) for a in plan.actions if a.is_destructive)
    if not spec.widgets and live:
        refusals.append(
            Refusal(
                rule="empty_spec",
                headline=f"the spec lists 0 widgets, the account has {live} managed",
                message=(
                    f"the spec lists no widgets but the account has {live} managed widget(s). "
                    "Rule: an empty spec is refused, since it is almost always a truncated "
                    f"file or a wrong path. {FORCE_HINT}"
                ),
                remedy="check the spec's path and content; if it is meant to be empty, "
                "re-run with --force",
                forcible=True,
                numbers=(("spec_widgets", 0), ("live_managed", live)),
                widgets=destructive,
            )
        )
    elif live and deletes == live:
        refusals.append(
            Refusal(
                rule="deletes_everything",
                headline=f"deletes every managed widget ({deletes} of {live})",
                message=(
                    f"the plan deletes every managed widget in the account ({deletes} of "
                    f"{live}). Rule: a plan may not delete every live managed widget. "
                    f"{FORCE_HINT}"
                ),
                remedy="review the plan; if it is intended, re-run with --force",
                forcible=True,
                numbers=(("deletes", deletes), ("live_managed", live)),
                widgets=tuple(w for w in destructive if w.action == ActionKind.DELETE.value),
            )
        )
    if deletes + replaces > spec.max_deletes:
        refusals.append(
            Refusal(
                rule="max_deletes",
                headline=(
                    f"{deletes + replaces} destructive actions ({deletes} delete, {replaces} "
                    f"replace) > max_deletes {spec.max_deletes}"
                ),
                message=(
                    f"the plan deletes {deletes} and replaces {replaces} widget(s): "
                    f"{deletes + replaces} destructive actions, more than max_deletes "
                    f"({spec.max_deletes}). Rule: at most max_deletes widgets may be deleted "
                    "or replaced in one run. Review the plan, then raise max_deletes in the "
                    "spec or re-run with --force."
                ),
                remedy="review the plan, then raise max_deletes in the spec or re-run with --force",
                forcible=True,
                numbers=(
                    ("deletes", deletes),
                    ("replaces", replaces),
                    ("destructive", deletes + replaces),
                    ("max_deletes", spec.max_deletes),
                ),
                widgets=destructive,
            )
        )
    return refusals
