"""The emulator's rules are its own, and the tool agrees with them.

If the emulator imported the tool's hostname checker or rate limit, tool and emulator would
agree by construction and a bug in either rule could never show up in a test. So the emulator
has its own implementations, this file checks that no emulator module imports a rule from the
tool, and the two hostname checkers are held to the same verdict on a corpus.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from turnstile_sync import ratelimit as tool_ratelimit
from turnstile_sync.emulator import ratelimit as emulator_ratelimit
from turnstile_sync.emulator.hostnames import HostnameRefused, canonical_hostname
from turnstile_sync.errors import ConfigError
from turnstile_sync.hostnames import normalise_hostname

EMULATOR = Path(__file__).resolve().parents[2] / "turnstile_sync" / "emulator"
ALLOWED_OUTSIDE = {
    "turnstile_sync.errors",
    "turnstile_sync.quoting",
    # The state file lives in the tool's own .turnstile-sync/ directory, whose convention (a
    # .gitignore holding '*') is the tool's housekeeping, not a Cloudflare rule.
    "turnstile_sync.tool_directory",
}
"""The exception root and message quoting: plumbing, not rules."""

VALID = [
    "example.com",
    "EXAMPLE.COM",
    "Blog.Example.com",
    "localhost",
    "a.b",
    "a.123",
    "1e100.net",
    "ab--cd.example",
    "xn--bcher-kva.example",  # punycode for bücher.example
    "xn--fsqu00a.xn--0zwm56d",
    "a" * 63 + ".com",
    ".".join(["a" * 63] * 3 + ["a" * 61]),  # 253 characters
    "203.0.113.10",
    "0.0.0.0",
    "::1",
    "::",
    "2001:DB8::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "::ffff:192.0.2.1",
]
INVALID = [
    "",
    " ",
    "\t",
    " example.com",
    "example.com ",
    "example.com\n",
    "ex ample.com",
    "exa\tmple.com",
    "bücher.example",  # IDN must be punycode
    "EXAMPLE\u212a.com",  # Kelvin sign: lower-cases to an ASCII k
    "例え.jp",
    "example.com.",  # trailing dot
    "1.2.3.4.",
    "example.com:8080",
    "203.0.113.10:80",
    "[::1]",
    "[::1]:443",
    "fe80::1%eth0",  # IPv6 zone
    "https://example.com",
    "//example.com",
    "example.com/path",
    "example.com/",
    "*.example.com",
    "*",
    "a..b",
    ".example.com",
    "example..com",
    "-a.com",
    "a-.com",
    "a.-b.com",
    "xn--.com",
    "a_b.com",
    "_dmarc.example.com",
    "a" * 64 + ".com",  # overlong label
    ".".join(["a" * 63] * 4),  # overlong name
    "123",
    "1.2.3",
    "01.2.3.4",
    "256.1.1.1",
    "1.2.3.4.5",
    "127.1",
    "1::2::3",
    "12345::",
    "example.com?x=1",
    "example.com#top",
    "user@example.com",
    "exam!ple.com",
    "ex\x00ample.com",
]


def tool_verdict(hostname: str) -> str | None:
    try:
        return normalise_hostname(hostname)
    except ValueError:
        return None


def emulator_verdict(hostname: str) -> str | None:
    try:
        return canonical_hostname(hostname)
    except HostnameRefused:
        return None


@pytest.mark.parametrize("hostname", VALID)
def test_tool_and_emulator_accept_the_same_hostname_in_the_same_form(hostname):
    assert tool_verdict(hostname) == emulator_verdict(hostname) is not None


@pytest.mark.parametrize("hostname", INVALID)
def test_tool_and_emulator_refuse_the_same_hostname(hostname):
    assert (tool_verdict(hostname), emulator_verdict(hostname)) == (None, None)


def test_a_huge_hostname_is_refused_with_a_short_message():
    with pytest.raises(HostnameRefused) as refused:
        canonical_hostname("a" * 100_000 + ".com")
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    "text", ["1200/300", "10 / 1.5", "1/1", "off", "none", "0", "OFF", " 5/60 "]
)
def test_tool_and_emulator_read_a_rate_limit_alike(text):
    tool, emulator = tool_ratelimit.RateLimit.parse(text), emulator_ratelimit.RateLimit.parse(text)
    as_pair = (emulator.requests, emulator.seconds) if emulator else None
    assert as_pair == ((tool.requests, tool.seconds) if tool else None)


@pytest.mark.parametrize("text", ["1200", "0/10", "a/b", "5/0", "10/nan", "-1/5", "9" * 50 + "/1"])
def test_tool_and_emulator_refuse_the_same_rate_limits(text):
    for parse in (tool_ratelimit.RateLimit.parse, emulator_ratelimit.RateLimit.parse):
        with pytest.raises(ConfigError, match="N/SECONDS"):
            parse(text)


def test_both_default_to_cloudflares_limit():
    tool, emulator = tool_ratelimit.CLOUDFLARE_RATE_LIMIT, emulator_ratelimit.CLOUDFLARE_RATE_LIMIT
    assert (tool.requests, tool.seconds) == (emulator.requests, emulator.seconds) == (1200, 300)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_emulator_imports_no_rules_from_the_tool():
    modules = sorted(EMULATOR.glob("*.py"))
    assert len(modules) > 5  # the emulator is where this test thinks it is
    crossing = {
        f"{path.name}: {name}"
        for path in modules
        for name in imports_of(path)
        if name.split(".")[0] == "turnstile_sync"
        and not name.startswith("turnstile_sync.emulator")
        and not any(
            name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_OUTSIDE
        )
    }
    assert crossing == set()


def test_the_import_check_sees_a_crossing(tmp_path):
    # The check above must be able to fail: it reads imports, aliased and nested ones too.
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from turnstile_sync.hostnames import normalise_hostname as n\n"
        "import turnstile_sync.ratelimit as r\n"
    )
    assert {"turnstile_sync.hostnames", "turnstile_sync.ratelimit"} <= imports_of(module)
