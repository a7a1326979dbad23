"""`--secrets-out -` (or /dev/stdout) is refused on every command that takes --secrets-out,
while the command line is parsed: secrets never go to standard output, and no file named
``-`` is written."""

from __future__ import annotations

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text

STREAMS = ["-", "/dev/stdout", "/dev/stderr"]


def commands(spec: str, destination: str) -> list[list[str]]:
    account = ["--account-id", ACCOUNT]
    return [
        ["apply", spec, "--auto-approve", "--secrets-out", destination],
        ["rotate-secret", "a", *account, "--auto-approve", "--secrets-out", destination],
        ["get-secret", "a", *account, "--secrets-out", destination],
        ["secrets", "push", spec, "--secrets-out", destination],
    ]


def test_secrets_out_to_a_standard_stream_is_refused_before_anything_changes(
    write_spec, target, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    seed(target.db, name="a")
    spec = str(write_spec(spec_text(entry("a", mode="invisible"), entry("new"))))
    before = live_widgets(target.db)
    for destination, args in [(d, a) for d in STREAMS for a in commands(spec, d)]:
        result = target.run(args)
        assert result.exit_code == 1, args
        assert f"'{destination}' is standard" in result.stderr, (args, result.stderr)
        assert "secrets are never written there" in result.stderr
        assert "--secrets-out secrets.json" in result.stderr
        assert result.stdout == ""
        assert live_widgets(target.db) == before, args
    assert not (tmp_path / "-").exists()


def test_the_refusal_suggests_secrets_exec_only_where_the_command_has_it(write_spec, tmp_path):
    spec = str(write_spec(spec_text(entry("a"))))
    emulator = ["--emulator", "--emulator-db", str(tmp_path / "emulator.sqlite3")]
    for args in commands(spec, "-"):
        result = run_cli([*args, *emulator])
        assert result.exit_code == 1, args
        has_exec = args[0] != "get-secret"
        assert ("--secrets-exec COMMAND" in result.stderr) is has_exec, args
