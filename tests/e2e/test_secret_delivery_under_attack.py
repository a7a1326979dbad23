"""Secret delivery as a killed runner, a failing store and a second Ctrl-C see it: a secret that
reached no store never leaves a run exiting 0, `secrets push` makes whole every run it is named
as the remedy for, and a hanging store command never outlives the user's wish to stop."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.e2e.test_secrets_exec_delivery import deliveries, recorder  # noqa: F401
from tests.e2e.test_secrets_never_stranded import apply_killed_while_saving, current_secrets
from tests.processes import clean_env, cli_command


def test_a_recovered_secret_that_a_command_failed_to_take_fails_the_run(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)  # widget exists, secret unsaved
    rerun = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-out",
            str(sink),
            "--secrets-exec",
            "exit 3",
        ]
    )
    assert "was not delivered to --secrets-exec #1" in rerun.stderr  # only a warning ...
    assert not (tmp_path / "secrets.json.pending").exists()  # ... and no later run retries
    assert rerun.exit_code == 1, rerun.stderr  # fails: exits 0


def test_secrets_push_delivers_the_new_half_of_an_interrupted_replacement(
    write_spec,
    target,
    tmp_path,
    monkeypatch,
    recorder,  # noqa: F811
):
    command, log = recorder
    old = seed(target.db, name="moving")
    path = write_spec(spec_text(entry("moving", "region: china")))
    apply_killed_while_saving(target, path, tmp_path / "secrets.json", monkeypatch)
    (new,) = [w for w in live_widgets(target.db) if w["sitekey"] != old["sitekey"]]
    planned = target.run(["plan", str(path)])
    assert planned.exit_code == 0, planned.stderr  # plan knows which half the spec manages
    push = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert [r["stdin"] for r in deliveries(log)] == [current_secrets(target.db)[new["sitekey"]]], (
        push.stderr
    )  # fails: "2 widgets are named 'moving' ...; pin the one the spec manages"
    assert push.exit_code == 0


def test_a_replacement_keeps_its_old_widget_while_the_new_secret_reached_nowhere(
    write_spec, target
):
    old = seed(target.db, name="checkout", region="world")
    path = write_spec(spec_text(entry("checkout", "region: china")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", "exit 1"])
    assert result.exit_code == 1
    sitekeys = {w["sitekey"] for w in live_widgets(target.db)}
    # The servers hold only the old secret; deleting the old widget breaks them now, while
    # the new secret is in no store.
    assert old["sitekey"] in sitekeys, result.stderr  # fails: the old widget was deleted


def test_a_second_ctrl_c_abandons_a_hanging_delivery_command(write_spec, tmp_path):
    path = write_spec(spec_text(entry("login")))
    db = tmp_path / "db.sqlite3"
    args = [
        "apply",
        str(path),
        "--auto-approve",
        "--emulator",
        "--emulator-db",
        str(db),
        "--secrets-exec",
        "sleep 300",
        "--secrets-exec-timeout",
        "600",
    ]
    process = subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(NO_COLOR="1"),
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert process.stderr is not None
    # The widget exists and its command is running once the sh child is visible.
    try:
        child = _wait_for_child(process.pid)
    except AssertionError:
        process.kill()
        process.communicate()
        raise
    process.send_signal(signal.SIGINT)
    for line in process.stderr:
        if line.startswith("Interrupted: no new action will start"):
            break
    process.send_signal(signal.SIGINT)  # README: "a second one abandons the in-flight requests"
    try:
        process.communicate(timeout=30)  # a hang guard, far below the 600 s timeout
        abandoned = True
    except subprocess.TimeoutExpired:
        abandoned = False
        process.kill()
        process.communicate()
    orphan_alive = _alive(child)
    if orphan_alive:
        subprocess.run(["kill", "-KILL", "--", f"-{child}"], check=False)
    assert (abandoned, orphan_alive) == (True, False), (
        "(apply stopped after the second Ctrl-C, the store command outlived turnstile-sync)"
    )  # fails: (False, True): apply waits up to the timeout; once killed, its command lives on


def _children(pid: int) -> list[int]:
    """Children of every thread: the command is started from a worker thread."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(value) for value in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _wait_for_child(pid: int) -> int:
    for _ in range(600):
        for child in _children(pid):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if cmdline.replace(b"\0", b" ").startswith((b"sleep 300", b"/bin/sh -c sleep 300")):
                return child
        subprocess.run(["sleep", "0.05"], check=True)  # polling for a process, not a sync
    raise AssertionError("the --secrets-exec command never started")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


