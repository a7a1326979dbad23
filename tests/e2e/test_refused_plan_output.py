"""A plan refused by a guard or by protection says so in every format, not only on stderr:
text and markdown lead with the refusal, JSON carries it under "refusal", and the GitHub step
summary says refused. The exit code stays 1 and nothing is changed."""

from __future__ import annotations

import json

import jsonschema

from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_pipeline import PLAN_SCHEMA
from tests.e2e.test_safety import entry, spec_text


def too_many_deletes(target, write_spec):
    """Three strays pruned against max_deletes 2."""
    strays = [seed(target.db, name=name)["sitekey"] for name in ("a", "b", "c")]
    seed(target.db, name="keep")
    return write_spec(spec_text(entry("keep"), prune=True, max_deletes=2)), strays


def test_a_plan_over_max_deletes_is_refused_in_every_format(write_spec, target, tmp_path):
    path, strays = too_many_deletes(target, write_spec)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    as_json = target.run(["plan", str(path), "--format", "json"], env=env)
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["summary"]["delete"] == 3  # the refused plan is still there to review
    refusal = document["refusal"]
    assert refusal["forcible"] is True
    (reason,) = refusal["reasons"]
    assert reason["rule"] == "max_deletes"
    assert reason["numbers"] == {"deletes": 3, "replaces": 0, "destructive": 3, "max_deletes": 2}
    assert reason["headline"] == "3 destructive actions (3 delete, 0 replace) > max_deletes 2"
    assert reason["remedy"] == (
        "review the plan, then raise max_deletes in the spec or re-run with --force"
    )
    assert [(w["name"], w["sitekey"], w["action"]) for w in reason["widgets"]] == [
        (name, sitekey, "delete") for name, sitekey in zip("abc", strays, strict=True)
    ]
    assert "Error: the plan is refused" in as_json.stderr  # stderr says it too, as before
    max_deletes_line = path.read_text().splitlines().index("max_deletes: 2") + 1
    assert (
        f"::error file={path},line={max_deletes_line}::plan refused (max_deletes): 3 destructive"
        in as_json.stderr
    )

    markdown = target.run(["plan", str(path), "--format", "markdown"])
    assert markdown.exit_code == 1
    out = markdown.stdout
    assert out.startswith("### turnstile-sync plan: REFUSED. 0 to create")
    assert out.index("> [!CAUTION]") < out.index("[!WARNING]") < out.index("#### Delete")
    assert "**max_deletes**: 3 destructive actions (3 delete, 0 replace) &gt; max_deletes 2" in out
    assert "Remedy: review the plan, then raise max_deletes in the spec or re-run with --force" in (
        out
    )
    assert f"delete `a` (`{strays[0]}`)" in out
    assert "`--force` lifts this refusal" in out

    text = target.run(["plan", str(path)])
    assert text.exit_code == 1
    assert text.stdout.startswith(
        "REFUSED: this plan cannot be applied as it is. Nothing was changed.\n"
        "  - max_deletes: 3 destructive actions (3 delete, 0 replace) > max_deletes 2\n"
        "    remedy: review the plan, then raise max_deletes in the spec or re-run with --force\n"
    )
    assert "- delete 'a'" in text.stdout

    assert summary.read_text().startswith("### turnstile-sync plan: REFUSED.")
    assert len(live_widgets(target.db)) == 4


def test_a_refused_apply_prints_its_json_document_and_changes_nothing(write_spec, target, tmp_path):
    path, _ = too_many_deletes(target, write_spec)
    reviewed = tmp_path / "reviewed.json"
    assert target.run(["plan", str(path), "--force", "--out", str(reviewed)]).exit_code == 0
    for how in (["--auto-approve"], ["--plan", str(reviewed)]):  # a forced plan needs --force
        result = target.run(["apply", str(path), *how, "--format", "json"])
        assert result.exit_code == 1
        document = json.loads(result.stdout)
        jsonschema.validate(document, PLAN_SCHEMA)
        assert document["kind"] == "apply"
        assert document["results"] == [] and document["ok"] is False
        assert document["refusal"]["reasons"][0]["rule"] == "max_deletes"
        assert len(live_widgets(target.db)) == 4

    forced = target.run(["apply", str(path), "--auto-approve", "--format", "json", "--force"])
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["refusal"] is None
    assert [w["name"] for w in live_widgets(target.db)] == ["keep"]


def test_a_plan_deleting_a_protected_widget_is_refused_in_every_format(write_spec, target):
    checkout = seed(target.db, name="checkout")["sitekey"]
    seed(target.db, name="keep")
    path = write_spec(spec_text(entry("keep"), prune=True, protected=["checkout"]))
    for force in ([], ["--force"]):  # protection never yields to --force
        as_json = target.run(["plan", str(path), "--format", "json", *force])
        assert as_json.exit_code == 1
        document = json.loads(as_json.stdout)
        jsonschema.validate(document, PLAN_SCHEMA)
        assert document["refusal"]["forcible"] is False
        (reason,) = document["refusal"]["reasons"]
        assert reason["rule"] == "protected" and reason["forcible"] is False
        assert reason["numbers"] == {}
        assert reason["widgets"] == [{"name": "checkout", "sitekey": checkout, "action": "delete"}]
        assert "--force does not lift protection" in reason["remedy"]
        assert "'protected: [checkout]'" in reason["message"]

        markdown = target.run(["plan", str(path), "--format", "markdown", *force]).stdout
        assert markdown.startswith("### turnstile-sync plan: REFUSED.")
        assert "**protected**: delete of protected 'checkout'." in markdown
        assert "`--force` does not lift it" in markdown

        text = target.run(["plan", str(path), *force])
        assert text.exit_code == 1
        assert text.stdout.startswith("REFUSED: this plan cannot be applied as it is.")
        assert "  - protected: delete of protected 'checkout'" in text.stdout
    assert len(live_widgets(target.db)) == 2


def test_a_plan_that_is_not_refused_says_so(write_spec, target):
    seed(target.db, name="keep")
    result = target.run(["plan", str(write_spec(spec_text(entry("keep")))), "--format", "json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["refusal"] is None
