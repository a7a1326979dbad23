"""The data the tool reasons about: the desired spec and the live widgets.

Two rules shape these models. Field ownership: a setting the spec leaves out is ``None`` here
and is not managed, so the live value is kept. Normalisation: domains are a set, stored as a
sorted tuple, because Cloudflare sorts them and order or case must never show up as a diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from turnstile_sync.hostnames import normalise_hostname

FREE_MAX_DOMAINS = 10
"""Cloudflare Free's hostname limit per widget, and the spec's default."""
ENTERPRISE_MAX_DOMAINS = 200
"""The highest hostname limit Cloudflare offers (Enterprise)."""

ACCOUNT_ID_PATTERN = re.compile(r"\A[0-9a-f]{32}\Z")


class Mode(StrEnum):
    NON_INTERACTIVE = "non-interactive"
    INVISIBLE = "invisible"
    MANAGED = "managed"


class Region(StrEnum):
    WORLD = "world"
    CHINA = "china"


class ClearanceLevel(StrEnum):
    NO_CLEARANCE = "no_clearance"
    JSCHALLENGE = "jschallenge"
    MANAGED = "managed"
    INTERACTIVE = "interactive"


SETTINGS_FIELDS: tuple[str, ...] = (
    "mode",
    "domains",
    "region",
    "clearance_level",
    "bot_fight_mode",
    "ephemeral_id",
    "offlabel",
)
"""Widget settings a spec can own, in the order plans show them."""


def _as_domain_set(value: tuple[str, ...]) -> tuple[str, ...]:
    domains = tuple(sorted(set(value)))
    if not domains:
        raise ValueError(
            "at least one hostname is required (an empty list, Cloudflare's Enterprise "
            "'any hostname' feature, is not supported)"
        )
    return domains


Hostname = Annotated[str, AfterValidator(normalise_hostname)]
Domains = Annotated[
    tuple[Hostname, ...],
    AfterValidator(_as_domain_set),
]


def control_characters(name: str) -> list[str]:
    """The control characters (C0, DEL, C1) in ``name``, escaped, in order of appearance.

    A widget name travels into a --secrets-exec command's environment (TURNSTILE_WIDGET_NAME),
    which cannot hold a NUL, and into terminals and CI logs, where the others act."""
    return [repr(c)[1:-1] for c in name if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]


def _no_control_characters(name: str) -> str:
    found = control_characters(name)
    if found:
        raise ValueError(
            f"a widget name cannot contain control characters ({', '.join(dict.fromkeys(found))})"
            ": no environment variable can hold a NUL, and the others act on terminals and logs"
        )
    return name


WidgetName = Annotated[
    str, StringConstraints(min_length=1, max_length=254), AfterValidator(_no_control_characters)
]
Sitekey = Annotated[str, StringConstraints(pattern=r"^0x[0-9A-Za-z_-]{1,30}$")]
"""base64url after ``0x``, as Cloudflare's (``0x4AAF00AAAABn0R22HWm-YUc``). A value YAML read
as a number (unquoted, hex digits and ``_`` only) is explained by spec_messages."""


class WidgetSettings(BaseModel):
    """Settings a widget entry or ``defaults`` may set; ``None`` means "not managed"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode | None = Field(default=None, description="How the widget challenges visitors.")
    domains: Domains | None = Field(
        default=None,
        description="Hostnames (or IP addresses) the widget works on, including their "
        "subdomains. Compared as a set: order, case and duplicates never cause a diff.",
    )
    region: Region | None = Field(
        default=None,
        description="Where the widget can be used. Cannot change after creation: a change "
        "is a replacement (new sitekey and secret).",
    )
    clearance_level: ClearanceLevel | None = Field(
        default=None, description="Challenge clearance granted on Cloudflare-proxied sites."
    )
    bot_fight_mode: StrictBool | None = Field(default=None, description="Enterprise only.")
    ephemeral_id: StrictBool | None = Field(default=None, description="Enterprise only.")
    offlabel: StrictBool | None = Field(
        default=None, description="Hide Cloudflare branding. Enterprise only."
    )

    def managed_settings(self) -> dict[str, Any]:
        """The settings this entry sets, by field name, in plan order."""
        return {
            name: getattr(self, name) for name in SETTINGS_FIELDS if getattr(self, name) is not None
        }