NUL_NAMED = (
    "account_id: 023e105f4ecef8ad9ca31a8372d0c353\nwidgets:\n"
    '  - name: "log\\0in"\n    mode: managed\n    domains: [example.com]\n'
)


def test_a_name_no_environment_can_hold_is_refused_before_a_secret_is_rotated(write_spec, target):
    path = write_spec(NUL_NAMED)
    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    ((sitekey, before),) = current_secrets(target.db).items()
    result = target.run(
        [
            "rotate-secret",
            sitekey,
            "--spec",
            str(path),
            "--auto-approve",
            "--secrets-exec",
            "cat >/dev/null",
        ]
    )
    assert "Internal error" not in result.stderr, result.stderr  # fails: ValueError
    assert current_secrets(target.db)[sitekey] == before  # fails: rotated, delivered nowhere


def test_secrets_push_names_a_widget_whose_name_no_environment_can_hold(write_spec, target):
    path = write_spec(NUL_NAMED)
    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    result = target.run(["secrets", "push", str(path), "--secrets-exec", "cat >/dev/null"])
    assert result.exit_code == 1
    assert "Internal error" not in result.stderr, result.stderr  # fails: ValueError


def test_apply_refuses_a_name_no_environment_can_hold_before_creating_it(write_spec, target):
    path = write_spec(NUL_NAMED)
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", "cat"])
    assert result.exit_code == 1
    assert live_widgets(target.db) == [], result.stderr  # fails: created, then "ValueError"


def test_an_empty_secrets_exec_command_is_refused_before_anything_changes(write_spec, target):
    """`--secrets-exec "$STORE_COMMAND"` with the variable unset: `sh -c ''` exits 0 without
    reading its input, so every secret would be reported delivered to nowhere."""
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", ""])
    assert result.exit_code == 1, result.stdout + result.stderr  # fails: exits 0
    assert live_widgets(target.db) == []  # fails: created, its secret reached no store


def test_a_run_whose_commands_took_every_secret_does_not_say_they_were_not_saved(
    write_spec,
    target,
    recorder,  # noqa: F811
):
    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", command])
    assert result.exit_code == 0 and len(deliveries(log)) == 1
    assert "were not saved" not in result.stdout, result.stdout  # fails: NEW_WIDGET_SECRETS_NOTICE


def test_a_widget_deleted_during_a_push_is_named_and_the_others_still_delivered(
    write_spec,
    target,
    recorder,  # noqa: F811
):
    """A concurrent run (here: the first delivery itself) deletes 'b' after the listing."""
    command, log = recorder
    path = write_spec(spec_text(entry("a"), entry("b"), entry("c")))
    assert target.run(["apply", str(path), "--auto-approve"]).exit_code == 0
    delete_b = (
        f"{shlex.quote(sys.executable)} -c "
        + shlex.quote(
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute(\"DELETE FROM widgets WHERE name = 'b'\"); c.commit()"
        )
        + f" {shlex.quote(str(target.db))}"
    )
    push = target.run(["secrets", "push", str(path), "--secrets-exec", f"{command} && {delete_b}"])
    assert push.exit_code == 1
    delivered = {r["env"]["TURNSTILE_WIDGET_NAME"] for r in deliveries(log)}
    assert delivered == {"a", "c"}, push.stderr  # fails: {'a'}: push stopped at 'b's 404
    assert "'b'" in push.stderr  # fails: "get widget failed: HTTP 404" names no widget


def test_the_command_cannot_read_the_token_from_its_parents_environment(write_spec, tmp_path):
    """Run as a real process (in-process runs never put the token in /proc/self/environ, so
    the recorder's parent_environ check cannot fail there)."""
    path = write_spec(spec_text(entry("login")))
    steal = 'cat >/dev/null; tr "\\0" "\\n" < /proc/$PPID/environ | grep CLOUDFLARE_API_TOKEN'
    args = ["apply", str(path), "--auto-approve", "--emulator", "--emulator-db"]
    result = subprocess.run(
        cli_command(*args, str(tmp_path / "db.sqlite3"), "--secrets-exec", steal),
        capture_output=True,
        text=True,
        env=clean_env(CLOUDFLARE_API_TOKEN="cf-token-must-not-leak", NO_COLOR="1"),
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "cf-token-must-not-leak" not in result.stderr  # fails: read and shown on our stderr
