"""Which new widgets' secrets are on their way to the secrets file: a sidecar that survives a kill.

Before an apply creates anything, it records in ``FILE.pending`` (next to ``--secrets-out
FILE``, mode 0600) one intent per widget it is about to create: the account, a digest of the
target, the name, and the sitekeys that already had that name. It never holds a secret. If the
run dies before a secret reaches the file, the next run with the same ``--secrets-out`` finds
the intent, looks for the widget in the live account and fetches its secret (Cloudflare returns
it on GET). An intent is cleared only once the live account proves the file is complete for
it, so a kill at any moment, before the create, between the create and the save, or during the
rewrite of the file, leaves either nothing to recover or an intent that recovers it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from turnstile_sync.errors import ConfigError
from turnstile_sync.models import LiveWidget
from turnstile_sync.private_file import read_private, remove_private, write_private

JOURNAL_SUFFIX = ".pending"
JOURNAL_VERSION = 1


def target_digest(identity: str) -> str:
    """The target an intent belongs to, as a digest: a base URL may carry credentials, and the
    journal must never hold one."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Intent:
    """A widget about to be created whose secret must reach the secrets file."""

    account_id: str
    target: str
    name: str
    existing: tuple[str, ...] = ()
    """Sitekeys that already had this name (the old half of a replacement): not ours."""


@dataclass(frozen=True)
class Resolution:
    """What the live account says about outstanding intents."""

    fetch: tuple[tuple[Intent, str], ...] = ()
    """Intents whose widget exists but whose secret is not in the file: fetch this sitekey."""
    settled: tuple[Intent, ...] = ()
    """Intents with nothing left to do: the file has the secret, or no widget was created."""
    ambiguous: tuple[tuple[Intent, tuple[str, ...]], ...] = ()
    """Several new widgets carry the name (a concurrent apply?): which one is ours is unknown."""


def resolve(
    intents: Iterable[Intent], live: Iterable[LiveWidget], saved: dict[str, str]
) -> Resolution:
    """Match intents against the live widgets; ``saved`` maps a name to its sitekey in the file.

    A live widget with the intent's name that did not exist before it is the widget the run
    created (creates are made at most once). If the file already holds it, the intent is done;
    if there is none, the create never happened (the next plan creates the widget again).
    """
    by_name: dict[str, list[str]] = {}
    for widget in live:
        by_name.setdefault(widget.name, []).append(widget.sitekey)
    fetch: list[tuple[Intent, str]] = []
    settled: list[Intent] = []
    ambiguous: list[tuple[Intent, tuple[str, ...]]] = []
    for intent in intents:
        new = tuple(s for s in by_name.get(intent.name, ()) if s not in intent.existing)
        if not new or saved.get(intent.name) in new:
            settled.append(intent)
        elif len(new) == 1:
            fetch.append((intent, new[0]))
        else:
            ambiguous.append((intent, tuple(sorted(new))))
    return Resolution(tuple(fetch), tuple(settled), tuple(ambiguous))


class DeliveryJournal:
    """The ``FILE.pending`` sidecar of one secrets file. It exists only while intents do."""

    def __init__(self, secrets_path: Path) -> None:
        self.path = secrets_path.with_name(secrets_path.name + JOURNAL_SUFFIX)
        self._intents: list[Intent] = self._read()

    def __repr__(self) -> str:
        return f"DeliveryJournal({str(self.path)!r}, {len(self._intents)} intents)"

    def _read(self) -> list[Intent]:
        try:
            text = read_private(self.path)
            if text is None:
                return []
            document = json.loads(text)
            return [_intent(item) for item in document["intents"]]
        except OSError as error:
            raise ConfigError(f"{self.path}: cannot read it: {error}") from None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise ConfigError(
                f"{self.path} is not a journal of pending secrets this turnstile-sync can read; "
                "it lists widgets whose secrets an interrupted apply may not have saved. Fetch "
                "them with `turnstile-sync get-secret NAME --secrets-out FILE`, then delete it"
            ) from None

    def outstanding(self, account_id: str, target: str) -> list[Intent]:
        return [i for i in self._intents if (i.account_id, i.target) == (account_id, target)]

    def elsewhere(self, account_id: str, target: str) -> list[Intent]:
        """Intents of another account or target: this run cannot resolve them."""
        return [i for i in self._intents if (i.account_id, i.target) != (account_id, target)]

    def add(self, intents: Iterable[Intent]) -> None:
        """Record intents durably; returns only once they are on disk."""
        new = [intent for intent in intents if intent not in self._intents]
        if new:
            self._intents += new
            self._write()

    def clear(self, intents: Iterable[Intent]) -> None:
        done = set(intents)
        remaining = [intent for intent in self._intents if intent not in done]
        if len(remaining) != len(self._intents):
            self._intents = remaining
            self._write()

    def _write(self) -> None:
        if not self._intents:
            remove_private(self.path)
            return
        document = {
            "version": JOURNAL_VERSION,
            "about": "widgets whose secrets turnstile-sync apply was about to save; resolved by "
            "the next apply with the same --secrets-out. No secret is ever written here.",
            "intents": [_document(intent) for intent in self._intents],
        }
        write_private(self.path, json.dumps(document, indent=2) + "\n")


def _document(intent: Intent) -> dict[str, Any]:
    document = asdict(intent)
    document["existing"] = list(intent.existing)
    return document


def _intent(item: Any) -> Intent:
    existing = item.get("existing", [])
    if not all(isinstance(value, str) for value in (item["account_id"], item["target"])):
        raise TypeError
    if not isinstance(item["name"], str) or not isinstance(existing, list):
        raise TypeError
    return Intent(item["account_id"], item["target"], item["name"], tuple(map(str, existing)))
