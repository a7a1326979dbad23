"""A replacement deletes a live widget and gives its pages a new sitekey. When a leftover
TURNSTILE_SYNC_APPLY_REPLACE in a shared CI environment asks for one, stderr must say the
variable did it, as it does for --auto-approve and --secrets-out: otherwise the only trace is
the plan's reason, "replacement requested with --replace", which names a flag nobody typed."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text


def test_replace_from_the_environment_is_announced(write_spec, emulator_db, tmp_path):
    seed(emulator_db, name="login")
    before = {w["sitekey"] for w in live_widgets(emulator_db)}
    path = str(write_spec(spec_text(entry("login"))))
    result = run_cli(
        [
            "apply",
            path,
            "--auto-approve",
            "--secrets-out",
            str(tmp_path / "secrets.json"),
            "--emulator",
            "--emulator-db",
            str(emulator_db),
        ],
        env={"TURNSTILE_SYNC_APPLY_REPLACE": "login"},
    )
    assert result.exit_code == 0, result.stderr
    assert {w["sitekey"] for w in live_widgets(emulator_db)}.isdisjoint(before)  # replaced
    assert (
        "Note: --replace is set by the environment variable TURNSTILE_SYNC_APPLY_REPLACE, "
        "not on the command line." in result.stderr
    ), result.stderr
