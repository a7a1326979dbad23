"""Two applies at once (or a dashboard edit during one) never end in a silent success: after
applying, the run re-reads the account and fails, naming what it finds, if the widgets it
manages are duplicated or no longer look as it left them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import clean_env, cli_command, served_emulator
from turnstile_sync import applier
from turnstile_sync.emulator import Backend
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV


def meddle_after_applying(monkeypatch: pytest.MonkeyPatch, meddle) -> None:
    """Run ``meddle`` between apply's last write and the re-read that verifies it."""
    real_apply = applier.apply

    async def apply_then_meddle(*args, **kwargs):
        report = await real_apply(*args, **kwargs)
        meddle()
        return report

    monkeypatch.setattr(applier, "apply", apply_then_meddle)


def test_a_duplicate_made_while_apply_ran_fails_the_apply(write_spec, target, monkeypatch):
    path = write_spec(spec_text(entry("login"), entry("signup")))
    intruder: list[str] = []
    meddle_after_applying(
        monkeypatch, lambda: intruder.append(seed(target.db, name="login")["sitekey"])
    )
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 1, result.stdout
    ours = next(
        w["sitekey"]
        for w in live_widgets(target.db)
        if w["name"] == "login" and w["sitekey"] != intruder[0]
    )
    assert "but the account is not as this run left it:" in result.stdout
    assert (
        f"'login' is now held by 2 widgets ({', '.join(sorted([ours, intruder[0]]))}): this run "
        f"left {ours}, and {intruder[0]} appeared while it ran" in result.stdout
    )
    assert "signup" not in result.stdout.split("not as this run left it:")[1]
    assert "Run applies one at a time per account" in result.stdout
    assert "`concurrency:`" in result.stdout


def test_a_widget_changed_after_this_run_wrote_it_fails_the_apply(write_spec, target, monkeypatch):
    widget = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", mode="invisible")))

    def someone_else_updates() -> None:
        backend = Backend(target.db)
        try:
            backend.update(
                ACCOUNT,
                widget["sitekey"],
                {"name": "login", "mode": "managed", "domains": ["example.com", "other.com"]},
            )
        finally:
            backend.close()

    meddle_after_applying(monkeypatch, someone_else_updates)
    result = target.run(["apply", str(path), "--auto-approve", "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [r["outcome"] for r in document["results"]] == ["done"]
    assert (
        f"'login' ({widget['sitekey']}), which this run updated, no longer looks as it left "
        "it: mode 'invisible' -> 'managed'; domains [example.com] -> [example.com, other.com]"
        in result.stderr
    )


def test_a_widget_deleted_after_this_run_created_it_fails_the_apply(
    write_spec, target, monkeypatch
):
    path = write_spec(spec_text(entry("login")))

    def someone_deletes() -> None:
        backend = Backend(target.db)
        try:
            for widget in live_widgets(target.db):
                backend.delete(ACCOUNT, widget["sitekey"])
        finally:
            backend.close()

    meddle_after_applying(monkeypatch, someone_deletes)
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 1
    assert "which this run created, no longer exists" in result.stdout


def test_duplicates_the_plan_already_saw_are_not_blamed_on_the_run(write_spec, target):
    seed(target.db, name="login")
    pinned = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login", f"sitekey: {pinned['sitekey']}", mode="invisible")))
    result = target.run(["apply", str(path), "--auto-approve"])
    assert result.exit_code == 0, result.stdout
    assert "Apply complete: 1 done." in result.stdout


ROUNDS = 3
NAMES = ("login", "signup", "checkout")


def test_two_applies_at_once_never_both_succeed_leaving_duplicates(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUEST_LOG_ENV)  # two processes appending to one log would interleave
    db = tmp_path / "emulator.sqlite3"
    with served_emulator(db, "--latency-ms", "100") as base_url:
        env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="race-token")
        for round_ in range(ROUNDS):
            account = f"{round_ + 1:032x}"
            spec = tmp_path / f"widgets-{round_}.yaml"
            lines = [f"account_id: '{account}'", "widgets:"]
            for name in NAMES:
                lines += [f"  - name: {name}", "    mode: managed", "    domains: [example.com]"]
            spec.write_text("\n".join(lines) + "\n")
            runs = [
                subprocess.Popen(
                    cli_command("apply", str(spec), "--auto-approve"),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            outcomes = [(run.wait(timeout=60), *run.communicate()) for run in runs]
            duplicated = _duplicated_names(db, account)
            if duplicated:
                failed = [out for code, out, _ in outcomes if code == 1]
                assert failed, f"both applies succeeded and left duplicates of {duplicated}"
                for name in duplicated:
                    assert any(f"{name!r} is now held by 2 widgets" in out for out in failed)
            else:
                assert [code for code, _, _ in outcomes] == [0, 0], outcomes


def _duplicated_names(db: Path, account: str) -> list[str]:
    backend = Backend(db)
    try:
        live = backend.list_widgets(account, page=1, per_page=1000)[0]
    finally:
        backend.close()
    names = [widget["name"] for widget in live]
    return sorted({name for name in names if names.count(name) > 1})
