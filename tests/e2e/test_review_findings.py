"""Regression tests for problems an independent review found (each reproduced first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, names, spec_text
from tests.processes import free_port, run_in_terminal
from turnstile_sync.emulator import Backend


def make_plan(target, write_spec, tmp_path: Path, text: str) -> Path:
    plan_file = tmp_path / "plan.json"
    result = target.run(["plan", str(write_spec(text)), "--out", str(plan_file)])
    assert result.exit_code == 0, result.stderr
    return plan_file


def edit(plan_file: Path, change) -> None:
    document = json.loads(plan_file.read_text())
    change(document)
    plan_file.write_text(json.dumps(document))


def test_an_edited_plan_cannot_redirect_a_delete(write_spec, target, tmp_path):
    for name in ("a", "b", "c"):
        seed(target.db, name=name)
    c = next(w for w in live_widgets(target.db) if w["name"] == "c")
    plan_file = make_plan(
        target, write_spec, tmp_path, spec_text(entry("b"), entry("c"), prune=True)
    )

    def redirect(document):
        document["actions"][0]["sitekey"] = c["sitekey"]

    edit(plan_file, redirect)
    result = target.run(["apply", "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "'sitekey' differs from the widget it was planned against" in result.stderr
    assert names(target.db) == ["a", "b", "c"]


def test_an_edited_plan_cannot_drop_its_fingerprint(write_spec, target, tmp_path):
    seed(target.db, name="a")
    seed(target.db, name="b")
    plan_file = make_plan(target, write_spec, tmp_path, spec_text(entry("b"), prune=True))
    edit(plan_file, lambda d: d["actions"][0].update(planned_against=None))
    result = target.run(["apply", "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "only a create may lack 'planned_against'" in result.stderr
    assert names(target.db) == ["a", "b"]


def test_a_plan_file_rechecks_protection(write_spec, target, tmp_path):
    seed(target.db, name="a")
    seed(target.db, name="keep")
    plan_file = make_plan(target, write_spec, tmp_path, spec_text(entry("keep"), prune=True))
    edit(plan_file, lambda d: d["protection"].update(patterns=["a"]))
    result = target.run(["apply", "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "does not match what the spec and the account give now" in result.stderr
    assert "protection.patterns: ['a'] in the file, [] re-derived" in result.stderr
    assert names(target.db) == ["a", "keep"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["actions"][0]["body"].update(colour="red"),
            "is damaged: actions.0.body.colour",
        ),
        (lambda d: d["actions"][0]["body"].pop("domains"), "is damaged: actions.0.body.domains"),
        (lambda d: d["actions"].append(d["actions"][0]), "an action is listed twice"),
    ],
    ids=["extra-key", "missing-domains", "duplicate"],
)
def test_damaged_plan_files_are_refused_cleanly(write_spec, target, tmp_path, change, message):
    plan_file = make_plan(target, write_spec, tmp_path, spec_text(entry("new")))
    edit(plan_file, change)
    result = target.run(["apply", "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Internal error" not in result.stderr
    assert live_widgets(target.db) == []


def test_a_reviewed_rename_plus_create_is_not_called_stale(write_spec, target, tmp_path):
    old = seed(target.db, name="login")
    text = spec_text(entry("login-legacy", f"sitekey: {old['sitekey']}"), entry("login"))
    plan_file = make_plan(target, write_spec, tmp_path, text)
    result = target.run(["apply", "--plan", str(plan_file)])
    assert result.exit_code == 0, result.stderr
    assert names(target.db) == ["login", "login-legacy"]


def test_deletes_are_held_back_when_a_create_fails(write_spec, target):
    seed(target.db, name="w-old")
    seed(target.db, name="other")
    text = spec_text(entry("other"), entry("w-new", "offlabel: true"), prune=True)
    result = target.run(["apply", str(write_spec(text)), "--auto-approve"])
    assert result.exit_code == 1
    assert "FAILED         create 'w-new'" in result.stdout
    assert "not attempted  delete 'w-old'" in result.stdout
    assert "held back because a create or update failed" in result.stdout
    assert names(target.db) == ["other", "w-old"]


def test_pinned_widget_cannot_be_replaced_silently(write_spec, target):
    widget = seed(target.db, name="login")
    text = spec_text(entry("login", f"sitekey: {widget['sitekey']}", "region: china"))
    result = target.run(["plan", str(write_spec(text))])
    assert result.exit_code == 1
    assert f"'login' is pinned to sitekey {widget['sitekey']}" in result.stderr
    assert "Remove 'sitekey:' from the entry to replace it" in result.stderr


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


def test_unwritable_plan_out_is_a_clean_error(write_spec, target, tmp_path):
    out = tmp_path / "missing-dir" / "plan.json"
    result = target.run(["plan", str(write_spec(spec_text(entry("a")))), "--out", str(out)])
    assert result.exit_code == 1
    assert f"cannot write the plan file {out}" in result.stderr
    assert "Internal error" not in result.stderr


def test_plan_file_with_a_missing_spec_is_a_clean_error(write_spec, target, tmp_path):
    plan_file = make_plan(target, write_spec, tmp_path, spec_text(entry("a")))
    result = target.run(["apply", str(tmp_path / "gone.yaml"), "--plan", str(plan_file)])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "gone.yaml" in result.stderr
    assert "Internal error" not in result.stderr


def test_emulator_serve_on_a_busy_port_exits_1(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["emulator", "serve", "--port", str(port), "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 1


def test_a_change_while_waiting_for_yes_is_caught(write_spec, target, tmp_path):
    widget = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", mode="invisible")))

    def dashboard_edit() -> None:
        backend = Backend(target.db)
        backend.update(
            ACCOUNT,
            widget["sitekey"],
            {
                "name": "login",
                "mode": "managed",
                "domains": ["example.com"],
                "clearance_level": "interactive",
            },
        )
        backend.close()

    code, output = run_in_terminal(
        ["apply", str(path), *target.args],
        "yes",
        cwd=tmp_path,
        env=target.env,
        before_answer=dashboard_edit,
    )
    assert code == 1, output
    assert "the account changed while the plan waited for confirmation" in output
    (current,) = live_widgets(target.db)
    assert (current["mode"], current["clearance_level"]) == ("managed", "interactive")
