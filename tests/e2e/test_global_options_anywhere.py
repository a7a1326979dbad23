"""-v/--verbose and --no-color work before and after the command, on every command; and
--fail-on-unmanaged is never silently ignored."""

from __future__ import annotations

import re

import click
import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import run_in_terminal
from turnstile_sync.cli import cli

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
REQUEST_LOG = re.compile(r"INFO: GET accounts/\w+/challenges/widgets -> 200 \(\d+ ms\)")


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += command_paths(command, (*path, name))
        else:
            paths.append((*path, name))
    return paths


COMMANDS = command_paths(cli)


def test_every_command_is_found():
    assert {"plan", "apply", "show", "validate", "export"} <= {path[-1] for path in COMMANDS}
    assert ("emulator", "serve") in COMMANDS and ("secrets", "push") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_accepts_the_global_options_after_its_name(path):
    for options in (["-v"], ["--verbose"], ["--no-color"], ["-v", "--no-color"]):
        result = run_cli([*path, *options, "--help"])
        assert result.exit_code == 0, result.stderr
        assert "No such option" not in result.stderr
    helped = run_cli([*path, "--help"]).stdout
    assert "-v, --verbose" in helped and "--no-color" in helped
    unknown = run_cli([*path, "--no-such-option", "--help"])
    assert unknown.exit_code == 1 and "No such option" in unknown.stderr


def test_verbose_after_the_command_logs_requests(write_spec, target):
    path = str(write_spec(spec_text(entry("login"))))
    for args in (["plan", path, "-v"], ["plan", "--verbose", path], ["-v", "plan", path]):
        result = target.run(args)
        assert result.exit_code == 0, result.stderr
        assert REQUEST_LOG.search(result.stderr), args
        assert "e2e-token" not in result.stderr
    assert not REQUEST_LOG.search(target.run(["plan", path]).stderr)


def test_verbose_after_other_commands(write_spec, emulator_db, tmp_path):
    seed(emulator_db, name="login")
    emulator = ["--emulator", "--emulator-db", str(emulator_db)]
    spec = str(write_spec(spec_text(entry("login"))))
    for args in (
        ["export", *emulator, "--account-id", ACCOUNT, "-v"],
        ["output", spec, *emulator, "-v"],
        ["apply", spec, *emulator, "-v", "--auto-approve"],
    ):
        result = run_cli(args)
        assert result.exit_code == 0, result.stderr
        assert REQUEST_LOG.search(result.stderr), args


def test_validate_takes_no_color_and_verbose_after_its_specs(write_spec):
    path = str(write_spec(spec_text(entry("login"))))
    result = run_cli(["validate", path, "--no-color", "-v"])
    assert result.exit_code == 0, result.stderr
    assert "valid (1 widget)" in result.stdout


def test_no_color_after_the_command_on_a_terminal(write_spec, emulator_db, tmp_path):
    path = str(write_spec(spec_text(entry("login"))))
    emulator = ["--emulator", "--emulator-db", str(emulator_db)]
    colour = {"NO_COLOR": ""}  # the helper's default NO_COLOR=1 removed
    _, coloured = run_in_terminal(["plan", path, *emulator], "", cwd=tmp_path, env=colour)
    _, after = run_in_terminal(["plan", path, "--no-color", *emulator], "", tmp_path, colour)
    _, before = run_in_terminal(["--no-color", "plan", path, *emulator], "", tmp_path, colour)
    assert ANSI_COLOUR.search(coloured)
    for plain in (after, before):
        assert "create 'login'" in plain
        assert not ANSI_COLOUR.search(plain)


# --fail-on-unmanaged


def test_fail_on_unmanaged_alone_implies_detailed_exitcode(write_spec, target):
    seed(target.db, name="login")
    in_sync = str(write_spec(spec_text(entry("login"))))
    assert target.run(["plan", in_sync, "--fail-on-unmanaged"]).exit_code == 0

    seed(target.db, name="stray")
    unmanaged = target.run(["plan", in_sync, "--fail-on-unmanaged"])
    assert unmanaged.exit_code == 2, unmanaged.stderr
    assert target.run(["plan", in_sync]).exit_code == 0  # without it, unmanaged is fine

    drifted = str(write_spec(spec_text(entry("login", mode="invisible")), "drifted.yaml"))
    assert target.run(["plan", drifted, "--fail-on-unmanaged"]).exit_code == 2


def test_fail_on_unmanaged_help_says_it_implies_detailed_exitcode():
    helped = " ".join(run_cli(["plan", "--help"]).stdout.split())
    assert "Also exit 2 when live widgets are not in the spec (implies --detailed-exitcode)" in (
        helped
    )
