"""The command line end to end against the emulator: the contract pipelines depend on."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, REPO_ROOT, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import clean_env, cli_command, free_port, run_in_terminal

SPEC = f"""
account_id: {ACCOUNT}
widgets:
  - name: login
    mode: managed
    domains: [example.com, www.example.com]
  - name: checkout
    mode: invisible
    domains: [shop.example.com]
    clearance_level: managed
"""


def test_plan_apply_plan_converges(write_spec, target):
    spec = str(write_spec(SPEC))
    first = target.run(["plan", spec])
    assert first.exit_code == 0, first.stderr
    assert "+ create 'login'" in first.stdout
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete." in first.stdout
    assert live_widgets(target.db) == []

    applied = target.run(["apply", spec, "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr + applied.stdout
    assert "Apply complete: 2 done." in applied.stdout
    names = sorted(w["name"] for w in live_widgets(target.db))
    assert names == ["checkout", "login"]

    again = target.run(["plan", spec, "--detailed-exitcode"])
    assert again.exit_code == 0
    assert "No changes. The account matches the spec." in again.stdout


def test_detailed_exitcode_is_2_only_with_changes(write_spec, target):
    spec = str(write_spec(SPEC))
    result = target.run(["plan", spec, "--detailed-exitcode"])
    assert result.exit_code == 2
    plain = target.run(["plan", spec])
    assert plain.exit_code == 0


def test_update_replace_delete_and_unmanaged(write_spec, target):
    kept = seed(target.db, name="login", domains=["old.example.com"])
    moved = seed(target.db, name="checkout", mode="invisible", domains=["shop.example.com"])
    seed(target.db, name="stray")
    spec = SPEC.replace("    clearance_level: managed", "    region: china")
    path = str(write_spec(spec))

    planned = target.run(["plan", path])
    assert planned.exit_code == 0, planned.stderr
    out = planned.stdout
    assert f"  ~ update in place 'login' ({kept['sitekey']})" in out
    assert "+ example.com" in out and "- old.example.com" in out
    assert f"-/+ replace 'checkout' ({moved['sitekey']}): region cannot be changed" in out
    assert "region:" in out and "world -> china" in out
    assert "new sitekey and secret" in out
    assert "Unmanaged: 1 live widget(s)" in out and "'stray'" in out

    applied = target.run(["apply", path, "--auto-approve"])
    assert applied.exit_code == 0, applied.stdout
    widgets = {w["name"]: w for w in live_widgets(target.db)}
    assert widgets["login"]["sitekey"] == kept["sitekey"]
    assert widgets["login"]["domains"] == ["example.com", "www.example.com"]
    assert widgets["checkout"]["sitekey"] != moved["sitekey"]
    assert widgets["checkout"]["region"] == "china"
    assert "stray" in widgets

    pruned = path.replace("widgets.yaml", "pruned.yaml")
    Path(pruned).write_text(Path(path).read_text() + "prune: true\n")
    deleted = target.run(["apply", pruned, "--auto-approve"])
    assert "  - delete 'stray'" in deleted.stdout
    assert deleted.exit_code == 0
    assert sorted(w["name"] for w in live_widgets(target.db)) == ["checkout", "login"]


def test_partial_failure_reports_each_action_and_rerun_converges(write_spec, target):
    spec = SPEC + "  - name: branded\n    mode: managed\n    domains: [a.com]\n    offlabel: true\n"
    path = str(write_spec(spec))
    result = target.run(["apply", path, "--auto-approve"])
    assert result.exit_code == 1
    # without a terminal each action is listed once, as it finishes, on stderr
    assert "FAILED         create 'branded'" in result.stderr
    assert "offlabel requires an Enterprise entitlement" in result.stderr
    assert "create 'branded'" not in result.stdout.split("Plan: ")[1]
    assert "Apply incomplete: 2 done, 1 failed, 0 not attempted." in result.stdout
    assert sorted(w["name"] for w in live_widgets(target.db)) == ["checkout", "login"]

    fixed = str(write_spec(spec.replace("offlabel: true", "offlabel: false"), "fixed.yaml"))
    rerun = target.run(["apply", fixed, "--auto-approve"])
    assert rerun.exit_code == 0
    assert "Plan: 1 to create, 0 to update" in rerun.stdout
    final = target.run(["plan", fixed, "--detailed-exitcode"])
    assert final.exit_code == 0


def test_apply_without_terminal_or_auto_approve_refuses(write_spec, target):
    result = target.run(["apply", str(write_spec(SPEC))], input="yes\n")
    assert result.exit_code == 1
    assert "refusing to apply" in result.stderr
    assert "--auto-approve" in result.stderr
    assert live_widgets(target.db) == []


def test_declined_confirmation_changes_nothing(write_spec, target, tmp_path):
    args = ["apply", str(write_spec(SPEC)), *target.args]
    code, output = run_in_terminal(args, "no", cwd=tmp_path, env=target.env)
    assert "Apply these changes? Only 'yes' will be accepted" in output
    assert "Apply cancelled. Nothing was changed." in output
    assert code == 1
    assert live_widgets(target.db) == []


def test_confirmed_apply_in_a_terminal(write_spec, target, tmp_path):
    args = ["apply", str(write_spec(SPEC)), *target.args]
    code, output = run_in_terminal(args, "yes", cwd=tmp_path, env=target.env)
    assert code == 0, output
    assert "Apply complete: 2 done." in output
    assert len(live_widgets(target.db)) == 2


def test_apply_with_no_changes_does_not_ask(write_spec, target):
    path = str(write_spec(SPEC))
    target.run(["apply", path, "--auto-approve"])
    result = target.run(["apply", path])
    assert result.exit_code == 0
    assert "No changes" in result.stdout


def test_validate(write_spec):
    ok = run_cli(["validate", str(write_spec(SPEC))])
    assert ok.exit_code == 0
    assert ok.stdout.strip().endswith("valid (2 widgets).")


def test_broken_spec_is_one_clear_error(write_spec, target):
    path = write_spec(
        SPEC.replace("mode: invisible", "mode: invisble").replace(
            "[shop.example.com]", "[shop.example.com:8443]"
        )
    )
    for result in (run_cli(["validate", str(path)]), target.run(["plan", str(path)])):
        assert result.exit_code == 1
        assert result.stdout == ""
        assert f"Error: {path}: 2 problems:" in result.stderr
        assert f"{path}:7:5: widgets[1] (checkout).mode:" in result.stderr
        assert f"{path}:8:15: widgets[1] (checkout).domains[0]:" in result.stderr
        assert "Traceback" not in result.stderr


def test_invalid_yaml_is_one_clear_error(write_spec):
    result = run_cli(["validate", str(write_spec("widgets: [\n"))])
    assert result.exit_code == 1
    assert "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_spec_file(tmp_path):
    result = run_cli(["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: file not found" in result.stderr


def test_missing_token_outside_emulator(write_spec):
    result = run_cli(["plan", str(write_spec(SPEC))])
    assert result.exit_code == 1
    assert "no Cloudflare credentials: set CLOUDFLARE_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_api_is_one_clear_error(write_spec):
    base_url = f"http://127.0.0.1:{free_port()}/client/v4"
    token = "secret-token-value-42"
    env = {"CLOUDFLARE_API_TOKEN": token, "CLOUDFLARE_BASE_URL": base_url}
    result = run_cli(["plan", str(write_spec(SPEC)), "--max-retry-time", "0.3"], env=env)
    assert result.exit_code == 1
    assert f"cannot reach {base_url}" in result.stderr
    assert f"The API address {base_url} comes from CLOUDFLARE_BASE_URL" in result.stderr
    assert token not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_1_not_2(write_spec):
    result = run_cli(["plan", "--no-such-flag"])
    assert result.exit_code == 1
    assert "No such option" in result.stderr


def test_account_id_resolution(write_spec, target):
    no_account = SPEC.replace(f"account_id: {ACCOUNT}\n", "")
    missing = target.run(["plan", str(write_spec(no_account))])
    assert missing.exit_code == 1
    assert "no account id" in missing.stderr

    from_env = target.run(
        ["plan", str(write_spec(no_account))],
        env={"CLOUDFLARE_ACCOUNT_ID": ACCOUNT},
    )
    assert from_env.exit_code == 0
    assert f"account {ACCOUNT}" in from_env.stderr

    other = "f" * 32
    conflicting = target.run(
        ["plan", str(write_spec(SPEC))],
        env={"CLOUDFLARE_ACCOUNT_ID": other},
    )
    assert conflicting.exit_code == 0
    assert "differs from the spec's account_id" in conflicting.stderr
    assert f"account {ACCOUNT}" in conflicting.stderr

    flag = target.run(["plan", str(write_spec(SPEC)), "--account-id", other])
    assert f"account {other}" in flag.stderr

    bad = target.run(["plan", str(write_spec(SPEC)), "--account-id", "x"])
    assert bad.exit_code == 1
    assert "--account-id 'x' is not an account id" in bad.stderr


def test_secrets_never_reach_any_output(write_spec, target):
    path = str(write_spec(SPEC))
    outputs = [
        target.run(["plan", path]),
        target.run(["apply", path, "--auto-approve"]),
        target.run(["plan", path]),
    ]
    with sqlite3.connect(target.db) as db:
        secrets = [row[0] for row in db.execute("SELECT secret FROM widgets")]
    assert len(secrets) == 2
    text = "".join(result.stdout + result.stderr for result in outputs)
    assert "Secrets of new widgets are never printed" in text
    for secret in secrets:
        assert secret not in text


def test_module_entry_point_and_version():
    result = subprocess.run(
        cli_command("--version"), capture_output=True, text=True, env=clean_env(), check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("turnstile-sync, version ")


def test_example_spec_applies_cleanly(target):
    example = str(REPO_ROOT / "examples" / "widgets.yaml")
    assert run_cli(["validate", example]).exit_code == 0
    assert target.run(["apply", example, "--auto-approve"]).exit_code == 0
    result = target.run(["plan", example, "--detailed-exitcode"])
    assert result.exit_code == 0, result.stdout


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "emulator"])
def test_help_for_every_command(command):
    result = run_cli([command, "--help"])
    assert result.exit_code == 0
    assert "Usage: turnstile-sync" in result.stdout


def test_apply_reports_progress_on_stderr(write_spec, target):
    result = target.run(["apply", str(write_spec(SPEC)), "--auto-approve"])
    progress = [line for line in result.stderr.splitlines() if line.startswith("apply [")]
    assert len(progress) == 2
    assert progress[0].startswith("apply [1/2]  done ")
    assert progress[1].startswith("apply [2/2]  done ")


def test_unusable_emulator_state_file_is_a_clear_error(write_spec, tmp_path):
    not_a_db = tmp_path / "broken.sqlite3"
    not_a_db.write_text("this is not sqlite")
    result = run_cli(["plan", str(write_spec(SPEC)), "--emulator", "--emulator-db", str(not_a_db)])
    assert result.exit_code == 1
    assert f"cannot use {not_a_db} as the emulator's state file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("token", ["SECRETTOKEN\nX", "SECRÉTTOKEN", "SECRET TOKEN"])
def test_an_unsendable_token_is_refused_without_echoing_it(write_spec, token):
    env = {
        "CLOUDFLARE_API_TOKEN": token,
        "CLOUDFLARE_BASE_URL": f"http://127.0.0.1:{free_port()}/client/v4",
    }
    result = run_cli(["plan", str(write_spec(spec_text(entry("a"))))], env=env)
    assert result.exit_code == 1
    assert "CLOUDFLARE_API_TOKEN contains characters that cannot be sent" in result.stderr
    assert "SECRET" not in result.stderr + result.stdout


def test_account_id_flag_that_overrides_the_spec_is_announced(write_spec, target):
    result = target.run(["plan", str(write_spec(spec_text(entry("a")))), "--account-id", "f" * 32])
    assert result.exit_code == 0
    assert f"--account-id {'f' * 32} overrides the spec's account_id ({ACCOUNT})" in result.stderr


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("flag", "0" * 32 + "\n::error::forged"),
        ("flag", "x\n::error::FORGED\x1b[31m"),
        ("env", "0\n::error::FORGED\x1b]0;title\x07"),
        ("flag", "f" * 100_000),
    ],
    ids=["trailing-line", "escape", "env-beside-spec", "huge"],
)
def test_a_hostile_account_id_never_reaches_output_raw(write_spec, tmp_path, where, value):
    """An account id from a command line or variable is checked before it is printed: a
    newline in it would forge a workflow command in a CI log."""
    args = ["plan", str(write_spec(spec_text(entry("a")))), "--emulator"]
    args += ["--emulator-db", str(tmp_path / "e.db")]
    env = {}
    if where == "flag":
        args += ["--account-id", value]
    else:
        env["CLOUDFLARE_ACCOUNT_ID"] = value
    result = run_cli(args, env=env)
    output = result.stdout + result.stderr
    assert "\n::error" not in output and "\x1b" not in output and "\x07" not in output
    assert len(output) < 5_000
    if where == "flag":
        assert result.exit_code == 1
        assert "--account-id" in result.stderr and "is not an account id" in result.stderr


def test_the_secrets_file_is_free_again_once_a_command_ends(write_spec, tmp_path):
    """The lock on --secrets-out lasts as long as the command, not the process: a library
    user or test calling the CLI in-process must not leave it held for other processes."""
    sink = tmp_path / "secrets.json"
    db = ["--emulator", "--emulator-db", str(tmp_path / "e.db")]
    path = write_spec(spec_text(entry("a")))
    applied = run_cli(["apply", str(path), "--auto-approve", "--secrets-out", str(sink), *db])
    assert applied.exit_code == 0, applied.stderr
    fetched = run_cli(["get-secret", "a", "--account-id", ACCOUNT, "--secrets-out", str(sink), *db])
    assert fetched.exit_code == 0, fetched.stderr
    other_process = subprocess.run(
        cli_command("get-secret", "a", "--account-id", ACCOUNT, "--secrets-out", str(sink), *db),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert other_process.returncode == 0, other_process.stderr
