"""What may be shown of a URL: never a user name, password, query string or fragment."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnstile_sync.client import TurnstileClient
from turnstile_sync.connection import Target
from turnstile_sync.errors import ConfigError
from turnstile_sync.urls import checked_base_url, public_url, redact_urls

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
DB = Path("emulator.sqlite3")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.cloudflare.com/client/v4", "https://api.cloudflare.com/client/v4"),
        ("http://user:PASSWORD@127.0.0.1:8787/client/v4", "http://127.0.0.1:8787/client/v4"),
        ("http://127.0.0.1/client/v4?token=SECRET", "http://127.0.0.1/client/v4"),
        ("http://127.0.0.1/client/v4#SECRET", "http://127.0.0.1/client/v4"),
        ("http://u:PASS/WORD@host/client/v4", "http://host/client/v4"),
        ("http://u:PASS?WORD@host/client/v4", "http://host/client/v4"),
        ("http://u:PASS#WORD@host/client/v4", "http://host/client/v4"),
        ("http://u:PA@SS@host/p?token=SECRET#x", "http://host/p"),
        ("user:PASSWORD@host", "host"),
        ("http://[::1/?token=SECRET", "http://[::1/"),
    ],
)
def test_public_url_keeps_only_scheme_host_port_and_path(url, shown):
    assert public_url(url) == shown


def test_urls_inside_a_message_are_redacted():
    message = (
        "cannot reach http://u:PASSWORD@h/client/v4?token=SECRET: refused; "
        "see https://developers.cloudflare.com/api"
    )
    assert redact_urls(message) == (
        "cannot reach http://h/client/v4 refused; see https://developers.cloudflare.com/api"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://user:PASSWORD@127.0.0.1/client/v4",
        "http://127.0.0.1/client/v4?token=SECRET",
        "http://127.0.0.1/client/v4#SECRET",
        "http://u:PASS/WORD@[::1/",
    ],
)
def test_a_base_url_with_credentials_is_refused_without_repeating_them(url):
    with pytest.raises(ConfigError) as refused:
        checked_base_url(url)
    assert "PASS" not in str(refused.value) and "SECRET" not in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        TurnstileClient(ACCOUNT, base_url=url)
    assert "PASS" not in str(refused.value) and "SECRET" not in str(refused.value)
    with pytest.raises(ConfigError):
        Target.choose(emulator=False, emulator_db=DB, environ={"CLOUDFLARE_BASE_URL": url})


def test_the_emulator_ignores_a_stray_base_url():
    environ = {"CLOUDFLARE_BASE_URL": "http://u:p@h?x"}
    target = Target.choose(emulator=True, emulator_db=DB, environ=environ)
    assert target.identity == "emulator"


def test_target_identity_and_description_are_public():
    target = Target(base_url="http://user:PASSWORD@h/client/v4?token=SECRET")
    assert target.identity == "http://h/client/v4"
    assert target.describe() == "http://h/client/v4"
