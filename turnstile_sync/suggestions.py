""" "Did you mean ...?": the closest of the words a user could have meant.

One implementation for every place a typed word must match one of a known set (spec keys,
enum values, widget names given on the command line), so each suggests the same way.
Words are compared case-insensitively (``Checkout`` suggests ``checkout``) with difflib's
ratio, and only close matches are offered: a suggestion that is a guess is worse than none.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from turnstile_sync.quoting import quoted

MAX_SUGGESTIONS = 3
CUTOFF = 0.6
"""difflib's default: 'chekout' (0.92) and 'doamins' (0.86) match, 'payments' does not."""
MAX_WORD = 300
"""Longer words are not compared: no name is that long (Cloudflare allows 254 characters),
and difflib's cost grows with the square of the length."""


SITEKEY_CUTOFF = 0.85
"""For sitekeys, which all start '0x4AAAAAAA': that shared prefix makes any two look 0.6 alike,
while a mistyped one (a character or two of 22 wrong) is above 0.9."""


def closest(
    word: str, candidates: Iterable[str], limit: int = MAX_SUGGESTIONS, cutoff: float = CUTOFF
) -> list[str]:
    """Up to ``limit`` candidates closest to ``word``, best first; exact matches excluded."""
    if len(word) > MAX_WORD:
        return []
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        if candidate != word and len(candidate) <= MAX_WORD:
            by_folded.setdefault(candidate.casefold(), candidate)
    matches = difflib.get_close_matches(word.casefold(), by_folded, n=limit, cutoff=cutoff)
    return [by_folded[match] for match in matches]


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = CUTOFF) -> str:
    """``"did you mean 'checkout'?"`` (or 'a' or 'b'), or "" when nothing is close. Every
    suggestion is quoted, so a hostile live name cannot act on a terminal."""
    matches = closest(word, candidates, cutoff=cutoff)
    if not matches:
        return ""
    shown = [quoted(match) for match in matches]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f" or {shown[-1]}"
    return f"did you mean {listed}?"
