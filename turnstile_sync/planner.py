"""plan(spec, live) -> Plan: a pure function, so every reconcile rule is unit-testable offline.

Identity is the widget name, or the sitekey when an entry pins one. Cloudflare does not keep
names unique, so a name that matches several live widgets is refused rather than guessed.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from turnstile_sync.actions import REGION_IMMUTABLE_REASON, Action, ActionKind, FieldChange, Plan
from turnstile_sync.errors import PlanError
from turnstile_sync.guards import enforce_guards
from turnstile_sync.models import SETTINGS_FIELDS, LiveWidget, Spec, WidgetBody, WidgetSpec

_COMPARED_FIELDS = ("name", *SETTINGS_FIELDS)


def plan(
    spec: Spec,
    live: Sequence[LiveWidget],
    *,
    account_id: str | None = None,
    force: bool = False,
) -> Plan:
    """Compute the actions that make ``live`` match ``spec``.

    Raises PlanError when it cannot (ambiguous names, missing pins), and GuardError when the
    plan is refused: protected widgets always, the other guards unless ``force``.
    """
    account = account_id or spec.account_id or ""
    ignored = tuple(w for w in live if _is_ignored(w.name, spec.ignore))
    considered = [w for w in live if not _is_ignored(w.name, spec.ignore)]
    matches, problems = _match(spec, considered, ignored)

    actions: list[Action] = []
    unchanged: list[str] = []
    for index, widget in enumerate(spec.widgets):
        current = matches.get(index)
        if current is None:
            action = _create(spec, widget, problems)
        else:
            action = _change(spec, widget, current)
        if action is None:
            unchanged.append(widget.name)
        else:
            actions.append(action)

    matched = {w.sitekey for w in matches.values()}
    leftovers = tuple(w for w in considered if w.sitekey not in matched)
    unmanaged: tuple[LiveWidget, ...] = leftovers
    if spec.prune:
        unmanaged = ()
        actions += [
            Action(
                ActionKind.DELETE,
                w.name,
                w.sitekey,
                reason="not in the spec and prune is on",
                live=w,
            )
            for w in sorted(leftovers, key=lambda w: (w.name, w.sitekey))
        ]
    if problems:
        raise PlanError(problems)
    result = Plan(
        account_id=account,
        actions=tuple(sorted(actions, key=_apply_order)),
        unmanaged=unmanaged,
        ignored=ignored,
        unchanged=tuple(unchanged),
        observed=tuple(live),
    )
    enforce_guards(result, spec, considered, force=force)
    return result


def _is_ignored(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _apply_order(action: Action) -> int:
    """Stable sort key that keeps spec order within each kind."""
    order = (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE, ActionKind.DELETE)
    return order.index(action.kind)


def _match(
    spec: Spec, considered: list[LiveWidget], ignored: tuple[LiveWidget, ...]
) -> tuple[dict[int, LiveWidget], list[str]]:
    """Pair each spec entry (by position) with at most one live widget: pins first, then
    unique names."""
    problems: list[str] = []
    seen_names: set[str] = set()
    for widget in spec.widgets:
        if widget.name in seen_names and widget.sitekey is None:
            problems.append(
                f"the spec names {widget.name!r} twice; names must be unique unless every entry "
                "with the name pins a sitekey"
            )
        seen_names.add(widget.name)

    matches = _match_pins(spec, considered, ignored, problems)
    claimed = {w.sitekey for w in matches.values()}
    by_name: dict[str, list[LiveWidget]] = defaultdict(list)
    for live_widget in considered:
        if live_widget.sitekey not in claimed:
            by_name[live_widget.name].append(live_widget)
    for index, widget in enumerate(spec.widgets):
        if widget.sitekey is not None:
            continue
        candidates = by_name.get(widget.name, [])
        if len(candidates) > 1:
            sitekeys = ", ".join(sorted(w.sitekey for w in candidates))
            problems.append(
                f"{widget.name!r} matches {len(candidates)} live widgets ({sitekeys}); "
                "Cloudflare does not keep names unique, so pin the one this entry manages "
                "with 'sitekey:'"
            )
        elif candidates:
            matches[index] = candidates[0]
    return matches, problems


def _match_pins(
    spec: Spec,
    considered: list[LiveWidget],
    ignored: tuple[LiveWidget, ...],
    problems: list[str],
) -> dict[int, LiveWidget]:
    """Entries that pin a sitekey claim that widget, whatever its live name."""
    by_sitekey = {w.sitekey: w for w in considered}
    ignored_sitekeys = {w.sitekey for w in ignored}
    matches: dict[int, LiveWidget] = {}
    claimed: dict[str, str] = {}
    for index, widget in enumerate(spec.widgets):
        if widget.sitekey is None:
            continue
        if widget.sitekey in claimed:
            problems.append(
                f"{widget.name!r} and {claimed[widget.sitekey]!r} both pin sitekey {widget.sitekey}"
            )
        elif widget.sitekey in by_sitekey:
            matches[index] = by_sitekey[widget.sitekey]
            claimed[widget.sitekey] = widget.name
        elif widget.sitekey in ignored_sitekeys:
            problems.append(
                f"{widget.name!r} pins sitekey {widget.sitekey}, whose live widget is ignored by "
                "an 'ignore' pattern"
            )
        else:
            problems.append(
                f"{widget.name!r} pins sitekey {widget.sitekey}, which does not exist in the "
                "account; remove 'sitekey:' to create a new widget instead"
            )
    return matches


def _plain(value: Any) -> Any:
    """Enum members as their string values, so spec and live values compare and print alike."""
    return value.value if hasattr(value, "value") else value


def _desired(spec: Spec, widget: WidgetSpec) -> dict[str, Any]:
    desired = {"name": widget.name}
    desired.update({k: _plain(v) for k, v in spec.desired_settings(widget).items()})
    return desired


def _create(spec: Spec, widget: WidgetSpec, problems: list[str]) -> Action | None:
    desired = _desired(spec, widget)
    missing = [name for name in ("mode", "domains") if name not in desired]
    if missing:
        problems.append(
            f"{widget.name!r} does not exist yet, and creating it needs "
            f"{' and '.join(missing)} (set on the entry or in 'defaults')"
        )
        return None
    body = WidgetBody(**desired)
    changes = tuple(FieldChange(name, None, value) for name, value in desired.items())
    return Action(ActionKind.CREATE, widget.name, None, changes, body, "not in the account")


def _change(spec: Spec, widget: WidgetSpec, current: LiveWidget) -> Action | None:
    desired = _desired(spec, widget)
    before = {name: getattr(current, name) for name in desired}
    if before == desired:
        return None
    changes = tuple(
        FieldChange(name, before[name], desired[name])
        for name in _COMPARED_FIELDS
        if name in desired and before[name] != desired[name]
    )
    full = {name: getattr(current, name) for name in _COMPARED_FIELDS}
    full.update(desired)
    if any(change.field == "region" for change in changes):
        if widget.sitekey is not None:
            raise PlanError(
                [
                    f"{widget.name!r} is pinned to sitekey {widget.sitekey}, and its region "
                    "change replaces the widget with a new sitekey, which would leave the pin "
                    "pointing at a deleted widget. Remove 'sitekey:' from the entry to replace "
                    "it (and pin the new sitekey afterwards if you need to)."
                ]
            )
        return Action(
            ActionKind.REPLACE,
            widget.name,
            current.sitekey,
            changes,
            WidgetBody(**full),
            REGION_IMMUTABLE_REASON,
            current,
        )
    full["region"] = current.region
    return Action(
        ActionKind.UPDATE,
        widget.name,
        current.sitekey,
        changes,
        WidgetBody(**full),
        "managed fields differ from the spec",
        current,
    )


def find_live_widget(live: Sequence[LiveWidget], name_or_sitekey: str) -> LiveWidget:
    """The one live widget a user means by a name or a sitekey, or a PlanError saying why not."""
    by_sitekey = [w for w in live if w.sitekey == name_or_sitekey]
    if by_sitekey:
        return by_sitekey[0]
    named = [w for w in live if w.name == name_or_sitekey]
    if not named:
        raise PlanError([f"no widget named {name_or_sitekey!r} in the account"])
    if len(named) > 1:
        sitekeys = ", ".join(sorted(w.sitekey for w in named))
        raise PlanError(
            [f"{len(named)} widgets are named {name_or_sitekey!r} ({sitekeys}); pass the sitekey"]
        )
    return named[0]
