"""Every option from TURNSTILE_SYNC_<COMMAND>_<OPTION>: command line > variable > default, a
bad value names its variable, and the environment never silently approves, forces, redirects
an account or runs a command."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import click
import httpx
import pytest

from tests.conftest import ACCOUNT, OTHER_ACCOUNT, CliResult, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import clean_env, cli_command, free_port
from turnstile_sync.cli import cli
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV


def every_option(
    command: click.Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Option]]:
    found = [(path, p) for p in command.params if isinstance(p, click.Option)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += every_option(sub, (*path, name))
    return found


def variables(option: click.Option) -> list[str]:
    return [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())


# Naming and --help


def test_every_option_has_its_conventional_variable_except_the_unsafe_ones():
    excluded = {"--force", "--account-id", "--secrets-exec", "--version"}
    for path, option in every_option(cli):
        long = next(opt for opt in option.opts if opt.startswith("--"))
        if long in excluded:
            assert not option.envvar and not option.allow_from_autoenv, (path, long)
            continue
        expected = "_".join(["TURNSTILE_SYNC", *path, long[2:]]).upper().replace("-", "_")
        assert variables(option)[0] == expected, (path, long)
        assert option.show_envvar


def test_no_two_options_share_a_variable_nor_take_the_tools_own():
    names = [name for _, option in every_option(cli) for name in variables(option)]
    assert len(names) == len(set(names))
    assert "TURNSTILE_SYNC_DEBUG" not in names and REQUEST_LOG_ENV not in names


def test_help_shows_the_variables():
    plan_help = run_cli(["plan", "--help"]).stdout
    for name in (
        "TURNSTILE_SYNC_PLAN_FORMAT",
        "TURNSTILE_SYNC_PLAN_OUT",
        "TURNSTILE_SYNC_PLAN_VERBOSE",
    ):
        assert name in plan_help
    apply_help = run_cli(["apply", "--help"]).stdout
    assert "TURNSTILE_SYNC_APPLY_PARALLELISM" in apply_help
    assert "TURNSTILE_SYNC_APPLY_AUTO_APPROVE" in apply_help
    for absent in ("FORCE", "ACCOUNT_ID", "SECRETS_EXEC"):
        assert not re.search(rf"TURNSTILE_SYNC_APPLY_{absent}\b", apply_help)
    serve_help = " ".join(run_cli(["emulator", "serve", "--help"]).stdout.split())
    assert "TURNSTILE_SYNC_EMULATOR_SERVE_PORT" in serve_help
    assert "TURNSTILE_SYNC_EMULATOR_SERVE_TOKEN, TURNSTILE_SYNC_EMULATOR_TOKEN" in serve_help
    top = " ".join(run_cli(["--help"]).stdout.split())
    assert "TURNSTILE_SYNC_VERBOSE" in top and "TURNSTILE_SYNC_<COMMAND>_<OPTION>" in top


# Precedence


def test_command_line_beats_variable_beats_default(write_spec, target):
    seed(target.db, name="login")
    path = str(write_spec(spec_text(entry("login", mode="invisible"))))
    default = target.run(["plan", path])
    assert default.stdout.startswith("  ~ update in place 'login'")

    from_variable = target.run(["plan", path], env={"TURNSTILE_SYNC_PLAN_FORMAT": "json"})
    assert from_variable.exit_code == 0, from_variable.stderr
    assert json.loads(from_variable.stdout)["summary"]["update"] == 1

    from_command_line = target.run(
        ["plan", path, "--format", "markdown"], env={"TURNSTILE_SYNC_PLAN_FORMAT": "json"}
    )
    assert from_command_line.stdout.startswith("### turnstile-sync plan")

    empty = target.run(["plan", path], env={"TURNSTILE_SYNC_PLAN_FORMAT": ""})
    assert empty.stdout == default.stdout  # an empty variable is unset


class InProcess:
    """The in-process emulator only: what these tests check happens before any request."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def run(self, args: list[str], env: dict[str, str | None] | None = None) -> CliResult:
        return run_cli([*args, "--emulator", "--emulator-db", str(self.db)], env=env)


