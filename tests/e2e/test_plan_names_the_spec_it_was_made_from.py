"""`apply SPEC --plan FILE` with a SPEC other than the plan's names the spec the plan was made
from, says the SPEC given differs, and gives the command that applies the plan; only when
SPEC is the plan's own file (however spelled) does it say the file changed."""

from __future__ import annotations

import os

from tests.e2e.conftest import live_widgets
from tests.e2e.test_reviewed_plan_is_a_receipt import make_plan
from tests.e2e.test_safety import entry, spec_text


def test_a_plan_applied_with_the_default_spec_names_change_yaml_and_the_command(
    write_spec, target, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_spec(spec_text(entry("a", mode="invisible")), "change.yaml")
    write_spec(spec_text(entry("b")), "widgets.yaml")
    make_plan(target, tmp_path / "change.yaml", tmp_path / "plan.json")
    os.rename(tmp_path / "plan.json", "plan.json")
    result = target.run(["apply", "--plan", "plan.json"])  # SPEC defaults to widgets.yaml
    assert result.exit_code == 1
    stderr = result.stderr
    assert "widgets.yaml changed since" not in stderr
    made_from = str(tmp_path / "change.yaml")
    assert f"plan.json was made from the spec {made_from}, and widgets.yaml is not" in stderr
    assert "(the SPEC given, default widgets.yaml" in stderr
    assert f"`turnstile-sync apply {made_from} --plan plan.json`" in stderr
    assert "or make a new plan from widgets.yaml and review it" in stderr
    assert live_widgets(target.db) == []


def test_the_plans_own_spec_edited_since_is_named_as_changed_however_spelled(
    write_spec, target, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(spec_text(entry("a")), "change.yaml")
    make_plan(target, spec, tmp_path / "plan.json")
    spec.write_text(spec_text(entry("a", mode="invisible")))
    result = target.run(["apply", "./change.yaml", "--plan", "plan.json"])
    assert result.exit_code == 1
    assert "./change.yaml changed since plan.json was made from it" in result.stderr
    assert "plan again and review" in result.stderr
    assert live_widgets(target.db) == []
