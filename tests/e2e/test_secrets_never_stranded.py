"""A run that dies at any moment strands no secret: the next apply with the same --secrets-out
fetches the secret of every widget the dead run created and did not save, and says so."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import clean_env, cli_command, served_emulator
from turnstile_sync.client import TurnstileClient
from turnstile_sync.emulator import Backend
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV
from turnstile_sync.secrets_sink import SecretsSink


class Killed(BaseException):
    """Stands in for SIGKILL at a chosen point: nothing after it runs, no handler catches it."""


def current_secrets(db: Path, account: str = ACCOUNT) -> dict[str, str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT sitekey, secret FROM widgets WHERE account_id = ?", (account,)
        ).fetchall()
    return dict(rows)


def assert_file_holds_every_live_secret(sink: Path, db: Path, account: str = ACCOUNT) -> None:
    saved = json.loads(sink.read_text())
    secrets = current_secrets(db, account)
    backend = Backend(db)
    try:
        live = backend.list_widgets(account, page=1, per_page=1000)[0]
    finally:
        backend.close()
    for widget in live:
        assert widget["name"] in saved, f"{widget['name']!r} has no entry in {sink}"
    for name, item in saved.items():
        assert secrets.get(item["sitekey"]) == item["secret"], f"{name!r} is not current"


def kill_when_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    def dies(self: SecretsSink, *args: object) -> None:
        raise Killed

    monkeypatch.setattr(SecretsSink, "record", dies)


def apply_killed_while_saving(target, path: Path, sink: Path, monkeypatch) -> None:
    """An apply that dies the moment it would save a secret: the widget exists, its secret
    never reached the file."""
    with monkeypatch.context() as patch:
        kill_when_saving(patch)
        with pytest.raises(Killed):
            target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])


def test_secret_of_a_widget_created_just_before_a_crash_is_recovered(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login"), entry("signup")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)
    assert not sink.exists() and live_widgets(target.db)  # created, secret not saved
    pending = (tmp_path / "secrets.json.pending").read_text()
    assert all(secret not in pending for secret in current_secrets(target.db).values())

    rerun = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert rerun.exit_code == 0, rerun.stderr
    created = {w["name"]: w["sitekey"] for w in live_widgets(target.db)}
    recovered = [name for name in created if f"{name!r} ({created[name]})" in rerun.stderr]
    assert recovered, rerun.stderr
    assert (
        f"Recovered the secrets of {len(recovered)} widget(s) created by an earlier run that "
        "did not save them" in rerun.stderr
    )
    assert_file_holds_every_live_secret(sink, target.db)
    assert set(json.loads(sink.read_text())) == {"login", "signup"}
    assert not (tmp_path / "secrets.json.pending").exists()


def test_recovery_happens_even_when_the_plan_has_no_changes(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)
    (widget,) = live_widgets(target.db)

    rerun = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert rerun.exit_code == 0, rerun.stderr
    assert "No changes. The account matches the spec." in rerun.stdout
    assert (
        "Recovered the secrets of 1 widget(s) created by an earlier run that did not save "
        f"them: 'login' ({widget['sitekey']})" in rerun.stderr
    )
    assert_file_holds_every_live_secret(sink, target.db)

    again = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert again.exit_code == 0 and "Recovered" not in again.stderr


def test_new_half_of_a_replacement_cut_short_is_recovered(
    write_spec, target, tmp_path, monkeypatch
):
    old = seed(target.db, name="moving")
    sink = tmp_path / "secrets.json"
    sink.write_text(json.dumps({"moving": {"sitekey": old["sitekey"], "secret": old["secret"]}}))
    path = write_spec(spec_text(entry("moving", "region: china")))
    apply_killed_while_saving(target, path, sink, monkeypatch)
    (new,) = [w for w in live_widgets(target.db) if w["sitekey"] != old["sitekey"]]

    rerun = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    # Whether the plan then finishes the replacement (deletes the old half) is the planner's
    # business; the new widget's secret is recovered before anything is planned.
    assert f"'moving' ({new['sitekey']})" in rerun.stderr
    saved = json.loads(sink.read_text())["moving"]
    assert saved == {
        "sitekey": new["sitekey"],
        "secret": current_secrets(target.db)[saved["sitekey"]],
    }


def test_a_crash_before_the_create_was_sent_leaves_nothing_to_recover(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"

    async def dies(self: TurnstileClient, *args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(TurnstileClient, "create_widget", dies)
        with pytest.raises(Killed):
            target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert live_widgets(target.db) == []
    assert (tmp_path / "secrets.json.pending").exists()

    rerun = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert rerun.exit_code == 0, rerun.stderr
    assert "Recovered" not in rerun.stderr
    assert "Plan: 1 to create" in rerun.stdout
    assert_file_holds_every_live_secret(sink, target.db)
    assert not (tmp_path / "secrets.json.pending").exists()


def test_a_run_without_the_secrets_file_leaves_the_recovery_to_one_with_it(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)
    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    rerun = target.run(["apply", str(path), "--auto-approve", "--secrets-out", str(sink)])
    assert "Recovered the secrets of 1 widget(s)" in rerun.stderr
    assert_file_holds_every_live_secret(sink, target.db)


# The real thing: SIGKILL at random moments of a real `turnstile-sync apply` process.

KILL_ROUNDS = 8
SPEC_NAMES = ("alpha", "bravo", "charlie", "delta")


def _account(round_: int) -> str:
    return f"{round_ + 1:032x}"


def _spec(tmp_path: Path, account: str) -> Path:
    lines = [f"account_id: '{account}'", "widgets:"]
    for name in SPEC_NAMES:
        lines += [f"  - name: {name}", "    mode: managed", "    domains: [example.com]"]
    lines += ["  - name: moving", "    mode: managed", "    domains: [example.com]"]
    lines += ["    region: china"]
    path = tmp_path / f"widgets-{account}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_apply_killed_at_random_moments_strands_no_secret(tmp_path, monkeypatch):
    # A request cut off by the kill is half a request: not something to check against
    # Cloudflare's schema, so the served emulator keeps no exchange log here.
    monkeypatch.delenv(REQUEST_LOG_ENV)
    db = tmp_path / "emulator.sqlite3"
    with served_emulator(db, "--latency-ms", "150", "--china-network") as base_url:
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "kill-token"}

        def start(account: str, sink: Path) -> subprocess.Popen[bytes]:
            """Start a real apply and return once it has shown its plan (it applies next)."""
            spec = _spec(tmp_path, account)
            command = cli_command("apply", str(spec), "--auto-approve", "--secrets-out", str(sink))
            command += ["--parallelism", "1"]  # one request at a time: more moments to die in
            process = subprocess.Popen(
                command,
                env=clean_env(**env, PYTHONUNBUFFERED="1"),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(b"Plan: "):
                    break
            return process

        def seed_moving(account: str) -> None:
            backend = Backend(db)
            try:
                backend.create(
                    account, {"name": "moving", "mode": "managed", "domains": ["example.com"]}
                )
            finally:
                backend.close()

        # An uninterrupted apply gives the span the kills are spread over (never asserted on).
        seed_moving(_account(KILL_ROUNDS))
        full = start(_account(KILL_ROUNDS), tmp_path / "full.json")
        began = time.monotonic()
        assert full.communicate(timeout=60) and full.returncode == 0
        span = time.monotonic() - began

        chooser = random.Random(20261121)
        for round_ in range(KILL_ROUNDS):
            account = _account(round_)
            seed_moving(account)
            sink = tmp_path / f"secrets-{round_}.json"
            process = start(account, sink)
            if round_ % 2:
                # The narrowest window: a widget exists, its response is still on its way.
                after = chooser.randint(1, len(SPEC_NAMES) + 1)
                while len(current_secrets(db, account)) <= after and process.poll() is None:
                    time.sleep(0.001)  # polling the emulator's state for the create
            else:
                time.sleep(chooser.uniform(0, span))  # the experiment: a random moment
            process.kill()
            process.communicate(timeout=30)

            rerun = run_cli(
                [
                    "apply",
                    str(_spec(tmp_path, account)),
                    "--auto-approve",
                    "--secrets-out",
                    str(sink),
                ],
                env=env,
            )
            # A replacement cut between its halves is finished by this re-run too.
            assert rerun.exit_code == 0, (round_, rerun.stdout, rerun.stderr)
            saved = json.loads(sink.read_text())
            secrets = current_secrets(db, account)
            assert set(saved) == {*SPEC_NAMES, "moving"}, (round_, rerun.stderr)
            for name, item in saved.items():
                assert secrets.get(item["sitekey"]) == item["secret"], (round_, name)
            backend = Backend(db)
            try:
                live = backend.list_widgets(account, page=1, per_page=1000)[0]
            finally:
                backend.close()
            assert sorted(w["name"] for w in live) == sorted({*SPEC_NAMES, "moving"}), round_
            assert {name: item["sitekey"] for name, item in saved.items()} == {
                w["name"]: w["sitekey"] for w in live
            }, round_
            assert not sink.with_name(sink.name + ".pending").exists(), round_
            assert os.stat(sink).st_mode & 0o077 == 0
