"""One --secrets-exec command: exactly the secret on stdin, output redacted even when cut,
credentials stripped from the environment, and a command that ignores stdin is no error."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from turnstile_sync.errors import ConfigError
from turnstile_sync.secrets_exec import (
    MIN_REDACTED_PREFIX,
    OUTPUT_LIMIT,
    REDACTED,
    checked_timeout,
    child_environment,
    environment_problem,
    kill_running_commands,
    redact,
    run_secret_command,
)

SECRET = "0x4AAAAAAAsecret-value-9f8e7d"


def test_stdin_is_exactly_the_secret_and_then_closed():
    result = run_secret_command("od -An -c", SecretStr(SECRET), dict(os.environ), 10)
    assert result.ok
    assert "\\n" not in result.output  # no trailing newline was sent


def test_a_command_that_does_not_read_stdin_is_not_an_error():
    big = SecretStr("x" * (1 << 20))  # more than a pipe holds: the write meets EPIPE
    result = run_secret_command("exit 0", big, dict(os.environ), 10)
    assert result.ok, result


def test_output_cut_mid_secret_shows_no_part_of_it():
    secret = b"ABCDEFGHIJ"
    output = b"HIJ" + b"." * (OUTPUT_LIMIT - 3)  # the tail of a secret cut at the front
    assert "HIJ" not in redact(output, secret, truncated=True)
    assert redact(b"x" + secret + b"y", secret, truncated=False) == f"x{REDACTED}y"


def test_a_long_echo_of_the_secret_is_redacted_everywhere():
    command = 's=$(cat); i=0; while [ $i -lt 5000 ]; do printf "%s-" "$s"; i=$((i+1)); done'
    result = run_secret_command(command, SecretStr(SECRET), dict(os.environ), 20)
    assert SECRET not in result.output
    assert result.output.endswith(f"{REDACTED}-")
    assert result.output.count(REDACTED) > 1000  # cut to the last 64 KiB, redacted throughout


def test_credentials_never_reach_the_child():
    base = {
        "PATH": "/bin",
        "CLOUDFLARE_API_TOKEN": "t",
        "CLOUDFLARE_API_KEY": "k",
        "CLOUDFLARE_EMAIL": "e",
        "CLOUDFLARE_ACCOUNT_ID": "a",
    }
    env = child_environment(base, {"TURNSTILE_WIDGET_NAME": "login"})
    assert env == {"PATH": "/bin", "CLOUDFLARE_ACCOUNT_ID": "a", "TURNSTILE_WIDGET_NAME": "login"}


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), 1e9])
def test_timeout_is_finite_and_positive(value):
    with pytest.raises(ConfigError):
        checked_timeout(value)


def test_exit_status_and_signal_are_described():
    failed = run_secret_command("exit 7", SecretStr(SECRET), dict(os.environ), 10)
    assert failed.problem(10) == "it exited with status 7"
    killed = run_secret_command("kill -TERM $$", SecretStr(SECRET), dict(os.environ), 10)
    assert killed.problem(10) == "it was killed by signal 15"


def test_output_that_ends_with_the_start_of_the_secret_loses_it():
    """A command killed while echoing what it read (`head -c 30; sleep 30`)."""
    secret = SECRET.encode()
    cut = b"stored: " + secret[: MIN_REDACTED_PREFIX + 5]
    assert redact(cut, secret, truncated=False) == f"stored: {REDACTED}"
    short = b"prefix " + secret[: MIN_REDACTED_PREFIX - 1]  # no more than the public prefix
    assert redact(short, secret, truncated=False) == short.decode()


def test_a_command_killed_mid_echo_shows_no_part_of_the_secret():
    result = run_secret_command("head -c 20; exec sleep 30", SecretStr(SECRET), {}, 1)
    assert result.timed_out and not result.ok
    assert SECRET[:MIN_REDACTED_PREFIX] not in result.output
    assert result.output == REDACTED


def test_the_tools_credentials_are_redacted_from_the_output():
    token = "cf-token-must-not-leak"
    result = run_secret_command(
        f"cat >/dev/null; echo token={token}", SecretStr(SECRET), {}, 10, credentials=[token]
    )
    assert result.ok
    assert token not in result.output and f"token={REDACTED}" in result.output


@pytest.mark.parametrize(
    ("command", "env"),
    [("cat", {"TURNSTILE_WIDGET_NAME": "log\0in"}), ("cat", {"X": "\ud800"}), ("ca\0t", {})],
    ids=["nul-in-env", "unencodable-env", "nul-in-command"],
)
def test_what_an_environment_or_argv_cannot_hold_is_a_failed_delivery(command, env):
    result = run_secret_command(command, SecretStr(SECRET), env, 10)
    assert not result.ok
    problem = result.problem(10)
    assert problem is not None and problem.startswith("it could not be started: ")


def test_environment_problem_names_nul_and_unencodable_text():
    assert environment_problem("login") is None
    assert "NUL" in (environment_problem("log\0in") or "")
    assert "encoded" in (environment_problem("\ud800") or "")


def test_kill_running_commands_with_none_running_kills_nothing():
    assert kill_running_commands() == 0
