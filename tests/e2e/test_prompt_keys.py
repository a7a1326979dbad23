"""Ctrl-C and Ctrl-D at apply's 'yes' prompt, typed on a real controlling terminal.

The terminal's line discipline turns the typed ^C into SIGINT for the tool's process group
and ^D into end of input, exactly as for a person at a keyboard. One key must be enough:
the tool answers "cancelled" and changes nothing, without waiting for more input.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from tests.e2e.conftest import live_widgets
from tests.processes import _terminal_env, cli_command

SPEC = """\
account_id: 023e105f4ecef8ad9ca31a8372d0c353
widgets:
  - name: login
    mode: managed
    domains: [example.com]
"""
PROMPT = b"Only 'yes' will be accepted: "


def _reading_the_terminal(pid: int) -> bool:
    """Is the process blocked in read(2) on its terminal? A key typed between the prompt
    appearing and that read (microseconds, which no person hits, but a test does) leaves the
    SIGINT pending until the read returns, so the test types only once the tool reads.
    Linux: /proc/PID/syscall starts with the number of the call it is blocked in (read: 0 on
    x86-64, 63 on arm64)."""
    try:
        with open(f"/proc/{pid}/syscall") as status:
            number = status.read().split(" ", 1)[0]
    except OSError:
        return False
    return number in ("0", "63")


def _controlling_terminal() -> None:  # in the child, before exec
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _type_at_prompt(args, key: bytes, cwd, env, timeout: float = 30) -> tuple[int, str]:
    """Run the CLI with a pty as its controlling terminal; type ``key`` once at the prompt,
    then nothing more: a tool still waiting for input hangs until the guard kills it."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        cli_command(*args),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=_terminal_env(env),
        preexec_fn=_controlling_terminal,  # noqa: PLW1509 - a single-threaded test
    )
    os.close(terminal)
    output = b""
    typed = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if not typed and PROMPT in output and _reading_the_terminal(process.pid):
                os.write(controller, key)
                typed = True
            if process.poll() is not None and not ready:
                break
        if process.poll() is None:
            process.kill()
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return code, output.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_one_key_at_the_prompt_cancels_the_apply(write_spec, target, tmp_path, key):
    args = ["apply", str(write_spec(SPEC)), *target.args]
    code, output = _type_at_prompt(args, key, tmp_path, target.env)
    assert "Apply these changes? Only 'yes' will be accepted" in output
    assert "Apply cancelled. Nothing was changed." in output, output
    assert "Interrupted" not in output
    assert "Traceback" not in output
    assert code == 1, output
    assert live_widgets(target.db) == []


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_one_key_at_the_rotate_prompt_cancels_the_rotation(write_spec, target, tmp_path, key):
    path = str(write_spec(SPEC))
    assert target.run(["apply", path, "--auto-approve"]).exit_code == 0
    (sitekey,) = [widget["sitekey"] for widget in live_widgets(target.db)]
    args = ["rotate-secret", sitekey, "--spec", path, *target.args]
    code, output = _type_at_prompt(args, key, tmp_path, target.env)
    assert "Rotation cancelled. Nothing was changed." in output, output
    assert "Traceback" not in output
    assert code == 1
