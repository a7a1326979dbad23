"""Reviewed plans: a versioned JSON receipt of what `plan --out` showed, never a program.

`apply --plan` executes nothing it reads from the file. It re-derives the plan from the spec
and the live account and applies it only when the document that plan makes (``dump``) equals
the file's, apart from fields that legitimately differ (``RECEIPT_IGNORES``); otherwise it
names every difference and changes nothing. An edited file can therefore only be refused.

The file also records, for every widget an action touches, a fingerprint of the live state it
was planned against (``modified_on`` and a digest of its settings), so a widget that changed,
disappeared or (for a create) appeared since is reported per widget as "stale" before the
receipt is compared. No secret is ever written: widget bodies carry none, and live widgets come
from the list endpoint, which has none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from turnstile_sync import __version__
from turnstile_sync.actions import Action, ActionKind, FieldChange, Plan
from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.guards import Protection
from turnstile_sync.models import LiveWidget, WidgetBody
from turnstile_sync.quoting import excerpt

FORMAT = "turnstile-sync-plan"
MAX_DEPTH = 16
"""A real plan file nests 7 levels (document, actions, action, changes, change, value, item)."""
VERSION = 2
"""2 added the ``guards`` block (max_deletes, and whether the plan was made with --force);
a version-1 file is refused with "make the plan again". ``targets`` and ``replace`` were added
within version 2: a file without them is a whole-account plan with no --replace, which is
exactly what every earlier version-2 file was."""


class PlanFileError(TurnstileSyncError):
    """The plan file cannot be used: unreadable, of another version, account or target, or stale."""


class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sitekey: str
    modified_on: str
    sha256: str


def fingerprint(widget: LiveWidget) -> Fingerprint:
    content = json.dumps({"name": widget.name, **widget.settings()}, sort_keys=True)
    return Fingerprint(
        sitekey=widget.sitekey,
        modified_on=widget.modified_on,
        sha256=hashlib.sha256(content.encode()).hexdigest(),
    )


@dataclass(frozen=True)
class Expectation:
    """What must still hold for one action to be applied as reviewed."""

    planned_against: Fingerprint | None
    """The widget an update, replace or delete changes, as it was."""
    name_taken_by: tuple[str, ...] = ()
    """For a create: sitekeys that already had this name (e.g. a pinned widget being renamed
    away in the same plan). Any other widget with the name means someone else created it."""


def expectations(plan: Plan) -> tuple[Expectation, ...]:
    by_name: dict[str, list[str]] = {}
    for widget in plan.observed:
        by_name.setdefault(widget.name, []).append(widget.sitekey)
    return tuple(
        Expectation(
            fingerprint(action.live) if action.live is not None else None,
            tuple(sorted(by_name.get(action.name, []))) if action.kind is ActionKind.CREATE else (),
        )
        for action in plan.actions
    )


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    mode: str
    domains: list[str]
    region: str | None = None
    clearance_level: str | None = None
    bot_fight_mode: bool | None = None
    ephemeral_id: bool | None = None
    offlabel: bool | None = None


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    before: Any
    after: Any


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ActionKind
    name: str
    sitekey: str | None
    reason: str
    changes: list[_Change]
    body: _Body | None
    planned_against: Fingerprint | None
    """The live widget this action changes; None for a create."""
    name_taken_by: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> _Action:
        """An action must say what it touches, and touch only that."""
        creates = self.kind is ActionKind.CREATE
        if creates != (self.planned_against is None):
            raise ValueError("only a create may lack 'planned_against'")
        if self.planned_against is not None and self.sitekey != self.planned_against.sitekey:
            raise ValueError("'sitekey' differs from the widget it was planned against")
        if (self.kind is ActionKind.DELETE) != (self.body is None):
            raise ValueError("a delete has no body; every other action needs one")
        if self.body is not None and self.body.name != self.name:
            raise ValueError("the body's name differs from the action's")
        return self


class _Guards(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    max_deletes: int
    forced: bool


class _WidgetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    sitekey: str


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    selected: int = Field(ge=0)
    universe: int = Field(ge=0)


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["turnstile-sync-plan"]
    version: int
    created_by: str
    created_at: str
    account_id: str
    target: str
    spec: dict[str, str]
    summary: dict[str, int]
    protection: dict[str, list[str]]
    guards: _Guards
    targets: list[str] | None = None
    """The --target selection the plan was made with (sorted); null: the whole account."""
    replace: list[str] = []
    """The --replace widgets the plan was made with (sorted)."""
    selection: _Selection | None = None
    """How many widgets the targets selected out of how many: only for `show`, which says a
    saved targeted plan is targeted exactly as `plan` did (null for a whole-account plan)."""
    actions: list[_Action]
    unmanaged: list[_WidgetRef]
    ignored: list[_WidgetRef]
    unchanged: list[str] = []
    """Names of the managed widgets already as the spec says: only for `show`, which renders
    the plan as `plan` did (a file from before it was recorded shows 0 unchanged)."""


@dataclass(frozen=True)
class GuardSettings:
    """The guards a plan was made under: recorded so applying it re-derives under the same."""

    max_deletes: int
    forced: bool
    """Whether `plan` was given --force. `apply --plan` lifts guards only when it is given
    --force itself (its command line is reviewed; the file is not), and the two must agree."""


@dataclass(frozen=True)
class ReviewedPlan:
    """A plan file read back: what it says, to be compared with what is re-derived.

    Nothing here is executed. ``plan`` and ``expectations`` serve only the per-widget
    staleness report; ``document`` is the receipt the re-derived plan must match."""

    plan: Plan
    target: str
    spec_path: str
    spec_sha256: str
    expectations: tuple[Expectation, ...]
    document: dict[str, Any]
    targets: tuple[str, ...] | None = None
    """What the file says it was planned with. Never used to plan: `apply --plan` plans with
    its own --target and --replace and refuses a file that records others."""
    replace: tuple[str, ...] = ()


def spec_digest(path: str | Path) -> str:
    """The SHA-256 of a spec file, read as the spec loader reads it: a regular file within the
    spec size cap (a plan file's spec may be a FIFO or /dev/zero planted by its author)."""
    from turnstile_sync.userfiles import SPEC_SIZE_CAP, UserFileError, read_bytes

    try:
        return hashlib.sha256(read_bytes(path, SPEC_SIZE_CAP)).hexdigest()
    except UserFileError as error:
        raise PlanFileError(f"cannot read the spec {error}") from None


def dump(
    plan: Plan,
    *,
    target: str,
    spec_path: str,
    spec_sha256: str,
    created_at: str,
    protection: Protection,
    guards: GuardSettings,
) -> dict[str, Any]:
    """The plan-file document, keys in a stable order for diffs and reviews."""
    document = _Document(
        format=FORMAT,
        version=VERSION,
        created_by=f"turnstile-sync {__version__}",
        created_at=created_at,
        account_id=plan.account_id,
        target=target,
        spec={"path": spec_path, "sha256": spec_sha256},
        summary={kind.value: plan.count(kind) for kind in ActionKind},
        protection={"patterns": list(protection.patterns), "entries": list(protection.entries)},
        guards=_Guards(max_deletes=guards.max_deletes, forced=guards.forced),
        targets=recorded_selection(plan.targets),
        replace=sorted(set(plan.replace)),
        selection=(
            _Selection(selected=plan.selected, universe=plan.universe) if plan.targeted else None
        ),
        actions=[
            _dump_action(action, expected)
            for action, expected in zip(plan.actions, expectations(plan), strict=True)
        ],
        unmanaged=[_WidgetRef(name=w.name, sitekey=w.sitekey) for w in plan.unmanaged],
        ignored=[_WidgetRef(name=w.name, sitekey=w.sitekey) for w in plan.ignored],
        unchanged=list(plan.unchanged),
    )
    return document.model_dump(mode="json")


def _dump_action(action: Action, expected: Expectation) -> _Action:
    return _Action(
        kind=action.kind,
        name=action.name,
        sitekey=action.sitekey,
        reason=action.reason,
        changes=[
            _Change(field=c.field, before=_plain(c.before), after=_plain(c.after))
            for c in action.changes
        ],
        body=_Body.model_validate(action.body.to_json()) if action.body is not None else None,
        planned_against=expected.planned_against,
        name_taken_by=list(expected.name_taken_by),
    )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def write(path: str | Path, document: dict[str, Any]) -> None:
    try:
        Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise PlanFileError(
            f"cannot write the plan file {path}: {error.strerror or error}"
        ) from None


def load(path: str | Path) -> ReviewedPlan:
    """Read a plan file, refusing one that is not a well-formed receipt of this version.

    Protection and guards are not judged here: they are evaluated on the re-derived plan,
    since everything in the file, its protection block included, is editable."""
    from turnstile_sync.userfiles import PLAN_SIZE_CAP, UserFileError, read_text

    try:
        raw = json.loads(read_text(path, PLAN_SIZE_CAP))
    except UserFileError as error:
        raise PlanFileError(f"plan file {error}") from None
    except (ValueError, RecursionError) as error:
        raise PlanFileError(f"cannot read plan file {path}: {str(error)[:200]}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PlanFileError(f"{path} is not a turnstile-sync plan file")
    if _depth(raw) > MAX_DEPTH:
        raise PlanFileError(f"{path} is damaged: it nests deeper than {MAX_DEPTH} levels")
    if raw.get("version") != VERSION:
        raise PlanFileError(
            f"{path} is a version {excerpt(repr(raw.get('version')), 40)} plan file; this "
            "turnstile-sync "
            f"({__version__}) applies version {VERSION} only. Make the plan again with it."
        )
    try:
        document = _Document.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = excerpt(".".join(str(part) for part in first["loc"]), 120)
        raise PlanFileError(f"{path} is damaged: {where}: {excerpt(first['msg'], 200)}") from None
    actions = tuple(_load_action(item) for item in document.actions)
    _refuse_repeats(path, actions)
    plan = Plan(
        account_id=document.account_id,
        actions=actions,
        unmanaged=tuple(_ref_widget(ref) for ref in document.unmanaged),
        ignored=tuple(_ref_widget(ref) for ref in document.ignored),
        unchanged=tuple(document.unchanged),
        targets=None if document.targets is None else tuple(document.targets),
        selected=document.selection.selected if document.selection else 0,
        universe=document.selection.universe if document.selection else 0,
        replace=tuple(document.replace),
    )
    return ReviewedPlan(
        plan=plan,
        target=document.target,
        spec_path=document.spec.get("path", ""),
        spec_sha256=document.spec.get("sha256", ""),
        expectations=tuple(
            Expectation(item.planned_against, tuple(item.name_taken_by))
            for item in document.actions
        ),
        document=document.model_dump(mode="json"),
        targets=None if document.targets is None else tuple(document.targets),
        replace=tuple(document.replace),
    )


def recorded_selection(targets: Sequence[str] | None) -> list[str] | None:
    """--target flags as a plan file records them: order and repeats do not change what they
    select, so the file holds them sorted, once each; null for a whole-account plan."""
    return None if not targets else sorted(set(targets))


def _refuse_repeats(path: str | Path, actions: tuple[Action, ...]) -> None:
    touched = [a.sitekey for a in actions if a.sitekey] + [
        f"name:{a.name}" for a in actions if a.kind is ActionKind.CREATE
    ]
    if len(touched) != len(set(touched)):
        raise PlanFileError(f"{path} is damaged: an action is listed twice")


def _load_action(item: _Action) -> Action:
    body = None
    if item.body is not None:
        fields = item.body.model_dump()
        fields["domains"] = tuple(fields["domains"])
        body = WidgetBody(**fields)
    changes = tuple(FieldChange(c.field, _frozen(c.before), _frozen(c.after)) for c in item.changes)
    return Action(item.kind, item.name, item.sitekey, changes, body, item.reason)


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _ref_widget(ref: _WidgetRef) -> LiveWidget:
    return LiveWidget(sitekey=ref.sitekey, name=ref.name, mode="", domains=())


def stale_actions(
    actions: Sequence[Action], expected: Sequence[Expectation], live: Sequence[LiveWidget]
) -> list[str]:
    """Every action whose widget is no longer as it was when the plan was made."""
    by_sitekey = {widget.sitekey: widget for widget in live}
    problems = []
    for action, expectation in zip(actions, expected, strict=True):
        planned = expectation.planned_against
        if planned is None:
            newcomers = [
                w.sitekey
                for w in live
                if w.name == action.name and w.sitekey not in expectation.name_taken_by
            ]
            if newcomers:
                problems.append(
                    f"create {action.name!r}: a widget with that name appeared since the plan "
                    f"({', '.join(newcomers)})"
                )
            continue
        current = by_sitekey.get(planned.sitekey)
        if current is None:
            problems.append(
                f"{action.kind.value} {action.name!r}: widget {planned.sitekey} disappeared "
                "since the plan"
            )
        elif fingerprint(current) != planned:
            problems.append(
                f"{action.kind.value} {action.name!r}: widget {planned.sitekey} changed since "
                f"the plan (modified_on {planned.modified_on} -> {current.modified_on})"
            )
    return problems


RECEIPT_IGNORES = (
    "root['selection']",  # counts unmanaged live widgets, which may come and go (see unmanaged)
    "root['created_at']",
    "root['created_by']",
    "root['spec']['path']",
    "root['unmanaged']",
    "root['ignored']",
    "root['unchanged']",
)
"""What may differ between a reviewed file and the re-derived plan: when and by which version
it was made, the path the spec was read from (its SHA-256 is compared), and the live widgets
the plan leaves alone, which may come and go without changing what is applied (a managed
widget that stopped being unchanged has an action, which is compared)."""

MAX_DIFFERENCES = 12
"""How many differences a refusal lists; the rest are counted."""
MAX_VALUE_CHARS = 120
"""How much of one value a difference line quotes: plan files are user input."""


def receipt_differences(reviewed: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """Every way the reviewed document differs from the re-derived one, as readable lines.

    deepdiff walks both documents (ordered: actions are applied in order); a change inside a
    list of plain values (domains, name_taken_by, patterns) is shown as the whole list."""
    from deepdiff import DeepDiff

    diff = DeepDiff(reviewed, derived, view="tree", exclude_paths=list(RECEIPT_IGNORES))
    paths: dict[tuple[Any, ...], None] = {}
    for items in diff.values():
        for item in items:
            paths[_rolled_up(tuple(item.path(output_format="list")), reviewed, derived)] = None
    ordered = sorted(paths, key=lambda p: [(isinstance(k, str), str(k).zfill(9)) for k in p])
    lines = [
        f"{_dotted(path)}: {_shown(_at(reviewed, path))} in the file, "
        f"{_shown(_at(derived, path))} re-derived"
        for path in ordered[:MAX_DIFFERENCES]
    ]
    if len(ordered) > MAX_DIFFERENCES:
        lines.append(f"... and {len(ordered) - MAX_DIFFERENCES} more difference(s)")
    return lines


_MISSING = object()


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        found = (isinstance(document, dict) and isinstance(key, str) and key in document) or (
            isinstance(document, list) and isinstance(key, int) and 0 <= key < len(document)
        )
        if not found:
            return _MISSING
        document = document[key]
    return document


def _rolled_up(path: tuple[Any, ...], *documents: Any) -> tuple[Any, ...]:
    """A list item's path becomes its list's when the list holds plain values."""
    if path and isinstance(path[-1], int):
        for document in documents:
            parent = _at(document, path[:-1])
            if isinstance(parent, list) and any(isinstance(v, dict | list) for v in parent):
                return path
        return path[:-1]
    return path


def _depth(document: Any) -> int:
    """How deeply ``document`` nests, counted without recursion (a hostile file may nest
    100,000 levels, and every later step, validation and comparison, recurses)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return deepest


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for key in path:
        shown = excerpt(str(key), 40)
        text += f"[{shown}]" if isinstance(key, int) else (f".{shown}" if text else shown)
    return _bounded(text) or "the document"


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    if isinstance(value, dict) and "kind" in value and "name" in value:
        sitekey = value.get("sitekey")
        widget = f"sitekey {sitekey!r}" if sitekey else "new widget"
        return _bounded(f"{value['kind']} {_bounded(repr(value['name']))} ({widget})")
    return _bounded(repr(value))


def _bounded(text: str) -> str:
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return text[: MAX_VALUE_CHARS - 3] + "..."
