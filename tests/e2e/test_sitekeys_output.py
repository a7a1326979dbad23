"""`output`: the spec's live sitekeys handed to builds as JSON, dotenv lines or GitHub outputs.

Widgets are matched as plan matches them; anything wrong is an error that writes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import EmulatorTarget, seed
from tests.e2e.test_safety import entry, spec_text
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV


@pytest.fixture
def local(tmp_path) -> EmulatorTarget:
    """The in-process emulator only, for rules decided before or apart from the transport."""
    db = tmp_path / "local.sqlite3"
    return EmulatorTarget(db, ["--emulator", "--emulator-db", str(db)], {})


def output(target, path: Path, fmt: str, *extra: str, env: dict[str, str | None] | None = None):
    return target.run(["output", str(path), "--format", fmt, *extra], env=env)


@pytest.fixture
def account(target):
    """Three live widgets: one renamed in the dashboard (the spec pins it), one unmanaged."""
    return {
        "login": seed(target.db, name="login")["sitekey"],
        "renamed": seed(target.db, name="Old checkout")["sitekey"],
        "stray": seed(target.db, name="stray")["sitekey"],
    }


def managed_spec(write_spec, account, *extra_entries: str) -> Path:
    return write_spec(
        spec_text(
            entry("Checkout page (EU)", f"sitekey: {account['renamed']}"),
            entry("login"),
            *extra_entries,
        )
    )


def list_requests() -> list[str]:
    log = Path(os.environ[REQUEST_LOG_ENV])
    exchanges = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [x["operation"] for x in exchanges]


def test_json_maps_spec_names_to_live_sitekeys_in_spec_order_from_one_listing(
    write_spec, target, account
):
    result = output(target, managed_spec(write_spec, account), "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout is the document and nothing else
    assert list(document.items()) == [
        ("Checkout page (EU)", account["renamed"]),  # the pin, not the live name
        ("login", account["login"]),
    ]
    assert "stray" not in result.stdout  # unmanaged widgets are not the spec's
    if target.args:  # in-process: the emulator's exchanges are logged in this process
        assert list_requests() == ["list"]


def test_dotenv_lines_use_each_widgets_identifier(write_spec, target, account):
    result = output(target, managed_spec(write_spec, account), "dotenv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"TURNSTILE_SITEKEY_CHECKOUT_PAGE_EU={account['renamed']}\n"
        f"TURNSTILE_SITEKEY_LOGIN={account['login']}\n"
    )


def test_github_appends_lower_cased_pairs_and_keeps_earlier_outputs(
    write_spec, target, account, tmp_path
):
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\nno_newline_at_end=2")
    env = {"GITHUB_OUTPUT": str(outputs)}
    result = output(target, managed_spec(write_spec, account), "github", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert outputs.read_text() == (
        "earlier=1\nno_newline_at_end=2\n"
        f"turnstile_sitekey_checkout_page_eu={account['renamed']}\n"
        f"turnstile_sitekey_login={account['login']}\n"
    )
    again = output(target, managed_spec(write_spec, account), "github", env=env)
    assert again.exit_code == 0
    assert outputs.read_text().count("turnstile_sitekey_login=") == 2  # appended, not rewritten


def test_github_without_GITHUB_OUTPUT_is_an_error_naming_it(write_spec, local):
    seed(local.db, name="login")
    for value, state in ((None, "is not set"), ("", "is set but empty")):
        result = output(
            local, write_spec(spec_text(entry("login"))), "github", env={"GITHUB_OUTPUT": value}
        )
        assert result.exit_code == 1
        assert "$GITHUB_OUTPUT" in result.stderr and f"GITHUB_OUTPUT {state}" in result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.stderr


def test_a_widget_not_in_the_account_is_an_error_that_writes_nothing(
    write_spec, target, account, tmp_path
):
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    path = managed_spec(write_spec, account, entry("signup"), entry("newsletter"))
    for fmt in ("json", "dotenv", "github"):
        result = output(target, path, fmt, env={"GITHUB_OUTPUT": str(outputs)})
        assert result.exit_code == 1
        assert "'signup' is not in the account" in result.stderr
        assert "'newsletter' is not in the account" in result.stderr  # every problem at once
        assert "--allow-missing" in result.stderr
        assert result.stdout == ""
        assert outputs.read_text() == "earlier=1\n"


def test_allow_missing_leaves_missing_widgets_out_with_a_warning(
    write_spec, target, account, tmp_path
):
    outputs = tmp_path / "github_output"
    path = managed_spec(write_spec, account, entry("signup"))
    for fmt in ("json", "dotenv", "github"):
        result = output(target, path, fmt, "--allow-missing", env={"GITHUB_OUTPUT": str(outputs)})
        assert result.exit_code == 0, result.stderr
        assert "Warning: 'signup' is not in the account yet; left out" in result.stderr
        assert "signup" not in result.stdout.lower()
    assert json.loads(output(target, path, "json", "--allow-missing").stdout) == {
        "Checkout page (EU)": account["renamed"],
        "login": account["login"],
    }
    assert "signup" not in outputs.read_text()
    assert f"turnstile_sitekey_login={account['login']}\n" in outputs.read_text()


def test_a_pin_to_a_missing_sitekey_is_an_error_even_with_allow_missing(write_spec, local):
    path = write_spec(spec_text(entry("login", "sitekey: 0x4AAAAAAAgone000000000000")))
    result = output(local, path, "json", "--allow-missing")
    assert result.exit_code == 1
    assert "pins sitekey 0x4AAAAAAAgone000000000000, which does not exist" in result.stderr
    assert result.stdout == ""


def test_an_ambiguous_live_name_is_refused_as_plan_refuses_it(write_spec, local):
    seed(local.db, name="login")
    seed(local.db, name="login")
    result = output(local, write_spec(spec_text(entry("login"))), "json")
    assert result.exit_code == 1
    assert "'login' matches 2 live widgets" in result.stderr
    assert result.stdout == ""


def test_entries_sharing_a_name_cannot_be_one_output_key(write_spec, local):
    target = local
    first = seed(target.db, name="login")["sitekey"]
    second = seed(target.db, name="login")["sitekey"]
    path = write_spec(
        spec_text(entry("login", f"sitekey: {first}"), entry("login", f"sitekey: {second}"))
    )
    assert target.run(["plan", str(path)]).exit_code == 0  # a valid spec for plan
    for fmt in ("json", "dotenv"):
        result = output(target, path, fmt)
        assert result.exit_code == 1
        assert f"2 entries are named 'login' (pinned to {first}, {second})" in result.stderr
        assert "give each entry its own name" in result.stderr
        assert result.stdout == ""


def test_names_without_their_own_identifier_are_refused_for_keyed_formats(write_spec, local):
    target = local
    seed(target.db, name="Login")
    seed(target.db, name="login")
    path = write_spec(spec_text(entry("Login"), entry("login")))
    assert output(target, path, "json").exit_code == 0  # JSON keys are the names themselves
    for fmt in ("dotenv", "github"):
        result = output(target, path, fmt, env={"GITHUB_OUTPUT": "/nonexistent/never-written"})
        assert result.exit_code == 1
        assert f"output --format {fmt} uses each widget's identifier" in result.stderr
        assert "share the identifier LOGIN" in result.stderr


HOSTILE = "0x4AAA\nturnstile_sitekey_admin=x"


def test_a_live_sitekey_that_could_forge_lines_is_refused(write_spec, target, account, tmp_path):
    with sqlite3.connect(target.db) as connection:
        connection.execute(
            "UPDATE widgets SET sitekey = ? WHERE sitekey = ?", [HOSTILE, account["login"]]
        )
    outputs = tmp_path / "github_output"
    outputs.write_text("")
    for fmt in ("json", "dotenv", "github", "json"):
        extra = ["--allow-missing"] if fmt == "json" else []
        result = output(
            target,
            managed_spec(write_spec, account),
            fmt,
            *extra,
            env={"GITHUB_OUTPUT": str(outputs)},
        )
        assert result.exit_code == 1
        assert (
            "the API gave 'login' the sitekey '0x4AAA\\nturnstile_sitekey_admin=x'" in result.stderr
        )
        assert "\nturnstile_sitekey_admin" not in result.stderr  # the newline is shown escaped
        assert result.stdout == ""
        assert outputs.read_text() == ""


def test_an_empty_spec_outputs_nothing(write_spec, local):
    path = write_spec(spec_text())
    assert json.loads(output(local, path, "json").stdout) == {}
    assert output(local, path, "dotenv").stdout == ""
