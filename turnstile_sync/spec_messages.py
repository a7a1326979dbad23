"""The spec loader's messages in the tool's words, not pydantic's or PyYAML's.

"Input should be a valid tuple" means nothing to someone who wrote ``domains: example.com``;
"expected a list of hostnames; write it as a list: domains: ['example.com']" does. Each
pydantic error type a spec can produce has an entry in ``PYDANTIC_MESSAGES``, and each YAML
syntax error a person commonly makes one in ``_YAML_MESSAGES``; anything else keeps the
library's text (prefixed, so it is still recognisably about the file), never a traceback.

Where YAML read a value as something other than text (``account_id: 0123...`` is an integer,
``sitekey: 0x4AAA`` a hexadecimal one, ``name: yes`` a boolean) the message quotes the value
as written and says to put it in quotes, since that is the fix.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from turnstile_sync.models import ClearanceLevel, Mode, Region
from turnstile_sync.quoting import excerpt, quoted
from turnstile_sync.suggestions import did_you_mean

ENUMS: dict[str, type[StrEnum]] = {
    "mode": Mode,
    "region": Region,
    "clearance_level": ClearanceLevel,
}
"""The spec fields whose values are one of a fixed set, by field name."""

_LISTS: dict[str, tuple[str, str]] = {
    "domains": ("hostnames", "domains: [example.com, www.example.com]"),
    "protected": ("widget names, sitekeys or glob patterns", "protected: [checkout]"),
    "ignore": ("glob patterns of widget names", "ignore: ['legacy-*']"),
    "widgets": ("widgets, each starting '- name:'", "widgets: [] (or '- name: ...' items)"),
}
"""What each list field holds, and how one is written, for "expected a list" messages."""

_TEXTS: dict[str, str] = {
    "account_id": "an account id (32 hex characters)",
    "name": "a widget name",
    "sitekey": "a sitekey",
    "domains": "a hostname",
    "protected": "a widget name, sitekey or glob pattern",
    "ignore": "a glob pattern",
}
"""What each text field (or list of text) holds, for "expected text" messages."""


@dataclass(frozen=True)
class Offence:
    """One pydantic error, with what the file said there."""

    type: str
    field: str
    """The spec field the error is about (for a list item, the list's), or "" at the top."""
    value: Any
    written: str | None
    """The scalar exactly as written, when YAML read it as something other than text."""
    in_list: bool
    """Whether the value is an item of the list ``field``, not the field's value."""
    ctx: Mapping[str, Any]
    library_message: str


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "true/false"),  # before int: a bool is an int
    ((int, float), "a number"),
    (datetime.date, "a date"),
    (list, "a list"),
    (dict, "a mapping"),
    (type(None), "nothing (an empty value)"),
    (bytes, "binary data"),
)


def _kind(value: Any) -> str:
    """What YAML made of a value, in words."""
    for types, words in _KINDS:
        if isinstance(value, types):
            return words
    return "a value"


def shown(offence: Offence) -> str:
    """The offending value as a message shows it: quoted text, the scalar as written, or
    what kind of thing it is (a list or mapping is not printed whole)."""
    value = offence.value
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, list | dict) or value is None:
        return _kind(value)
    if offence.written is not None:
        return excerpt(offence.written)
    text = repr(value)
    return text if len(text) <= 80 else quoted(text)


def _quote_hint(offence: Offence) -> str | None:
    """For a scalar YAML read as a number, date or true/false: the fix, quoting it."""
    value = offence.value
    if offence.written is None or isinstance(value, str | list | dict) or value is None:
        return None
    read = _kind(value)
    as_read = "" if str(value).lower() == offence.written.lower() else f" ({value!r})"
    fixed = quoted(offence.written)
    return (
        f"YAML read {excerpt(offence.written)} as {read}{as_read}; put it in quotes to make "
        f"it text: {fixed if offence.in_list else f'{offence.field}: {fixed}'}"
    )


