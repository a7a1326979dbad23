"""Reviewed plans: a versioned JSON file that `apply --plan` executes exactly, or refuses.

The file records, for every widget an action touches, a fingerprint of the live state it was
planned against (``modified_on`` and a digest of its settings). Applying re-reads the account
and refuses when any of those widgets changed, disappeared, or (for a create) appeared, so what
runs is exactly what was reviewed. No secret is ever written: widget bodies carry none, and
live widgets come from the list endpoint, which has none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from turnstile_sync import __version__
from turnstile_sync.actions import Action, ActionKind, FieldChange, Plan
from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.guards import Protection, protection_refusals
from turnstile_sync.models import LiveWidget, WidgetBody

FORMAT = "turnstile-sync-plan"
VERSION = 1


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


class _WidgetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    sitekey: str


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
    actions: list[_Action]
    unmanaged: list[_WidgetRef]
    ignored: list[_WidgetRef]


@dataclass(frozen=True)
class ReviewedPlan:
    """A plan read back from a file, with what it was planned against."""

    plan: Plan
    target: str
    spec_sha256: str
    expectations: tuple[Expectation, ...]
    protection: Protection


def spec_digest(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as error:
        raise PlanFileError(f"cannot read {path}: {error.strerror or error}") from None


def dump(
    plan: Plan,
    *,
    target: str,
    spec_path: str,
    spec_sha256: str,
    created_at: str,
    protection: Protection,
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
        actions=[
            _dump_action(action, expected)
            for action, expected in zip(plan.actions, expectations(plan), strict=True)
        ],
        unmanaged=[_WidgetRef(name=w.name, sitekey=w.sitekey) for w in plan.unmanaged],
        ignored=[_WidgetRef(name=w.name, sitekey=w.sitekey) for w in plan.ignored],
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
    """Read a plan file, refusing anything this version cannot apply exactly."""
    from turnstile_sync.userfiles import PLAN_SIZE_CAP, UserFileError, read_text

    try:
        raw = json.loads(read_text(path, PLAN_SIZE_CAP))
    except UserFileError as error:
        raise PlanFileError(f"plan file {error}") from None
    except (ValueError, RecursionError) as error:
        raise PlanFileError(f"cannot read plan file {path}: {str(error)[:200]}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PlanFileError(f"{path} is not a turnstile-sync plan file")
    if raw.get("version") != VERSION:
        raise PlanFileError(
            f"{path} is a version {raw.get('version')!r} plan file; this turnstile-sync "
            f"({__version__}) applies version {VERSION} only. Make the plan again with it."
        )
    try:
        document = _Document.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PlanFileError(f"{path} is damaged: {where}: {first['msg']}") from None
    actions = tuple(_load_action(item) for item in document.actions)
    _refuse_repeats(path, actions)
    plan = Plan(
        account_id=document.account_id,
        actions=actions,
        unmanaged=tuple(_ref_widget(ref) for ref in document.unmanaged),
        ignored=tuple(_ref_widget(ref) for ref in document.ignored),
    )
    protection = Protection(
        tuple(document.protection.get("patterns", [])),
        tuple(document.protection.get("entries", [])),
    )
    refusals = protection_refusals(plan, protection)
    if refusals:
        raise PlanFileError(
            f"{path} would remove protected widgets:\n  - " + "\n  - ".join(refusals)
        )
    return ReviewedPlan(
        plan=plan,
        target=document.target,
        spec_sha256=document.spec.get("sha256", ""),
        expectations=tuple(
            Expectation(item.planned_against, tuple(item.name_taken_by))
            for item in document.actions
        ),
        protection=protection,
    )


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
