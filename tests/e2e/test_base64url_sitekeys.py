"""Sitekeys in Cloudflare's base64url shape (``-`` and ``_`` included) through every path that
handles them: spec pins, protection, plan files, export and output, in-process and served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import live_widgets
from tests.e2e.test_safety import beside, entry, spec_text
from turnstile_sync.emulator import Backend

# Seeds whose first sitekey has both '-' and '_' in awkward places: mid-key, right after the
# prefix, last character.
KEY_SEEDS = {
    1: "0x4AAAAAAAriGp_58WAm-dX3",
    54: "0x4AAAAAAAr4M9-WC5QWAzh_",
    61: "0x4AAAAAAA_xBPLPd-TTiZ7Q",
    79: "0x4AAAAAAAs4SuEF_tiSdzo-",
}


def seed_keyed(db: Path, seed: int, **fields: Any) -> dict[str, Any]:
    """A live widget whose sitekey is ``KEY_SEEDS[seed]``."""
    backend = Backend(db, seed=seed)
    try:
        widget = backend.create(ACCOUNT, {"mode": "managed", "domains": ["example.com"], **fields})
    finally:
        backend.close()
    assert widget["sitekey"] == KEY_SEEDS[seed]
    assert widget["secret"][:13] == widget["sitekey"][:13]
    return widget


def test_pins_rename_widgets_whose_sitekeys_have_dashes_and_underscores(write_spec, target):
    keys = [seed_keyed(target.db, seed, name=f"old {seed}")["sitekey"] for seed in KEY_SEEDS]
    pins = [entry(f"new {index}", f"sitekey: {key}") for index, key in enumerate(keys)]
    path = write_spec(spec_text(*pins))
    applied = target.run(["apply", str(path), "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr
    for key in keys:
        assert f"~ update in place 'new {keys.index(key)}' ({key})" in applied.stdout
    assert {w["sitekey"]: w["name"] for w in live_widgets(target.db)} == {
        key: f"new {index}" for index, key in enumerate(keys)
    }
    again = target.run(["plan", str(path), "--detailed-exitcode"])
    assert again.exit_code == 0, again.stdout + again.stderr


def test_protected_sitekeys_with_dashes_and_underscores_refuse_deletion(write_spec, target):
    keys = [seed_keyed(target.db, seed, name=f"w{seed}")["sitekey"] for seed in (54, 79)]
    path = write_spec(spec_text(entry("other"), prune=True, protected=keys))
    result = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert result.exit_code == 1
    for key in keys:
        assert f"({key})" in result.stderr
    assert sorted(w["sitekey"] for w in live_widgets(target.db)) == sorted(keys)


def test_plan_file_round_trips_such_sitekeys(write_spec, target, tmp_path):
    widget = seed_keyed(target.db, 61, name="login")
    path = write_spec(spec_text(entry("login", f"sitekey: {widget['sitekey']}", mode="invisible")))
    plan_file = tmp_path / "reviewed.json"
    made = target.run(["plan", str(path), "--out", str(plan_file)])
    assert made.exit_code == 0, made.stderr
    (action,) = json.loads(plan_file.read_text())["actions"]
    assert action["sitekey"] == widget["sitekey"]
    applied = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert applied.exit_code == 0, applied.stderr
    assert [(w["sitekey"], w["mode"]) for w in live_widgets(target.db)] == [
        (widget["sitekey"], "invisible")
    ]


def test_export_pins_and_output_delivers_such_sitekeys(write_spec, target, tmp_path):
    # Two widgets of one name: export must pin both by sitekey.
    keys = {seed_keyed(target.db, seed, name="twin")["sitekey"] for seed in (1, 79)}
    exported = tmp_path / "widgets.yaml"
    result = target.run(["export", "--account-id", ACCOUNT, "--out", str(exported)])
    assert result.exit_code == 0, result.stderr
    assert all(f"sitekey: {key}" in exported.read_text() for key in keys)
    replanned = target.run(["plan", str(exported), "--detailed-exitcode"])
    assert replanned.exit_code == 0, replanned.stdout + replanned.stderr
    first, second = sorted(keys)
    pinned = write_spec(
        spec_text(entry("a", f"sitekey: {first}"), entry("b", f"sitekey: {second}"))
    )
    output = target.run(["output", str(pinned), "--format", "json"])
    assert output.exit_code == 0, output.stderr
    assert json.loads(output.stdout) == {"a": first, "b": second}
    dotenv = target.run(["output", str(pinned), "--format", "dotenv"])
    assert dotenv.exit_code == 0, dotenv.stderr
    assert f"TURNSTILE_SITEKEY_A={first}" in dotenv.stdout.splitlines()


def test_emulator_keys_are_base64url_and_the_secret_shares_the_sitekey_prefix(tmp_path):
    backend = Backend(tmp_path / "keys.sqlite3", seed=7)
    try:
        widgets = [
            backend.create(ACCOUNT, {"name": f"w{i}", "mode": "managed", "domains": ["a.com"]})
            for i in range(20)
        ]
        rotated = backend.rotate_secret(
            ACCOUNT, widgets[0]["sitekey"], invalidate_immediately=False
        )
    finally:
        backend.close()
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for widget in [*widgets, rotated]:
        sitekey, secret = widget["sitekey"], widget["secret"]
        assert (len(sitekey), len(secret)) == (24, 35)
        assert sitekey.startswith("0x4AAAAAAA") and set(sitekey[2:]) <= alphabet
        assert set(secret[2:]) <= alphabet and secret[:13] == sitekey[:13]
    assert rotated["secret"] != widgets[0]["secret"]
    drawn = "".join(w["sitekey"][10:] + w["secret"][13:] for w in widgets)
    assert "-" in drawn and "_" in drawn  # a seeded draw: both occur, so tests meet them


def test_an_unquoted_all_hex_sitekey_is_explained(write_spec):
    # YAML 1.1 reads 0x + hex digits and '_' as an integer; the message says to quote it.
    path = write_spec(spec_text(entry("login", "sitekey: 0x4AAAAAAAB_C1D2E3F4A5B6C")))
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 1
    assert "YAML read 0x4AAAAAAAB_C1D2E3F4A5B6C as a number" in result.stderr
    assert "put it in quotes" in result.stderr
