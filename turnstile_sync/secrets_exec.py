"""Running one ``--secrets-exec`` command: the secret on its stdin, never anywhere else.

Any secret store with a command-line client can take a secret this way (``gh secret set``,
``vault kv put ... value=-``), and stdin is the one channel other users of the machine cannot
read: argv and the environment are visible in ``/proc``. So the command runs as ``sh -c
COMMAND`` with the secret, without a trailing newline, on stdin (then closed), the widget
described in ``TURNSTILE_*`` variables, and the tool's own credentials removed from its
environment: a store's command has no business with the Cloudflare token.

The command runs in a session of its own, so that at the timeout its whole process group,
including anything it started in the background that still holds its output, is killed and the
run goes on. A session of its own also hides the terminal's Ctrl-C from it, so the groups of
running commands are registered here and killed when the user abandons the run
(``kill_running_commands``: a second Ctrl-C, SIGTERM, exit); on Linux the command also dies
with the tool (``PR_SET_PDEATHSIG``), the one way to outlive a SIGKILL of the tool, which
cannot be caught.

Before the first command starts, the tool makes itself non-dumpable (``PR_SET_DUMPABLE``, Linux)
so that the command, running as the same user, cannot read the tool's environment, and the
Cloudflare token in it, from ``/proc/$PPID/environ`` (a root or CAP_SYS_PTRACE command still
can; its output is redacted of the tool's credential values anyway).

Its output is kept (the last ``OUTPUT_LIMIT`` bytes, stdout and stderr together)
to be shown to the user, with every occurrence of the secret replaced: a command that echoes
what it read must not put the secret in a CI log.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import math
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO

from pydantic import SecretStr

from turnstile_sync.errors import ConfigError

__all__ = [
    "CREDENTIAL_VARIABLES",
    "DEFAULT_TIMEOUT",
    "OUTPUT_LIMIT",
    "REDACTED",
    "ExecResult",
    "checked_timeout",
    "child_environment",
    "environment_problem",
    "kill_running_commands",
    "run_secret_command",
]

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 86_400.0
OUTPUT_LIMIT = 64 * 1024
"""Bytes of a command's output kept: enough for any error message, bounded for a chatty one."""
REDACTED = "[secret redacted]"
CREDENTIAL_VARIABLES = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL")
"""Every variable the tool reads a credential from (caller.Credentials.from_env)."""
_DRAIN_AFTER_KILL = 1.0
"""Seconds to read what is left once the group is killed; a process that escaped the group
(``setsid``) and holds the pipe must not hang the run either."""


MIN_REDACTED_PREFIX = 10
"""A run of output this long that is the start of the secret is redacted when the output ends
with it (a command killed while echoing what it read): as long as a secret's public prefix."""
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4

_running: set[int] = set()
"""Process groups of the commands running now (their leaders' pids)."""
_running_lock = threading.Lock()


def kill_running_commands() -> int:
    """SIGKILL the process group of every command running now; return how many.

    Called when the user abandons the run and at exit: a command in a session of its own
    does not get the terminal's signals, and nothing it started must outlive the tool."""
    with _running_lock:
        groups = list(_running)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    return len(groups)


atexit.register(kill_running_commands)


def _libc_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, looked up once, before any fork; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return function


_PRCTL = _libc_prctl()


def _not_dumpable() -> None:
    """Best effort: keep same-user processes (the command) out of our /proc environ."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the command get SIGKILL when the thread that started it dies
    (that thread waits for it, so: when the tool dies). It only calls prctl, getppid and
    kill, which is what makes a preexec_fn safe in a process with threads."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the tool died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def environment_problem(value: str) -> str | None:
    """Why ``value`` cannot be an environment variable's value (a NUL, or text that is not
    encodable), in words; None when it can."""
    if "\0" in value:
        return "it contains a NUL character, which no environment variable can hold"
    try:
        os.fsencode(value)
    except UnicodeError:
        return "it contains characters that cannot be encoded for an environment variable"
    return None


def checked_timeout(value: float, origin: str = "--secrets-exec-timeout") -> float:
    """A finite number of seconds above 0 (``nan`` and ``inf`` would wait forever)."""
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise ConfigError(
            f"{origin} {value!r} is not a number of seconds above 0 and at most a day"
        )
    return value


@dataclass(frozen=True)
class ExecResult:
    """How one command ended. ``output`` is its redacted output, already decoded."""

    exit_code: int | None
    timed_out: bool
    output: str
    lingered: bool = False
    """The command exited, but something it started kept its output open past the timeout."""
    not_started: str | None = None
    """Why the command could not be started at all."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.lingered

    def problem(self, timeout: float) -> str | None:
        """Why the delivery failed, in words; None when it succeeded."""
        if self.not_started is not None:
            return f"it could not be started: {self.not_started}"
        if self.lingered:
            return (
                f"a process it started in the background still held its output after {timeout:g} "
                "s and was killed, so the delivery may not have finished"
            )
        if self.timed_out:
            return f"it ran longer than {timeout:g} s (--secrets-exec-timeout) and was killed"
        if self.exit_code is None or self.exit_code == 0:
            return None
        if self.exit_code < 0:
            return f"it was killed by signal {-self.exit_code}"
        return f"it exited with status {self.exit_code}"


