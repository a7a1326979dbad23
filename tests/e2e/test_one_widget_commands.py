"""get-secret, rotate-secret and export: which account they use (--account-id, the spec given
with --spec or ./widgets.yaml beside them, CLOUDFLARE_ACCOUNT_ID), and what a NAME matching no
widget says (the closest live names). Requests are made against the in-process and the served
emulator; refusals made before any request run in-process only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, OTHER_ACCOUNT, CliResult, run_cli
from tests.e2e.conftest import live_widgets, seed

SPEC = f"account_id: {ACCOUNT}\nwidgets: []\n"
COMMANDS = [["export"], ["get-secret", "x", "--secrets-out", "s"], ["rotate-secret", "x"]]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory to run in, as a user's repository checkout."""
    directory = tmp_path / "repo"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def in_process(args: list[str], tmp_path: Path, **env: str) -> CliResult:
    return run_cli([*args, "--emulator", "--emulator-db", str(tmp_path / "e.db")], env=env)


# Names matching no widget


def test_names_matching_no_widget_suggest_the_closest(target, repo):
    checkout = seed(target.db, name="checkout")
    seed(target.db, name="login")
    others = [seed(target.db, name=f"other-{index}")["sitekey"] for index in range(15)]
    seed(target.db, name="checkout-v2\x1b[2J\u202e")
    before = live_widgets(target.db)
    for command in (
        ["get-secret", "chekout", "--secrets-out", "s.json"],
        ["rotate-secret", "chekout", "--auto-approve", "--secrets-out", "s.json"],
    ):
        result = target.run([*command, "--account-id", ACCOUNT])
        assert result.exit_code == 1
        assert (
            f"Error: no widget named 'chekout' in account {ACCOUNT}; did you mean 'checkout' "
            "or 'checkout-v2\\x1b[2J\\u202e'?" in result.stderr
        )
        assert "cannot plan" not in result.stderr
        assert "'login'" not in result.stderr
        assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert live_widgets(target.db) == before
    assert not (repo / "s.json").exists()

    far = target.run(["get-secret", "zzz", "--account-id", ACCOUNT, "--secrets-out", "s"])
    assert f"no widget named 'zzz' in account {ACCOUNT}\n" in far.stderr

    sitekey = checkout["sitekey"]
    typo = sitekey[:-1] + ("A" if sitekey[-1] != "A" else "B")
    mistyped = target.run(["get-secret", typo, "--account-id", ACCOUNT, "--secrets-out", "s"])
    assert mistyped.exit_code == 1
    assert f"no widget with sitekey or name '{typo}'" in mistyped.stderr
    assert f"did you mean '{sitekey}'?" in mistyped.stderr  # not the others sharing 0x4AAAAAAA
    assert not any(other in mistyped.stderr for other in others)


def test_an_empty_account_says_so(tmp_path, repo):
    result = in_process(
        ["get-secret", "x", "--account-id", ACCOUNT, "--secrets-out", "s"], tmp_path
    )
    assert result.exit_code == 1
    assert "(the account has no widgets)" in result.stderr


# The account: --spec, ./widgets.yaml, --account-id, CLOUDFLARE_ACCOUNT_ID


def test_the_account_comes_from_widgets_yaml_beside_the_command(target, repo):
    seed(target.db, name="checkout")
    (repo / "widgets.yaml").write_text(SPEC)
    note = f"Using account_id {ACCOUNT} from ./widgets.yaml"

    got = target.run(["get-secret", "checkout", "--secrets-out", "s.json"])
    assert got.exit_code == 0, got.stderr
    assert note in got.stderr
    assert "checkout" in json.loads((repo / "s.json").read_text())

    rotated = target.run(["rotate-secret", "checkout", "--auto-approve", "--secrets-out", "r"])
    assert rotated.exit_code == 0, rotated.stderr
    assert note in rotated.stderr
    assert "Rotated the secret of 'checkout'" in rotated.stdout

    exported = target.run(["export"])
    assert exported.exit_code == 0, exported.stderr
    assert note in exported.stderr
    assert f"account_id: {ACCOUNT}" in exported.stdout and "checkout" in exported.stdout

    (repo / "widgets.yaml").unlink()
    (repo / "other.yaml").write_text(SPEC)
    explicit = target.run(["export", "--spec", "other.yaml", "--out", "exported.yaml"])
    assert explicit.exit_code == 0, explicit.stderr
    assert "Using account_id" not in explicit.stderr  # the user named the file
    assert "checkout" in (repo / "exported.yaml").read_text()


def test_account_precedence_is_the_same_as_for_plan(target, repo):
    """--account-id, then the spec (which then is not even read when the flag is given),
    then CLOUDFLARE_ACCOUNT_ID: plan and get-secret in one directory use one account."""
    seed(target.db, name="checkout")
    (repo / "widgets.yaml").write_text("widgets:\n\t- broken\n")
    flag = target.run(["get-secret", "checkout", "--account-id", ACCOUNT, "--secrets-out", "s"])
    assert flag.exit_code == 0, flag.stderr
    assert "Using account_id" not in flag.stderr

    (repo / "widgets.yaml").write_text(SPEC)
    spec_wins = target.run(
        ["get-secret", "checkout", "--secrets-out", "s"],
        env={"CLOUDFLARE_ACCOUNT_ID": OTHER_ACCOUNT},
    )
    assert spec_wins.exit_code == 0, spec_wins.stderr
    assert f"CLOUDFLARE_ACCOUNT_ID ({OTHER_ACCOUNT}) differs from the spec's" in spec_wins.stderr

    (repo / "widgets.yaml").write_text("widgets: []\n")
    from_env = target.run(
        ["get-secret", "checkout", "--secrets-out", "s"], env={"CLOUDFLARE_ACCOUNT_ID": ACCOUNT}
    )
    assert from_env.exit_code == 0, from_env.stderr
    assert "Using account_id" not in from_env.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_no_widgets_yaml_and_no_account_is_the_usual_error(tmp_path, repo, args):
    result = in_process(args, tmp_path)
    assert result.exit_code == 1
    assert "no account id" in result.stderr
    assert "widgets.yaml" not in result.stderr  # a missing default spec is not an error


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_a_broken_widgets_yaml_is_a_spec_error_with_its_line(tmp_path, repo, args):
    (repo / "widgets.yaml").write_text(f"account_id: {ACCOUNT}\nwidgets:\n\t- name: a\n")
    result = in_process(args, tmp_path, CLOUDFLARE_ACCOUNT_ID=ACCOUNT)
    assert result.exit_code == 1
    assert "widgets.yaml:3:1: invalid YAML: a tab character" in result.stderr


def test_an_unquoted_numeric_account_id_says_to_quote_it(tmp_path, repo):
    (repo / "widgets.yaml").write_text("account_id: 12345678901234567890123456789012\n")
    result = in_process(["export"], tmp_path)
    assert result.exit_code == 1
    assert (
        "widgets.yaml:1:1: account_id: expected an account id (32 hex characters) as text, "
        "but YAML read 12345678901234567890123456789012 as a number; put it in quotes"
    ) in result.stderr