@pytest.fixture
def local(emulator_db: Path) -> InProcess:
    return InProcess(emulator_db)


def test_flags_from_variables(write_spec, local):
    seed(local.db, name="login")
    path = str(write_spec(spec_text(entry("login", mode="invisible"))))
    drift = local.run(["plan", path], env={"TURNSTILE_SYNC_PLAN_DETAILED_EXITCODE": "1"})
    assert drift.exit_code == 2
    off = local.run(["plan", path], env={"TURNSTILE_SYNC_PLAN_DETAILED_EXITCODE": "false"})
    assert off.exit_code == 0
    verbose = local.run(["plan", path], env={"TURNSTILE_SYNC_VERBOSE": "1"})
    assert "INFO: GET accounts/" in verbose.stderr


@pytest.mark.parametrize(
    ("args", "variable", "value"),
    [
        (["plan"], "TURNSTILE_SYNC_PLAN_FORMAT", "yaml"),
        (["plan"], "TURNSTILE_SYNC_PLAN_DETAILED_EXITCODE", "maybe"),
        (["plan"], "TURNSTILE_SYNC_PLAN_MAX_RETRY_TIME", "nan"),
        (["plan"], "TURNSTILE_SYNC_PLAN_RATE_LIMIT", "lots"),
        (["apply", "--auto-approve"], "TURNSTILE_SYNC_APPLY_PARALLELISM", "0"),
        (["apply"], "TURNSTILE_SYNC_APPLY_AUTO_APPROVE", "please"),
        (["emulator", "serve"], "TURNSTILE_SYNC_EMULATOR_SERVE_PORT", "99999"),
        (["-v", "plan"], "TURNSTILE_SYNC_NO_COLOR", "sure"),
    ],
)
def test_a_bad_value_names_the_variable_and_changes_nothing(
    write_spec, emulator_db, args, variable, value
):
    seed(emulator_db, name="login")
    path = str(write_spec(spec_text(entry("login", mode="invisible"))))
    before = live_widgets(emulator_db)
    emulator = ["--emulator", "--emulator-db", str(emulator_db)]
    command = args if args[0] == "emulator" else [*args, path, *emulator]
    result = run_cli(command, env={variable: value})
    assert result.exit_code == 1
    assert f"(env var: '{variable}')" in result.stderr, result.stderr
    assert value in result.stderr
    assert live_widgets(emulator_db) == before


def test_the_command_line_wins_without_reading_the_variable(write_spec, emulator_db):
    path = str(write_spec(spec_text(entry("login"))))
    result = run_cli(
        ["apply", path, "--emulator", "--emulator-db", str(emulator_db), "--parallelism", "2"],
        env={"TURNSTILE_SYNC_APPLY_PARALLELISM": "0", "TURNSTILE_SYNC_APPLY_AUTO_APPROVE": "1"},
    )
    assert result.exit_code == 0, result.stderr
    assert [w["name"] for w in live_widgets(emulator_db)] == ["login"]


