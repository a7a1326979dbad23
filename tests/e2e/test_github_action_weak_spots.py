"""Weak spots of the composite action and the example workflows, each shown by running the
action's own shell steps (the harness of test_github_action.py) or by reading its YAML.

Every test here states the behaviour that should hold and currently fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import seed
from tests.e2e.test_github_action import (
    WORKFLOWS,
    action_steps,
    check_against_cli,
    over_http,
    runner,  # noqa: F401  (a fixture)
    write_infra_spec,
)
from tests.e2e.test_safety import entry, spec_text
from tests.processes import HANG_GUARD


def step_named(name: str) -> dict:
    (step,) = [step for step in action_steps() if step.get("name") == name]
    return step


@over_http
def test_a_large_plan_comment_keeps_the_note_saying_what_was_left_out(runner):  # noqa: F811
    """The markdown renderer budgets a plan to GitHub's 65,536 characters and ends it with a
    note counting what did not fit; the action then cuts the comment at 60,000 characters,
    silently dropping that note (and leaving a table or <details> cut in half)."""
    action = runner(command="plan")
    long = "x" * 120
    write_infra_spec(
        action, spec_text(*[entry(f"w{i:04d}-{long}") for i in range(400)], max_deletes=1000)
    )
    assert action.run("run").returncode == 0
    assert action.outputs["run"]["exitcode"] == "2"
    markdown = Path(action.outputs["run"]["markdown-file"]).read_text()
    assert len(markdown) > 60_000  # what the CLI rendered fits GitHub's limit
    assert "are not shown" in markdown  # ... and says what it left out
    assert action.run("Create or update the plan comment").returncode == 0
    (comment,) = action.comments()
    assert "are not shown" in comment["body"], comment["body"][-300:]


@over_http
def test_two_specs_planned_in_one_job_keep_two_reviewed_plans(runner):  # noqa: F811
    """Two plan steps (one per spec) in one job get one sticky comment each, but both upload
    to the default artifact name with overwrite: true, so the second replaces the first and
    apply for the first spec downloads the second spec's plan."""
    upload = step_named("Upload the reviewed plan")
    first = runner(command="plan", spec="a.yaml")
    second = runner(command="plan", spec="b.yaml")
    names = {first.resolve(upload["with"]["name"]), second.resolve(upload["with"]["name"])}
    assert len(names) == 2 or upload["with"].get("overwrite") is False, (names, upload["with"])


@over_http
def test_a_refused_plan_appears_once_in_the_step_summary(runner, target):  # noqa: F811
    """Under GitHub Actions the CLI already appends the REFUSED markdown to the step summary;
    the action's comment script appends the failure body (with the same plan) again."""
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    action = runner(command="plan")
    write_infra_spec(action, spec_text(prune=True, max_deletes=1))
    action.run("run")
    assert action.outputs["run"]["exitcode"] == "1"
    summary = action.summary.read_text()
    assert summary.count("#### Delete (3)") == 1, summary


@over_http
def test_the_install_step_needs_no_package_index(runner, tmp_path):  # noqa: F811
    """README: the action 'installs itself from the action's own checkout (no package index
    needed)'. The step runs `pip install $ACTION_PATH`, which fetches the build backend and
    every runtime dependency, unpinned and unhashed, from the index, in a job whose
    environment holds the Cloudflare write token (and, in the apply example, a token that may
    write repository secrets)."""
    action = runner(command="validate")
    github_path = tmp_path / "github-path"
    github_path.write_text("")
    result = action.run(
        "Install turnstile-sync from the action's checkout",
        PYTHON=sys.executable,
        GITHUB_PATH=str(github_path),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS="",
    )
    assert result.returncode == 0, result.stderr[-800:]


def test_the_cloudflare_write_token_reaches_only_the_step_that_applies():
    """turnstile-apply.yml sets CLOUDFLARE_API_TOKEN (Turnstile Sites *Write*) for the whole
    job, so `turnstile-sync output` (read-only) and the front-end build step, which runs the
    project's own build tooling, hold a token that can delete every widget."""
    job = WORKFLOWS["turnstile-apply.yml"]["jobs"]["apply"]
    holders = [
        step.get("name") or step.get("uses")
        for step in job["steps"]
        if "CLOUDFLARE_API_TOKEN" in {**job.get("env", {}), **step.get("env", {})}
    ]
    assert holders == ["Apply the reviewed plan, secrets straight into repository secrets"], holders


def test_the_flag_checker_catches_short_options_and_group_subcommands():
    """check_against_cli only looks at words starting with '--': an unknown short option
    passes, and a group's subcommand (`secrets push`, `emulator serve`) is checked against
    the group's own options, so a correct `secrets push --secrets-exec` is reported wrong."""
    bad = ["plan", "widgets.yaml", "-Z"]
    rejected = subprocess.run(
        [sys.executable, "-m", "turnstile_sync", *bad],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert rejected.returncode != 0 and "No such option" in rejected.stderr
    assert check_against_cli(bad) != []
    assert check_against_cli(["secrets", "push", "w.yaml", "--secrets-exec", "cat"]) == []


@pytest.mark.parametrize("target", ["in-process"], indirect=True)
def test_a_stale_reviewed_plan_still_prints_a_json_document(target, write_spec, tmp_path):
    """`apply --plan FILE --format json` on a stale plan exits 1 with an empty stdout, so a
    pipeline parsing the JSON gets a decode error instead of the reason (README: a refused
    `apply --format json` still prints its document)."""
    path = write_spec(spec_text(entry("one"), entry("two")))
    reviewed = tmp_path / "plan.json"
    assert target.run(["plan", str(path), "--out", str(reviewed)]).exit_code == 0
    seed(target.db, name="two")  # the account moves on after the review
    result = target.run(["apply", str(path), "--plan", str(reviewed), "--format", "json"])
    assert result.exit_code == 1
    assert "stale" in result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is False


def test_the_plan_comment_is_not_left_standing_when_the_job_is_cancelled_or_times_out():
    """The comment step runs on `!cancelled()`: a job cancelled by timeout-minutes (or by
    hand) leaves the previous, possibly approved, plan comment standing. `always()` with the
    existing 'stopped before a plan was made' fallback would replace it."""
    condition = step_named("Create or update the plan comment")["if"]
    assert "!cancelled()" not in condition, yaml.safe_dump({"if": condition})


@pytest.mark.parametrize("target", ["in-process"], indirect=True)
def test_the_plan_schema_requires_the_refusal_key_every_document_carries(target, write_spec):
    """docs/json-format.md and the README promise "refusal" in every document (null when
    nothing is refused), but docs/plan.schema.json does not require it: a document without
    it still validates, so the schema cannot catch a producer that drops the refusal."""
    import jsonschema

    schema = json.loads((REPO_ROOT / "docs" / "plan.schema.json").read_text())
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    path = write_spec(spec_text(prune=True, max_deletes=1))
    result = target.run(["plan", str(path), "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["refusal"] is not None
    jsonschema.validate(document, schema)
    del document["refusal"]  # a refused plan that no longer says so
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
