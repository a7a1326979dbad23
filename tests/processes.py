"""Helpers for end-to-end tests: real processes, a real terminal, a real socket."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "turnstile_sync", *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CLOUDFLARE_") and key != "TURNSTILE_SYNC_DEBUG"
    }
    env.update(extra)
    return env


def _terminal_env(extra: dict[str, str] | None) -> dict[str, str]:
    """No colour unless asked for (an empty value removes the variable), wide lines."""
    env = clean_env(NO_COLOR="1", COLUMNS="200")
    for key, value in (extra or {}).items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


def run_in_terminal(
    args: list[str],
    answer: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    before_answer: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (stdin, stdout, stderr); type ``answer`` at the prompt."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        cli_command(*args),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=_terminal_env(env),
        close_fds=True,
    )
    os.close(terminal)
    output = b""
    answered = False
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
            if not answered and b"Only 'yes' will be accepted" in output:
                if before_answer is not None:
                    before_answer()
                os.write(controller, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return code, output.decode(errors="replace").replace("\r\n", "\n")


@contextmanager
def served_emulator(db_path: Path, *extra: str, stderr: Path | None = None) -> Iterator[str]:
    """Run `turnstile-sync emulator serve` on a free loopback port; stop it afterwards.

    The server's stderr goes to a file (``stderr``, or a temporary one), never to a pipe
    nobody reads: a chatty server would otherwise block once the pipe's buffer is full.
    """
    port = free_port()
    with contextlib.ExitStack() as stack:
        log = (
            stack.enter_context(stderr.open("w+b"))
            if stderr is not None
            else stack.enter_context(tempfile.TemporaryFile())
        )
        process = subprocess.Popen(
            cli_command("emulator", "serve", "--port", str(port), "--db", str(db_path), *extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=clean_env(),
        )
        base_url = f"http://127.0.0.1:{port}/client/v4"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    # Any answer means it is up (403 when it needs a token); not counted.
                    httpx.get(f"http://127.0.0.1:{port}/__emulator/stats", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        output = log.read().decode(errors="replace")
                        raise RuntimeError(f"emulator did not start: {output}") from None
                    time.sleep(0.05)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_text(path: Path, text: str, timeout: float = 10) -> str:
    """Poll a file another process writes until it contains ``text``; return the file's text.

    ``timeout`` only bounds a failure; the wait ends as soon as the text is there.
    """
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{text!r} did not appear in {path} within {timeout} s:\n{content}"
            )
        time.sleep(0.02)


def raw_http(base_url: str, request: bytes, *, read: bool = True, timeout: float = 10) -> bytes:
    """Send bytes over a fresh loopback socket and read until the server has answered.

    For what httpx will not send: a Content-Length the body does not meet, a client that hangs
    up mid-request. Reading stops once a whole response (by its Content-Length) is in.
    """
    address = httpx.URL(base_url)
    with socket.create_connection((address.host, address.port or 80), timeout=timeout) as sock:
        sock.sendall(request)
        if not read:
            return b""
        answer = b""
        while True:
            head, separator, body = answer.partition(b"\r\n\r\n")
            if separator:
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    return answer
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk


HANG_GUARD = 60
"""Seconds a child CLI may take before the test fails: a bound on a hang, never a speed check."""


def run_guarded(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, so a read that blocks or a crash fails the test, not the
    suite."""
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=clean_env(NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
