"""`plan`/`apply --target` limit a run to selected widgets, loudly, in every format and in plan
files; `--replace` replaces a widget whose settings match. Guards and protection still hold,
and a plan file can never widen what is applied."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_reviewed_plan_is_a_receipt import edit, make_plan, refused_unchanged
from tests.e2e.test_safety import beside, entry, spec_text

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "plan.schema.json").read_text())
BANNER = "Targeted plan: only 2 of 4 widget(s) considered (--target 'checkout-*')"


def drifting_shop(write_spec, target, **top: object) -> Path:
    """Four widgets, every one drifting: 'checkout-*' selects two of them."""
    for name in ("checkout-eu", "checkout-us", "login", "signup"):
        seed(target.db, name=name)
    entries = [
        entry(n, mode="invisible") for n in ("checkout-eu", "checkout-us", "login", "signup")
    ]
    return write_spec(spec_text(*entries, **top))


def modes(db: Path) -> dict[str, str]:
    return {w["name"]: w["mode"] for w in live_widgets(db)}


def sitekeys(db: Path) -> dict[str, str]:
    return {w["name"]: w["sitekey"] for w in live_widgets(db)}


def test_a_targeted_text_plan_says_so_before_the_actions_and_in_the_summary(write_spec, target):
    spec = drifting_shop(write_spec, target)
    result = target.run(["plan", str(spec), "--target", "checkout-*"])
    assert result.exit_code == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith(BANNER)
    assert "update in place 'checkout-eu'" in result.stdout
    assert "'login'" not in result.stdout and "'signup'" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == (
        "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete. Targeted: only 2 of 4 "
        "widget(s) considered; other changes may be pending."
    )


def test_a_targeted_markdown_plan_opens_with_a_callout(write_spec, target):
    spec = drifting_shop(write_spec, target)
    result = target.run(["plan", str(spec), "--target", "checkout-*", "--format", "markdown"])
    assert result.exit_code == 0, result.stderr
    title, callout = result.stdout.split("\n", 1)
    assert title.startswith("### turnstile-sync plan: ")
    assert callout.startswith(
        "> [!IMPORTANT]\n> **Targeted plan:** only 2 of 4 widget(s) considered (`--target` "
        "`checkout-*`); other changes may be pending."
    )
    assert "`login`" not in result.stdout


def test_a_targeted_json_plan_records_its_targets_per_the_schema(write_spec, target):
    spec = drifting_shop(write_spec, target)
    result = target.run(["plan", str(spec), "--target", "checkout-*", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["targets"] == {"requested": ["checkout-*"], "considered": 2, "total": 4}
    assert document["replace"] == []
    assert [a["name"] for a in document["actions"]] == ["checkout-eu", "checkout-us"]
    whole = json.loads(target.run(["plan", str(spec), "--format", "json"]).stdout)
    assert whole["targets"] is None and len(whole["actions"]) == 4


def test_a_targeted_apply_changes_only_the_targeted_widgets(write_spec, target):
    spec = drifting_shop(write_spec, target)
    result = target.run(["apply", str(spec), "--target", "checkout-us", "--auto-approve"])
    assert result.exit_code == 0, result.stderr
    assert modes(target.db) == {
        "checkout-eu": "managed",
        "checkout-us": "invisible",
        "login": "managed",
        "signup": "managed",
    }


def test_detailed_exitcode_with_targets_reports_only_targeted_drift(write_spec, target):
    spec = drifting_shop(write_spec, target)
    assert target.run(["apply", str(spec), "--target", "login", "--auto-approve"]).exit_code == 0
    settled = target.run(["plan", str(spec), "--target", "login", "--detailed-exitcode"])
    assert settled.exit_code == 0, settled.stderr
    assert "No changes. The targeted widgets match the spec." in settled.stdout
    drifting = target.run(["plan", str(spec), "--target", "signup", "--detailed-exitcode"])
    assert drifting.exit_code == 2


def test_a_target_that_matches_nothing_is_an_error_naming_it(write_spec, target):
    spec = drifting_shop(write_spec, target)
    before = live_widgets(target.db)
    result = target.run(
        ["apply", str(spec), "--target", "login", "--target", "chekout-*", "--auto-approve"]
    )
    assert result.exit_code == 1
    assert "--target 'chekout-*' matches no widget in the spec or the account" in result.stderr
    assert "Traceback" not in result.stderr
    assert live_widgets(target.db) == before


def test_a_targeted_prune_deletes_only_targeted_unmanaged_widgets(write_spec, target):
    for name in ("keep", "old-a", "old-b", "stray"):
        seed(target.db, name=name)
    spec = write_spec(spec_text(entry("keep"), prune=True))
    result = target.run(["apply", str(spec), "--target", "old-*", "--auto-approve"])
    assert result.exit_code == 0, result.stderr
    assert sorted(sitekeys(target.db)) == ["keep", "stray"]


def test_guards_refuse_a_targeted_plan_that_breaks_them(write_spec, target):
    for name in ("keep", "old-a", "old-b"):
        seed(target.db, name=name)
    spec = write_spec(spec_text(entry("keep"), prune=True, max_deletes=1))
    before = live_widgets(target.db)
    result = target.run(["apply", str(spec), "--target", "old-*", "--auto-approve"])
    assert result.exit_code == 1
    assert "max_deletes" in result.stdout + result.stderr
    assert live_widgets(target.db) == before


def test_replace_gives_an_unchanged_widget_a_new_sitekey_and_secret(write_spec, target, tmp_path):
    seed(target.db, name="login")
    seed(target.db, name="other")
    old = sitekeys(target.db)
    spec = write_spec(spec_text(entry("login"), entry("other")))
    secrets = tmp_path / "secrets.json"
    result = target.run(
        ["apply", str(spec), "--replace", "login", "--auto-approve", "--secrets-out", str(secrets)]
    )
    assert result.exit_code == 0, result.stderr
    assert f"replace 'login' ({old['login']}): replacement requested with --replace" in (
        result.stdout
    )
    now = sitekeys(target.db)
    assert now["login"] != old["login"] and now["other"] == old["other"]
    assert now["login"] in secrets.read_text()
    again = target.run(["plan", str(spec), "--detailed-exitcode"])
    assert again.exit_code == 0, "a replacement is asked for on the command line, once"


def test_replace_in_json_is_a_destructive_action_with_its_reason(write_spec, target):
    widget = seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login")))
    result = target.run(["plan", str(spec), "--replace", widget["sitekey"], "--format", "json"])
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["replace"] == [widget["sitekey"]]
    (action,) = document["actions"]
    assert (action["kind"], action["destructive"]) == ("replace", True)
    assert action["reason"] == "replacement requested with --replace"


def test_replace_of_a_protected_widget_is_refused(write_spec, target):
    seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login", "protect: true")))
    before = live_widgets(target.db)
    result = target.run(["apply", str(spec), "--replace", "login", "--force", "--auto-approve"])
    assert result.exit_code == 1
    assert "refusing to replace 'login'" in result.stderr
    assert live_widgets(target.db) == before


def test_replace_counts_against_max_deletes(write_spec, target):
    seed(target.db, name="a")
    seed(target.db, name="b")
    spec = write_spec(spec_text(entry("a"), entry("b"), max_deletes=1))
    before = live_widgets(target.db)
    result = target.run(["apply", str(spec), "--replace", "a", "--replace", "b", "--auto-approve"])
    assert result.exit_code == 1
    assert "2 destructive actions (0 delete, 2 replace) > max_deletes 1" in result.stdout
    assert live_widgets(target.db) == before


def test_replace_of_a_widget_not_in_the_spec_or_not_live_is_an_error(write_spec, target):
    seed(target.db, name="stray")
    spec = write_spec(spec_text(entry("login")))
    result = target.run(["plan", str(spec), "--replace", "stray", "--replace", "login"])
    assert result.exit_code == 1
    assert "--replace 'stray' names no live widget the spec manages" in result.stderr
    assert "--replace 'login': the spec's widget is not in the account yet" in result.stderr


# Plan files


def test_a_targeted_plan_file_applies_with_the_same_targets(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    made = target.run(["plan", str(spec), "--target", "checkout-*", "--out", str(plan_file)])
    assert "--target 'checkout-*'" in made.stderr  # the apply command it suggests
    assert json.loads(plan_file.read_text())["targets"] == ["checkout-*"]
    applied = target.run(
        ["apply", beside(plan_file), "--plan", str(plan_file), "--target", "checkout-*"]
    )
    assert applied.exit_code == 0, applied.stderr
    assert modes(target.db)["checkout-eu"] == "invisible"
    assert modes(target.db)["login"] == "managed"


def test_a_targeted_plan_file_applied_without_its_targets_is_refused(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file, "--target", "checkout-*")
    stderr = refused_unchanged(target, plan_file)
    assert "--target: 'checkout-*' in the file, none (the whole account) on this command" in stderr


def test_a_whole_account_plan_file_applied_with_targets_is_refused(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)
    stderr = refused_unchanged(target, plan_file, "--target", "login")
    assert "--target: a whole-account plan in the file, 'login' on this command line" in stderr


def test_a_plan_file_made_with_replace_needs_the_same_replace(write_spec, target, tmp_path):
    seed(target.db, name="login")
    spec = write_spec(spec_text(entry("login")))
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file, "--replace", "login")
    stderr = refused_unchanged(target, plan_file)
    assert "--replace: 'login' in the file, none on this command line" in stderr
    old = sitekeys(target.db)["login"]
    applied = target.run(
        ["apply", beside(plan_file), "--plan", str(plan_file), "--replace", "login"]
    )
    assert applied.exit_code == 0, applied.stderr
    assert sitekeys(target.db)["login"] != old


def test_a_recorded_target_edited_to_widen_the_plan_is_refused(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    whole = tmp_path / "whole.json"
    make_plan(target, spec, plan_file, "--target", "login")
    make_plan(target, spec, whole)

    def widened(document):
        """The whole-account plan's actions under the targeted file's name."""
        document["targets"] = None
        document["actions"] = json.loads(whole.read_text())["actions"]
        document["summary"] = json.loads(whole.read_text())["summary"]

    edit(plan_file, widened)
    stderr = refused_unchanged(target, plan_file, "--target", "login")
    assert "a whole-account plan in the file, 'login' on this command line" in stderr

    def glob_widened(document):
        document["targets"] = ["*"]

    make_plan(target, spec, plan_file, "--target", "login")
    edit(plan_file, glob_widened)
    refused_unchanged(target, plan_file, "--target", "login")


def test_a_targeted_file_with_extra_actions_is_refused_even_with_matching_flags(
    write_spec, target, tmp_path
):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    whole = tmp_path / "whole.json"
    make_plan(target, spec, plan_file, "--target", "login")
    make_plan(target, spec, whole)

    def more_actions(document):
        document["actions"] = json.loads(whole.read_text())["actions"]

    edit(plan_file, more_actions)
    stderr = refused_unchanged(target, plan_file, "--target", "login")
    assert "does not match what the spec and the account give now" in stderr


def test_a_hostile_target_in_a_plan_file_is_quoted(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file, "--target", "login")
    edit(plan_file, lambda d: d.update(targets=["login\n::error::forged\x1b[2J"]))
    stderr = refused_unchanged(target, plan_file, "--target", "login")
    assert "\n::error::" not in stderr and "\x1b" not in stderr


def test_a_plan_file_from_before_targets_is_a_whole_account_plan(write_spec, target, tmp_path):
    spec = drifting_shop(write_spec, target)
    plan_file = tmp_path / "plan.json"
    make_plan(target, spec, plan_file)

    def as_0_2_0_wrote_it(document):
        del document["targets"], document["replace"]

    edit(plan_file, as_0_2_0_wrote_it)
    refused_unchanged(target, plan_file, "--target", "login")
    applied = target.run(["apply", beside(plan_file), "--plan", str(plan_file)])
    assert applied.exit_code == 0, applied.stderr
    assert set(modes(target.db).values()) == {"invisible"}
