"""The secrets file and its journal are private files: never written through a planted link,
never readable by anyone else for a moment, never left torn by a crash."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from turnstile_sync import private_file
from turnstile_sync.errors import ConfigError
from turnstile_sync.secrets_sink import SecretsSink


@pytest.fixture
def umask():
    def set_to(value: int) -> None:
        previous.append(os.umask(value))

    previous: list[int] = []
    yield set_to
    if previous:
        os.umask(previous[0])


def test_the_file_is_owner_only_whenever_it_holds_a_secret(tmp_path, monkeypatch, umask):
    umask(0)  # a careless open() would now create 0666 / 0644 files
    seen: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def watching_fsync(descriptor: int) -> None:
        status = os.fstat(descriptor)
        if stat.S_ISREG(status.st_mode):
            seen.append((stat.S_IMODE(status.st_mode), status.st_size > 0))
        real_fsync(descriptor)

    monkeypatch.setattr(private_file.os, "fsync", watching_fsync)
    sink = SecretsSink(tmp_path / "secrets.json")
    sink.record("login", "0xA", SecretStr("s3cret"))
    sink.record("other", "0xB", SecretStr("s3cret2"))
    assert seen and all(mode == 0o600 for mode, _ in seen)
    assert any(has_content for _, has_content in seen)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_a_restrictive_umask_still_leaves_the_owner_able_to_read_it(tmp_path, umask):
    umask(0o277)
    sink = SecretsSink(tmp_path / "secrets.json")
    sink.record("login", "0xA", SecretStr("s3cret"))
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "secrets.json").read_text())["login"]["secret"] == "s3cret"


def test_an_existing_world_readable_file_becomes_owner_only(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"kept": {"sitekey": "0x1", "secret": "s"}}))
    path.chmod(0o644)
    SecretsSink(path).record("login", "0xA", SecretStr("new"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"kept", "login"}


def test_symlinks_at_every_predictable_temporary_name_receive_nothing(tmp_path):
    path = tmp_path / "secrets.json"
    stolen = tmp_path / "elsewhere"
    stolen.mkdir()
    planted = [
        f".secrets.json.{os.getpid()}.tmp",  # the old scheme, for this very process
        *(f".secrets.json.{pid}.tmp" for pid in range(os.getpid() - 50, os.getpid() + 50)),
        ".secrets.json.tmp",
        "secrets.json.tmp",
        "secrets.json~",
        ".secrets.json.swp",
    ]
    for index, name in enumerate(dict.fromkeys(planted)):
        (tmp_path / name).symlink_to(stolen / f"target-{index}")
    sink = SecretsSink(path)
    sink.record("login", "0xA", SecretStr("s3cret"))
    sink.record("login", "0xA", SecretStr("s3cret"))
    assert list(stolen.iterdir()) == []
    assert not path.is_symlink() and json.loads(path.read_text())["login"]["secret"] == "s3cret"


def test_a_symlink_at_the_secrets_path_itself_is_refused_not_followed(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"victim": {"sitekey": "0x1", "secret": "theirs"}}))
    link = tmp_path / "secrets.json"
    link.symlink_to(victim)
    with pytest.raises(ConfigError, match="is a symbolic link; refusing to follow it"):
        SecretsSink(link)
    assert json.loads(victim.read_text()) == {"victim": {"sitekey": "0x1", "secret": "theirs"}}


def test_a_link_planted_after_the_check_is_replaced_not_written_through(tmp_path):
    path = tmp_path / "secrets.json"
    sink = SecretsSink(path)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    path.symlink_to(victim)  # planted between the check and the write
    sink.record("login", "0xA", SecretStr("s3cret"))
    assert victim.read_text() == "untouched"
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_fifo_at_the_secrets_path_is_refused_without_hanging(tmp_path):
    path = tmp_path / "secrets.json"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="is not a regular file"):
        SecretsSink(path)


def test_a_crash_while_writing_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "secrets.json"
    sink = SecretsSink(path)
    sink.record("login", "0xA", SecretStr("first"))

    def failing_fsync(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(private_file.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        sink.record("other", "0xB", SecretStr("second"))
    assert json.loads(path.read_text()) == {"login": {"sitekey": "0xA", "secret": "first"}}
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["secrets.json", "secrets.json.lock"]  # no temporary file left behind


def test_temporary_names_are_unpredictable(tmp_path, monkeypatch):
    names: list[str] = []
    real_open = os.open

    def recording_open(file: str | Path, flags: int, mode: int = 0o777) -> int:
        names.append(Path(file).name)
        return real_open(file, flags, mode)

    monkeypatch.setattr(private_file.os, "open", recording_open)
    sink = SecretsSink(tmp_path / "secrets.json")
    for _ in range(3):
        sink.record("login", "0xA", SecretStr("s"))
    temporary = [name for name in names if name.endswith(".tmp")]
    assert len(temporary) == 3 and len(set(temporary)) == 3
    assert all(str(os.getpid()) not in name for name in temporary)
