"""A widget's name as an identifier, for environment variables and output keys.

Secrets stores and build systems name things with identifiers (``TURNSTILE_SITEKEY_CHECKOUT``),
while widget names are free text. The mapping is deliberately simple so a user can predict it
without running the tool: upper-case, every run of characters other than A-Z and 0-9 becomes
one ``_``, and leading and trailing ``_`` are trimmed. Two names that map to one key would
deliver to the same place, so the spec loader refuses them (see spec.py).
"""

from __future__ import annotations

import re

__all__ = ["widget_key"]

_OTHER = re.compile(r"[^A-Z0-9]+")


def widget_key(name: str) -> str:
    """``"Checkout page (EU)"`` -> ``"CHECKOUT_PAGE_EU"``; empty when nothing is left."""
    return _OTHER.sub("_", name.upper()).strip("_")