def _string_type(offence: Offence) -> str:
    what = _TEXTS.get(offence.field, "text")
    hint = _quote_hint(offence)
    if hint:
        return f"expected {what} as text, but {hint}"
    return f"expected {what}, got {_kind(offence.value)}"


def _tuple_type(offence: Offence) -> str:
    what, example = _LISTS.get(offence.field, ("values", f"{offence.field}: [...]"))
    value = offence.value
    if value is None:
        return f"is empty; expected a list of {what}, e.g. {example}"
    if isinstance(value, str) or offence.written is not None:
        one = quoted(value) if isinstance(value, str) else quoted(offence.written or "")
        fixed = f"{offence.field}: [{one}]"
        return f"expected a list of {what}, got one value; write it as a list: {fixed}"
    return f"expected a list of {what}, got {_kind(value)}; e.g. {example}"


def _bool_type(offence: Offence) -> str:
    value = offence.value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no"}:
        return f"expected true or false without quotes, got the text {quoted(value)}"
    return f"expected true or false, got {shown(offence)}"


def _int_type(offence: Offence) -> str:
    return f"expected a whole number, got {shown(offence)}"


def _enum(offence: Offence) -> str:
    enum = ENUMS.get(offence.field)
    allowed = [member.value for member in enum] if enum else []
    names = [quoted(value) for value in allowed]
    listed = (
        ", ".join(names[:-1]) + f" or {names[-1]}" if names else offence.ctx.get("expected", "")
    )
    value = offence.value
    if isinstance(value, str):
        suggestion = did_you_mean(value, allowed)
        return (
            f"unknown {offence.field or 'value'} {quoted(value)}"
            + (f"; {suggestion}" if suggestion else "")
            + f" (one of {listed})"
        )
    return f"expected one of {listed}, got {shown(offence)}"


def _model_type(offence: Offence) -> str:
    if offence.field == "widgets":
        return (
            f"expected a widget (a mapping such as 'name: checkout' with its settings on the "
            f"lines below), got {shown(offence)}"
        )
    return f"expected a mapping of settings (key: value lines), got {shown(offence)}"


def _at_least(offence: Offence) -> str:
    return f"must be at least {offence.ctx.get('ge')}, got {shown(offence)}"


def _at_most(offence: Offence) -> str:
    return f"must be at most {offence.ctx.get('le')}, got {shown(offence)}"


def _too_short(offence: Offence) -> str:
    return "must not be empty"


def _too_long(offence: Offence) -> str:
    limit = offence.ctx.get("max_length")
    length = len(offence.value) if isinstance(offence.value, str) else "more"
    return f"is {length:,} characters long; at most {limit} are allowed"


def _pattern(offence: Offence) -> str:
    if offence.field == "sitekey":
        return (
            f"{shown(offence)} is not a sitekey: a sitekey is '0x' and up to 30 letters, "
            "digits, '_' or '-' (copy it from a plan, export or the dashboard)"
        )
    return f"{shown(offence)} does not have the expected form"


def _missing(offence: Offence) -> str:
    return "this field is required"


def _value_error(offence: Offence) -> str:
    return offence.library_message.removeprefix("Value error, ")


PYDANTIC_MESSAGES: dict[str, Callable[[Offence], str]] = {
    "string_type": _string_type,
    "tuple_type": _tuple_type,
    "bool_type": _bool_type,
    "int_type": _int_type,
    "enum": _enum,
    "model_type": _model_type,
    "greater_than_equal": _at_least,
    "less_than_equal": _at_most,
    "string_too_short": _too_short,
    "string_too_long": _too_long,
    "string_pattern_mismatch": _pattern,
    "missing": _missing,
    "value_error": _value_error,
}
"""Every pydantic error type the spec models can raise (the unit tests check that each is
met, and that nothing a user can write produces another), in the tool's words. Unknown keys
(``extra_forbidden``) are worded by the loader, which knows the allowed keys."""


