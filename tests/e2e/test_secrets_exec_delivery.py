"""--secrets-exec and `secrets push`: every new, replaced, rotated or pushed secret reaches the
user's command on stdin and nowhere else; a command that fails or hangs leaves the secret
undelivered, reported with its remedy, and never stops or hangs the run."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.e2e.test_secrets_never_stranded import apply_killed_while_saving, current_secrets
from tests.processes import clean_env, cli_command

RECORDER = textwrap.dedent(
    '''
    """Records, from inside a --secrets-exec child, what it and its sh parent were given."""
    import json, os, sys
    from pathlib import Path

    def read(path):
        try:
            return Path(path).read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    record = {
        "stdin": sys.stdin.buffer.read().decode("utf-8", "replace"),
        "argv": sys.argv,
        "cmdline": read("/proc/self/cmdline"),
        "environ": read("/proc/self/environ"),
        "parent_cmdline": read(f"/proc/{os.getppid()}/cmdline"),
        "parent_environ": read(f"/proc/{os.getppid()}/environ"),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("TURNSTILE_", "CLOUDFLARE_"))},
    }
    with open(sys.argv[1], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\\n")
    print("stored", os.environ["TURNSTILE_WIDGET_KEY"])
    '''
)


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[str, Path]:
    """A --secrets-exec command that records each delivery as one line of ``log``."""
    script = tmp_path / "record_delivery.py"
    script.write_text(RECORDER)
    log = tmp_path / "deliveries.jsonl"
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(log))}", log


def deliveries(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def by_name(db: Path) -> dict[str, dict[str, Any]]:
    return {widget["name"]: widget for widget in live_widgets(db)}


def assert_stdin_only(records: list[dict[str, Any]], secrets: set[str], *outputs: str) -> None:
    """Each secret is exactly some child's stdin, and in no argv, environment or output."""
    assert {record["stdin"] for record in records} <= secrets
    for record in records:
        for where in ("argv", "cmdline", "environ", "parent_cmdline", "parent_environ", "env"):
            text = json.dumps(record[where])
            assert not any(secret in text for secret in secrets), f"a secret is in {where}"
    for output in outputs:
        assert not any(secret in output for secret in secrets), "a secret is in our output"


CREDENTIALS = {
    "CLOUDFLARE_API_TOKEN": "cf-token-must-not-leak",
    "CLOUDFLARE_EMAIL": "ops@example.com",
    "CLOUDFLARE_API_KEY": "cf-key-must-not-leak",
}


def test_new_secrets_reach_the_command_on_stdin_only(write_spec, target, recorder):
    command, log = recorder
    path = write_spec(spec_text(entry("Checkout page (EU)"), entry("login")))
    env = {**target.env, **CREDENTIALS}
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", command], env=env)
    assert result.exit_code == 0, result.stderr
    live = by_name(target.db)
    secrets = current_secrets(target.db)
    records = {r["env"]["TURNSTILE_WIDGET_NAME"]: r for r in deliveries(log)}
    assert set(records) == {"Checkout page (EU)", "login"}
    for name, record in records.items():
        sitekey = live[name]["sitekey"]
        assert record["stdin"] == secrets[sitekey]  # exactly the secret, no newline
        expected = {
            "TURNSTILE_WIDGET_NAME": name,
            "TURNSTILE_WIDGET_KEY": "CHECKOUT_PAGE_EU" if name != "login" else "LOGIN",
            "TURNSTILE_SITEKEY": sitekey,
            "TURNSTILE_ACCOUNT_ID": ACCOUNT,
            "TURNSTILE_SECRET_EVENT": "create",
        }
        assert {key: record["env"].get(key) for key in expected} == expected
        for variable, value in CREDENTIALS.items():
            assert variable not in record["environ"] and value not in record["environ"]
            assert value not in record["parent_environ"]
    assert_stdin_only(list(records.values()), set(secrets.values()), result.stdout, result.stderr)
    assert "stored LOGIN" in result.stderr  # the command's own output is shown, on stderr


