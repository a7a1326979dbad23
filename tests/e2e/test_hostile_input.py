"""Hostile or careless input gets a clear error at once: no hang, no unbounded read, no
"Internal error", and no message larger than a bounded quote of what was given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.e2e.conftest import seed
from tests.processes import run_guarded
from turnstile_sync.userfiles import PLAN_SIZE_CAP, SPEC_SIZE_CAP

"""Seconds after which a run that should have failed at once counts as hung (a guard against
blocking the suite, not a measurement: the runs take well under a second)."""


def spec_text(*names: str) -> str:
    lines = [f"account_id: {ACCOUNT}", "widgets:" if names else "widgets: []"]
    for name in names:
        lines += [f"  - name: {name}", "    mode: managed", "    domains: [example.com]"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "widgets.yaml"
    os.mkfifo(path)
    return path


# Files that are not regular files


@pytest.mark.parametrize("command", [["validate"], ["plan", "--emulator"]])
def test_a_fifo_as_spec_is_refused_at_once(fifo, tmp_path, command):
    result = run_guarded([*command, str(fifo)], tmp_path)
    assert result.returncode == 1
    assert f"{fifo}: the file is a FIFO (named pipe), not a regular file" in result.stderr
    assert "Internal error" not in result.stderr


def test_a_device_as_spec_is_refused_at_once(tmp_path):
    result = run_guarded(["validate", "/dev/zero"], tmp_path)
    assert result.returncode == 1
    assert "/dev/zero: the file is a character device, not a regular file" in result.stderr
    assert "Internal error" not in result.stderr


@pytest.mark.parametrize("plan_file", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_as_plan_file_is_refused_at_once(tmp_path, fifo, plan_file):
    path = str(fifo) if plan_file == "fifo" else plan_file
    db = tmp_path / "emulator.sqlite3"
    result = run_guarded(
        ["apply", "--plan", path, "--emulator", "--emulator-db", str(db)], tmp_path
    )
    assert result.returncode == 1
    assert f"plan file {path} is a " in result.stderr
    assert "not a regular file; only regular files are read" in result.stderr
    assert "Internal error" not in result.stderr


# Size caps


def test_an_oversized_spec_is_refused_naming_the_cap(tmp_path):
    spec = tmp_path / "huge.yaml"
    with spec.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB claimed, nothing written
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 1
    assert (
        f"{spec}: the file is 52,428,800 bytes; specs larger than 2 MB (2,097,152 bytes) are "
        "refused" in result.stderr
    )
    assert SPEC_SIZE_CAP.limit == 2_097_152


def test_an_oversized_plan_file_is_refused_naming_the_cap(tmp_path):
    plan_file = tmp_path / "plan.json"
    with plan_file.open("wb") as handle:
        handle.truncate(PLAN_SIZE_CAP.limit + 1)
    db = tmp_path / "emulator.sqlite3"
    result = run_cli(["apply", "--plan", str(plan_file), "--emulator", "--emulator-db", str(db)])
    assert result.exit_code == 1
    assert (
        f"plan file {plan_file} is {PLAN_SIZE_CAP.limit + 1:,} bytes; plan files larger than "
        f"32 MB ({PLAN_SIZE_CAP.limit:,} bytes) are refused" in result.stderr
    )


def test_a_spec_is_read_whole_just_under_the_cap(write_spec):
    filler = "# " + "x" * 1000 + "\n"
    text = spec_text("a")
    text += filler * ((SPEC_SIZE_CAP.limit - len(text)) // len(filler))
    path = write_spec(text)
    assert SPEC_SIZE_CAP.limit - len(filler) < path.stat().st_size <= SPEC_SIZE_CAP.limit
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "valid (1 widget)" in result.stdout


# Bounded messages


def test_a_huge_name_is_a_spec_error_with_a_bounded_message(write_spec):
    name = "n" * 1_000_000
    result = run_cli(["validate", str(write_spec(spec_text(name, name)))])
    assert result.exit_code == 1
    assert "is 1,000,000 characters long; at most 254 are allowed" in result.stderr
    assert "(1,000,000 characters)" in result.stderr
    assert len(result.stderr) < 3_000


def test_a_huge_unknown_key_and_hostname_give_bounded_messages(write_spec):
    key = "k" * 500_000
    host = "h" * 500_000 + ".example.com"
    text = spec_text() + f"? {key}\n: 1\n" + f"defaults:\n  domains: [{host}]\n"
    result = run_cli(["validate", str(write_spec(text))])
    assert result.exit_code == 1
    assert "unknown key 'kkkk" in result.stderr
    assert "is longer than 253 characters" in result.stderr
    assert len(result.stderr) < 3_000


# Malformed URLs, ports and numbers: usage errors, never "Internal error"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://127.0.0.1:99999/client/v4", "has port 99,999; a port is a number from 1 to 65535"),
        ("http://127.0.0.1:0/client/v4", "has port 0"),
        ("http://[::1/", "is not a valid URL"),
        ("http:///client/v4", "has no host name"),
        ("ftp://example.com/client/v4", "is not an http(s) URL"),
        ("http://exa mple.com/", "contains spaces or control characters"),
        ("http://xn--/client/v4", "is not a valid URL"),  # not punycode: IDNA refuses it
        ("http://xn--zz/client/v4", "is not a valid URL"),
    ],
)
def test_a_malformed_base_url_is_a_usage_error(write_spec, base_url, message):
    env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
    result = run_cli(["plan", str(write_spec(spec_text("a")))], env=env)
    assert result.exit_code == 1
    assert f"CLOUDFLARE_BASE_URL {base_url!r} {message}" in result.stderr
    assert "Internal error" not in result.stderr


def test_a_huge_base_url_is_refused_without_being_repeated(write_spec):
    base_url = "https://" + "a" * 100_000 + ".example.com/client/v4"
    env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
    result = run_cli(["plan", str(write_spec(spec_text("a")))], env=env)
    assert result.exit_code == 1
    assert f"CLOUDFLARE_BASE_URL is {len(base_url):,} characters long" in result.stderr
    assert len(result.stderr) < 500


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-retry-time", "nan", "'nan' is not a number of seconds from 0 to 86,400"),
        ("--max-retry-time", "inf", "'inf' is not a number of seconds from 0 to 86,400"),
        ("--max-retry-time", "-1", "is not a number of seconds from 0 to 86,400"),
        ("--max-retry-time", "soon", "'soon' is not a valid float"),
        ("--rate-limit", "lots", "'lots' is not N/SECONDS (e.g. 1200/300) or 'off'"),
        ("--rate-limit", "10/nan", "'10/nan' is not N/SECONDS"),
        ("--rate-limit", "0/10", "'0/10' is not N/SECONDS"),
        ("--rate-limit", "9" * 5000 + "/1", "(5,002 characters) is not N/SECONDS"),
        ("--rate-limit", "1/99999999999999999999999", "is not N/SECONDS"),
        ("--parallelism", "0", "0 is not in the range 1<=x<=64"),
        ("--parallelism", "65", "65 is not in the range 1<=x<=64"),
    ],
)
def test_a_malformed_number_is_a_usage_error(write_spec, tmp_path, option, value, message):
    command = "apply" if option == "--parallelism" else "plan"
    emulator = ["--emulator", "--emulator-db", str(tmp_path / "emulator.sqlite3")]
    result = run_cli([command, str(write_spec(spec_text("a"))), option, value, *emulator])
    assert result.exit_code == 1
    assert f"Invalid value for '{option}'" in result.stderr
    assert message in result.stderr
    assert "Internal error" not in result.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--latency-ms", "nan"),
        ("--latency-ms", "inf"),
        ("--error-rate", "nan"),
        ("--drop-rate", "nan"),
        ("--throttle-rate", "nan"),
    ],
)
def test_a_malformed_emulator_number_is_a_usage_error(tmp_path, option, value):
    """Refused while the command line is parsed, before a server starts: a nan rate or an
    infinite latency would otherwise serve a broken emulator."""
    result = run_cli(["emulator", "serve", "--db", str(tmp_path / "e.db"), option, value])
    assert result.exit_code == 1
    assert f"Invalid value for '{option}'" in result.stderr
    assert f"'{value}' is not a number from 0 to" in result.stderr


# Control and bidi characters in names reach no output raw

HOSTILE_CHARACTERS = "\x1b\x07\u202e"


def test_markdown_and_step_summary_escape_control_and_bidi_characters(write_spec, target, tmp_path):
    live_name = "live \x1b[31mred\x07 \u202etxt.exe"
    seed(target.db, name=live_name)
    spec_path = write_spec(spec_text('"new \\u202Egpj.exe"'))  # no controls: refused
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = target.run(["plan", str(spec_path), "--format", "markdown"], env=env)
    assert result.exit_code == 0, result.stderr
    written = summary.read_text(encoding="utf-8")
    for text in (result.stdout, written):
        assert not any(character in text for character in HOSTILE_CHARACTERS)
        assert "live \\x1b[31mred\\x07 \\u202etxt.exe" in text  # shown, as visible text
        assert "new \\u202egpj.exe" in text


@pytest.mark.parametrize(
    "variable",
    [
        {"HTTPS_PROXY": "http://user:PROXYPASSWORD@[::1"},
        {"HTTPS_PROXY": "ftp://user:PROXYPASSWORD@proxy"},
        {"HTTPS_PROXY": "socks5://user:PROXYPASSWORD@127.0.0.1:1"},
        {"SSL_CERT_FILE": "/nonexistent/PROXYPASSWORD"},
        {"SSL_CERT_FILE": "/tmp"},
    ],
    ids=["bad-proxy-url", "proxy-scheme", "socks-without-socksio", "missing-ca", "ca-is-dir"],
)
def test_an_unusable_proxy_or_ca_variable_is_a_usage_error(write_spec, variable):
    env = {
        "CLOUDFLARE_BASE_URL": "https://api.example.invalid/client/v4",
        "CLOUDFLARE_API_TOKEN": "t",
        **variable,
    }
    result = run_cli(["plan", str(write_spec(spec_text("a"))), "--max-retry-time", "1"], env=env)
    assert result.exit_code == 1
    assert "cannot set up HTTP connections from the environment" in result.stderr
    assert "PROXYPASSWORD" not in result.stdout + result.stderr
    assert "Internal error" not in result.stderr
