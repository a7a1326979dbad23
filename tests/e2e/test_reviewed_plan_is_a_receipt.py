"""`apply --plan` applies only what it re-derives from the spec and the account, and only when
that is exactly the reviewed plan: an edited plan file can only be refused, changing nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, OTHER_ACCOUNT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import beside, entry, names, spec_text
from tests.processes import cli_command
from turnstile_sync.emulator import Backend


def make_plan(target, spec: Path, plan_file: Path, *flags: str) -> dict[str, Any]:
    made = target.run(["plan", str(spec), "--out", str(plan_file), *flags])
    assert made.exit_code == 0, made.stderr
    return json.loads(plan_file.read_text())


def edit(plan_file: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(plan_file.read_text())
    change(document)
    plan_file.write_text(json.dumps(document))


def action(document: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(a for a in document["actions"] if a["kind"] == kind and a["name"] == name)


def refused_unchanged(target, plan_file: Path, *flags: str) -> str:
    """Apply the plan file; it must be refused with every widget exactly as it was."""
    before = live_widgets(target.db)
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file), *flags])
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Internal error" not in result.stderr
    assert live_widgets(target.db) == before
    return result.stderr


def test_an_update_edited_into_a_delete_of_a_protected_widget_is_refused(
    write_spec, target, tmp_path
):
    checkout = seed(target.db, name="checkout")
    spec = write_spec(spec_text(entry("checkout", mode="invisible"), protected=["checkout"]))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)

    def into_delete(document):
        update = action(document, "update", "checkout")
        update.update(kind="delete", body=None, name="harmless-looking")

    edit(plan_file, into_delete)
    stderr = refused_unchanged(target, plan_file)
    assert "does not match what the spec and the account give now" in stderr
    assert "actions[0].kind: 'delete' in the file, 'update' re-derived" in stderr
    assert "actions[0].name: 'harmless-looking' in the file, 'checkout' re-derived" in stderr
    assert [w["sitekey"] for w in live_widgets(target.db)] == [checkout["sitekey"]]


def test_a_plan_edited_to_another_account_is_refused_without_account_flag(
    write_spec, target, tmp_path
):
    spec = write_spec(spec_text(entry("new")))  # only a create: no fingerprint to go stale
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    edit(plan_file, lambda d: d.update(account_id=OTHER_ACCOUNT))

    stderr = refused_unchanged(target, plan_file)
    assert f"is a plan for account {OTHER_ACCOUNT}, not {ACCOUNT}" in stderr
    backend = Backend(target.db)
    try:
        assert backend.list_widgets(OTHER_ACCOUNT, page=1, per_page=100)[0] == []
    finally:
        backend.close()


def test_a_body_the_reviewer_never_saw_is_refused(write_spec, target, tmp_path):
    seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login", mode="invisible"), entry("new")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)

    for kind, name in (("update", "login"), ("create", "new")):
        reviewed = plan_file.read_text()

        def other_domains(document, kind=kind, name=name):
            action(document, kind, name)["body"]["domains"] = ["evil.example"]

        edit(plan_file, other_domains)
        stderr = refused_unchanged(target, plan_file)
        index = 0 if kind == "create" else 1
        assert (
            f"actions[{index}].body.domains: ['evil.example'] in the file, ['example.com'] "
            "re-derived"
        ) in stderr
        plan_file.write_text(reviewed)
    assert names(target.db) == ["login"]


def test_deletes_added_beyond_max_deletes_are_refused(write_spec, target, tmp_path):
    for name in ("a", "b", "c", "keep"):
        seed(target.db, name=name)
    spec = write_spec(spec_text(entry("a"), entry("b"), entry("keep"), prune=True, max_deletes=1))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)  # deletes c: within max_deletes

    # A second, honestly made plan provides real fingerprints for the deletes to smuggle in.
    donor_spec = write_spec(spec_text(entry("keep"), prune=True, max_deletes=1), "donor.yaml")
    donor = make_plan(target, donor_spec, tmp_path / "donor.json", "--force")
    extra = [a for a in donor["actions"] if a["name"] in ("a", "b")]
    assert [a["kind"] for a in extra] == ["delete", "delete"]

    def more_deletes(document):
        document["actions"] += extra
        document["summary"]["delete"] = 3

    edit(plan_file, more_deletes)
    stderr = refused_unchanged(target, plan_file)
    assert "actions[1]: delete 'a'" in stderr and "absent re-derived" in stderr
    assert names(target.db) == ["a", "b", "c", "keep"]


def test_a_fabricated_replace_is_refused(write_spec, target, tmp_path):
    login = seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login", mode="invisible")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    edit(plan_file, lambda d: d["actions"][0].update(kind="replace"))
    stderr = refused_unchanged(target, plan_file)
    assert "actions[0].kind: 'replace' in the file, 'update' re-derived" in stderr
    assert [w["sitekey"] for w in live_widgets(target.db)] == [login["sitekey"]]


def test_an_update_redirected_to_another_widget_is_refused(write_spec, target, tmp_path):
    seed(target.db, name="a")
    seed(target.db, name="c")
    spec = write_spec(spec_text(entry("a", mode="invisible"), entry("c")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    donor_spec = write_spec(spec_text(entry("a"), entry("c", mode="invisible")), "donor.yaml")
    donor = make_plan(target, donor_spec, tmp_path / "donor.json")
    other = action(donor, "update", "c")

    def redirect(document):
        update = action(document, "update", "a")
        update.update(sitekey=other["sitekey"], planned_against=other["planned_against"])

    edit(plan_file, redirect)
    stderr = refused_unchanged(target, plan_file)
    assert "actions[0].sitekey" in stderr and "actions[0].planned_against" in stderr
    assert names(target.db) == ["a", "c"]


def test_a_tampered_name_taken_by_cannot_leave_a_duplicate(write_spec, target, tmp_path):
    spec = write_spec(spec_text(entry("new")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    meanwhile = seed(target.db, name="new")  # someone created it in the dashboard since
    edit(plan_file, lambda d: d["actions"][0].update(name_taken_by=[meanwhile["sitekey"]]))
    stderr = refused_unchanged(target, plan_file)
    assert "actions[0]: create 'new' (new widget) in the file, absent re-derived" in stderr
    assert names(target.db) == ["new"]


def test_a_stale_widget_is_reported_before_the_receipt(write_spec, target, tmp_path):
    login = seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login", mode="invisible")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    backend = Backend(target.db)
    backend.update(
        ACCOUNT, login["sitekey"], {"name": "login", "mode": "managed", "domains": ["x.example"]}
    )
    backend.close()
    stderr = refused_unchanged(target, plan_file)
    assert f"update 'login': widget {login['sitekey']} changed since the plan" in stderr
    assert "does not match" not in stderr


def test_the_untampered_plan_applies_exactly_as_reviewed(write_spec, target, tmp_path):
    for name in ("login", "checkout", "old"):
        seed(target.db, name=name)
    text = spec_text(
        entry("login", mode="invisible"),
        entry("checkout", domains="[shop.example.com]"),
        entry("new"),
        prune=True,
        protected=["checkout"],
        max_deletes=1,
    )
    spec = write_spec(text)
    plan_file = tmp_path / "plan.json"
    document = make_plan(target, spec, plan_file)
    assert document["guards"] == {"max_deletes": 1, "forced": False}
    assert [(a["kind"], a["name"]) for a in document["actions"]] == [
        ("create", "new"),
        ("update", "login"),
        ("update", "checkout"),
        ("delete", "old"),
    ]
    applied = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert applied.exit_code == 0, applied.stderr
    assert f"Re-deriving the plan from the spec {spec}." in applied.stderr
    assert "Apply complete: 4 done." in applied.stdout
    state = {w["name"]: (w["mode"], w["domains"]) for w in live_widgets(target.db)}
    assert state == {
        "login": ("invisible", ["example.com"]),
        "checkout": ("managed", ["shop.example.com"]),
        "new": ("managed", ["example.com"]),
    }


def test_a_plan_applied_with_another_spec_names_the_spec_it_was_made_from(
    write_spec, target, tmp_path
):
    change = write_spec(spec_text(entry("a", mode="invisible")), "change.yaml")
    widgets = write_spec(spec_text(entry("b")), "widgets.yaml")
    plan_file = tmp_path / "plan.json"
    make_plan(target, change, plan_file)
    result = target.run(["apply", str(widgets), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert f"{plan_file} was made from the spec {change}, and {widgets} is not that spec" in (
        result.stderr
    )
    assert live_widgets(target.db) == []


def test_guards_are_lifted_only_by_apply_force_and_as_planned(write_spec, target, tmp_path):
    for name in ("a", "b"):
        seed(target.db, name=name)
    spec = write_spec(spec_text(entry("keep"), prune=True, max_deletes=1))
    plan_file = tmp_path / "plan.json"
    made = target.run(["plan", str(spec), "--out", str(plan_file), "--force"])
    assert made.exit_code == 0, made.stderr
    assert f"--plan {plan_file} --force" in made.stderr
    assert json.loads(plan_file.read_text())["guards"] == {"max_deletes": 1, "forced": True}

    stderr = refused_unchanged(target, plan_file)  # the file's --force is not the command's
    assert "more than max_deletes (1)" in stderr and "Nothing was changed." in stderr

    edit(plan_file, lambda d: d["guards"].update(forced=False))
    stderr = refused_unchanged(target, plan_file, "--force")
    assert "guards.forced: False in the file, True re-derived" in stderr

    edit(plan_file, lambda d: d["guards"].update(forced=True))
    applied = target.run(["apply", beside(plan_file), "--plan", str(plan_file), "--force"])
    assert applied.exit_code == 0, applied.stderr
    assert names(target.db) == ["keep"]


def test_a_version_1_plan_file_asks_for_a_new_plan(write_spec, target, tmp_path):
    plan_file = tmp_path / "plan.json"
    make_plan(target, write_spec(spec_text(entry("a"))), plan_file)

    def old_format(document):
        document["version"] = 1
        del document["guards"]

    edit(plan_file, old_format)
    stderr = refused_unchanged(target, plan_file)
    assert "is a version 1 plan file" in stderr and "Make the plan again" in stderr


def plan_file_for(target, write_spec, tmp_path: Path, text: str) -> Path:
    """A plan file made by the real CLI from spec ``text``."""
    plan_file = tmp_path / "plan.json"
    result = target.run(["plan", str(write_spec(text)), "--out", str(plan_file)])
    assert result.exit_code == 0, result.stderr
    return plan_file


def test_an_edited_plan_cannot_redirect_a_delete(write_spec, target, tmp_path):
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    c = next(w for w in live_widgets(target.db) if w["name"] == "c")
    plan_file = plan_file_for(
        target, write_spec, tmp_path, spec_text(entry("b"), entry("c"), prune=True)
    )

    def redirect(document):
        document["actions"][0]["sitekey"] = c["sitekey"]

    edit(plan_file, redirect)
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "'sitekey' differs from the widget it was planned against" in result.stderr
    assert names(target.db) == ["a", "b", "c"]


def test_an_edited_plan_cannot_drop_its_fingerprint(write_spec, target, tmp_path):
    seed(target.db, name="a")
    seed(target.db, name="b")
    plan_file = plan_file_for(target, write_spec, tmp_path, spec_text(entry("b"), prune=True))
    edit(plan_file, lambda d: d["actions"][0].update(planned_against=None))
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "only a create may lack 'planned_against'" in result.stderr
    assert names(target.db) == ["a", "b"]


def test_a_plan_file_rechecks_protection(write_spec, target, tmp_path):
    seed(target.db, name="a")
    seed(target.db, name="keep")
    plan_file = plan_file_for(target, write_spec, tmp_path, spec_text(entry("keep"), prune=True))
    edit(plan_file, lambda d: d["protection"].update(patterns=["a"]))
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "does not match what the spec and the account give now" in result.stderr
    assert "protection.patterns: ['a'] in the file, [] re-derived" in result.stderr
    assert names(target.db) == ["a", "keep"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["actions"][0]["body"].update(colour="red"),
            "is damaged: actions.0.body.colour",
        ),
        (lambda d: d["actions"][0]["body"].pop("domains"), "is damaged: actions.0.body.domains"),
        (lambda d: d["actions"].append(d["actions"][0]), "an action is listed twice"),
    ],
    ids=["extra-key", "missing-domains", "duplicate"],
)
def test_damaged_plan_files_are_refused_cleanly(write_spec, target, tmp_path, change, message):
    plan_file = plan_file_for(target, write_spec, tmp_path, spec_text(entry("new")))
    edit(plan_file, change)
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Internal error" not in result.stderr
    assert live_widgets(target.db) == []


def test_a_reviewed_rename_plus_create_is_not_called_stale(write_spec, target, tmp_path):
    old = seed(target.db, name="login")
    text = spec_text(entry("login-legacy", f"sitekey: {old['sitekey']}"), entry("login"))
    plan_file = plan_file_for(target, write_spec, tmp_path, text)
    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 0, result.stderr
    assert names(target.db) == ["login", "login-legacy"]


def test_unwritable_plan_out_is_a_clean_error(write_spec, target, tmp_path):
    out = tmp_path / "missing-dir" / "plan.json"
    result = target.run(["plan", str(write_spec(spec_text(entry("a")))), "--out", str(out)])
    assert result.exit_code == 1
    assert f"cannot write the plan file {out}" in result.stderr
    assert "Internal error" not in result.stderr


def test_plan_file_with_a_missing_spec_is_a_clean_error(write_spec, target, tmp_path):
    plan_file = plan_file_for(target, write_spec, tmp_path, spec_text(entry("a")))
    result = target.run(["apply", str(tmp_path / "gone.yaml"), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "gone.yaml" in result.stderr
    assert "Internal error" not in result.stderr


def test_a_plan_file_cannot_choose_the_spec_it_is_checked_against(
    write_spec, target, tmp_path, monkeypatch
):
    """The file's recorded spec path and digest are editable: pointing them at another spec on
    the runner (whose digest anyone can compute) must not make that spec's plan applicable."""
    seed(target.db, name="keep")
    victim = seed(target.db, name="victim")
    reviewed_spec = write_spec(spec_text(entry("keep", mode="invisible")))
    other_spec = write_spec(spec_text(entry("keep", mode="invisible"), prune=True), "other.yaml")
    reviewed_plan = tmp_path / "reviewed.json"
    make_plan(target, reviewed_spec, reviewed_plan)
    evil_plan = tmp_path / "evil.json"
    make_plan(target, other_spec, evil_plan)  # deletes 'victim'
    reviewed_plan.write_text(evil_plan.read_text())

    # The pipeline applies in its checkout, where SPEC defaults to ./widgets.yaml.
    monkeypatch.chdir(tmp_path)
    before = live_widgets(target.db)
    result = target.run(["apply", "--plan", str(reviewed_plan)])
    assert result.exit_code == 1, result.stdout + result.stderr
    assert live_widgets(target.db) == before
    stderr = result.stderr
    assert f"{reviewed_plan} was made from the spec {other_spec}" in stderr
    assert victim["sitekey"] in {w["sitekey"] for w in live_widgets(target.db)}


