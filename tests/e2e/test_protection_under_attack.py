"""Protection and ignore rules hold against names chosen to slip past them, and a replacement
killed between its halves is finished rather than left ambiguous, through the CLI."""

from __future__ import annotations

import json
import subprocess
import unicodedata

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, names, spec_text
from tests.processes import clean_env, cli_command, served_emulator

NFD_CAFE = unicodedata.normalize("NFD", "café checkout")
NFC_CAFE = unicodedata.normalize("NFC", "café checkout")


def quoted(name: str) -> str:
    """A YAML scalar for any name, glob characters and all."""
    return json.dumps(name, ensure_ascii=False)


# Glob characters in names


def test_names_with_glob_characters_are_protected_and_ignored_literally(write_spec, target):
    seed(target.db, name="keep")
    checkout = seed(target.db, name="checkout [eu]")
    seed(target.db, name="legacy [old]")
    path = write_spec(
        spec_text(entry("keep"), prune=True, protected=["checkout [eu]"], ignore=["legacy [old]"])
    )
    for extra in ([], ["--force"]):
        result = target.run(["apply", str(path), "--auto-approve", *extra])
        assert result.exit_code == 1, result.stdout
        assert (
            f"refusing to delete 'checkout [eu]' ({checkout['sitekey']}): it is protected by "
            "'protected: [checkout [eu]]' in the spec." in result.stderr
        )
        assert "legacy" not in result.stderr
        assert "Ignored: 1 live widget(s)" in result.stdout
    assert names(target.db) == ["checkout [eu]", "keep", "legacy [old]"]


# Look-alike names


def test_protection_sees_through_case_and_unicode_look_alikes(write_spec, target):
    renamed = seed(target.db, name="Checkout")  # someone renamed it in the dashboard
    cafe = seed(target.db, name=NFD_CAFE)
    seed(target.db, name="login")
    path = write_spec(
        spec_text(
            entry("checkout", "protect: true"),
            entry("login"),
            prune=True,
            protected=[NFC_CAFE],
            max_deletes=5,
        )
    )
    result = target.run(["apply", str(path), "--auto-approve", "--force"])
    assert result.exit_code == 1
    assert (
        f"refusing to delete 'Checkout' ({renamed['sitekey']}): it is protected by "
        "'protect: true' on the entry 'checkout' (matched once case and Unicode "
        "normalisation are ignored)" in result.stderr
    )
    assert (
        f"refusing to delete {NFD_CAFE!r} ({cafe['sitekey']}): it is protected by "
        f"'protected: [{NFC_CAFE}]' in the spec (matched once" in result.stderr
    )
    assert (
        f"Warning: live widget 'Checkout' ({renamed['sitekey']}) and spec entry 'checkout' "
        "differ only by case or Unicode normalisation" in result.stderr
    )
    assert f"pin it with 'sitekey: {renamed['sitekey']}'" in result.stderr
    assert names(target.db) == sorted(["Checkout", NFD_CAFE, "login"])


def test_look_alike_names_are_a_warning_not_a_silent_create(write_spec, target):
    live = seed(target.db, name=NFD_CAFE)
    path = write_spec(spec_text(entry(quoted(NFC_CAFE))))
    warning = (
        f"Warning: live widget {NFD_CAFE!r} ({live['sitekey']}) and spec entry {NFC_CAFE!r} "
        "differ only by case or Unicode normalisation, so they are different widgets to this "
        f"plan: it creates {NFC_CAFE!r} and leaves {NFD_CAFE!r} alone."
    )
    result = target.run(["plan", str(path)])
    assert result.exit_code == 0
    assert "Plan: 1 to create" in result.stdout
    assert warning in result.stderr
    as_json = target.run(["plan", str(path), "--format", "json"])
    assert json.loads(as_json.stdout)["summary"]["create"] == 1
    assert warning in as_json.stderr


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


def test_a_replacement_cut_off_between_its_halves_is_finished_by_the_next_apply(
    write_spec, tmp_path
):
    """The real thing: the emulator allows two requests per credential, so the replacement's
    list and create get through and its delete is refused (429, no retry budget); the next
    apply, against the same account without the limit, finishes it."""
    db = tmp_path / "limited.sqlite3"
    spec = f"account_id: {ACCOUNT}\nwidgets:\n" + entry("checkout") + "\n    region: china\n"
    path = str(write_spec(spec))
    old = seed(db, name="checkout", region="world")

    def apply(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="t", NO_COLOR="1")
        command = cli_command("apply", path, "--auto-approve", *extra)
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60, check=False
        )

    with served_emulator(db, "--rate-limit", "2/600", "--china-network") as base_url:
        cut = apply(base_url, "--max-retry-time", "0")
    assert cut.returncode == 1
    assert "Two widgets are now named 'checkout'" in cut.stderr
    (new,) = [w for w in live_widgets(db) if w["sitekey"] != old["sitekey"]]

    with served_emulator(db, "--china-network") as base_url:
        finished = apply(base_url)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (
        f"- delete 'checkout' ({old['sitekey']}): left over from an interrupted "
        "replacement of 'checkout' (region world -> china" in finished.stdout
    )
    assert [(w["sitekey"], w["region"]) for w in live_widgets(db)] == [(new["sitekey"], "china")]


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
