"""Ctrl-C during apply: no new action starts, in-flight ones finish, the report says which.

The emulator here holds the second create until the test has pressed Ctrl-C and seen the
tool acknowledge it, so exactly one action is in flight at the interrupt, whatever the
machine's load: the outcome is fixed by construction, never by timing.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets
from tests.processes import clean_env, cli_command, free_port
from turnstile_sync.emulator import EmulatorOptions, Stats
from turnstile_sync.emulator.server import build_app, open_backend

SPEC = f"account_id: {ACCOUNT}\nwidgets:\n" + "".join(
    f"  - name: w{index}\n    mode: managed\n    domains: [example.com]\n" for index in range(6)
)


class CreateGate:
    """Lets the first create through and holds every later one until ``release``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.creates = 0
        self.released = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.creates += 1
            if self.creates > 1:
                while not self.released.is_set():
                    await asyncio.sleep(0.01)
        await self.app(scope, receive, send)


@contextmanager
def gated_emulator(db: Path) -> Iterator[tuple[str, CreateGate]]:
    """The emulator served on loopback from a thread of this test, behind a CreateGate."""
    options = EmulatorOptions(require_auth=False)
    backend = open_backend(db, options)
    gate = CreateGate(build_app(backend, options, Stats()))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(gate, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}/client/v4", gate
    finally:
        gate.released.set()
        server.should_exit = True
        thread.join(timeout=30)
        backend.close()


def apply_interrupted_after_its_first_action(
    base_url: str, path: str
) -> tuple[subprocess.Popen[str], list[str]]:
    """An apply of six creates, one at a time, sent Ctrl-C once its first create is done and
    its second is held by the gate; returns once it has said it will start nothing new, with
    the stderr lines seen so far."""
    env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="t", NO_COLOR="1")
    process = subprocess.Popen(
        cli_command("apply", path, "--auto-approve", "--parallelism", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # the first create is done; the second is held
        seen.append(line)
        if line.startswith("apply [1/6]"):
            break
    process.send_signal(signal.SIGINT)
    for line in process.stderr:
        seen.append(line)
        if line.startswith("Interrupted: no new action will start"):
            break
    return process, seen


def test_ctrl_c_stops_cleanly_and_a_rerun_converges(write_spec, tmp_path):
    path = str(write_spec(SPEC))
    db = tmp_path / "gated.sqlite3"
    with gated_emulator(db) as (base_url, gate):
        process, seen = apply_interrupted_after_its_first_action(base_url, path)
        gate.released.set()  # now the in-flight create may finish
        stdout, stderr = process.communicate(timeout=60)
        stderr = "".join(seen) + stderr
        assert process.returncode == 1, stdout + stderr
        assert "Interrupted: no new action will start" in stderr
        assert "Apply interrupted: 2 done, 0 failed, 4 not attempted." in stdout
        assert "Fix the cause" not in stdout
        progress = [line for line in stderr.splitlines() if line.startswith("apply [")]
        assert sum("  done " in line for line in progress) == 2, stderr  # finished, in flight
        not_attempted = [line for line in progress if "not attempted  create" in line]
        assert len(not_attempted) == 4, stderr
        assert all(line.endswith(": interrupted before it started") for line in not_attempted)
        assert sorted(w["name"] for w in live_widgets(db)) == ["w0", "w1"]

        env = clean_env(CLOUDFLARE_BASE_URL=base_url, CLOUDFLARE_API_TOKEN="t", NO_COLOR="1")
        rerun = subprocess.run(
            cli_command("apply", path, "--auto-approve"),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "Plan: 4 to create" in rerun.stdout
    assert sorted(w["name"] for w in live_widgets(db)) == [f"w{i}" for i in range(6)]