class WidgetSpec(WidgetSettings):
    """One desired widget. Identity is ``name``, or ``sitekey`` when pinned."""

    name: WidgetName = Field(description="The widget's name; unique within the spec.")
    sitekey: Sitekey | None = Field(
        default=None,
        description="Pins identity to an existing widget: the entry then updates it, "
        "including its name (a rename in place).",
    )
    protect: StrictBool = Field(
        default=False,
        description="Never delete or replace this widget. To protect a widget even if its "
        "entry is removed by mistake, list it under the top-level 'protected' instead.",
    )


class Spec(BaseModel):
    """A whole spec file: which widgets one account should have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str | None = Field(
        default=None,
        description="Cloudflare account id (32 hex characters). May instead come from "
        "--account-id or CLOUDFLARE_ACCOUNT_ID.",
    )
    prune: StrictBool = Field(
        default=False,
        description="Delete live widgets that are not in this file and not ignored.",
    )
    ignore: tuple[str, ...] = Field(
        default=(),
        description="Glob patterns of live widget names this file never touches.",
    )
    max_domains_per_widget: StrictInt = Field(
        default=FREE_MAX_DOMAINS,
        ge=1,
        le=ENTERPRISE_MAX_DOMAINS,
        description="Hostname limit per widget: 10 on Cloudflare Free, up to 200 on Enterprise.",
    )
    defaults: WidgetSettings = Field(
        default_factory=WidgetSettings,
        description="Settings every widget gets unless it sets them itself.",
    )
    protected: tuple[str, ...] = Field(
        default=(),
        description="Names, sitekeys or glob patterns of live widgets this tool must never "
        "delete or replace, whether or not they are in 'widgets'.",
    )
    max_deletes: StrictInt = Field(
        default=2,
        ge=0,
        description="Most deletes plus replacements one plan may contain without --force.",
    )
    widgets: tuple[WidgetSpec, ...] = Field(default=(), description="The desired widgets.")

    @field_validator("account_id")
    @classmethod
    def _check_account_id(cls, value: str | None) -> str | None:
        if value is not None and not ACCOUNT_ID_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an account id (32 lower-case hex characters)")
        return value

    def desired_settings(self, widget: WidgetSpec) -> dict[str, Any]:
        """The managed settings of one widget: its own, then ``defaults`` for the rest."""
        merged = self.defaults.managed_settings()
        merged.update(widget.managed_settings())
        return {name: merged[name] for name in SETTINGS_FIELDS if name in merged}


def _canonical(hostname: str) -> str:
    """The spec's form of a live hostname (so 2001:0DB8::1 and 2001:db8::1 are one), or the
    live value lower-cased when the spec could not express it."""
    try:
        return normalise_hostname(hostname)
    except ValueError:
        return hostname.lower()


class LiveWidget(BaseModel):
    """A widget as Cloudflare's list endpoint returns it (never with a secret).

    Enumerations are kept as plain strings so a value Cloudflare adds tomorrow is shown in a
    plan instead of crashing the listing.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    sitekey: str
    name: str
    mode: str
    domains: tuple[str, ...]
    region: str = Region.WORLD.value
    clearance_level: str = ClearanceLevel.NO_CLEARANCE.value
    bot_fight_mode: bool = False
    ephemeral_id: bool = False
    offlabel: bool = False
    created_on: str = ""
    modified_on: str = ""

    @field_validator("domains")
    @classmethod
    def _domains_as_set(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({_canonical(item) for item in value}))

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS_FIELDS}


class WidgetDetail(LiveWidget):
    """A widget as the detail endpoints return it, with its secret (masked in every repr)."""

    secret: SecretStr


@dataclass(frozen=True)
class WidgetBody:
    """The JSON body of a create (POST) or update (PUT).

    ``None`` means "leave the field out", which on create lets Cloudflare's default apply.
    Updates always carry every field, because Cloudflare's PUT replaces the whole widget.
    """

    name: str
    mode: str
    domains: tuple[str, ...]
    region: str | None = None
    clearance_level: str | None = None
    bot_fight_mode: bool | None = None
    ephemeral_id: bool | None = None
    offlabel: bool | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "mode": self.mode, "domains": list(self.domains)}
        for name in ("region", "clearance_level", "bot_fight_mode", "ephemeral_id", "offlabel"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body