def test_replacement_delivers_the_new_widgets_secret(write_spec, target, recorder):
    command, log = recorder
    old = seed(target.db, name="checkout", region="world")
    path = write_spec(spec_text(entry("checkout", "region: china")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", command])
    assert result.exit_code == 0, result.stderr
    new = by_name(target.db)["checkout"]
    assert new["sitekey"] != old["sitekey"]
    [record] = deliveries(log)
    assert record["env"]["TURNSTILE_SECRET_EVENT"] == "replace"
    assert record["env"]["TURNSTILE_SITEKEY"] == new["sitekey"]
    assert record["stdin"] == current_secrets(target.db)[new["sitekey"]]


def test_rotation_delivers_the_rotated_secret(write_spec, target, recorder):
    command, log = recorder
    widget = seed(target.db, name="login")
    path = write_spec(spec_text(entry("login")))
    result = target.run(
        ["rotate-secret", "login", "--spec", str(path), "--auto-approve", "--secrets-exec", command]
    )
    assert result.exit_code == 0, result.stderr
    [record] = deliveries(log)
    secret = current_secrets(target.db)[widget["sitekey"]]
    assert secret != widget["secret"] and record["stdin"] == secret
    assert record["env"]["TURNSTILE_SECRET_EVENT"] == "rotate"
    assert record["env"]["TURNSTILE_WIDGET_KEY"] == "LOGIN"
    assert_stdin_only([record], {secret, widget["secret"]}, result.stdout, result.stderr)


def test_push_delivers_current_secrets_and_names_missing_widgets(write_spec, target, recorder):
    command, log = recorder
    login = seed(target.db, name="login")
    signup = seed(target.db, name="signup")
    seed(target.db, name="unmanaged")
    path = write_spec(spec_text(entry("login"), entry("signup"), entry("not yet created")))
    result = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert result.exit_code == 1
    assert "'not yet created' is in" in result.stderr and "not in the account" in result.stderr
    records = {r["env"]["TURNSTILE_WIDGET_NAME"]: r for r in deliveries(log)}
    assert set(records) == {"login", "signup"}  # the others were still delivered
    for widget in (login, signup):
        record = records[widget["name"]]
        assert record["stdin"] == widget["secret"]
        assert record["env"]["TURNSTILE_SECRET_EVENT"] == "push"
    assert_stdin_only(
        list(records.values()),
        set(current_secrets(target.db).values()),
        result.stdout,
        result.stderr,
    )


def test_push_needs_a_destination(write_spec, target):
    path = write_spec(spec_text(entry("login")))
    result = target.run(["secrets", "push", str(path)])
    assert result.exit_code == 1
    assert "--secrets-exec COMMAND and/or --secrets-out FILE" in result.stderr


def test_failing_command_leaves_the_widget_created_and_undelivered_until_pushed(
    write_spec, target, recorder, tmp_path
):
    path = write_spec(spec_text(entry("login"), entry("signup")))
    failing = "STORE_TOKEN=store-token-not-to-echo; echo store refused >&2; exit 1"
    result = target.run(
        ["apply", str(path), "--auto-approve", "--secrets-exec", failing, "--format", "json"]
    )
    assert result.exit_code == 1
    assert sorted(by_name(target.db)) == ["login", "signup"]  # created anyway, run went on
    document = json.loads(result.stdout)
    assert document["ok"] is False
    for item in document["results"]:
        assert item["outcome"] == "done"
        assert item["undelivered"] == ["--secrets-exec #1: it exited with status 1"]
    assert "store refused" in result.stderr
    assert (
        "turnstile-sync secrets push" in result.stderr and "--secrets-exec COMMAND" in result.stderr
    )
    assert "store-token-not-to-echo" not in result.stdout + result.stderr

    text = target.run(["apply", str(path), "--auto-approve"])
    assert text.exit_code == 0  # nothing to change: the widgets exist

    command, log = recorder
    pushed = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert pushed.exit_code == 0, pushed.stderr
    secrets = current_secrets(target.db)
    assert {r["stdin"] for r in deliveries(log)} == set(secrets.values())


def test_text_report_says_undelivered_and_how_to_redeliver(write_spec, target):
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", "exit 3"])
    assert result.exit_code == 1
    assert "secret NOT delivered to --secrets-exec #1: it exited with status 3" in result.stderr
    assert f"turnstile-sync secrets push {path} --secrets-exec COMMAND" in result.stderr


def test_hanging_command_and_its_background_child_are_killed_at_the_timeout(
    write_spec, target, tmp_path
):
    path = write_spec(spec_text(entry("login"), entry("signup")))
    pids = tmp_path / "pids"
    hanging = (
        f"sh -c 'echo $$ >> {pids}; exec sleep 300' & cat > /dev/null; echo $$ >> {pids}; sleep 300"
    )
    result = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-exec",
            hanging,
            "--secrets-exec-timeout",
            "0.5",
        ]
    )
    assert result.exit_code == 1
    assert sorted(by_name(target.db)) == ["login", "signup"]
    progress = [line for line in result.stderr.splitlines() if line.startswith("apply [")]
    killed = "ran longer than 0.5 s (--secrets-exec-timeout) and was killed"
    assert sum(killed in line for line in progress) == 2
    for pid in pids.read_text().split():
        assert not _running(int(pid)), f"process {pid} outlived the timeout"