def test_the_emulator_serves_on_the_port_its_variable_names(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        cli_command("emulator", "serve", "--db", str(tmp_path / "served.sqlite3")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(TURNSTILE_SYNC_EMULATOR_SERVE_PORT=str(port)),
    )
    try:
        deadline = time.monotonic() + 20  # a bound on a failure, not a speed check
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/__emulator/stats", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the emulator exited"
                assert time.monotonic() < deadline, f"nothing listens on {port}"
                time.sleep(0.05)
        assert answer.status_code in (200, 403)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_secrets_push_destination_from_its_variable_is_announced(write_spec, emulator_db, tmp_path):
    seed(emulator_db, name="login")
    path = str(write_spec(spec_text(entry("login"))))
    secrets = tmp_path / "secrets.json"
    result = run_cli(
        ["secrets", "push", path, "--emulator", "--emulator-db", str(emulator_db)],
        env={"TURNSTILE_SYNC_SECRETS_PUSH_SECRETS_OUT": str(secrets)},
    )
    assert result.exit_code == 0, result.stderr
    assert "login" in json.loads(secrets.read_text())
    assert (
        "Note: --secrets-out is set by the environment variable "
        "TURNSTILE_SYNC_SECRETS_PUSH_SECRETS_OUT, not on the command line." in result.stderr
    )


# Safety


def test_auto_approve_from_the_environment_is_announced(write_spec, local):
    path = str(write_spec(spec_text(entry("login"))))
    refused = local.run(["apply", path], env={"TURNSTILE_SYNC_APPLY_AUTO_APPROVE": "0"})
    assert refused.exit_code == 1 and "no terminal" in refused.stderr
    assert "Note:" not in refused.stderr
    assert live_widgets(local.db) == []

    applied = local.run(["apply", path], env={"TURNSTILE_SYNC_APPLY_AUTO_APPROVE": "true"})
    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr.startswith(
        "Note: --auto-approve is set by the environment variable "
        "TURNSTILE_SYNC_APPLY_AUTO_APPROVE, not on the command line."
    )
    assert [w["name"] for w in live_widgets(local.db)] == ["login"]


def test_force_is_never_taken_from_the_environment(write_spec, local):
    seed(local.db, name="login")
    seed(local.db, name="checkout")
    path = str(write_spec(spec_text(prune=True)))  # deletes everything: a guard refuses
    env = {"TURNSTILE_SYNC_APPLY_FORCE": "1", "TURNSTILE_SYNC_APPLY_AUTO_APPROVE": "1"}
    result = local.run(["apply", path], env=env)
    assert result.exit_code == 1
    assert (
        "Warning: TURNSTILE_SYNC_APPLY_FORCE is ignored: --force is read only from the command "
        "line" in result.stderr
    )
    assert len(live_widgets(local.db)) == 2


def test_account_id_is_never_taken_from_a_turnstile_sync_variable(write_spec, emulator_db):
    """CLOUDFLARE_ACCOUNT_ID stays the account's only variable, below the spec's account_id."""
    path = str(write_spec(spec_text(entry("login"))))
    result = run_cli(
        ["plan", path, "--emulator", "--emulator-db", str(emulator_db), "--format", "json"],
        env={"TURNSTILE_SYNC_PLAN_ACCOUNT_ID": OTHER_ACCOUNT},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["account_id"] == ACCOUNT
    assert "TURNSTILE_SYNC_PLAN_ACCOUNT_ID is ignored: --account-id is read only" in result.stderr
    assert "CLOUDFLARE_ACCOUNT_ID is its variable" in result.stderr


def test_secrets_exec_is_never_taken_from_the_environment(write_spec, emulator_db, tmp_path):
    marker = tmp_path / "ran"
    path = str(write_spec(spec_text(entry("login"))))
    result = run_cli(
        ["apply", path, "--emulator", "--emulator-db", str(emulator_db), "--auto-approve"],
        env={"TURNSTILE_SYNC_APPLY_SECRETS_EXEC": f"touch {marker}"},
    )
    assert result.exit_code == 0, result.stderr
    assert not marker.exists()
    assert "TURNSTILE_SYNC_APPLY_SECRETS_EXEC is ignored" in result.stderr


def test_verbose_says_which_options_came_from_the_environment_never_their_values(
    write_spec, emulator_db, tmp_path
):
    path = str(write_spec(spec_text(entry("login"))))
    out = tmp_path / "plan-file-secret-name.json"
    result = run_cli(
        ["plan", path, "--emulator", "--emulator-db", str(emulator_db), "-v"],
        env={"TURNSTILE_SYNC_PLAN_OUT": str(out), "TURNSTILE_SYNC_PLAN_FORMAT": "json"},
    )
    assert result.exit_code == 0, result.stderr
    assert out.exists()
    assert "INFO: --out is set by the environment variable TURNSTILE_SYNC_PLAN_OUT" in result.stderr
    assert "INFO: --format is set by the environment variable TURNSTILE_SYNC_PLAN_FORMAT" in (
        result.stderr
    )
    quiet = run_cli(
        ["plan", path, "--emulator", "--emulator-db", str(emulator_db)],
        env={"TURNSTILE_SYNC_PLAN_FORMAT": "json"},
    )
    assert "TURNSTILE_SYNC_PLAN_FORMAT" not in quiet.stderr