ESCAPE = "\x1b]0;owned\x07\u202e"
HUGE = "x" * 1_000_000 + ESCAPE


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["actions"][0]["body"].update({HUGE: 1}),
        lambda d: d.update(account_id=HUGE),
        lambda d: d.update(target=HUGE),
        lambda d: d.update(version=HUGE),
        lambda d: d["actions"][0]["changes"][0].update(before=_nested(600)),
        lambda d: d.update(summary="VERY-DEEP"),
    ],
    ids=["huge-key", "huge-account", "huge-target", "huge-version", "deep-value", "very-deep"],
)
def test_hostile_plan_file_values_give_a_short_escaped_refusal(
    write_spec, target, tmp_path, change
):
    plan_file = plan_file_for(target, write_spec, tmp_path, spec_text(entry("new")))
    document = json.loads(plan_file.read_text())
    change(document)
    deep = "[" * 100_000 + "]" * 100_000  # more than json.dumps itself can write
    plan_file.write_text(json.dumps(document).replace('"VERY-DEEP"', deep))
    stderr = refused_unchanged(target, plan_file)
    assert len(stderr) < 4_000
    assert "\x1b" not in stderr and "\x07" not in stderr and "\u202e" not in stderr


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_spec_that_is_a_device_or_fifo_is_refused_at_once_beside_a_plan_file(
    write_spec, tmp_path, kind
):
    db = tmp_path / "emulator.sqlite3"
    plan_file = tmp_path / "plan.json"
    spec = write_spec(spec_text(entry("new")))
    flags = ["--emulator", "--emulator-db", str(db)]
    made = subprocess.run(
        cli_command("plan", str(spec), "--out", str(plan_file), *flags),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    if kind == "fifo":
        hostile = tmp_path / "spec.fifo"
        os.mkfifo(hostile)
    else:
        hostile = Path("/dev/zero")
    applied = subprocess.run(  # a child process, so a hang fails the test instead of hanging it
        cli_command("apply", str(hostile), "--plan", str(plan_file), *flags),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert applied.returncode == 1
    assert "not a regular file" in applied.stderr
    assert "Internal error" not in applied.stderr
