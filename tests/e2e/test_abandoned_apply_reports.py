"""A second Ctrl-C abandons the actions in flight, and the report of what was done follows.

The emulator holds the second create until the test lets it go, so exactly one action is in
flight at both interrupts, whatever the machine's load. The held request's client is gone by
the time the emulator reads it: that is one quiet log line, never a traceback.
"""

from __future__ import annotations

import logging
import signal

from tests.conftest import ACCOUNT
from tests.e2e.conftest import live_widgets
from tests.e2e.test_interrupt import apply_interrupted_after_its_first_action, gated_emulator
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV

SPEC = f"account_id: {ACCOUNT}\nwidgets:\n" + "".join(
    f"  - name: w{index}\n    mode: managed\n    domains: [example.com]\n" for index in range(6)
)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_second_ctrl_c_abandons_in_flight_and_still_reports(write_spec, tmp_path, monkeypatch):
    # the abandoned request never had its body read: nothing for the schema check to check
    monkeypatch.delenv(REQUEST_LOG_ENV)
    path = str(write_spec(SPEC))
    db = tmp_path / "gated.sqlite3"
    logged = _Lines()
    for name in ("turnstile_sync.emulator", "uvicorn.error"):
        logging.getLogger(name).addHandler(logged)
    try:
        with gated_emulator(db) as (base_url, _gate):
            process, seen = apply_interrupted_after_its_first_action(base_url, path)
            process.send_signal(signal.SIGINT)  # the held create is still in flight
            stdout, stderr = process.communicate(timeout=60)
            stderr = "".join(seen) + stderr
    finally:
        for name in ("turnstile_sync.emulator", "uvicorn.error"):
            logging.getLogger(name).removeHandler(logged)

    assert process.returncode == 1, stdout + stderr
    assert "Abandoning the actions in flight." in stderr
    assert "Interrupted." not in stderr.replace("Interrupted: no new", "")
    assert "Traceback" not in stderr
    # one line per action, as each finished, and never repeated by the report
    progress = [line for line in stderr.splitlines() if line.startswith("apply [")]
    assert len(progress) == 6, stderr
    assert progress[0].startswith("apply [1/6]  done           create 'w0'")
    assert sum("FAILED         create 'w1'" in line for line in progress) == 1
    assert sum("abandoned while in flight" in line for line in progress) == 1
    assert sum("not attempted" in line for line in progress) == 4
    assert sum(line.endswith(": interrupted before it started") for line in progress) == 4
    report = stdout.split("Plan: 6 to create")[1]
    assert "create 'w" not in report  # the report does not list them again
    assert "Apply abandoned: 1 done, 1 failed, 4 not attempted." in stdout
    assert "Fix the cause" not in stdout
    assert [w["name"] for w in live_widgets(db)] == ["w0"]
    # the emulator saw the held request's client gone: a warning line, no traceback
    problems = [r for r in logged.records if r.levelno >= logging.ERROR or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]
