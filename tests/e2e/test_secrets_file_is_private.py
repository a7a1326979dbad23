"""Attacks on the secrets file through the CLI: a link planted where apply writes receives
nothing, and the file is only ever readable by its owner."""

from __future__ import annotations

import json
import os
import stat

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
