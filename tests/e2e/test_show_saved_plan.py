"""`show PLANFILE`: a saved plan rendered as `plan` rendered it, offline, and a hostile plan
file refused with a clear error (never a traceback, never an escape sequence let through)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, CliResult, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from turnstile_sync.userfiles import PLAN_SIZE_CAP

OFFLINE = {
    # Nothing to connect with: any API call would fail for want of a token, or at port 9.
    "CLOUDFLARE_API_TOKEN": None,
    "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4",
}


def show(*args: str) -> CliResult:
    return run_cli(["show", *args], env=OFFLINE)


def every_kind_of_plan(write_spec: Any, db: Path) -> Path:
    """Live: login (drifted), checkout (as the spec says), eu (region changes: a replacement),
    stray (unmanaged), legacy-one (ignored). The spec also creates 'new'."""
    for name in ("login", "checkout", "stray", "legacy-one"):
        seed(db, name=name, mode="invisible" if name == "login" else "managed")
    seed(db, name="eu")
    return write_spec(
        spec_text(
            entry("login"),
            entry("checkout"),
            entry("eu", "region: china"),
            entry("new", domains="[example.com, www.example.com]"),
            ignore=["legacy-*"],
        )
    )


def in_process(db: Path, *args: str) -> CliResult:
    return run_cli([*args, "--emulator", "--emulator-db", str(db)])


def test_show_renders_the_saved_plan_exactly_as_plan_did(write_spec, target, tmp_path):
    """In every format, against both targets; `show` itself has no target."""
    spec = every_kind_of_plan(write_spec, target.db)
    before = live_widgets(target.db)
    for output_format in ("text", "markdown", "json"):
        plan_file = tmp_path / f"plan-{output_format}.json"
        planned = target.run(
            ["plan", str(spec), "--out", str(plan_file), "--format", output_format]
        )
        assert planned.exit_code == 0, planned.stderr

        shown = show(str(plan_file), "--format", output_format)

        assert shown.exit_code == 0, shown.stderr
        assert shown.stdout == planned.stdout
        if output_format != "json":
            assert "1 to create, 1 to update, 1 to replace, 0 to delete" in shown.stdout
    assert live_widgets(target.db) == before


def test_show_says_it_is_a_saved_plan_and_where_it_came_from(write_spec, emulator_db, tmp_path):
    spec = every_kind_of_plan(write_spec, emulator_db)
    plan_file = tmp_path / "plan.json"
    assert in_process(emulator_db, "plan", str(spec), "--out", str(plan_file)).exit_code == 0
    created_at = json.loads(plan_file.read_text())["created_at"]

    shown = show(str(plan_file))

    assert shown.exit_code == 0, shown.stderr
    header = shown.stderr.splitlines()[0]
    assert header.startswith(f"{plan_file}: saved plan, made by turnstile-sync ")
    assert f"at {created_at} from the spec {spec} " in header
    assert f"for account {ACCOUNT} on emulator." in header
    assert "Not re-checked against the account" in header


def test_show_records_and_shows_unchanged_widgets(write_spec, emulator_db, tmp_path):
    spec = every_kind_of_plan(write_spec, emulator_db)
    plan_file = tmp_path / "plan.json"
    assert in_process(emulator_db, "plan", str(spec), "--out", str(plan_file)).exit_code == 0
    assert json.loads(plan_file.read_text())["unchanged"] == ["checkout"]

    document = json.loads(show(str(plan_file), "--format", "json").stdout)
    assert document["summary"]["unchanged"] == 1
    assert document["summary"]["unmanaged"] == 1 and document["summary"]["ignored"] == 1
    assert "1 unchanged" in show(str(plan_file), "--format", "markdown").stdout


def test_a_plan_file_without_unchanged_still_shows_and_applies(write_spec, target, tmp_path):
    """Files written before 'unchanged' was recorded: shown with 0 unchanged, applied as ever."""
    spec = every_kind_of_plan(write_spec, target.db)
    plan_file = tmp_path / "plan.json"
    assert target.run(["plan", str(spec), "--out", str(plan_file), "--force"]).exit_code == 0
    document = json.loads(plan_file.read_text())
    del document["unchanged"]
    plan_file.write_text(json.dumps(document))

    shown = show(str(plan_file))
    assert shown.exit_code == 0, shown.stderr
    assert "It was made with --force" in shown.stderr

    applied = target.run(["apply", str(spec), "--plan", str(plan_file), "--force"])
    assert applied.exit_code == 0, applied.stderr
    assert sorted(w["name"] for w in live_widgets(target.db)) == [
        "checkout",
        "eu",
        "legacy-one",
        "login",
        "new",
        "stray",
    ]


def test_show_of_a_plan_with_no_changes(write_spec, emulator_db, tmp_path):
    seed(emulator_db, name="login")
    spec = write_spec(spec_text(entry("login")))
    plan_file = tmp_path / "plan.json"
    planned = in_process(emulator_db, "plan", str(spec), "--out", str(plan_file))
    shown = show(str(plan_file))
    assert shown.exit_code == 0
    assert shown.stdout == planned.stdout
    assert "No changes. The account matches the spec." in shown.stdout


# Hostile plan files


@pytest.fixture
def saved_plan(write_spec, tmp_path, emulator_db) -> dict[str, Any]:
    """A real plan (an update and a create), made against the in-process emulator."""
    seed(emulator_db, name="login", mode="invisible")
    spec = write_spec(spec_text(entry("login"), entry("new")))
    plan_file = tmp_path / "made.json"
    made = in_process(emulator_db, "plan", str(spec), "--out", str(plan_file))
    assert made.exit_code == 0, made.stderr
    document: dict[str, Any] = json.loads(plan_file.read_text())
    assert [action["kind"] for action in document["actions"]] == ["create", "update"]
    return document


def changes(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    action = next(a for a in document["actions"] if a["kind"] == kind)
    found: list[dict[str, Any]] = action["changes"]
    return found


def domains_change(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in changes(document, "create") if c["field"] == "domains")


def refused(path: Path, *messages: str) -> None:
    for output_format in ("text", "markdown", "json"):
        result = show(str(path), "--format", output_format)
        assert result.exit_code == 1, result
        assert result.stdout == ""
        assert result.stderr.startswith("Error: ") or "Error: " in result.stderr
        assert "Traceback" not in result.stderr and "Internal error" not in result.stderr
        for message in messages:
            assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xffnot json at all", "is not UTF-8 text"),
        (b"", "cannot read plan file"),
        (b"[]", "is not a turnstile-sync plan file"),
        (b'{"format": "turnstile-sync-plan"', "cannot read plan file"),
        (b"[" * 200_000 + b"]" * 200_000, "cannot read plan file"),
        (b'{"format": "turnstile-sync-plan", "version": 1}', "is a version 1 plan file"),
        (b'{"format": "turnstile-sync-plan", "version": 2}', "is damaged"),
    ],
    ids=["binary", "empty", "not-a-plan", "truncated", "deep", "old-version", "incomplete"],
)
def test_garbage_is_refused_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    refused(path, message)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "plan.json"
    with path.open("wb") as file:
        file.truncate(PLAN_SIZE_CAP.limit + 1)  # sparse: nothing is written
    refused(path, "plan file", "32 MB")


def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(fifo, "FIFO")
    refused(tmp_path / "missing.json", "was not found")
    refused(Path("/dev/zero"), "character device")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: changes(d, "update")[0].update(before={"a": 1}), "single value"),
        (lambda d: changes(d, "update")[0].update(after=[1, [2]]), "single value"),
        (
            lambda d: domains_change(d).update(after=[["nested"]]),
            "domains must be a list of hostnames",
        ),
        (lambda d: domains_change(d).update(after=5), "domains must be a list of hostnames"),
        (
            lambda d: changes(d, "update")[0].update(field="<img src=x onerror=alert(1)>"),
            "is not a widget field",
        ),
        (lambda d: d["actions"].append(d["actions"][0]), "listed twice"),
        (lambda d: d["actions"][0].update(kind="explode"), "is damaged"),
        (lambda d: d.update(account_id=["not", "a", "string"]), "is damaged"),
    ],
    ids=[
        "dict-value",
        "list-value",
        "nested-domains",
        "number-domains",
        "html-field",
        "repeat",
        "kind",
        "acct",
    ],
)
def test_a_tampered_plan_is_refused_naming_what_is_wrong(saved_plan, tmp_path, edit, message):
    edit(saved_plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved_plan))
    refused(path, str(path), message)


def test_escape_sequences_in_a_plan_file_are_shown_escaped(saved_plan, tmp_path):
    """Whatever a file says is shown as visible text: no ESC reaches the terminal, no newline
    forges a line, in any format or in the header."""
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\nforged\u202e"
    update = saved_plan["actions"][1]
    update["reason"] = hostile
    update["changes"][0]["before"] = hostile
    update["sitekey"] = update["planned_against"]["sitekey"] = "0x4" + hostile
    saved_plan["unmanaged"] = [{"name": hostile, "sitekey": hostile}]
    saved_plan["created_at"] = hostile
    saved_plan["created_by"] = hostile
    saved_plan["target"] = hostile
    saved_plan["spec"]["path"] = hostile
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved_plan))

    for output_format in ("text", "markdown", "json"):
        result = show(str(path), "--format", output_format)
        assert result.exit_code == 0, result.stderr
        for stream in (result.stdout, result.stderr):
            assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
            assert "\nforged" not in stream
        assert "\\x1b" in result.stdout or "\\u001b" in result.stdout
        assert "\\x1b" in result.stderr  # the header quotes the file's values escaped
