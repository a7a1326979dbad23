"""How 'protected' and 'ignore' rules recognise a widget: one matching rule for every use.

Both rules say "do not touch", so they err on the side of matching. A rule matches a name (or
sitekey) when it equals it or matches it as a glob, either as written or once both sides are
folded: Unicode compatibility-normalised (NFKC, which includes NFC, so a composed and a
decomposed 'é' are one, as are full-width and ligature forms), case-folded, and stripped of
invisible characters. Names that differ only in those ways are then one name to a rule;
look-alikes across scripts (a Cyrillic letter for a Latin one: Unicode's confusables) and spaces
are not folded, so they are not. Trying the written form as well keeps every match a plain
glob makes ('?' matches 'ß', folding makes that 'ss').
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Iterable
from enum import Enum

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
"""Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt): zero-width and bidi
controls, soft hyphens, fillers, variation selectors. They change a name's bytes without
changing what it looks like. Spelled out, so folding a name stays linear and in C."""


@functools.lru_cache(maxsize=4096)
def folded(text: str) -> str:
    """The form rules compare names in: what a person reading the name would call it.

    Cached, since a plan folds each live name once per rule."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    return _INVISIBLE.sub("", text)


class Match(Enum):
    AS_WRITTEN = "as written"
    FOLDED = "only once case and Unicode normalisation are ignored"


def matches(pattern: str, name: str) -> bool:
    """Whether a 'protected' or 'ignore' entry covers ``name``."""
    return matching(pattern, name) is not None


def matching(pattern: str, name: str) -> Match | None:
    """How ``pattern`` covers ``name``, if it does; messages name a folded match, since the
    names then differ."""
    if pattern == name or fnmatch.fnmatchcase(name, pattern):
        return Match.AS_WRITTEN
    folded_pattern, folded_name = folded(pattern), folded(name)
    if folded_pattern == folded_name or fnmatch.fnmatchcase(folded_name, folded_pattern):
        return Match.FOLDED
    return None


def first_match(patterns: Iterable[str], name: str) -> str | None:
    """The first of ``patterns`` that covers ``name``."""
    return next((pattern for pattern in patterns if matches(pattern, name)), None)


def look_alike(first: str, second: str) -> bool:
    """Two different names that fold to one: a person cannot tell them apart."""
    return first != second and folded(first) == folded(second)
