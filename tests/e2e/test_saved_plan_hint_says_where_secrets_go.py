"""The command `plan --out` suggests for applying the saved plan names a secrets destination
when the plan creates or replaces widgets (their secrets are shown only once), and not
otherwise."""

from __future__ import annotations

from tests.e2e.conftest import seed
from tests.e2e.test_safety import entry, spec_text


def hint(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("Plan written to"))


def test_a_plan_that_creates_widgets_suggests_secrets_out(write_spec, target, tmp_path):
    spec = write_spec(spec_text(entry("new")))
    result = target.run(["plan", str(spec), "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.stderr
    line = hint(result.stderr)
    assert f"--plan {tmp_path / 'plan.json'}" in line
    assert "--secrets-out FILE" in line and "--secrets-exec COMMAND" in line
    assert "1 new widget(s)" in line


def test_a_plan_that_replaces_a_widget_suggests_secrets_out(write_spec, target, tmp_path):
    seed(target.db, name="a", region="world")
    spec = write_spec(spec_text(entry("a", "region: china")))
    result = target.run(["plan", str(spec), "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.stderr
    assert "--secrets-out FILE" in hint(result.stderr)


def test_a_plan_that_only_updates_suggests_no_secrets_destination(write_spec, target, tmp_path):
    seed(target.db, name="a")
    spec = write_spec(spec_text(entry("a", mode="invisible")))
    result = target.run(["plan", str(spec), "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.stderr
    assert "--secrets-out" not in hint(result.stderr)