def test_background_child_holding_the_output_is_killed_and_the_delivery_failed(
    write_spec, target, tmp_path
):
    path = write_spec(spec_text(entry("login")))
    pids = tmp_path / "pids"
    lingering = f"cat > /dev/null; sh -c 'echo $$ > {pids}; exec sleep 300' & exit 0"
    result = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-exec",
            lingering,
            "--secrets-exec-timeout",
            "0.5",
        ]
    )
    assert result.exit_code == 1
    assert "still held its output" in result.stderr
    assert not _running(int(pids.read_text()))


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_names_with_shell_metacharacters_only_travel_in_the_environment(
    write_spec, target, recorder, tmp_path
):
    command, log = recorder
    name = "$(touch pwned) `touch pwned2` \"q\" 'x'; touch pwned3"
    path = write_spec(spec_text(entry(json.dumps(name))))
    result = target.run(
        ["apply", str(path), "--auto-approve", "--secrets-exec", f"cd {tmp_path} && {command}"]
    )
    assert result.exit_code == 0, result.stderr
    [record] = deliveries(log)
    assert record["env"]["TURNSTILE_WIDGET_NAME"] == name
    assert record["env"]["TURNSTILE_WIDGET_KEY"] == "TOUCH_PWNED_TOUCH_PWNED2_Q_X_TOUCH_PWNED3"
    assert not list(tmp_path.glob("pwned*")) and not list(Path.cwd().glob("pwned*"))


def test_a_command_that_echoes_the_secret_never_puts_it_in_our_output(write_spec, target):
    path = write_spec(spec_text(entry("login")))
    result = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-exec",
            "cat; echo; cat /proc/self/cmdline",
        ]
    )
    assert result.exit_code == 0, result.stderr
    [secret] = current_secrets(target.db).values()
    assert secret not in result.stdout + result.stderr
    assert "[secret redacted]" in result.stderr


def test_secrets_out_and_commands_each_get_every_secret(write_spec, target, recorder, tmp_path):
    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    result = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-out",
            str(sink),
            "--secrets-exec",
            command,
            "--secrets-exec",
            "exit 1",
        ]
    )
    assert result.exit_code == 1  # the second command failed
    [secret] = current_secrets(target.db).values()
    assert json.loads(sink.read_text())["login"]["secret"] == secret
    assert [r["stdin"] for r in deliveries(log)] == [secret]
    assert "--secrets-exec #2: it exited with status 1" in result.stderr
    assert "--secrets-exec #1" not in result.stdout


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e9"])
def test_timeout_must_be_a_finite_positive_number(write_spec, target, timeout):
    path = write_spec(spec_text(entry("login")))
    result = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-exec",
            "cat",
            "--secrets-exec-timeout",
            timeout,
        ]
    )
    assert result.exit_code == 1
    assert "--secrets-exec-timeout" in result.stderr
    assert live_widgets(target.db) == []


