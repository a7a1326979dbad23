"""The emulator's SQLite state holds every widget's secret: only its owner may read it.

Checked through the CLI, in-process (--emulator-db) and served (emulator serve --db).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.processes import served_emulator

SPEC = f"""
account_id: {ACCOUNT}
widgets:
  - name: login
    mode: managed
    domains: [example.com]
"""
AUTH = {"Authorization": "Bearer t"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022 umask, so a file created without an explicit mode would be 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def apply_in_process(write_spec, db: Path) -> None:
    spec = write_spec(SPEC)
    result = run_cli(["apply", str(spec), "--emulator", "--emulator-db", str(db), "--auto-approve"])
    assert result.exit_code == 0, result.stderr


def test_state_file_and_its_new_directories_are_owner_only(write_spec, tmp_path: Path):
    db = tmp_path / "made" / "by-emulator" / "state.sqlite3"
    apply_in_process(write_spec, db)
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700
    assert mode(db.parent.parent) == 0o700


def test_existing_directory_is_left_as_it_is(write_spec, tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    apply_in_process(write_spec, shared / "state.sqlite3")
    assert mode(shared / "state.sqlite3") == 0o600
    assert mode(shared) == 0o755


def test_loose_existing_state_file_is_tightened(write_spec, tmp_path: Path):
    db = tmp_path / "state.sqlite3"
    apply_in_process(write_spec, db)
    db.chmod(0o644)
    result = run_cli(["plan", str(write_spec(SPEC)), "--emulator", "--emulator-db", str(db)])
    assert result.exit_code == 0, result.stderr
    assert mode(db) == 0o600


def test_served_state_file_and_its_side_files_are_owner_only(tmp_path: Path):
    db = tmp_path / "state.sqlite3"
    with sqlite3.connect(db) as setup:  # a state file someone switched to WAL, left world-readable
        setup.execute("PRAGMA journal_mode=WAL")
    db.chmod(0o644)
    with served_emulator(db) as base_url:
        created = httpx.post(
            f"{base_url}/accounts/{ACCOUNT}/challenges/widgets",
            json={"name": "login", "mode": "managed", "domains": ["example.com"]},
            headers=AUTH,
        )
        assert created.status_code == 200, created.text
        side_files = sorted(path for path in tmp_path.iterdir() if path.name != db.name)
        modes = {path.name: mode(path) for path in [db, *side_files]}
    assert {"state.sqlite3-wal", "state.sqlite3-shm"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)
