"""Which pending secrets the live account says are owed, settled, or undecidable."""

from __future__ import annotations

import json
import stat

import pytest

from tests.factories import widget_json
from turnstile_sync.delivery_journal import DeliveryJournal, Intent, resolve, target_digest
from turnstile_sync.errors import ConfigError
from turnstile_sync.models import LiveWidget

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TARGET = target_digest("emulator")


def live_widget(name: str, sitekey: str) -> LiveWidget:
    return LiveWidget.model_validate(widget_json(sitekey, name))


def intent(name: str, *existing: str) -> Intent:
    return Intent(ACCOUNT, TARGET, name, existing)


def test_a_new_widget_missing_from_the_file_is_fetched():
    live = [live_widget(name="login", sitekey="0xNEW")]
    assert resolve([intent("login")], live, {}).fetch == ((intent("login"), "0xNEW"),)


def test_a_widget_the_file_already_holds_is_settled():
    live = [live_widget(name="login", sitekey="0xNEW")]
    resolution = resolve([intent("login")], live, {"login": "0xNEW"})
    assert resolution.settled == (intent("login"),) and not resolution.fetch


def test_an_older_entry_under_the_same_name_does_not_count():
    live = [live_widget(name="login", sitekey="0xNEW")]
    resolution = resolve([intent("login")], live, {"login": "0xGONE"})
    assert resolution.fetch == ((intent("login"), "0xNEW"),)


def test_the_old_half_of_a_replacement_is_never_taken_for_the_new_one():
    live = [live_widget(name="moving", sitekey="0xOLD"), live_widget(name="moving", sitekey="0xN")]
    resolution = resolve([intent("moving", "0xOLD")], live, {"moving": "0xOLD"})
    assert resolution.fetch == ((intent("moving", "0xOLD"), "0xN"),)


def test_a_create_that_never_happened_is_dropped():
    resolution = resolve([intent("login"), intent("moving", "0xOLD")], [], {})
    assert resolution.settled == (intent("login"), intent("moving", "0xOLD"))
    only_old = [live_widget(name="moving", sitekey="0xOLD")]
    assert resolve([intent("moving", "0xOLD")], only_old, {}).settled == (
        intent("moving", "0xOLD"),
    )


def test_two_new_widgets_with_the_name_are_not_guessed_between():
    live = [live_widget(name="login", sitekey="0xB"), live_widget(name="login", sitekey="0xA")]
    resolution = resolve([intent("login")], live, {})
    assert resolution.ambiguous == ((intent("login"), ("0xA", "0xB")),)
    assert not resolution.fetch and not resolution.settled


def test_the_journal_is_private_holds_no_secret_and_vanishes_when_empty(tmp_path):
    sink = tmp_path / "secrets.json"
    journal = DeliveryJournal(sink)
    journal.add([intent("login"), intent("moving", "0xOLD")])
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    document = json.loads(journal.path.read_text())
    assert [item["name"] for item in document["intents"]] == ["login", "moving"]
    assert "secret" not in {key for item in document["intents"] for key in item}
    assert DeliveryJournal(sink).outstanding(ACCOUNT, TARGET) == [
        intent("login"),
        intent("moving", "0xOLD"),
    ]
    assert DeliveryJournal(sink).outstanding(ACCOUNT, target_digest("https://x")) == []
    journal.clear([intent("login"), intent("moving", "0xOLD")])
    assert not journal.path.exists()


def test_the_target_is_kept_only_as_a_digest(tmp_path):
    journal = DeliveryJournal(tmp_path / "secrets.json")
    identity = "https://user:hunter2@api.example/client/v4"
    journal.add([Intent(ACCOUNT, target_digest(identity), "login")])
    assert "hunter2" not in journal.path.read_text()


def test_an_unreadable_journal_is_refused_with_what_it_means(tmp_path):
    (tmp_path / "secrets.json.pending").write_text("garbage")
    with pytest.raises(ConfigError, match="not a journal of pending secrets"):
        DeliveryJournal(tmp_path / "secrets.json")