def pydantic_message(offence: Offence) -> str:
    """The message for one pydantic error; a type not in the table (a pydantic upgrade adding
    one) keeps pydantic's text with the value, rather than failing."""
    worded = PYDANTIC_MESSAGES.get(offence.type)
    if worded is not None:
        return worded(offence)
    return f"{offence.library_message} (got {shown(offence)})"


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """``unknown key 'doamins' (did you mean 'domains'?); allowed keys: ...``."""
    suggestion = did_you_mean(key, allowed)
    message = f"unknown key {quoted(key)}"
    if suggestion:
        message += f" ({suggestion})"
    if allowed:
        message += f"; allowed keys: {', '.join(allowed)}"
    return message


_YAML_MESSAGES: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        "a ':' here starts a key where none can be: put a value containing ': ' in quotes, "
        "or check that this line is indented like the keys beside it",
    ),
    (
        "could not find expected ':'",
        "expected 'key: value' here: a ':' is missing, or a quote opened above is not closed",
    ),
    (
        "did not find expected '-' indicator",
        "this line's indentation does not line up with the list items above it",
    ),
    (
        "did not find expected key",
        "this line's indentation does not line up with the keys above it",
    ),
    ("expected <block end>", "this line's indentation does not line up with the lines above it"),
    (
        "did not find expected ',' or ']'",
        "a '[' list is not closed with ']' (or a ',' is missing between its items)",
    ),
    (
        "did not find expected ',' or '}'",
        "a '{' mapping is not closed with '}' (or a ',' is missing between its items)",
    ),
    (
        "found undefined alias",
        "an alias ('*name') refers to no anchor ('&name') defined above it",
    ),
    (
        "found unknown escape character",
        "unknown escape sequence in a double-quoted value: use single quotes for text with "
        "backslashes, or write each backslash as \\\\",
    ),
    (
        "found unexpected end of stream",
        "the file ends inside a value: a quote or bracket opened above is not closed",
    ),
    ("found another document", "more than one YAML document ('---'): a spec is one document"),
    ("second occurrence", "an anchor ('&name') is defined twice"),
    ("found duplicate anchor", "an anchor ('&name') is defined twice"),
    ("unknown directive", "unknown directive (a line starting with '%')"),
)

TAB_MESSAGE = (
    "a tab character: YAML indents with spaces only; replace the tab with spaces "
    "(most editors can be set to insert spaces for the Tab key)"
)


def _character_at(text: str, line: int | None, column: int | None) -> str:
    if line is None or column is None:
        return ""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    row = lines[line - 1]
    return row[column - 1] if 1 <= column <= len(row) else ""


def yaml_message(
    error: yaml.MarkedYAMLError, text: str, line: int | None, column: int | None
) -> str:
    """A YAML syntax error in the tool's words, always starting "invalid YAML: "."""
    problem = error.problem or ""
    full = f"{error.context or ''} {problem}"
    character = _character_at(text, line, column)
    if "tab" in problem or (character == "\t" and "cannot start any token" in problem):
        return f"invalid YAML: {TAB_MESSAGE}"
    if "cannot start any token" in problem and character:
        return (
            f"invalid YAML: a value cannot start with {quoted(character)}; put the value in quotes"
        )
    for fragment, message in _YAML_MESSAGES:
        if fragment in full:
            return f"invalid YAML: {message}"
    return f"invalid YAML: {problem or error.context or 'syntax error'}"


def reader_message(error: yaml.reader.ReaderError) -> str:
    """A character YAML does not accept (a control character, or undecodable bytes)."""
    character = error.character
    if isinstance(character, int):
        code = f"U+{character:04X}"
    else:
        code = f"U+{ord(character):04X}" if isinstance(character, str) and character else "?"
    return (
        f"invalid YAML: the character {code} ({error.reason}) is not allowed in YAML; "
        "remove it, or write it as an escape in a double-quoted value"
    )
