"""Reading user-named files: only regular files, never past the cap, never blocking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from turnstile_sync.userfiles import SizeCap, UserFileError, read_bytes, read_text

CAP = SizeCap(64, "tests")


def test_a_regular_file_within_the_cap_is_read_whole(tmp_path):
    path = tmp_path / "ok"
    path.write_bytes(b"x" * 64)
    assert read_bytes(path, CAP) == b"x" * 64


def test_a_symlink_to_a_regular_file_is_followed(tmp_path):
    (tmp_path / "real").write_text("hello")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_text(tmp_path / "link", CAP) == "hello"


def test_a_file_larger_than_the_cap_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 65)
    with pytest.raises(UserFileError) as refused:
        read_bytes(path, CAP)
    assert str(refused.value) == (f"{path} is 65 bytes; tests larger than 64 bytes are refused")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_cap_holds_for_a_file_that_claims_less_than_it_holds():
    """/proc files are regular files of size 0 that yield far more when read: the same as a
    file growing while it is read."""
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(UserFileError) as refused:
        read_bytes("/proc/self/status", CAP)
    assert "grew past the limit while being read; tests larger than" in str(refused.value)


def test_a_fifo_without_a_writer_is_refused_without_blocking(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    with pytest.raises(UserFileError) as refused:
        read_bytes(path, CAP)
    assert str(refused.value) == (
        f"{path} is a FIFO (named pipe), not a regular file; only regular files are read"
    )


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "a character device"), ("/", "a directory")]
)
def test_devices_and_directories_are_refused(path, kind):
    with pytest.raises(UserFileError) as refused:
        read_bytes(path, CAP)
    assert f"is {kind}, not a regular file" in str(refused.value)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(UserFileError) as refused:
        read_bytes(tmp_path / "absent", CAP)
    assert refused.value.missing
    assert str(refused.value).endswith("absent was not found")


def test_text_that_is_not_utf8_names_the_offset(tmp_path):
    path = tmp_path / "latin1"
    path.write_bytes(b"caf\xe9")
    with pytest.raises(UserFileError) as refused:
        read_text(path, CAP)
    assert str(refused.value) == f"{path} is not UTF-8 text (byte 0xe9 at offset 3)"