def child_environment(base: Mapping[str, str], widget: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the tool's credentials, plus the widget's ``TURNSTILE_*`` variables."""
    env = {key: value for key, value in base.items() if key not in CREDENTIAL_VARIABLES}
    env.update(widget)
    return env


def run_secret_command(
    command: str,
    secret: SecretStr,
    env: Mapping[str, str],
    timeout: float,
    credentials: Iterable[str] = (),
) -> ExecResult:
    """Run ``sh -c command`` with ``secret`` on stdin; never raises for what the command does.

    ``credentials`` (the tool's own, e.g. the Cloudflare token) are redacted from its output
    like the secret. Blocking: callers in an event loop run it in a thread, one at a time."""
    data = secret.get_secret_value().encode("utf-8")
    for key, value in env.items():
        problem = environment_problem(key) or environment_problem(value)
        if problem is not None:
            return ExecResult(None, False, "", not_started=f"its variable {key}: {problem}")
    _not_dumpable()
    try:
        # Running the user's own command is the point; the secret is not in argv.
        process = subprocess.Popen(  # noqa: S603
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
            preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - only prctl, see there
        )
    except OSError as error:
        return ExecResult(None, False, "", not_started=f"sh: {error.strerror or error}")
    except (ValueError, UnicodeError):  # the command text itself (a NUL in it)
        return ExecResult(None, False, "", not_started="the command cannot be passed to sh")
    with _running_lock:
        _running.add(process.pid)
    tail = _Tail()
    try:
        timed_out, lingered = _communicate(process, data, timeout, tail)
    finally:
        _kill_group(process)  # only matters if we got here by an exception
        process.wait()
        with _running_lock:
            _running.discard(process.pid)
    hidden = [data] + [c.encode("utf-8", "surrogateescape") for c in credentials if c]
    text = redact(tail.value(), *hidden, truncated=tail.dropped)
    return ExecResult(None if timed_out else process.returncode, timed_out, text, lingered)


class _Tail:
    """The last OUTPUT_LIMIT bytes of a stream, and whether anything before them was dropped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.dropped = False

    def add(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) > 2 * OUTPUT_LIMIT:
            del self._buffer[: len(self._buffer) - OUTPUT_LIMIT]
            self.dropped = True

    def value(self) -> bytes:
        if len(self._buffer) > OUTPUT_LIMIT:
            self.dropped = True
        return bytes(self._buffer[-OUTPUT_LIMIT:])


def _communicate(
    process: subprocess.Popen[bytes], data: bytes, timeout: float, output: _Tail
) -> tuple[bool, bool]:
    """Write ``data``, close stdin, collect output until it ends and the command exits, or
    the timeout passes. Returns (timed out, lingered: exited but its output stayed open)."""
    stdin, stdout = process.stdin, process.stdout
    if stdin is None or stdout is None:  # Popen was given PIPEs; never happens
        raise ConfigError("sh was started without pipes")
    deadline = time.monotonic() + timeout
    try:
        if not _pump(stdin, stdout, data, deadline, output):
            exited = process.poll() is not None
            _kill_group(process)
            output.add(_drain(stdout))
            return not exited, exited
    finally:
        if not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()
    while True:  # output ended; the command itself may still be running
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True, False
        try:
            process.wait(timeout=min(remaining, 0.5))
            return False, False
        except subprocess.TimeoutExpired:
            continue


def _pump(stdin: IO[bytes], stdout: IO[bytes], data: bytes, deadline: float, output: _Tail) -> bool:
    """Feed stdin and read stdout until it ends (True) or the deadline passes (False)."""
    pending = memoryview(data)
    os.set_blocking(stdin.fileno(), False)
    with selectors.DefaultSelector() as selector:
        if pending:
            selector.register(stdin, selectors.EVENT_WRITE)
        else:
            stdin.close()
        selector.register(stdout, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(min(remaining, 0.5)):
                if key.fileobj is stdout:
                    chunk = os.read(stdout.fileno(), 65536)
                    if chunk:
                        output.add(chunk)
                    else:
                        selector.unregister(stdout)
                    continue
                try:
                    pending = pending[os.write(stdin.fileno(), pending) :]
                except BlockingIOError:
                    continue
                except OSError:  # the command does not read stdin (EPIPE): its choice
                    pending = pending[:0]
                if not pending:
                    selector.unregister(stdin)
                    stdin.close()
    return True


def _drain(stream: IO[bytes]) -> bytes:
    """What is left in the pipe once the group is killed, for at most a moment."""
    os.set_blocking(stream.fileno(), False)
    collected = bytearray()
    deadline = time.monotonic() + _DRAIN_AFTER_KILL
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline and len(collected) < 2 * OUTPUT_LIMIT:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                break
            try:
                chunk = os.read(stream.fileno(), 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            collected += chunk
    return bytes(collected)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def redact(output: bytes, secret: bytes, *others: bytes, truncated: bool) -> str:
    """``output`` with every occurrence of ``secret`` (and of each of ``others``) replaced,
    decoded for display.

    Output cut at the front may begin with the tail of a secret: that many bytes go too.
    Output that ends with the start of the secret (a command killed while echoing it) loses
    that start, when it is at least MIN_REDACTED_PREFIX long: shorter is no more than the
    public prefix every secret shares."""
    longest = max((len(value) for value in (secret, *others)), default=0)
    if longest and truncated:
        output = output[longest - 1 :]
    for value in sorted((secret, *others), key=len, reverse=True):
        if value:
            output = output.replace(value, REDACTED.encode())
            output = _without_trailing_prefix(output, value)
    return output.decode("utf-8", errors="replace")


def _without_trailing_prefix(output: bytes, value: bytes) -> bytes:
    """``output`` with its end redacted if that end is the start of ``value``."""
    for length in range(min(len(value) - 1, len(output)), MIN_REDACTED_PREFIX - 1, -1):
        if output.endswith(value[:length]):
            return output[:-length] + REDACTED.encode()
    return output
