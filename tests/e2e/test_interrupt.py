"""Ctrl-C during apply: no new action starts, in-flight ones finish, the report says which."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets
from tests.processes import clean_env, cli_command, served_emulator

SPEC = f"account_id: {ACCOUNT}\nwidgets:\n" + "".join(
    f"  - name: w{index}\n    mode: managed\n    domains: [example.com]\n" for index in range(6)
)


def test_ctrl_c_stops_cleanly_and_a_rerun_converges(write_spec, tmp_path):
    path = str(write_spec(SPEC))
    db = tmp_path / "slow.sqlite3"
    with served_emulator(db, "--latency-ms", "300") as base_url:
        env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="t", NO_COLOR="1")
        process = subprocess.Popen(
            cli_command("apply", path, "--auto-approve", "--parallelism", "1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if line.startswith("apply [1/6]"):
                break
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 1, stdout + stderr
        assert "Interrupted: no new action will start" in stderr
        assert "Apply incomplete:" in stdout
        assert "not attempted" in stdout
        done = stdout.count("  done ")
        attempted_later = len(live_widgets(db))
        assert 1 <= done == attempted_later < 6

        rerun = subprocess.run(
            cli_command("apply", path, "--auto-approve"),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"Plan: {6 - done} to create" in rerun.stdout
    assert sorted(w["name"] for w in live_widgets(db)) == [f"w{i}" for i in range(6)]
