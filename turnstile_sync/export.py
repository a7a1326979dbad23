"""The live account as a spec: the starting point for managing an existing account as code.

The result is meant to validate and to plan to zero changes against the same account, so every
setting is written out (all of them become managed), widgets whose names repeat are pinned by
sitekey, and the hostname limit is raised if a widget needs it. Secrets are never exported:
they come from the list endpoint, which has none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from turnstile_sync import __version__
from turnstile_sync.hostnames import normalise_hostname
from turnstile_sync.models import (
    ENTERPRISE_MAX_DOMAINS,
    FREE_MAX_DOMAINS,
    ClearanceLevel,
    LiveWidget,
    Mode,
    Region,
)


@dataclass(frozen=True)
class Export:
    text: str
    warnings: tuple[str, ...]


def _domains(widget: LiveWidget) -> tuple[list[str] | None, str | None]:
    """The widget's hostnames, or None (left unmanaged) when the spec could not express them."""
    if not widget.domains:
        return (
            None,
            f"{widget.name!r} ({widget.sitekey}) allows any hostname; domains left unmanaged",
        )
    try:
        return sorted({normalise_hostname(d) for d in widget.domains}), None
    except ValueError as error:
        return None, f"{widget.name!r} ({widget.sitekey}): {error}; domains left unmanaged"


def export_spec(
    live: Sequence[LiveWidget], *, account_id: str, source: str, exported_at: str
) -> Export:
    repeated = {name for name, count in Counter(w.name for w in live).items() if count > 1}
    warnings: list[str] = []
    widgets: list[dict[str, Any]] = []
    most_domains = 0
    for widget in sorted(live, key=lambda w: (w.name, w.created_on, w.sitekey)):
        entry: dict[str, Any] = {"name": widget.name}
        if widget.name in repeated:
            entry["sitekey"] = widget.sitekey
        _known("mode", widget.mode, Mode, entry, widget, warnings)
        domains, warning = _domains(widget)
        if domains is not None:
            entry["domains"] = domains
            most_domains = max(most_domains, len(domains))
        if warning:
            warnings.append(warning)
        _known("region", widget.region, Region, entry, widget, warnings)
        _known("clearance_level", widget.clearance_level, ClearanceLevel, entry, widget, warnings)
        entry.update(
            bot_fight_mode=widget.bot_fight_mode,
            ephemeral_id=widget.ephemeral_id,
            offlabel=widget.offlabel,
        )
        widgets.append(entry)
    document: dict[str, Any] = {"account_id": account_id, "prune": False}
    if most_domains > FREE_MAX_DOMAINS:
        document["max_domains_per_widget"] = min(most_domains, ENTERPRISE_MAX_DOMAINS)
    document["widgets"] = widgets
    header = (
        f"# Exported by turnstile-sync {__version__} at {exported_at}\n"
        f"# from account {account_id} on {source}.\n"
        "# Every setting is written out, so all of them are managed; delete a line to stop\n"
        "# managing that setting. Widgets whose names repeat are pinned by sitekey.\n"
        "# Secrets are never exported.\n"
    )
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    if yaml.safe_load(body) != document:
        # Some characters (NEL, the Unicode line separators) do not survive as literal text.
        body = yaml.safe_dump(document, sort_keys=False, allow_unicode=False, width=100)
    return Export(header + body, tuple(warnings))


def _known(
    field: str,
    value: str,
    choices: type[StrEnum],
    entry: dict[str, Any],
    widget: LiveWidget,
    warnings: list[str],
) -> None:
    """Write a setting only if the spec can express its value; else leave it unmanaged."""
    if value in {choice.value for choice in choices}:
        entry[field] = value
    else:
        warnings.append(
            f"{widget.name!r} ({widget.sitekey}): {field} {value!r} is not one the spec knows; "
            "left unmanaged"
        )
