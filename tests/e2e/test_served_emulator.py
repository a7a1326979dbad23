"""The same reconcile through `emulator serve` on a real loopback socket, as users and CI run it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ACCOUNT, run_cli
from tests.processes import served_emulator

SPEC = f"""
account_id: {ACCOUNT}
prune: true
widgets:
  - name: login
    mode: managed
    domains: [example.com]
"""


def test_plan_apply_plan_over_http(write_spec, tmp_path: Path):
    path = str(write_spec(SPEC))
    with served_emulator(tmp_path / "served.sqlite3") as base_url:
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "any-token"}
        first = run_cli(["plan", path, "--detailed-exitcode"], env=env)
        assert first.exit_code == 2, first.stderr
        assert f"on {base_url} has 0 widget(s)" in first.stderr
        applied = run_cli(["apply", path, "--auto-approve"], env=env)
        assert applied.exit_code == 0, applied.stdout + applied.stderr
        again = run_cli(["plan", path, "--detailed-exitcode"], env=env)
        assert again.exit_code == 0, again.stdout
        assert "No changes" in again.stdout


def test_served_state_is_the_file_the_embedded_emulator_uses(write_spec, tmp_path: Path):
    db = tmp_path / "shared.sqlite3"
    path = str(write_spec(SPEC))
    assert (
        run_cli(["apply", path, "--emulator", "--emulator-db", str(db), "--auto-approve"]).exit_code
        == 0
    )
    with served_emulator(db) as base_url:
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
        result = run_cli(["plan", path, "--detailed-exitcode"], env=env)
    assert result.exit_code == 0, result.stdout


def test_emulator_serve_on_a_busy_port_exits_1(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["emulator", "serve", "--port", str(port), "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 1
