"""User text inside output: escaped so it cannot act on a terminal, and bounded in length.

Names and values come from spec authors, dashboard users and the API. Printed raw, an ESC
starts a terminal escape sequence, a newline forges a line (under GitHub Actions, a workflow
command), and U+202E reverses how the rest of a line reads. Quoted whole, a 50 MB value makes
a 50 MB error. Every renderer and message goes through these two functions.
"""

from __future__ import annotations

MAX_QUOTED = 80
"""Characters of a user value a message quotes; the rest is counted, not shown."""


def printable(text: str) -> str:
    """``text`` with every control, format (bidi) and separator character other than a space
    escaped as Python would write it (``\\x1b``, ``\\u202e``, ``\\n``). Text that needs no
    escaping is returned unchanged; otherwise backslashes are doubled too, so the result is
    unambiguous."""
    return text if text.isprintable() else repr(text)[1:-1]


def quoted(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` as a message quotes it: escaped, in quotes, and at most ``limit`` characters
    of it, followed by how long it really is."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def excerpt(text: str, limit: int = MAX_QUOTED) -> str:
    """Like ``quoted`` without the quotes: for text that is already set apart."""
    if len(text) <= limit:
        return printable(text)
    return f"{printable(text[:limit])}… ({len(text):,} characters)"
