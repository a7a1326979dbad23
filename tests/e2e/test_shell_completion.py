"""Shell completion for bash, zsh and fish, from the installed console script: the script each
shell sources, and the completions click's protocol (COMP_WORDS, COMP_CWORD) answers with.
Bash, the one shell sure to be present, also runs the sourced script for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.processes import HANG_GUARD, clean_env

SCRIPT = Path(sys.executable).with_name("turnstile-sync")
"""The console script pip installed for the `turnstile-sync = turnstile_sync.cli:main` entry
point (in this checkout's environment; PYTHONPATH makes it run this tree's code)."""


def installed(**env: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is missing: install the package (pip install -e .)"
    return subprocess.run(
        [str(SCRIPT)],
        env=clean_env(PYTHONPATH=str(REPO_ROOT), **env),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


SOURCES = {
    "bash": ["_turnstile_sync_completion()", "complete -o nosort -F _turnstile_sync_completion"],
    "zsh": ["#compdef turnstile-sync", "compdef _turnstile_sync_completion turnstile-sync"],
    "fish": ["function _turnstile_sync_completion", "complete --no-files --command turnstile-sync"],
}


@pytest.mark.parametrize("shell", sorted(SOURCES))
def test_each_shell_gets_its_source_script(shell):
    result = installed(_TURNSTILE_SYNC_COMPLETE=f"{shell}_source")
    assert result.returncode == 0, result.stderr
    for line in SOURCES[shell]:
        assert line in result.stdout
    assert f"_TURNSTILE_SYNC_COMPLETE={shell}_complete" in result.stdout


def complete(shell: str, words: str, cword: int) -> list[str]:
    """What click answers the sourced script with, one completion per item."""
    current = words.split(" ")[cword] if cword < len(words.split(" ")) else ""
    result = installed(
        _TURNSTILE_SYNC_COMPLETE=f"{shell}_complete",
        COMP_WORDS=words,
        COMP_CWORD=current if shell == "fish" else str(cword),
    )
    assert result.returncode == 0, result.stderr
    if shell == "zsh":  # type, value, help: three lines per item
        lines = result.stdout.splitlines()
        return [lines[i + 1] for i in range(0, len(lines), 3)]
    return [line.split(",", 1)[1].split("\t")[0] for line in result.stdout.splitlines()]


@pytest.mark.parametrize("shell", sorted(SOURCES))
def test_completing_pl_offers_plan(shell):
    assert complete(shell, "turnstile-sync pl", 1) == ["plan"]


def test_commands_subcommands_options_and_choices_complete():
    assert complete("bash", "turnstile-sync sh", 1) == ["show"]
    assert complete("bash", "turnstile-sync emulator s", 2) == ["serve"]
    assert complete("bash", "turnstile-sync secrets p", 2) == ["push"]
    assert "--format" in complete("bash", "turnstile-sync plan --for", 2)
    assert complete("bash", "turnstile-sync plan --format ", 3) == ["text", "json", "markdown"]
    assert "--no-color" in complete("bash", "turnstile-sync apply --no", 2)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_with_the_sourced_script(tmp_path):
    """The script as a user's ~/.bashrc would source it, run by bash itself."""
    program = """
        source <(_TURNSTILE_SYNC_COMPLETE=bash_source turnstile-sync)
        COMP_WORDS=(turnstile-sync pl)
        COMP_CWORD=1
        _turnstile_sync_completion turnstile-sync
        printf '%s\\n' "${COMPREPLY[@]}"
    """
    env = clean_env(PYTHONPATH=str(REPO_ROOT))
    env["PATH"] = f"{SCRIPT.parent}:{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["plan"]
