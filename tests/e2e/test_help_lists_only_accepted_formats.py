"""Each command's --format help names only the formats that command accepts."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


def format_help(command: str) -> str:
    result = run_cli([command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # click wraps help text
    start = text.index("--format")
    return text[start : text.index("-h, --help", start)] if "-h, --help" in text else text[start:]


def test_apply_help_does_not_advertise_markdown_which_apply_refuses():
    shown = format_help("apply")
    assert "markdown" not in shown
    assert "text for people" in shown and "json for programs" in shown
    refused = run_cli(["apply", "--format", "markdown"])
    assert refused.exit_code == 1  # the help agrees with what the option accepts


@pytest.mark.parametrize("command", ["plan"])
def test_plan_help_lists_markdown_for_pull_requests(command):
    assert "markdown for a pull request comment" in format_help(command)
