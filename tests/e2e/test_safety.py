"""Safe reconcile rules through the CLI: identity, pruning, protection, guards, reviewed plans,
replacement order, secrets, and the apply journal."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.processes import run_in_terminal
from turnstile_sync.emulator import Backend
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV


def spec_text(*entries: str, **top: object) -> str:
    lines = [f"account_id: {ACCOUNT}"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in top.items()]
    lines.append("widgets:" if entries else "widgets: []")
    lines += list(entries)
    return "\n".join(lines) + "\n"


def entry(name: str, *extra: str, mode: str = "managed", domains: str = "[example.com]") -> str:
    lines = [f"  - name: {name}", f"    mode: {mode}", f"    domains: {domains}"]
    return "\n".join(lines + [f"    {line}" for line in extra])


def beside(plan_file: Path) -> str:
    """The spec a pipeline passes with a plan file: widgets.yaml next to it, as in a checkout."""
    return str(plan_file.parent / "widgets.yaml")


def names(db: Path) -> list[str]:
    return sorted(widget["name"] for widget in live_widgets(db))


# Identity


def test_duplicate_live_names_need_a_pin(write_spec, target):
    first = seed(target.db, name="login")
    second = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", mode="invisible")))
    refused = target.run(["plan", str(path)])
    assert refused.exit_code == 1
    assert "'login' matches 2 live widgets" in refused.stderr
    assert first["sitekey"] in refused.stderr and second["sitekey"] in refused.stderr
    assert "pin the one this entry manages with 'sitekey:'" in refused.stderr

    pinned = write_spec(
        spec_text(entry("login", f"sitekey: {second['sitekey']}", mode="invisible"))
    )
    applied = target.run(["apply", str(pinned), "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr
    modes = {w["sitekey"]: w["mode"] for w in live_widgets(target.db)}
    assert modes == {first["sitekey"]: "managed", second["sitekey"]: "invisible"}


def test_rename_in_place_by_pin(write_spec, target):
    widget = seed(target.db, name="old name")
    path = write_spec(spec_text(entry("new name", f"sitekey: {widget['sitekey']}")))
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 0
    assert f"~ update in place 'new name' ({widget['sitekey']})" in result.stdout
    assert "name:             old name -> new name" in result.stdout
    assert [(w["sitekey"], w["name"]) for w in live_widgets(target.db)] == [
        (widget["sitekey"], "new name")
    ]


def test_pin_to_a_missing_sitekey_is_an_error(write_spec, target):
    path = write_spec(spec_text(entry("login", "sitekey: 0x4AAAAAAAgone000000000000")))
    result = target.run(["plan", str(path)])
    assert result.exit_code == 1
    assert "pins sitekey 0x4AAAAAAAgone000000000000, which does not exist" in result.stderr


# Ownership and pruning


def test_unmanaged_prune_and_ignore(write_spec, target):
    seed(target.db, name="login")
    seed(target.db, name="stray")
    seed(target.db, name="legacy-form")
    ignore = ["legacy-*"]
    listed = target.run(["plan", str(write_spec(spec_text(entry("login"), ignore=ignore)))])
    assert "Unmanaged: 1 live widget(s) not in the spec" in listed.stdout
    assert "'stray'" in listed.stdout
    assert "legacy-form" not in listed.stdout
    assert "Ignored: 1 live widget(s) match 'ignore' patterns." in listed.stdout

    pruned = write_spec(spec_text(entry("login"), ignore=ignore, prune=True), "pruned.yaml")
    result = target.run(["apply", str(pruned), "--auto-approve"])
    assert result.exit_code == 0
    assert "  - delete 'stray'" in result.stdout
    assert names(target.db) == ["legacy-form", "login"]


def test_fields_set_nowhere_keep_their_live_value(write_spec, target):
    seed(target.db, name="login", clearance_level="interactive")
    path = write_spec(spec_text(entry("login", mode="invisible")))
    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    (widget,) = live_widgets(target.db)
    assert (widget["mode"], widget["clearance_level"]) == ("invisible", "interactive")


# Protection


def test_protect_true_refuses_replacement_even_with_force(write_spec, target):
    widget = seed(target.db, name="checkout")
    path = write_spec(spec_text(entry("checkout", "region: china", "protect: true")))
    for extra in ([], ["--force"]):
        result = target.run(["apply", str(path), "--auto-approve", *extra])
        assert result.exit_code == 1
        assert (
            f"refusing to replace 'checkout' ({widget['sitekey']}): it is protected by "
            "'protect: true' on its entry 'checkout'" in result.stderr
        )
        assert "Nothing was changed." in result.stderr
    assert [w["sitekey"] for w in live_widgets(target.db)] == [widget["sitekey"]]


def test_protected_list_survives_the_entry_being_deleted(write_spec, target):
    seed(target.db, name="login")
    checkout = seed(target.db, name="checkout")
    path = write_spec(spec_text(entry("login"), prune=True, protected=["checkout"]))
    result = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert result.exit_code == 1
    assert f"refusing to delete 'checkout' ({checkout['sitekey']})" in result.stderr
    assert "'protected: [checkout]' in the spec" in result.stderr
    assert names(target.db) == ["checkout", "login"]


# Guards


def test_deleting_every_widget_needs_force(write_spec, target):
    seed(target.db, name="a")
    seed(target.db, name="b")
    path = write_spec(spec_text(entry("c"), prune=True))
    refused = target.run(["apply", str(path), "--auto-approve"])
    assert refused.exit_code == 1
    assert "the plan deletes every managed widget in the account (2 of 2)" in refused.stderr
    assert names(target.db) == ["a", "b"]
    forced = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert forced.exit_code == 0
    assert names(target.db) == ["c"]


def test_more_than_max_deletes_needs_force(write_spec, target):
    for name in ("keep", "x", "y", "z"):
        seed(target.db, name=name)
    path = write_spec(spec_text(entry("keep"), prune=True))
    refused = target.run(["plan", str(path)])
    assert refused.exit_code == 1
    assert (
        "the plan deletes 3 and replaces 0 widget(s): 3 destructive actions, "
        "more than max_deletes (2)" in refused.stderr
    )
    assert "raise max_deletes in the spec or re-run with --force" in refused.stderr
    assert target.run(["plan", str(path), "--force"]).exit_code == 0
    raised = write_spec(spec_text(entry("keep"), prune=True, max_deletes=3), "raised.yaml")
    assert target.run(["apply", str(raised), "--auto-approve"]).exit_code == 0
    assert names(target.db) == ["keep"]


def test_empty_spec_needs_force(write_spec, target):
    seed(target.db, name="a")
    path = write_spec(spec_text(prune=True))
    refused = target.run(["apply", str(path), "--auto-approve"])
    assert refused.exit_code == 1
    assert "the spec lists no widgets but the account has 1 managed widget(s)" in refused.stderr
    assert names(target.db) == ["a"]
    assert target.run(["apply", str(path), "--auto-approve", "--force"]).exit_code == 0
    assert names(target.db) == []


# Replacement


def test_replacement_creates_the_new_widget_before_deleting_the_old(write_spec, target):
    old = seed(target.db, name="checkout")
    path = write_spec(spec_text(entry("checkout", "region: china")))
    planned = target.run(["plan", str(path)])
    assert (
        f"-/+ replace 'checkout' ({old['sitekey']}): region cannot be changed after creation"
        in planned.stdout
    )
    assert "a new widget is created first, with a new sitekey and secret" in planned.stdout
    assert "every page still using it stops working" in planned.stdout

    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    exchanges = [
        json.loads(line) for line in Path(os.environ[REQUEST_LOG_ENV]).read_text().splitlines()
    ]
    writes = [
        (x["operation"], x["path"].rsplit("/", 1)[-1])
        for x in exchanges
        if x["operation"] in ("create", "delete")
    ]
    assert writes == [("create", "widgets"), ("delete", old["sitekey"])]
    (new,) = live_widgets(target.db)
    assert new["region"] == "china" and new["sitekey"] != old["sitekey"]


# Reviewed plans


def test_fresh_plan_file_is_applied_exactly_without_asking(write_spec, target, tmp_path):
    seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", mode="invisible"), entry("new")))
    plan_file = tmp_path / "reviewed.json"
    made = target.run(["plan", str(path), "--out", str(plan_file)])
    assert made.exit_code == 0
    assert f"apply {path} --plan {plan_file}" in made.stderr
    document = json.loads(plan_file.read_text())
    assert document["format"] == "turnstile-sync-plan" and document["version"] == 2
    assert document["account_id"] == ACCOUNT
    assert [a["kind"] for a in document["actions"]] == ["create", "update"]
    assert document["actions"][1]["planned_against"]["modified_on"]

    # A later spec edit is not applied, and neither is the plan: it is no longer what the
    # spec gives. Only the reviewed spec, re-derived to the reviewed plan, is applied.
    reviewed_spec = path.read_text()
    path.write_text(spec_text(entry("login", mode="non-interactive"), entry("new"), entry("extra")))
    edited = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert edited.exit_code == 1
    assert f"{path} changed since {plan_file} was made from it" in edited.stderr
    assert [w["name"] for w in live_widgets(target.db)] == ["login"]
    path.write_text(reviewed_spec)
    applied = target.run(
        ["apply", beside(plan_file), "--plan", str(plan_file)]
    )  # no terminal, no --auto-approve
    assert applied.exit_code == 0, applied.stderr
    assert "Apply complete: 2 done." in applied.stdout
    modes = {w["name"]: w["mode"] for w in live_widgets(target.db)}
    assert modes == {"login": "invisible", "new": "managed"}


def test_stale_plan_file_is_refused(write_spec, target, tmp_path):
    login = seed(target.db, name="login")
    gone = seed(target.db, name="gone")
    path = write_spec(
        spec_text(entry("login", mode="invisible"), entry("gone", mode="invisible"), entry("new"))
    )
    plan_file = tmp_path / "reviewed.json"
    assert target.run(["plan", str(path), "--out", str(plan_file)]).exit_code == 0

    backend = Backend(target.db)
    backend.update(
        ACCOUNT,
        login["sitekey"],
        {"name": "login", "mode": "managed", "domains": ["changed.example.com"]},
    )
    backend.delete(ACCOUNT, gone["sitekey"])
    backend.create(ACCOUNT, {"name": "new", "mode": "managed", "domains": ["example.com"]})
    backend.close()
    before = live_widgets(target.db)

    result = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert f"{plan_file} is stale: 3 widget(s) changed since it was made:" in result.stderr
    assert "create 'new': a widget with that name appeared since the plan" in result.stderr
    assert f"update 'login': widget {login['sitekey']} changed since the plan" in result.stderr
    assert f"update 'gone': widget {gone['sitekey']} disappeared since the plan" in result.stderr
    assert "Nothing was changed." in result.stderr
    assert live_widgets(target.db) == before


def test_plan_file_for_another_account_version_target_or_spec_is_refused(
    write_spec, target, tmp_path
):
    path = write_spec(spec_text(entry("login")))
    plan_file = tmp_path / "reviewed.json"
    assert target.run(["plan", str(path), "--out", str(plan_file)]).exit_code == 0

    other = target.run(
        ["apply", beside(plan_file), "--plan", str(plan_file), "--account-id", "f" * 32]
    )
    assert other.exit_code == 1
    assert f"is a plan for account {ACCOUNT}, not {'f' * 32}" in other.stderr

    elsewhere = run_cli(
        [
            "apply",
            beside(plan_file),
            "--plan",
            str(plan_file),
            "--emulator",
            "--emulator-db",
            str(tmp_path / "x.db"),
        ]
    )
    if target.args:  # made in-process: the served emulator is another target, and vice versa
        elsewhere = run_cli(
            ["apply", beside(plan_file), "--plan", str(plan_file)],
            env={
                "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4",
                "CLOUDFLARE_API_TOKEN": "t",
            },
        )
    assert elsewhere.exit_code == 1
    assert "was planned against" in elsewhere.stderr

    path.write_text(spec_text(entry("login", mode="invisible")))
    changed = target.run(["apply", str(path), "--plan", str(plan_file)])
    assert changed.exit_code == 1
    assert "changed since" in changed.stderr and "plan again and review" in changed.stderr

    document = json.loads(plan_file.read_text())
    document["version"] = 99
    plan_file.write_text(json.dumps(document))
    future = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert future.exit_code == 1
    assert "is a version 99 plan file; this turnstile-sync" in future.stderr
    assert live_widgets(target.db) == []


# Secrets


def all_secrets(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT secret, previous_secret FROM widgets").fetchall()
    return {value for row in rows for value in row if value}


def test_secrets_reach_only_the_sink(write_spec, target, tmp_path):
    seed(target.db, name="moving")
    path = write_spec(spec_text(entry("login"), entry("moving", "region: china")))
    sink = tmp_path / "secrets.json"
    sink.write_text(json.dumps({"kept": {"sitekey": "0x1", "secret": "s"}}))
    plan_file = tmp_path / "plan.json"
    outputs = [
        target.run(["plan", str(path), "--out", str(plan_file)]),
        target.run(
            ["apply", beside(plan_file), "--plan", str(plan_file), "--secrets-out", str(sink)]
        ),
        target.run(
            [
                "rotate-secret",
                "login",
                "--auto-approve",
                "--secrets-out",
                str(sink),
                "--spec",
                str(path),
            ]
        ),
        target.run(
            [
                "get-secret",
                "moving",
                "--secrets-out",
                str(tmp_path / "one.json"),
                "--spec",
                str(path),
            ]
        ),
        target.run(["plan", str(path)]),
    ]
    assert [result.exit_code for result in outputs] == [0, 0, 0, 0, 0], [r.stderr for r in outputs]
    secrets = all_secrets(target.db)
    assert len(secrets) == 3  # login's current and previous, moving's new widget's secret
    assert stat.S_IMODE(sink.stat().st_mode) == 0o600
    saved = json.loads(sink.read_text())
    assert set(saved) == {"kept", "login", "moving"}
    live = {w["name"]: w for w in live_widgets(target.db)}
    assert saved["login"]["sitekey"] == live["login"]["sitekey"]
    assert saved["login"]["secret"] in secrets and saved["moving"]["secret"] in secrets

    sinks = {sink, tmp_path / "one.json"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in sinks and p != target.db]
    written += [Path(os.environ[REQUEST_LOG_ENV])]
    texts = [r.stdout + r.stderr for r in outputs] + [
        p.read_text(errors="replace") for p in written
    ]
    for secret in secrets:
        assert all(secret not in text for text in texts)
    assert "written to" in outputs[1].stdout


def test_github_actions_masks_every_new_secret_first(write_spec, target, tmp_path):
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve"], env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0
    (secret,) = all_secrets(target.db)
    lines = result.stderr.splitlines()
    mask = lines.index(f"::add-mask::{secret}")
    assert mask < next(i for i, line in enumerate(lines) if line.startswith("apply [1/1]"))
    assert secret not in result.stdout


def test_apply_without_sink_says_where_to_get_secrets(write_spec, target):
    result = target.run(["apply", str(write_spec(spec_text(entry("login")))), "--auto-approve"])
    assert "will get secrets that are not saved anywhere: pass --secrets-out FILE" in result.stderr
    assert "turnstile-sync get-secret NAME --secrets-out FILE" in result.stdout


def test_unusable_sink_is_refused_before_anything_changes(write_spec, target, tmp_path):
    sink = tmp_path / "secrets.json"
    sink.write_text("not json")
    result = target.run(
        [
            "apply",
            str(write_spec(spec_text(entry("login")))),
            "--auto-approve",
            "--secrets-out",
            str(sink),
        ]
    )
    assert result.exit_code == 1
    assert "exists but is not JSON; refusing to overwrite it" in result.stderr
    assert live_widgets(target.db) == []


def test_rotate_secret_explains_and_confirms(write_spec, target, tmp_path):
    seed(target.db, name="login")
    path = str(write_spec(spec_text(entry("login"))))
    refused = target.run(["rotate-secret", "login", "--spec", path])
    assert refused.exit_code == 1
    assert "old secret valid for 2 hours" in refused.stderr
    assert "refusing to rotate the secret: there is no terminal" in refused.stderr
    before = all_secrets(target.db)

    done = target.run(["rotate-secret", "login", "--spec", path, "--auto-approve"])
    assert done.exit_code == 0
    assert "the new secret was not saved (no --secrets-out)" in done.stdout
    assert len(all_secrets(target.db) - before) == 1

    again = target.run(
        ["rotate-secret", "login", "--spec", path, "--auto-approve", "--invalidate-immediately"]
    )
    assert again.exit_code == 1
    assert "stops working at once" in again.stderr
    assert "grace period" in again.stderr


def test_rotate_secret_of_an_ambiguous_name(write_spec, target):
    one, two = seed(target.db, name="twin"), seed(target.db, name="twin")
    result = target.run(["rotate-secret", "twin", "--account-id", ACCOUNT, "--auto-approve"])
    assert result.exit_code == 1
    assert (
        f"2 widgets are named 'twin' ({', '.join(sorted([one['sitekey'], two['sitekey']]))}); "
        "pass the sitekey" in result.stderr
    )


def test_a_refused_plan_is_still_shown_for_review(write_spec, target):
    for name in ("keep", "x", "y", "z"):
        seed(target.db, name=name)
    result = target.run(["plan", str(write_spec(spec_text(entry("keep"), prune=True)))])
    assert result.exit_code == 1
    assert "  - delete 'x'" in result.stdout
    assert "Plan: 0 to create, 0 to update, 0 to replace, 3 to delete." in result.stdout


def test_deletes_are_held_back_when_a_create_fails(write_spec, target):
    seed(target.db, name="w-old")
    seed(target.db, name="other")
    text = spec_text(entry("other"), entry("w-new", "offlabel: true"), prune=True)
    result = target.run(["apply", str(write_spec(text)), "--auto-approve"])
    assert result.exit_code == 1
    assert "FAILED         create 'w-new'" in result.stderr
    assert "not attempted  delete 'w-old'" in result.stderr
    assert "held back: an earlier action failed" in result.stderr
    assert names(target.db) == ["other", "w-old"]


def test_pinned_widget_cannot_be_replaced_silently(write_spec, target):
    widget = seed(target.db, name="login")
    text = spec_text(entry("login", f"sitekey: {widget['sitekey']}", "region: china"))
    result = target.run(["plan", str(write_spec(text))])
    assert result.exit_code == 1
    assert f"'login' is pinned to sitekey {widget['sitekey']}" in result.stderr
    assert "Remove 'sitekey:' from the entry to replace it" in result.stderr


def test_a_change_while_waiting_for_yes_is_caught(write_spec, target, tmp_path):
    widget = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", mode="invisible")))

    def dashboard_edit() -> None:
        backend = Backend(target.db)
        backend.update(
            ACCOUNT,
            widget["sitekey"],
            {
                "name": "login",
                "mode": "managed",
                "domains": ["example.com"],
                "clearance_level": "interactive",
            },
        )
        backend.close()

    code, output = run_in_terminal(
        ["apply", str(path), *target.args],
        "yes",
        cwd=tmp_path,
        env=target.env,
        before_answer=dashboard_edit,
    )
    assert code == 1, output
    assert "the account changed while the plan waited for confirmation" in output
    (current,) = live_widgets(target.db)
    assert (current["mode"], current["clearance_level"]) == ("managed", "interactive")
