"""Protection and ignore rules hold against names chosen to slip past them, and a replacement
killed between its halves is finished rather than left ambiguous, through the CLI."""

from __future__ import annotations

import json
import unicodedata

from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, names, spec_text

NFD_CAFE = unicodedata.normalize("NFD", "café checkout")
NFC_CAFE = unicodedata.normalize("NFC", "café checkout")


def quoted(name: str) -> str:
    """A YAML scalar for any name, glob characters and all."""
    return json.dumps(name, ensure_ascii=False)


# Glob characters in names


def test_protected_name_with_glob_characters_survives_prune(write_spec, target):
    seed(target.db, name="keep")
    checkout = seed(target.db, name="checkout [eu]")
    path = write_spec(spec_text(entry("keep"), prune=True, protected=["checkout [eu]"]))
    for extra in ([], ["--force"]):
        result = target.run(["apply", str(path), "--auto-approve", *extra])
        assert result.exit_code == 1, result.stdout
        assert (
            f"refusing to delete 'checkout [eu]' ({checkout['sitekey']}): it is protected by "
            "'protected: [checkout [eu]]' in the spec." in result.stderr
        )
    assert names(target.db) == ["checkout [eu]", "keep"]


def test_ignored_name_with_glob_characters_is_never_touched(write_spec, target):
    seed(target.db, name="keep")
    seed(target.db, name="legacy [old]")
    path = write_spec(spec_text(entry("keep"), prune=True, ignore=["legacy [old]"]))
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 0, result.stderr
    assert "No changes." in result.stdout
    assert "Ignored: 1 live widget(s)" in result.stdout
    assert names(target.db) == ["keep", "legacy [old]"]


# Look-alike names


def test_protection_sees_through_unicode_normalisation(write_spec, target):
    seed(target.db, name="keep")
    cafe = seed(target.db, name=NFD_CAFE)
    path = write_spec(spec_text(entry("keep"), prune=True, protected=[NFC_CAFE]))
    result = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert result.exit_code == 1
    assert f"({cafe['sitekey']}): it is protected by 'protected: [{NFC_CAFE}]'" in result.stderr
    assert "once case and Unicode normalisation are ignored" in result.stderr
    assert [w["name"] for w in live_widgets(target.db) if w["sitekey"] == cafe["sitekey"]] == [
        NFD_CAFE
    ]


def test_protected_widget_renamed_in_the_dashboard_is_not_deleted(write_spec, target):
    renamed = seed(target.db, name="Checkout")
    seed(target.db, name="login")
    path = write_spec(
        spec_text(entry("checkout", "protect: true"), entry("login"), prune=True, max_deletes=5)
    )
    result = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert result.exit_code == 1
    assert (
        f"refusing to delete 'Checkout' ({renamed['sitekey']}): it is protected by "
        "'protect: true' on the entry 'checkout'" in result.stderr
    )
    assert (
        f"Warning: live widget 'Checkout' ({renamed['sitekey']}) and spec entry 'checkout' "
        "differ only by case or Unicode normalisation" in result.stderr
    )
    assert f"pin it with 'sitekey: {renamed['sitekey']}'" in result.stderr
    assert names(target.db) == ["Checkout", "login"]


def test_look_alike_names_are_a_warning_not_a_silent_create(write_spec, target):
    live = seed(target.db, name=NFD_CAFE)
    path = write_spec(spec_text(entry(quoted(NFC_CAFE))))
    result = target.run(["plan", str(path)])
    assert result.exit_code == 0
    assert "Plan: 1 to create" in result.stdout
    assert (
        f"Warning: live widget {NFD_CAFE!r} ({live['sitekey']}) and spec entry {NFC_CAFE!r} "
        "differ only by case or Unicode normalisation, so they are different widgets to this "
        f"plan: it creates {NFC_CAFE!r} and leaves {NFD_CAFE!r} alone." in result.stderr
    )
    as_json = target.run(["plan", str(path), "--format", "json"])
    assert json.loads(as_json.stdout)["summary"]["create"] == 1
    assert "differ only by case or Unicode normalisation" in as_json.stderr


