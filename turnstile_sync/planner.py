"""plan(spec, live) -> Plan: a pure function, so every reconcile rule is unit-testable offline.

Identity is the widget name, or the sitekey when an entry pins one. Cloudflare does not keep
names unique, so a name that matches several live widgets is refused rather than guessed, with
one narrow exception: the two halves of a replacement that was interrupted between its create
and its delete (see _interrupted_replacement). Names that differ only by case or Unicode
normalisation are different identities, but the plan warns about them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from turnstile_sync import name_rules
from turnstile_sync.actions import (
    REGION_IMMUTABLE_REASON,
    REPLACE_REQUESTED_REASON,
    Action,
    ActionKind,
    FieldChange,
    Plan,
)
from turnstile_sync.errors import PlanError
from turnstile_sync.guards import enforce_guards
from turnstile_sync.models import SETTINGS_FIELDS, LiveWidget, Spec, WidgetBody, WidgetSpec
from turnstile_sync.suggestions import did_you_mean

_COMPARED_FIELDS = ("name", *SETTINGS_FIELDS)


def plan(
    spec: Spec,
    live: Sequence[LiveWidget],
    *,
    account_id: str | None = None,
    force: bool = False,
    targets: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> Plan:
    """Compute the actions that make ``live`` match ``spec``.

    ``targets`` (names, sitekeys or globs; empty: the whole account) limits the plan to the
    widgets they select; ``replace`` (names or sitekeys of managed live widgets) replaces those
    even when their settings match. Both are planned here, not filtered afterwards, so guards,
    protection, plan files and the library see one and the same plan.

    Raises PlanError when it cannot (ambiguous names, missing pins, a target or --replace
    that names nothing), and GuardError when the plan is refused: protected widgets always,
    the other guards unless ``force``.
    """
    account = account_id or spec.account_id or ""
    matching = match_live(spec, live)
    matches, finishing, problems = matching.matches, matching.finishing, matching.problems
    ignored, considered = matching.ignored, matching.considered
    matched = {w.sitekey for w in matches.values()} | {a.sitekey for a in finishing}
    leftovers = tuple(w for w in considered if w.sitekey not in matched)
    selection = _select(spec, matching, leftovers, _unique(targets), problems)
    replacing = _replacements(spec, matches, _unique(replace), selection, ignored, problems)

    actions: list[Action] = []
    unchanged: list[str] = []
    for index, widget in enumerate(spec.widgets):
        if selection is not None and index not in selection.entries:
            continue
        current = matches.get(index)
        if current is None:
            action = _create(spec, widget, problems)
        else:
            action = _change(spec, widget, current, replace=index in replacing)
        if action is None:
            unchanged.append(widget.name)
        else:
            actions.append(action)

    if selection is not None:
        finishing = [a for a in finishing if selection.covers_action(a)]
        leftovers = tuple(w for w in leftovers if selection.covers_live(w))
    actions += finishing
    warnings = _look_alike_warnings(spec, matches, leftovers)
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
        ignored=ignored if selection is None else (),
        unchanged=tuple(unchanged),
        observed=tuple(live),
        warnings=warnings,
        targets=None if selection is None else selection.targets,
        selected=0 if selection is None else len(selection.entries) + len(leftovers),
        universe=0 if selection is None else selection.universe,
        replace=_unique(replace),
    )
    enforce_guards(result, spec, considered, force=force)
    return result


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    """In the order given, each once: the same flag twice selects nothing more."""
    return tuple(dict.fromkeys(values))


def covers(target: str, name: str, sitekey: str | None) -> bool:
    """Whether a --target selects a widget: its sitekey exactly, or its name as a
    'protected' or 'ignore' rule would (exact, glob, or folded; see name_rules)."""
    return (sitekey is not None and target == sitekey) or name_rules.matches(target, name)


@dataclass(frozen=True)
class Selection:
    """What --target selected: spec entries (by position) and live widgets (by sitekey)."""

    targets: tuple[str, ...]
    entries: frozenset[int]
    names: frozenset[str]
    """Names of the selected entries: the deletes finishing their interrupted replacement
    belong to them."""
    universe: int

    def covers_live(self, widget: LiveWidget) -> bool:
        return any(covers(t, widget.name, widget.sitekey) for t in self.targets)

    def covers_action(self, action: Action) -> bool:
        return action.name in self.names or (
            action.live is not None and self.covers_live(action.live)
        )


def _select(
    spec: Spec,
    matching: Matching,
    leftovers: tuple[LiveWidget, ...],
    targets: tuple[str, ...],
    problems: list[str],
) -> Selection | None:
    """The widgets ``targets`` select, or None when there are no targets. An entry is
    selected by its name or pin, or by the name or sitekey of the live widget it manages (so
    a pinned rename can be targeted by either name). A target selecting nothing is a
    problem: a typo must not silently plan nothing."""
    if not targets:
        return None
    entries: set[int] = set()
    used: set[str] = set()
    for index, widget in enumerate(spec.widgets):
        current = matching.matches.get(index)
        for target in targets:
            if covers(target, widget.name, widget.sitekey) or (
                current is not None and covers(target, current.name, current.sitekey)
            ):
                entries.add(index)
                used.add(target)
    for live_widget in matching.considered:
        used.update(t for t in targets if covers(t, live_widget.name, live_widget.sitekey))
    for target in targets:
        if target in used:
            continue
        if any(covers(target, w.name, w.sitekey) for w in matching.ignored):
            problems.append(
                f"--target {target!r} matches only live widgets ignored by the spec's 'ignore' "
                "patterns, which no plan touches"
            )
        else:
            known = [w.name for w in spec.widgets] + [w.name for w in matching.considered]
            hint = did_you_mean(target, known)
            problems.append(
                f"--target {target!r} matches no widget in the spec or the account"
                + (f"; {hint}" if hint else "")
                + " (targets are names, sitekeys or globs such as 'checkout-*')"
            )
    return Selection(
        targets=targets,
        entries=frozenset(entries),
        names=frozenset(spec.widgets[i].name for i in entries),
        universe=len(spec.widgets) + len(leftovers),
    )


def _replacements(
    spec: Spec,
    matches: dict[int, LiveWidget],
    replace: tuple[str, ...],
    selection: Selection | None,
    ignored: tuple[LiveWidget, ...],
    problems: list[str],
) -> set[int]:
    """The spec entries --replace names (by entry name, or the name or sitekey of the live
    widget the entry manages). Anything else is a problem naming it: a widget the spec does
    not manage, one not live yet, one outside the --target selection, or a pinned one (its
    pin would point at the deleted widget)."""
    chosen: set[int] = set()
    for wanted in replace:
        found = [
            index
            for index, current in matches.items()
            if wanted in (spec.widgets[index].name, current.name, current.sitekey)
        ]
        if not found:
            problems.append(_not_replaceable(spec, wanted, ignored))
            continue
        if len(found) > 1:
            sitekeys = ", ".join(sorted(matches[i].sitekey for i in found))
            problems.append(
                f"--replace {wanted!r} names {len(found)} managed widgets ({sitekeys}); pass "
                "the sitekey of the one to replace"
            )
            continue
        (index,) = found
        widget = spec.widgets[index]
        if selection is not None and index not in selection.entries:
            problems.append(
                f"--replace {wanted!r} is outside the --target selection; add --target "
                f"{widget.name!r} (a replacement never widens a targeted plan)"
            )
        elif widget.sitekey is not None:
            problems.append(
                f"--replace {wanted!r}: the entry {widget.name!r} is pinned to sitekey "
                f"{widget.sitekey}, and a replacement gets a new sitekey, which would leave the "
                "pin pointing at a deleted widget. Remove 'sitekey:' from the entry to replace "
                "it (and pin the new sitekey afterwards if you need to)."
            )
        else:
            chosen.add(index)
    return chosen


def _not_replaceable(spec: Spec, wanted: str, ignored: tuple[LiveWidget, ...]) -> str:
    if any(wanted in (w.name, w.sitekey) for w in spec.widgets):
        return (
            f"--replace {wanted!r}: the spec's widget is not in the account yet (the plan "
            "creates it), so there is nothing to replace"
        )
    if any(wanted in (w.name, w.sitekey) for w in ignored):
        return f"--replace {wanted!r} names a live widget ignored by the spec's 'ignore' patterns"
    return (
        f"--replace {wanted!r} names no live widget the spec manages (give the name or sitekey "
        "of a widget in the spec that exists in the account)"
    )


@dataclass(frozen=True)
class Matching:
    """Which live widget each spec entry manages: the identity half of planning, shared
    with commands that only read the account (``output``) so they agree with the plan."""

    matches: dict[int, LiveWidget]
    """Spec entry (by position) -> the live widget it manages; absent: not in the account."""
    finishing: list[Action]
    """Deletes that finish interrupted replacements."""
    problems: list[str]
    """Why identity cannot be decided (ambiguous names, pins to missing sitekeys)."""
    considered: list[LiveWidget]
    ignored: tuple[LiveWidget, ...]


def match_live(spec: Spec, live: Sequence[LiveWidget]) -> Matching:
    """Pair spec entries with live widgets exactly as ``plan`` does: 'ignore' first, then
    pins, then unique names (and the halves of an interrupted replacement)."""
    claimed = {w.sitekey for w in spec.widgets if w.sitekey} | {w.name for w in spec.widgets}
    is_ignored = [bool(spec.ignore) and _is_ignored(spec.ignore, w, claimed) for w in live]
    ignored = tuple(w for w, skip in zip(live, is_ignored, strict=True) if skip)
    considered = [w for w, skip in zip(live, is_ignored, strict=True) if not skip]
    matches, finishing, problems = _match(spec, considered, ignored)
    return Matching(matches, finishing, problems, considered, ignored)


def _is_ignored(patterns: Sequence[str], widget: LiveWidget, claimed: set[str]) -> bool:
    """An 'ignore' pattern covers a live widget as written, or once names are folded unless
    the spec claims the widget itself (by its exact name or its sitekey): the folded match
    keeps a dashboard rename like 'Legacy-x' out of a prune, and the exception keeps a spec
    that manages 'Testimonials' beside `ignore: [test*]` working as it always did."""
    mine = widget.sitekey in claimed or widget.name in claimed
    return any(
        (how := name_rules.matching(pattern, widget.name)) is name_rules.Match.AS_WRITTEN
        or (how is name_rules.Match.FOLDED and not mine)
        for pattern in patterns
    )


def _apply_order(action: Action) -> int:
    """Stable sort key that keeps spec order within each kind."""
    order = (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE, ActionKind.DELETE)
    return order.index(action.kind)


def _match(
    spec: Spec, considered: list[LiveWidget], ignored: tuple[LiveWidget, ...]
) -> tuple[dict[int, LiveWidget], list[Action], list[str]]:
    """Pair each spec entry (by position) with at most one live widget: pins first, then
    unique names. Also returns the deletes that finish interrupted replacements."""
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
    finishing: list[Action] = []
    for index, widget in enumerate(spec.widgets):
        if widget.sitekey is not None:
            continue
        candidates = by_name.get(widget.name, [])
        halves = _interrupted_replacement(spec, widget, candidates)
        if halves is not None:
            matches[index], old_halves = halves
            finishing += [_finish_replacement(old, matches[index]) for old in old_halves]
        elif len(candidates) > 1:
            sitekeys = ", ".join(sorted(w.sitekey for w in candidates))
            problems.append(
                f"{widget.name!r} matches {len(candidates)} live widgets ({sitekeys}); "
                "Cloudflare does not keep names unique, so pin the one this entry manages "
                "with 'sitekey:'"
            )
        elif candidates:
            matches[index] = candidates[0]
    return matches, finishing, problems


def _interrupted_replacement(
    spec: Spec, widget: WidgetSpec, candidates: list[LiveWidget]
) -> tuple[LiveWidget, list[LiveWidget]] | None:
    """(new half, old halves) when ``candidates`` are what a replacement killed between its
    create and its delete leaves behind; None otherwise (then the name is ambiguous).

    The rule deletes a widget nobody pinned, so it is deliberately narrow; anything else stays
    an ambiguity error for a person to resolve. It holds only when the spec sets the entry's
    region, exactly one candidate has that region, and every other candidate is what a
    replacement copies from: identical in every setting but region (a replacement's create
    copies them all, so two unrelated widgets, say for different sites, differ at least in
    domains), created before the new half and not modified since it was created (a widget
    someone made or touched after the replacement started is not a leftover of it).
    """
    if len(candidates) < 2:
        return None
    region = spec.desired_settings(widget).get("region")
    if region is None:
        return None
    wanted = _plain(region)
    current = [w for w in candidates if w.region == wanted]
    if len(current) != 1:
        return None
    new = current[0]
    old_halves = [w for w in candidates if w is not new]
    if all(_copied_into(old, new) for old in old_halves):
        return new, old_halves
    return None


def _copied_into(old: LiveWidget, new: LiveWidget) -> bool:
    """Whether ``new`` looks like the create half of replacing ``old`` with another region."""
    same = all(getattr(old, f) == getattr(new, f) for f in SETTINGS_FIELDS if f != "region")
    started = _moment(new.created_on)
    created = _moment(old.created_on)
    touched = _moment(old.modified_on)
    if not same or started is None or created is None or touched is None:
        return False
    return created < started and touched <= started


def _moment(timestamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _finish_replacement(old: LiveWidget, new: LiveWidget) -> Action:
    return Action(
        ActionKind.DELETE,
        old.name,
        old.sitekey,
        reason=(
            f"left over from an interrupted replacement of {old.name!r} "
            f"(region {old.region} -> {new.region}; the new widget is {new.sitekey})"
        ),
        live=old,
    )


def _look_alike_warnings(
    spec: Spec, matches: dict[int, LiveWidget], leftovers: tuple[LiveWidget, ...]
) -> tuple[str, ...]:
    """Spec entries and unmatched live widgets whose names print alike but differ (case,
    Unicode normalisation): identity stays the exact name, so the plan treats them as two
    widgets, which is rarely what the person who typed either name meant."""
    by_folded: dict[str, list[LiveWidget]] = defaultdict(list)
    for live_widget in leftovers:
        by_folded[name_rules.folded(live_widget.name)].append(live_widget)
    warnings = []
    for index, widget in enumerate(spec.widgets):
        for other in by_folded.get(name_rules.folded(widget.name), []):
            if other.name == widget.name:
                continue
            matched = matches.get(index)
            entry_fate = (
                f"creates {widget.name!r}"
                if matched is None
                else f"manages {widget.name!r} as {matched.sitekey}"
            )
            live_fate = f"deletes {other.name!r}" if spec.prune else f"leaves {other.name!r} alone"
            warnings.append(
                f"live widget {other.name!r} ({other.sitekey}) and spec entry {widget.name!r} "
                "differ only by case or Unicode normalisation, so they are different widgets "
                f"to this plan: it {entry_fate} and {live_fate}. If they are one widget, pin it "
                f"with 'sitekey: {other.sitekey}' on the entry (a rename in place), or make "
                "the names identical in the spec or the dashboard."
            )
    return tuple(warnings)


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


def _change(
    spec: Spec, widget: WidgetSpec, current: LiveWidget, *, replace: bool = False
) -> Action | None:
    """The update or replacement ``current`` needs, if any; ``replace`` (from --replace)
    makes it a replacement even when nothing differs."""
    desired = _desired(spec, widget)
    before = {name: getattr(current, name) for name in desired}
    if before == desired and not replace:
        return None
    changes = tuple(
        FieldChange(name, before[name], desired[name])
        for name in _COMPARED_FIELDS
        if name in desired and before[name] != desired[name]
    )
    full = {name: getattr(current, name) for name in _COMPARED_FIELDS}
    full.update(desired)
    region_changes = any(change.field == "region" for change in changes)
    if region_changes or replace:
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
            REGION_IMMUTABLE_REASON if region_changes else REPLACE_REQUESTED_REASON,
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
