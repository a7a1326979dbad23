"""Actions and the Plan that holds them: what would make the account match the spec.

Plain frozen data, so a plan can be rendered, reviewed, compared in tests and applied without
anything being recomputed in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from turnstile_sync.models import LiveWidget, WidgetBody


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


REGION_IMMUTABLE_REASON = "region cannot be changed after creation"
REPLACE_REQUESTED_REASON = "replacement requested with --replace"


@dataclass(frozen=True)
class FieldChange:
    """One managed field that differs: ``before`` is live (None on create), ``after`` desired."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Action:
    """One change to one widget.

    ``sitekey`` is the live widget acted on (None for a create); ``body`` is exactly what will be
    sent for create, update and the create half of a replace.
    """

    kind: ActionKind
    name: str
    sitekey: str | None = None
    changes: tuple[FieldChange, ...] = ()
    body: WidgetBody | None = None
    reason: str = ""
    live: LiveWidget | None = None
    """The live widget as it was when planned: what a reviewed plan checks before applying."""

    @property
    def is_destructive(self) -> bool:
        """Deletes and replacements remove a sitekey that live pages may still use."""
        return self.kind in (ActionKind.DELETE, ActionKind.REPLACE)


@dataclass(frozen=True)
class Plan:
    """The actions to take, plus the live widgets deliberately not touched."""

    account_id: str
    actions: tuple[Action, ...] = ()
    unmanaged: tuple[LiveWidget, ...] = ()
    ignored: tuple[LiveWidget, ...] = ()
    unchanged: tuple[str, ...] = field(default=())
    observed: tuple[LiveWidget, ...] = field(default=(), repr=False)
    """Every live widget (ignored ones too) the plan was made against. Apply uses it to tell a
    widget it created apart from one that already existed."""
    warnings: tuple[str, ...] = ()
    """Things a reviewer should know that are not actions, e.g. look-alike names."""
    targets: tuple[str, ...] | None = None
    """The --target selection (names, sitekeys, globs) when the plan is limited to it; None
    for a plan of the whole account. Every list above then holds only selected widgets."""
    selected: int = 0
    """How many widgets (spec entries and unmanaged live widgets) the targets selected."""
    universe: int = 0
    """How many there are in all, for "only 2 of 7 widgets considered"."""
    replace: tuple[str, ...] = ()
    """The widgets --replace asked to replace (as given: names or sitekeys)."""

    @property
    def targeted(self) -> bool:
        return self.targets is not None

    def target_notice(self) -> str | None:
        """The banner a targeted plan carries in every format, since it says nothing about
        the widgets it left out: they may have changes pending."""
        if self.targets is None:
            return None
        listed = ", ".join(repr(t) for t in self.targets)
        return (
            f"Targeted plan: only {self.selected} of {self.universe} widget(s) considered "
            f"(--target {listed}); other changes may be pending."
        )

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for action in self.actions if action.kind is kind)

    def summary(self) -> str:
        """One line, stable wording: pipelines and reviewers grep for it."""
        if not self.actions and self.targeted:
            text = "No changes. The targeted widgets match the spec."
        elif not self.actions:
            text = "No changes. The account matches the spec."
        else:
            parts = [
                f"{self.count(ActionKind.CREATE)} to create",
                f"{self.count(ActionKind.UPDATE)} to update",
                f"{self.count(ActionKind.REPLACE)} to replace",
                f"{self.count(ActionKind.DELETE)} to delete",
            ]
            text = "Plan: " + ", ".join(parts) + "."
        if self.unmanaged:
            text += f" {len(self.unmanaged)} unmanaged (left alone)."
        if self.targeted:
            text += (
                f" Targeted: only {self.selected} of {self.universe} widget(s) considered; "
                "other changes may be pending."
            )
        return text
