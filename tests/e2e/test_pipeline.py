"""GitOps integration through the CLI: formats, GitHub Actions, drift, export, schema, workflows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from tests.conftest import ACCOUNT, REPO_ROOT, run_cli
from tests.e2e.conftest import seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import run_in_terminal

PLAN_SCHEMA = json.loads((REPO_ROOT / "docs" / "plan.schema.json").read_text())
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def drifted_account(target) -> Path:
    seed(target.db, name="login", domains=["old.example.com"])
    seed(target.db, name="checkout")
    seed(target.db, name="stray")
    return target.db


def drift_spec(write_spec, **top) -> str:
    text = spec_text(
        entry("login"), entry("checkout", "region: china"), entry("new"), max_deletes=5, **top
    )
    return str(write_spec(text))


def test_plan_json_is_documented_and_stable(write_spec, target):
    drifted_account(target)
    result = target.run(["plan", drift_spec(write_spec, prune=True), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout is the document and nothing else
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["summary"] | {} == {
        "create": 1,
        "update": 1,
        "replace": 1,
        "delete": 1,
        "unmanaged": 0,
        "ignored": 0,
        "unchanged": 0,
        "has_changes": True,
        "drift": True,
    }
    login = next(d for d in document["drift"] if d["name"] == "login")
    assert login["fields"]["domains"] == {"live": ["old.example.com"], "spec": ["example.com"]}
    again = target.run(["plan", drift_spec(write_spec, prune=True), "--format", "json"])
    assert again.stdout == result.stdout


def test_apply_json_reports_each_outcome(write_spec, target):
    result = target.run(
        [
            "apply",
            str(write_spec(spec_text(entry("a"), entry("b", "offlabel: true")))),
            "--auto-approve",
            "--format",
            "json",
        ]
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    outcomes = {r["name"]: r["outcome"] for r in document["results"]}
    assert outcomes == {"a": "done", "b": "failed"}
    assert document["ok"] is False
    assert "Enterprise entitlement" in next(
        r["error"] for r in document["results"] if r["name"] == "b"
    )


def test_plan_markdown_for_pull_requests(write_spec, target):
    drifted_account(target)
    result = target.run(["plan", drift_spec(write_spec, prune=True), "--format", "markdown"])
    out = result.stdout
    assert out.startswith(
        "### turnstile-sync plan: 1 to create, 1 to update, 1 to replace, 1 to delete\n"
    )
    assert out.index("[!WARNING]") < out.index("#### Create")
    assert "```diff\n  domains:\n+   example.com\n-   old.example.com\n```" in out
    assert "<details>" not in out  # a small plan is not folded


def test_github_actions_annotations_and_step_summary(write_spec, target, tmp_path):
    drifted_account(target)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    path = drift_spec(write_spec, prune=True)
    result = target.run(["plan", path], env=env)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 2
    checkout_line = Path(path).read_text().splitlines().index("  - name: checkout") + 1
    assert any(
        line.startswith(f"::warning file={path},line={checkout_line}::replaces 'checkout'")
        for line in warnings
    )
    prune_line = Path(path).read_text().splitlines().index("prune: true") + 1
    assert any(
        line.startswith(f"::warning file={path},line={prune_line}::deletes 'stray'")
        for line in warnings
    )
    text = summary.read_text()
    assert text.startswith("earlier step\n### turnstile-sync plan:")
    assert "::warning" not in result.stdout


def test_github_actions_error_annotations_for_a_bad_spec(write_spec):
    lines = ["widgets:"] + [f"  - name: w{i}\n    mode: wrong" for i in range(12)]
    path = str(write_spec("\n".join(lines) + "\n"))
    result = run_cli(["validate", path], env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    assert len(errors) == 10  # GitHub shows ten per step
    assert errors[0].startswith(
        f"::error file={path},line=3,col=5::widgets[0] (w0).mode: unknown mode 'wrong'"
    )


def test_step_summary_respects_its_size_limit(write_spec, target, tmp_path):
    from turnstile_sync.render.github import STEP_SUMMARY_LIMIT

    drifted_account(target)
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (STEP_SUMMARY_LIMIT - 3000))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert target.run(["plan", drift_spec(write_spec, prune=True)], env=env).exit_code == 0
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT


def test_drift_exit_codes(write_spec, target):
    seed(target.db, name="login")
    seed(target.db, name="stray")
    in_sync = str(write_spec(spec_text(entry("login"))))
    assert (
        target.run(["plan", in_sync, "--detailed-exitcode"]).exit_code == 0
    )  # unmanaged alone is not drift
    assert (
        target.run(["plan", in_sync, "--detailed-exitcode", "--fail-on-unmanaged"]).exit_code == 2
    )
    drifted = str(write_spec(spec_text(entry("login", mode="invisible")), "drifted.yaml"))
    assert target.run(["plan", drifted, "--detailed-exitcode"]).exit_code == 2


def test_colour_only_on_a_terminal_and_never_when_asked(write_spec, target, tmp_path):
    path = str(write_spec(spec_text(entry("login"))))
    piped = target.run(["plan", path])
    assert not ANSI.search(piped.stdout)
    _, coloured = run_in_terminal(
        ["plan", path, *target.args], "", cwd=tmp_path, env={**target.env, "NO_COLOR": ""}
    )
    _, plain = run_in_terminal(
        ["--no-color", "plan", path, *target.args], "", cwd=tmp_path, env=target.env
    )
    assert "create 'login'" in ANSI.sub("", coloured) and "create 'login'" in plain
    assert ANSI.search(coloured)
    assert not ANSI.search(plain)


def test_verbose_logs_requests_without_credentials(write_spec, target):
    result = target.run(["-v", "plan", str(write_spec(spec_text(entry("login"))))])
    assert re.search(r"INFO: GET accounts/\w+/challenges/widgets -> 200 \(\d+ ms\)", result.stderr)
    assert "e2e-token" not in result.stderr


def test_export_round_trips(target, tmp_path):
    seed(target.db, name="twin", clearance_level="interactive")
    seed(target.db, name="twin", mode="invisible")
    seed(target.db, name="single", domains=[f"h{i}.example.com" for i in range(3)], region="china")
    out = tmp_path / "exported.yaml"
    result = target.run(["export", "--account-id", ACCOUNT, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# Exported by turnstile-sync")
    assert f"# from account {ACCOUNT}" in text
    assert text.count("sitekey:") == 2  # only the repeated name is pinned
    assert "secret" not in text.replace("Secrets are never exported", "")
    assert run_cli(["validate", str(out)]).exit_code == 0
    assert target.run(["plan", str(out), "--detailed-exitcode"]).exit_code == 0
    refused = target.run(["export", "--account-id", ACCOUNT, "--out", str(out)])
    assert refused.exit_code == 1 and "already exists" in refused.stderr


def test_schema_is_committed_and_current():
    result = run_cli(["schema"])
    assert result.exit_code == 0
    committed = (REPO_ROOT / "turnstile-sync.schema.json").read_text()
    assert result.stdout == committed, "run `turnstile-sync schema > turnstile-sync.schema.json`"
    schema = json.loads(committed)
    assert schema["$defs"]["Mode"]["enum"] == ["non-interactive", "invisible", "managed"]
    assert "description" in schema["properties"]["prune"]
    example = (REPO_ROOT / "examples" / "widgets.yaml").read_text()
    assert example.startswith("# yaml-language-server: $schema=../turnstile-sync.schema.json\n")
    jsonschema.validate(yaml.safe_load(example), schema)


def test_pre_commit_hook():
    (hook,) = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "turnstile-sync-validate"
    assert hook["entry"].split() == ["turnstile-sync", "validate"]
    assert re.search(hook["files"], "infra/widgets.yaml")


def test_validate_takes_several_files(write_spec):
    good = str(write_spec(spec_text(entry("a")), "good.yaml"))
    bad = str(write_spec("widgets: [\n", "bad.yaml"))
    result = run_cli(["validate", good, bad])
    assert result.exit_code == 1
    assert "good.yaml: valid (1 widget)." in result.stdout
    assert "bad.yaml" in result.stderr


def test_a_malformed_base_url_fails_at_once(write_spec):
    env = {"CLOUDFLARE_BASE_URL": "ftp://example.invalid", "CLOUDFLARE_API_TOKEN": "t"}
    result = run_cli(["plan", str(write_spec(spec_text(entry("a"))))], env=env)
    assert result.exit_code == 1
    assert "CLOUDFLARE_BASE_URL 'ftp://example.invalid' is not an http(s) URL" in result.stderr


def test_step_summary_cap_is_counted_in_bytes(write_spec, target, tmp_path):
    from turnstile_sync.render.github import STEP_SUMMARY_LIMIT

    for index in range(19):  # the emulator's free plan holds 20
        seed(target.db, name=f"виджет-{'ж' * 60}-{index}")
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"x" * (STEP_SUMMARY_LIMIT - 4000))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    text = spec_text(entry("a"), max_deletes=100, prune=True)
    assert target.run(["plan", str(write_spec(text)), "--force"], env=env).exit_code == 0
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT
    assert summary.stat().st_size > STEP_SUMMARY_LIMIT - 4000  # something was written
