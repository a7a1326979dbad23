"""The one live widget a user means by a NAME argument: a name or a sitekey.

Used by the commands that act on one widget (rotate-secret, get-secret). A name matching no
widget suggests the closest live names, as a typo usually is; two widgets sharing the name
are listed by sitekey so the user can pass the one they mean.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnstile_sync.errors import TurnstileSyncError
from turnstile_sync.models import LiveWidget
from turnstile_sync.quoting import quoted
from turnstile_sync.suggestions import CUTOFF, SITEKEY_CUTOFF, did_you_mean


class WidgetLookupError(TurnstileSyncError):
    """No live widget, or more than one, answers to the NAME given."""


def find_live_widget(
    live: Sequence[LiveWidget], name_or_sitekey: str, account_id: str
) -> LiveWidget:
    """The live widget with this sitekey, else the one with this name; otherwise an error
    naming the account and suggesting the closest live names (or sitekeys, for a NAME that
    looks like one)."""
    by_sitekey = [w for w in live if w.sitekey == name_or_sitekey]
    if by_sitekey:
        return by_sitekey[0]
    named = [w for w in live if w.name == name_or_sitekey]
    if len(named) == 1:
        return named[0]
    if named:
        sitekeys = ", ".join(sorted(w.sitekey for w in named))
        raise WidgetLookupError(
            f"{len(named)} widgets are named {quoted(name_or_sitekey)} ({sitekeys}); pass the "
            f"sitekey of the one you mean (account {account_id})"
        )
    if name_or_sitekey.startswith("0x"):
        candidates = [w.sitekey for w in live] + [w.name for w in live]
        cutoff = SITEKEY_CUTOFF
        what = f"no widget with sitekey or name {quoted(name_or_sitekey)}"
    else:
        candidates = [w.name for w in live]
        cutoff = CUTOFF
        what = f"no widget named {quoted(name_or_sitekey)}"
    message = f"{what} in account {account_id}"
    if not live:
        message += " (the account has no widgets)"
    else:
        suggestion = did_you_mean(name_or_sitekey, candidates, cutoff)
        if suggestion:
            message += f"; {suggestion}"
    raise WidgetLookupError(message)