def test_renaming_a_protected_widget_to_an_unprotected_name_is_refused(write_spec, target):
    widget = seed(target.db, name="checkout")
    sitekey = widget["sitekey"]
    path = write_spec(
        spec_text(entry("old checkout", f"sitekey: {sitekey}"), protected=["checkout"])
    )
    for extra in ([], ["--force"]):
        result = target.run(["apply", str(path), "--auto-approve", *extra])
        assert result.exit_code == 1
        assert (
            f"refusing to rename 'checkout' ({sitekey}) to 'old checkout': 'checkout' is "
            "protected by 'protected: [checkout]' in the spec, and no rule protects "
            "'old checkout'" in result.stderr
        )
    assert names(target.db) == ["checkout"]

    protected_too = write_spec(
        spec_text(
            entry("old checkout", f"sitekey: {sitekey}", "protect: true"), protected=["checkout"]
        ),
        "protected-too.yaml",
    )
    assert target.run(["apply", str(protected_too), "--auto-approve"]).exit_code == 0
    assert names(target.db) == ["old checkout"]


# Interrupted replacements


def interrupted_replacement(db, name="checkout", **fields):
    """What a replacement world -> china killed between its create and its delete leaves."""
    old = seed(db, name=name, region="world", **fields)
    new = seed(db, name=name, region="china", **fields)
    return old, new


def test_an_interrupted_replacement_is_finished_by_the_next_apply(write_spec, target):
    old, new = interrupted_replacement(target.db)
    path = write_spec(spec_text(entry("checkout", "region: china")))
    planned = target.run(["plan", str(path)])
    assert planned.exit_code == 0, planned.stderr
    assert (
        f"- delete 'checkout' ({old['sitekey']}): left over from an interrupted replacement "
        f"of 'checkout' (region world -> china; the new widget is {new['sitekey']})"
        in planned.stdout
    )
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete." in planned.stdout

    applied = target.run(["apply", str(path), "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr
    assert [(w["sitekey"], w["region"]) for w in live_widgets(target.db)] == [
        (new["sitekey"], "china")
    ]
    again = target.run(["plan", str(path), "--detailed-exitcode"])
    assert again.exit_code == 0, again.stdout + again.stderr


def test_finishing_a_replacement_obeys_protection_and_guards(write_spec, target):
    old, _ = interrupted_replacement(target.db)
    protected = write_spec(spec_text(entry("checkout", "region: china"), protected=["check*"]))
    refused = target.run(["apply", str(protected), "--auto-approve", "--force"])
    assert refused.exit_code == 1
    assert f"refusing to delete 'checkout' ({old['sitekey']})" in refused.stderr
    assert "'protected: [check*]'" in refused.stderr

    capped = write_spec(spec_text(entry("checkout", "region: china"), max_deletes=0), "cap.yaml")
    held = target.run(["apply", str(capped), "--auto-approve"])
    assert held.exit_code == 1
    assert "more than max_deletes (0)" in held.stderr
    assert len(live_widgets(target.db)) == 2
    assert target.run(["apply", str(capped), "--auto-approve", "--force"]).exit_code == 0
    assert len(live_widgets(target.db)) == 1


def test_same_named_widgets_that_are_not_halves_of_a_replacement_stay_ambiguous(write_spec, target):
    # Unrelated widgets for two sites: they differ in more than the region.
    seed(target.db, name="checkout", region="world", domains=["a.example"])
    seed(target.db, name="checkout", region="china", domains=["b.example"])
    # A copy in another region made after the one the spec manages is not a leftover of it.
    seed(target.db, name="login", region="china")
    seed(target.db, name="login", region="world")
    path = write_spec(
        spec_text(
            entry("checkout", "region: china", domains="[b.example]"),
            entry("login", "region: china"),
        )
    )
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 1
    assert "'checkout' matches 2 live widgets" in result.stderr
    assert "'login' matches 2 live widgets" in result.stderr
    assert len(live_widgets(target.db)) == 4
