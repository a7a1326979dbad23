"""--secrets-exec and `secrets push`: every new, replaced, rotated or pushed secret reaches the
user's command on stdin and nowhere else; a command that fails or hangs leaves the secret
undelivered, reported with its remedy, and never stops or hangs the run."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.e2e.test_secrets_never_stranded import current_secrets

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
    assert "secret NOT delivered to --secrets-exec #1: it exited with status 3" in result.stdout
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
    assert result.stdout.count("ran longer than 0.5 s (--secrets-exec-timeout) and was killed") == 2
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
    assert "still held its output" in result.stdout
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
    assert "--secrets-exec #2: it exited with status 1" in result.stdout
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
