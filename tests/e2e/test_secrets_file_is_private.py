"""Attacks on the secrets file through the CLI: a link planted where apply writes receives
nothing, and the file is only ever readable by its owner."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.e2e.conftest import live_widgets
from tests.e2e.test_safety import all_secrets, entry, spec_text


def test_links_planted_at_predictable_names_receive_no_secret(write_spec, target, tmp_path):
    sink = tmp_path / "secrets.json"
    loot = tmp_path / "loot"
    loot.mkdir()
    predictable = [
        f".secrets.json.{os.getpid()}.tmp",  # this CLI runs in this process: its pid is known
        ".secrets.json.tmp",
        "secrets.json.tmp",
        ".secrets.json.pending.tmp",
        f".secrets.json.pending.{os.getpid()}.tmp",
    ]
    for index, name in enumerate(predictable):
        (tmp_path / name).symlink_to(loot / f"stolen-{index}")
    path = write_spec(spec_text(entry("login"), entry("signup")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert result.exit_code == 0, result.stderr
    assert list(loot.iterdir()) == []
    assert stat.S_IMODE(sink.stat().st_mode) == 0o600
    assert {item["secret"] for item in json.loads(sink.read_text()).values()} == all_secrets(
        target.db
    )


def test_a_link_at_the_secrets_path_is_refused_before_anything_changes(
    write_spec, target, tmp_path
):
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    sink = tmp_path / "secrets.json"
    sink.symlink_to(victim)
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert result.exit_code == 1
    assert f"--secrets-out {sink}: cannot read it: {sink} is a symbolic link" in result.stderr
    assert victim.read_text() == "{}"
    assert live_widgets(target.db) == []


def test_a_second_run_sharing_the_secrets_file_is_refused_before_anything_changes(
    write_spec, target, tmp_path
):
    """Each run rewrites the whole file from what it read: two overlapping runs would lose
    each other's secrets, so the second is refused while the first holds the file."""
    sink = tmp_path / "secrets.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from turnstile_sync.private_file import "
            "lock_private; lock_private(Path(sys.argv[1])); print('locked', flush=True); "
            "sys.stdin.read()",
            str(sink) + ".lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        path = write_spec(spec_text(entry("login")))
        result = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    finally:
        holder.communicate(input="", timeout=30)
    assert result.exit_code == 1
    assert f"--secrets-out {sink} is in use by another turnstile-sync run" in result.stderr
    assert live_widgets(target.db) == []
    assert not sink.exists()

    released = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert released.exit_code == 0, released.stderr
    assert set(json.loads(sink.read_text())) == {"login"}


@pytest.mark.parametrize(
    ("sidecar", "content"),
    [
        (".pending", b'{"intents": [1]}'),
        (".pending", b"[" * 100_000 + b"]" * 100_000),
        (".pending", b'{"intents": [{"name": "\xff"}]}'),
        ("", b"[" * 100_000 + b"]" * 100_000),
        ("", b'{"login": "\xff"}'),
    ],
    ids=["journal-wrong-shape", "journal-deep", "journal-not-utf8", "deep", "not-utf8"],
)
def test_hostile_secrets_and_journal_files_are_a_clear_error(
    write_spec, target, tmp_path, sidecar, content
):
    sink = tmp_path / "secrets.json"
    hostile = sink.with_name(sink.name + sidecar)
    hostile.write_bytes(content)
    hostile.chmod(0o600)
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert result.exit_code == 1
    assert "Internal error" not in result.stderr
    assert str(hostile) in result.stderr
    assert live_widgets(target.db) == []


def test_a_journal_another_user_owns_or_may_write_is_not_trusted(write_spec, target, tmp_path):
    """A planted journal could steer which widget's secret is saved under a name."""
    sink = tmp_path / "secrets.json"
    journal = sink.with_name(sink.name + ".pending")
    journal.write_text('{"version": 1, "intents": []}')
    path = write_spec(spec_text(entry("login")))
    journal.chmod(0o666)
    writable = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert writable.exit_code == 1
    assert "may be written by other users" in writable.stderr
    if os.geteuid() == 0:  # only root can give a file away
        journal.chmod(0o600)
        os.chown(journal, 65534, 65534)
        foreign = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
        assert foreign.exit_code == 1
        assert "belongs to another user (uid 65534)" in foreign.stderr
    assert live_widgets(target.db) == []