def test_names_without_distinct_identifiers_are_refused_before_anything_changes(write_spec, target):
    path = write_spec(spec_text(entry("Login"), entry("login!")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", "cat"])
    assert result.exit_code == 1
    assert "share the identifier LOGIN" in result.stderr
    assert live_widgets(target.db) == []


def test_reviewed_plan_apply_delivers_too(write_spec, target, recorder, tmp_path):
    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    plan_file = tmp_path / "reviewed.plan.json"
    planned = target.run(["plan", str(path), "--out", str(plan_file)])
    assert planned.exit_code == 0, planned.stderr
    result = target.run(["apply", str(path), "--plan", str(plan_file), "--secrets-exec", command])
    assert result.exit_code == 0, result.stderr
    [record] = deliveries(log)
    assert record["stdin"] == next(iter(current_secrets(target.db).values()))


def test_secrets_recovered_from_an_interrupted_run_reach_the_commands_too(
    write_spec, target, recorder, tmp_path, monkeypatch
):
    from tests.e2e.test_secrets_never_stranded import apply_killed_while_saving

    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)
    assert deliveries(log) == []
    rerun = target.run(
        [
            "apply",
            str(path),
            "--auto-approve",
            "--secrets-out",
            str(sink),
            "--secrets-exec",
            command,
        ]
    )
    assert rerun.exit_code == 0, rerun.stderr
    [secret] = current_secrets(target.db).values()
    assert json.loads(sink.read_text())["login"]["secret"] == secret
    [record] = deliveries(log)
    assert record["stdin"] == secret and record["env"]["TURNSTILE_SECRET_EVENT"] == "push"


def test_an_interrupted_run_names_secrets_push_and_push_makes_it_whole(
    write_spec, tmp_path, recorder
):
    import signal
    import subprocess

    from tests.e2e.test_interrupt import SPEC, gated_emulator
    from tests.processes import clean_env, cli_command

    command, log = recorder
    path = str(write_spec(SPEC))
    db = tmp_path / "gated.sqlite3"
    with gated_emulator(db) as (base_url, gate):
        env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="t", NO_COLOR="1")
        args = ["apply", path, "--auto-approve", "--parallelism", "1", "--secrets-exec", "exit 0"]
        process = subprocess.Popen(
            cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if line.startswith("apply [1/6]"):
                break
        process.send_signal(signal.SIGINT)
        for line in process.stderr:
            seen.append(line)
            if line.startswith("Interrupted: no new action will start"):
                break
        gate.released.set()
        process.communicate(timeout=60)
        interrupted = "".join(seen)
        assert f"`turnstile-sync secrets push {path} --secrets-exec COMMAND`" in interrupted
        assert "exit 0" not in interrupted  # the user's command is never echoed

        push = subprocess.run(
            cli_command("secrets", "push", path, "--secrets-exec", command),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
    assert push.returncode == 1  # four widgets were never created: named, not pushed
    assert {r["env"]["TURNSTILE_WIDGET_NAME"] for r in deliveries(log)} == {"w0", "w1"}
    assert set(current_secrets(db).values()) == {r["stdin"] for r in deliveries(log)}


def test_a_rotation_whose_delivery_fails_says_so_and_exits_1(write_spec, target):
    widget = seed(target.db, name="login")
    result = target.run(
        [
            "rotate-secret",
            "login",
            "--account-id",
            ACCOUNT,
            "--auto-approve",
            "--secrets-exec",
            "exit 1",
        ]
    )
    assert result.exit_code == 1
    assert current_secrets(target.db)[widget["sitekey"]] != widget["secret"]  # rotated
    assert "was not delivered to --secrets-exec #1: it exited with status 1" in result.stderr
    assert "turnstile-sync secrets push SPEC --secrets-exec COMMAND" in result.stderr


def test_a_recovered_secret_that_a_command_failed_to_take_fails_the_run(
    write_spec, target, tmp_path, monkeypatch
):
    path = write_spec(spec_text(entry("login")))
    sink = tmp_path / "secrets.json"
    apply_killed_while_saving(target, path, sink, monkeypatch)  # widget exists, secret unsaved
    args = ["apply", str(path), "--auto-approve", "--secrets-out", str(sink)]
    rerun = target.run([*args, "--secrets-exec", "exit 3"])
    assert "was not delivered to --secrets-exec #1" in rerun.stderr
    assert not (tmp_path / "secrets.json.pending").exists()  # the file has it: no retry there
    assert rerun.exit_code == 1, rerun.stderr  # ... so the run itself says the command lacks it
    assert "secrets recovered from an interrupted run were not delivered" in rerun.stderr
    assert f"secrets push {path} --secrets-exec COMMAND" in rerun.stderr


def test_secrets_push_delivers_the_new_half_of_an_interrupted_replacement(
    write_spec, target, tmp_path, monkeypatch, recorder
):
    command, log = recorder
    old = seed(target.db, name="moving")
    path = write_spec(spec_text(entry("moving", "region: china")))
    apply_killed_while_saving(target, path, tmp_path / "secrets.json", monkeypatch)
    (new,) = [w for w in live_widgets(target.db) if w["sitekey"] != old["sitekey"]]
    assert target.run(["plan", str(path)]).exit_code == 0  # plan knows which half it manages
    push = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert [r["stdin"] for r in deliveries(log)] == [current_secrets(target.db)[new["sitekey"]]]
    assert push.exit_code == 0, push.stderr


def test_push_names_widgets_whose_identity_plan_cannot_decide(write_spec, target, recorder):
    command, log = recorder
    seed(target.db, name="twin")
    seed(target.db, name="twin", domains=["other.example"])
    login = seed(target.db, name="login")
    path = write_spec(spec_text(entry("twin"), entry("login")))
    push = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert push.exit_code == 1
    assert "'twin' matches 2 live widgets" in push.stderr and "pin the one" in push.stderr
    assert [r["stdin"] for r in deliveries(log)] == [login["secret"]]
    assert "Pushed the current secrets of 1 of 2 widget(s)" in push.stderr


def test_a_replacement_keeps_its_old_widget_while_the_new_secret_reached_nowhere(
    write_spec, target, recorder
):
    command, log = recorder
    old = seed(target.db, name="checkout", region="world")
    stray = seed(target.db, name="stray")
    path = write_spec(spec_text(entry("checkout", "region: china")) + "prune: true\n")
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", "exit 1"])
    assert result.exit_code == 1
    sitekeys = {w["sitekey"] for w in live_widgets(target.db)}
    # Servers hold only the old secret: deleting the old widget would break them now.
    assert {old["sitekey"], stray["sitekey"]} <= sitekeys, result.stderr  # prune held back too
    assert len(sitekeys) == 3
    assert "the old widget was kept" in result.stderr
    assert "held back: a new secret was not delivered" in result.stderr
    assert "secrets push" in result.stderr
    # The remedy: push the new secret, then apply again; it finishes the replacement.
    push = target.run(["secrets", "push", str(path), "--secrets-exec", command])
    assert push.exit_code == 0, push.stderr
    again = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", command])
    assert again.exit_code == 0, again.stdout + again.stderr
    (widget,) = live_widgets(target.db)
    assert widget["region"] == "china"
    assert deliveries(log)[0]["stdin"] == widget["secret"]


def _children(pid: int) -> list[int]:
    """Children of every thread: the command is started from a worker thread."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(value) for value in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _wait_for_sleep_child(pid: int) -> int:
    for _ in range(600):
        for child in _children(pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if cmdline.startswith((b"sleep 300", b"/bin/sh -c sleep 300")):
                return child
        subprocess.run(["sleep", "0.05"], check=True)  # polling for a process, not a sync
    raise AssertionError("the --secrets-exec command never started")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _gone(pid: int) -> bool:
    """Whether ``pid`` dies within a hang guard (it is killed, not waited for)."""
    for _ in range(200):
        if not _alive(pid):
            return True
        subprocess.run(["sleep", "0.05"], check=True)  # polling for a process, not a sync
    return False


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM), (signal.SIGKILL,)],
    ids=["second-ctrl-c", "sigterm-twice", "sigkill"],
)
def test_a_hanging_delivery_command_never_outlives_the_tool(write_spec, tmp_path, signals):
    """The command runs in a session of its own (so a timeout kills all it started), which
    hides the terminal's signals from it: the tool kills it when the user abandons the run,
    and on Linux it dies with the tool even when the tool is SIGKILLed."""
    path = write_spec(spec_text(entry("login")))
    args = ["apply", str(path), "--auto-approve", "--emulator", "--emulator-db"]
    db = str(tmp_path / "db.sqlite3")
    process = subprocess.Popen(
        cli_command(*args, db, "--secrets-exec", "sleep 300", "--secrets-exec-timeout", "600"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(NO_COLOR="1"),
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert process.stderr is not None
    try:
        child = _wait_for_sleep_child(process.pid)  # the widget exists, its command runs
        first, *second = signals
        process.send_signal(first)
        if second:
            for line in process.stderr:
                if line.startswith("Interrupted: no new action will start"):
                    break
            process.send_signal(second[0])
        _, stderr = process.communicate(timeout=30)  # a hang guard, far below 600 s
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    orphan_gone = _gone(child)
    if not orphan_gone:
        subprocess.run(["kill", "-KILL", "--", f"-{child}"], check=False)
    assert orphan_gone, "the store command outlived turnstile-sync"
    if second:
        assert process.returncode == 1
        assert "Killed 1 running --secrets-exec command(s)" in stderr
        assert "secrets push" in stderr and "--secrets-exec COMMAND" in stderr


NUL_NAMED = (
    f"account_id: {ACCOUNT}\nwidgets:\n"
    '  - name: "log\\0in"\n    mode: managed\n    domains: [example.com]\n'
)


def test_a_name_no_environment_can_hold_is_refused_before_anything_changes(write_spec, target):
    path = write_spec(NUL_NAMED)
    for command in (["apply", str(path), "--auto-approve"], ["secrets", "push", str(path)]):
        result = target.run([*command, "--secrets-exec", "cat"])
        assert result.exit_code == 1
        assert "cannot contain control characters (\\x00)" in result.stderr, result.stderr
        assert "Internal error" not in result.stderr
    assert live_widgets(target.db) == []


def test_rotating_a_live_widget_whose_name_no_environment_can_hold_changes_nothing(target):
    widget = seed(target.db, name="log\0in")  # named so in the dashboard or by the API
    result = target.run(
        [
            "rotate-secret",
            widget["sitekey"],
            "--account-id",
            ACCOUNT,
            "--auto-approve",
            "--secrets-exec",
            "cat >/dev/null",
        ]
    )
    assert result.exit_code == 1
    assert "Internal error" not in result.stderr, result.stderr
    assert "contains a NUL character" in result.stderr and "Nothing was changed" in result.stderr
    assert current_secrets(target.db)[widget["sitekey"]] == widget["secret"]


@pytest.mark.parametrize("blank", ["", "  \t"])
def test_a_blank_secrets_exec_command_is_refused_before_anything_changes(write_spec, target, blank):
    """`--secrets-exec "$STORE_COMMAND"` with the variable unset: `sh -c ''` exits 0 without
    reading its input, so every secret would be reported delivered to nowhere."""
    path = write_spec(spec_text(entry("login")))
    args = ["apply", str(path), "--auto-approve", "--secrets-exec", "cat", "--secrets-exec"]
    result = target.run([*args, blank])
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "--secrets-exec #2 is empty" in result.stderr
    assert live_widgets(target.db) == []


def test_a_run_whose_commands_took_every_secret_says_so(write_spec, target, recorder):
    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    result = target.run(["apply", str(path), "--auto-approve", "--secrets-exec", command])
    assert result.exit_code == 0 and len(deliveries(log)) == 1
    assert "were not saved" not in result.stdout, result.stdout
    assert "sent to 1 --secrets-exec command(s)" in result.stdout


def test_a_widget_deleted_during_a_push_is_named_and_the_others_still_delivered(
    write_spec, target, recorder
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
    assert delivered == {"a", "c"}, push.stderr
    assert "'b' (" in push.stderr and "deleted since it was listed" in push.stderr
    assert "Pushed the current secrets of 2 of 3 widget(s)" in push.stderr


def _can_read_any_process() -> bool:
    """CAP_SYS_PTRACE (root, in most containers) reads even a non-dumpable process's environ."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 19))
    return False


def test_the_command_cannot_read_or_echo_the_token_from_its_parents_environment(
    write_spec, tmp_path, recorder
):
    """Run as a real process: in-process runs never put the token in /proc/self/environ.
    The recorder's parent is the tool (sh execs it); the second command prints what it can
    read of the tool's environment."""
    command, log = recorder
    path = write_spec(spec_text(entry("login")))
    steal = 'cat >/dev/null; tr "\\0" "\\n" < /proc/$PPID/environ | grep CLOUDFLARE_'
    args = ["apply", str(path), "--auto-approve", "--emulator", "--emulator-db"]
    db = str(tmp_path / "db.sqlite3")
    result = subprocess.run(
        cli_command(*args, db, "--secrets-exec", command, "--secrets-exec", steal),
        capture_output=True,
        text=True,
        env=clean_env(**CREDENTIALS, NO_COLOR="1"),
        check=False,
        timeout=60,
    )
    for value in ("cf-token-must-not-leak", "cf-key-must-not-leak", "ops@example.com"):
        assert value not in result.stdout + result.stderr  # redacted even when it was read
    (record,) = deliveries(log)
    if not _can_read_any_process():  # the tool is not dumpable: its environ is closed
        assert "cf-token-must-not-leak" not in record["parent_environ"]
        assert "was not delivered to --secrets-exec #2" in result.stderr  # grep found nothing
    else:  # root reads it anyway, and the output is redacted (checked above)
        assert "CLOUDFLARE_API_TOKEN=[secret redacted]" in result.stderr
