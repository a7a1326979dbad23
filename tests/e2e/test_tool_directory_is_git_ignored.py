"""`plan --emulator` in a repository creates `.turnstile-sync/` (the emulator's state, secrets
included) with a `.gitignore` holding `*`, so `git add -A` never picks it up; a `.gitignore`
already there is never replaced, and other directories get none."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import run_cli
from tests.e2e.test_safety import entry, spec_text


def test_the_emulator_state_directory_is_created_with_a_gitignore(
    write_spec, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_spec(spec_text(entry("a")))
    result = run_cli(["plan", "--emulator"])
    assert result.exit_code == 0, result.stderr
    ignore = tmp_path / ".turnstile-sync" / ".gitignore"
    assert "*" in ignore.read_text().splitlines()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_add_all_leaves_the_emulator_state_out(write_spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    write_spec(spec_text(entry("a")))
    assert run_cli(["apply", "--emulator", "--auto-approve"]).exit_code == 0
    subprocess.run(["git", "add", "-A"], check=True)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert staged == ["widgets.yaml"]


def test_an_existing_gitignore_in_the_directory_is_never_replaced(
    write_spec, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_spec(spec_text(entry("a")))
    directory = tmp_path / ".turnstile-sync"
    directory.mkdir()
    (directory / ".gitignore").write_text("emulator.sqlite3\n")
    assert run_cli(["plan", "--emulator"]).exit_code == 0
    assert (directory / ".gitignore").read_text() == "emulator.sqlite3\n"


def test_a_state_file_elsewhere_gets_no_gitignore(write_spec, tmp_path):
    spec = str(write_spec(spec_text(entry("a"))))
    db = tmp_path / "state" / "emulator.sqlite3"
    assert run_cli(["plan", spec, "--emulator", "--emulator-db", str(db)]).exit_code == 0
    assert db.exists()
    assert not (db.parent / ".gitignore").exists()
